"""HubStore's part for a province hub: counties, their keys and chains, forwarded station sets, case figures."""

from __future__ import annotations

from typing import Any

from hub.store.base import StoreBase

__all__ = ("ProvinceStoreMixin",)


class ProvinceStoreMixin(StoreBase):
    """The province side of county → province (hub.province). Mixed into :class:`hub.store.HubStore`."""

    # -- counties, their codes and keys ------------------------------------------------------------

    def county(self, county: str) -> dict[str, Any] | None:
        """One county's row, or None."""
        rows = self._dicts("SELECT * FROM counties WHERE county = ?", [county])
        return rows[0] if rows else None

    def counties(self) -> list[dict[str, Any]]:
        """Every county, by code."""
        return self._dicts("SELECT * FROM counties ORDER BY county")

    def add_county_code(self, *, code_id: str, secret: str, county: str, at: str, expires_at: str) -> None:
        """Issue a one-time enrolment code for ``county`` (its row made if new)."""
        self.db.execute("INSERT INTO counties (county) VALUES (?) ON CONFLICT (county) DO NOTHING", [county])
        self.db.execute(
            "INSERT INTO county_codes (code_id, secret, county, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            [code_id, secret, county, at, expires_at],
        )

    def county_code(self, code_id: str) -> dict[str, Any] | None:
        """An enrolment code's row, or None."""
        rows = self._dicts("SELECT * FROM county_codes WHERE code_id = ?", [code_id])
        return rows[0] if rows else None

    def county_code_failed(self, code_id: str) -> None:
        """Count a wrong mac against a code (it is voided after a few)."""
        self.db.execute("UPDATE county_codes SET failures = failures + 1 WHERE code_id = ?", [code_id])

    def enrol_county(
        self, *, code_id: str, county: str, key_id: str, gen: int, sign_public: bytes, box_public: bytes, at: str
    ) -> None:
        """Use the code, pin the county's hub key (its earlier keys stay, for the receipts they signed)."""
        self.db.execute("UPDATE county_codes SET used_at = ? WHERE code_id = ?", [at, code_id])
        self.db.execute(
            "INSERT INTO county_keys (key_id, county, gen, sign_public, box_public, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key_id) DO NOTHING",
            [key_id, county, gen, sign_public, box_public, at],
        )
        self.db.execute("UPDATE counties SET enrolled_at = ?, revoked_at = NULL WHERE county = ?", [at, county])

    def county_keys(self, county: str) -> list[dict[str, Any]]:
        """The county's hub keys, newest generation (then newest pinned) first."""
        return self._dicts("SELECT * FROM county_keys WHERE county = ? ORDER BY gen DESC, created_at DESC", [county])

    def county_key(self, key_id: str) -> dict[str, Any] | None:
        """One county key by id, or None."""
        rows = self._dicts("SELECT * FROM county_keys WHERE key_id = ?", [key_id])
        return rows[0] if rows else None

    def revoke_county(self, county: str, at: str) -> int:
        """Revoke every key of the county; its chain stops until it enrols again. Returns keys revoked."""
        cursor = self.db.execute(
            "UPDATE county_keys SET revoked_at = ? WHERE county = ? AND revoked_at IS NULL", [at, county]
        )
        self.db.execute("UPDATE counties SET revoked_at = ? WHERE county = ?", [at, county])
        return int(cursor.rowcount or 0)

    def note_county_contact(self, county: str, *, at: str, pending: int, oldest_pending: str | None) -> None:
        """A county's request reached the province: what it says is waiting, and when."""
        self.db.execute(
            "UPDATE counties SET last_contact = ?, pending = ?, oldest_pending = ? WHERE county = ?",
            [at, pending, oldest_pending, county],
        )

    # -- the county's chain -------------------------------------------------------------------------

    def county_set(self, county: str, seq: int) -> bytes | None:
        """The hash of a county set held, or None."""
        row = self._one("SELECT hash FROM county_sets WHERE county = ? AND seq = ?", [county, seq])
        return bytes(row[0]) if row else None

    def county_set_receipt(self, county: str, seq: int) -> bytes | None:
        """The province's receipt for a county set held (the same bytes for every resend), or None."""
        row = self._one("SELECT receipt FROM county_sets WHERE county = ? AND seq = ?", [county, seq])
        return bytes(row[0]) if row and row[0] is not None else None

    def set_county_set_receipt(self, county: str, seq: int, receipt: bytes) -> None:
        """Keep the receipt of a county set held before receipts were kept."""
        self.db.execute(
            "UPDATE county_sets SET receipt = ? WHERE county = ? AND seq = ? AND receipt IS NULL",
            [receipt, county, seq],
        )

    def add_county_set(
        self,
        *,
        county: str,
        seq: int,
        set_hash: bytes,
        envelope: bytes,
        items: int,
        via: str,
        at: str,
        receipt: bytes | None = None,
    ) -> None:
        """Keep a county set as received (with the province's receipt for it) and move the county's head to it."""
        self.db.execute(
            "INSERT INTO county_sets (county, seq, hash, envelope, items, via, received_at, receipt) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [county, seq, set_hash, envelope, items, via, at, receipt],
        )
        self.db.execute(
            "UPDATE counties SET head_seq = ?, head_hash = ?, last_set_at = ? WHERE county = ?",
            [seq, set_hash, at, county],
        )

    # -- county forks ---------------------------------------------------------------------------------

    def add_county_fork(
        self,
        *,
        county: str,
        seq: int,
        set_hash: bytes,
        envelope: bytes,
        held_hash: bytes | None,
        reason: str,
        via: str,
        at: str,
    ) -> int:
        """Quarantine a county set that conflicts with the chain held (kept whole, once however often it comes);
        returns the fork's id."""
        self.db.execute(
            "INSERT INTO county_forks (county, seq, hash, envelope, held_hash, reason, via, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (county, hash) DO NOTHING",
            [county, seq, set_hash, envelope, held_hash, reason, via, at],
        )
        row = self._one("SELECT id FROM county_forks WHERE county = ? AND hash = ?", [county, set_hash])
        return int(row[0]) if row else 0

    def county_forks(self, county: str | None = None, *, open_only: bool = True) -> list[dict[str, Any]]:
        """Quarantined county sets (without their bytes), oldest first; only the unresolved by default."""
        sql = (
            "SELECT id, county, seq, hash, held_hash, reason, via, received_at, resolved_at, resolved_by "
            "FROM county_forks WHERE 1 = 1"
        )
        params: list[Any] = []
        if county is not None:
            sql += " AND county = ?"
            params.append(county)
        if open_only:
            sql += " AND resolved_at IS NULL"
        return self._dicts(sql + " ORDER BY id", params)

    def county_fork_counts(self) -> dict[str, int]:
        """Unresolved county forks per county."""
        rows = self.db.execute(
            "SELECT county, COUNT(*) FROM county_forks WHERE resolved_at IS NULL GROUP BY county"
        ).fetchall()
        return {row[0]: int(row[1]) for row in rows}

    def resolve_county_fork(self, fork_id: int, *, from_seq: int, by: str, at: str) -> int:
        """Resolve a county fork taking the county's branch: the county's sets held from ``from_seq`` on move to
        ``county_superseded`` (kept whole, with their receipts), its head goes back to ``from_seq - 1`` and every
        open fork of the county is marked resolved. Returns the sets set aside."""
        row = self._one("SELECT county FROM county_forks WHERE id = ?", [fork_id])
        if row is None:
            return 0
        county = row[0]
        self.db.execute(
            "INSERT INTO county_superseded (county, seq, hash, envelope, receipt, items, received_at, fork_id, "
            "superseded_at) SELECT county, seq, hash, envelope, receipt, items, received_at, ?, ? FROM county_sets "
            "WHERE county = ? AND seq >= ? ON CONFLICT DO NOTHING",
            [fork_id, at, county, from_seq],
        )
        cursor = self.db.execute("DELETE FROM county_sets WHERE county = ? AND seq >= ?", [county, from_seq])
        moved = int(cursor.rowcount or 0)
        head = self._one("SELECT seq, hash FROM county_sets WHERE county = ? ORDER BY seq DESC LIMIT 1", [county])
        self.db.execute(
            "UPDATE counties SET head_seq = ?, head_hash = ? WHERE county = ?",
            [int(head[0]) if head else 0, bytes(head[1]) if head else None, county],
        )
        self.db.execute(
            "UPDATE county_forks SET resolved_at = ?, resolved_by = ? WHERE county = ? AND resolved_at IS NULL",
            [at, by, county],
        )
        return moved

    def pin_county_key(
        self, *, county: str, key_id: str, gen: int, sign_public: bytes, box_public: bytes, at: str
    ) -> None:
        """A key handover in the county's chain: its next generation."""
        self.db.execute(
            "INSERT INTO county_keys (key_id, county, gen, sign_public, box_public, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key_id) DO NOTHING",
            [key_id, county, gen, sign_public, box_public, at],
        )

    # -- the counties' stations and their sets --------------------------------------------------------

    def province_station(self, station_id: str) -> dict[str, Any] | None:
        """A station as the province knows it from its county's roster, or None."""
        rows = self._dicts("SELECT * FROM province_stations WHERE station_id = ?", [station_id])
        return rows[0] if rows else None

    def put_roster_key(
        self,
        *,
        county: str,
        station_id: str,
        village_code: str,
        key_id: str,
        sign_public: bytes,
        box_public: bytes,
        from_seq: int,
        revoked_after: int | None,
    ) -> None:
        """A station key from a county's roster (a later roster item for the key updates its revocation)."""
        self.db.execute(
            "INSERT INTO province_stations (station_id, county, village_code) VALUES (?, ?, ?) "
            "ON CONFLICT (station_id) DO NOTHING",
            [station_id, county, village_code],
        )
        self.db.execute(
            "INSERT INTO province_station_keys (key_id, station_id, sign_public, box_public, from_seq, revoked_after) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key_id) DO UPDATE SET "
            "revoked_after = excluded.revoked_after",
            [key_id, station_id, sign_public, box_public, from_seq, revoked_after],
        )

    def province_key_for_seq(self, station_id: str, seq: int) -> dict[str, Any] | None:
        """The roster key that signs the station's set ``seq``."""
        rows = self._dicts(
            "SELECT * FROM province_station_keys WHERE station_id = ? AND from_seq <= ? ORDER BY from_seq DESC LIMIT 1",
            [station_id, seq],
        )
        return rows[0] if rows else None

    def province_set(self, station_id: str, seq: int) -> tuple[bytes, bytes] | None:
        """(hash, disclosed key) of a forwarded set held, or None."""
        row = self._one("SELECT hash, body_key FROM province_sets WHERE station_id = ? AND seq = ?", [station_id, seq])
        return (bytes(row[0]), bytes(row[1])) if row else None

    def add_province_set(
        self,
        *,
        station_id: str,
        seq: int,
        set_hash: bytes,
        envelope: bytes,
        receipt: bytes,
        body_key: bytes,
        county: str,
        county_seq: int,
        changes: int,
        at: str,
    ) -> None:
        """Keep a forwarded set with its receipt and key, and move the station's head to it."""
        self.db.execute(
            "INSERT INTO province_sets (station_id, seq, hash, envelope, receipt, body_key, county, county_seq, "
            "changes, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [station_id, seq, set_hash, envelope, receipt, body_key, county, county_seq, changes, at],
        )
        self.db.execute(
            "UPDATE province_stations SET applied_seq = ?, applied_hash = ? WHERE station_id = ?",
            [seq, set_hash, station_id],
        )
        self.db.execute("UPDATE counties SET sets = sets + 1 WHERE county = ?", [county])

    def set_aside_province_sets(self, station_id: str, *, after_seq: int, county_seq: int, at: str) -> int:
        """Move the station's sets after ``after_seq`` to ``province_superseded`` (kept whole) and its head back."""
        self.db.execute(
            "INSERT INTO province_superseded (station_id, seq, hash, envelope, receipt, body_key, county_seq, "
            "superseded_at) SELECT station_id, seq, hash, envelope, receipt, body_key, ?, ? FROM province_sets "
            "WHERE station_id = ? AND seq > ? ON CONFLICT DO NOTHING",
            [county_seq, at, station_id, after_seq],
        )
        cursor = self.db.execute("DELETE FROM province_sets WHERE station_id = ? AND seq > ?", [station_id, after_seq])
        moved = int(cursor.rowcount or 0)
        row = self._one("SELECT hash FROM province_sets WHERE station_id = ? AND seq = ?", [station_id, after_seq])
        self.db.execute(
            "UPDATE province_stations SET applied_seq = ?, applied_hash = ? WHERE station_id = ?",
            [after_seq if row else 0, bytes(row[0]) if row else None, station_id],
        )
        self.db.execute(
            "UPDATE counties SET sets = sets - ? WHERE county = (SELECT county FROM province_stations "
            "WHERE station_id = ?)",
            [moved, station_id],
        )
        return moved

    def note_station_status(
        self, *, station_id: str, applied_seq: int, last_contact: str | None, revoked: bool, county_seq: int
    ) -> None:
        """A station's sync status at its county, as the county last said it."""
        self.db.execute(
            "UPDATE province_stations SET county_seq = ?, last_contact = ?, revoked = ? WHERE station_id = ?",
            [applied_seq, last_contact, int(revoked), station_id],
        )

    def province_station_states(
        self, *, warn_before: str, danger_before: str, county: str | None = None
    ) -> dict[str, dict[str, int]]:
        """Stations per county by state: ``revoked``, ``never``, ``danger`` (no contact since ``danger_before``),
        ``warning`` (since ``warn_before``), ``ok``; counted in the database (times are ISO text, ordered)."""
        sql = (
            "SELECT county, SUM(CASE WHEN revoked <> 0 THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN revoked = 0 AND last_contact IS NULL THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN revoked = 0 AND last_contact < ? THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN revoked = 0 AND last_contact >= ? AND last_contact < ? THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN revoked = 0 AND last_contact >= ? THEN 1 ELSE 0 END) FROM province_stations"
        )
        params: list[Any] = [danger_before, danger_before, warn_before, warn_before]
        if county is not None:
            sql += " WHERE county = ?"
            params.append(county)
        states = ("revoked", "never", "danger", "warning", "ok")
        rows = self.db.execute(sql + " GROUP BY county", params).fetchall()
        return {row[0]: {state: int(n) for state, n in zip(states, row[1:]) if n} for row in rows}

    def province_stations(self, county: str | None = None) -> list[dict[str, Any]]:
        """The stations of one county (or all), by id."""
        if county is None:
            return self._dicts("SELECT * FROM province_stations ORDER BY station_id")
        return self._dicts("SELECT * FROM province_stations WHERE county = ? ORDER BY station_id", [county])

    # -- the province's view of cases ------------------------------------------------------------------

    def put_province_case(self, county: str, figure: dict[str, Any]) -> None:
        """The county's view of a case (an earlier change at the county never replaces a later one); the
        counts per county and status follow."""
        row = self._one("SELECT status, updated_at FROM province_cases WHERE case_no = ?", [figure["case_no"]])
        updated = figure.get("updated_at") or ""
        if row is not None and row[1] > updated:
            return
        self.db.execute(
            "INSERT INTO province_cases (case_no, county, village_code, item_code, status, outcome, received_date, "
            "accepted_date, due_date, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (case_no) "
            "DO UPDATE SET status = excluded.status, outcome = excluded.outcome, "
            "accepted_date = excluded.accepted_date, due_date = excluded.due_date, updated_at = excluded.updated_at",
            [
                figure["case_no"],
                county,
                figure["village_code"],
                figure["item_code"],
                figure["status"],
                figure.get("outcome"),
                figure.get("received_date"),
                figure.get("accepted_date"),
                figure.get("due_date"),
                updated,
            ],
        )
        if row is None or row[0] != figure["status"]:
            if row is not None:
                self._count(county, row[0], -1)
            self._count(county, figure["status"], 1)

    def _count(self, county: str, status: str, delta: int) -> None:
        self.db.execute(
            "INSERT INTO province_counts (county, status, n) VALUES (?, ?, ?) ON CONFLICT (county, status) "
            "DO UPDATE SET n = province_counts.n + excluded.n",
            [county, status, delta],
        )

    def add_province_move(self, county: str, county_seq: int, move: dict[str, Any]) -> None:
        """A county's own move on a case (kept once, whatever number of times it comes)."""
        cursor = self.db.execute(
            "INSERT INTO province_moves (event_id, county, case_no, from_status, to_status, actor, at, by, reason, "
            "outcome, county_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
            [
                move["event_id"],
                county,
                move["case_no"],
                move["from_status"],
                move["to_status"],
                move["actor"],
                move["at"],
                move.get("by"),
                move.get("reason"),
                move.get("outcome"),
                county_seq,
            ],
        )
        if cursor.rowcount:
            self.db.execute("UPDATE counties SET moves = moves + 1 WHERE county = ?", [county])

    def province_case_counts(self) -> list[tuple[str, str, int]]:
        """(county, status, cases) over every county."""
        rows = self.db.execute(
            "SELECT county, status, n FROM province_counts WHERE n > 0 ORDER BY county, status"
        ).fetchall()
        return [(row[0], row[1], int(row[2])) for row in rows]

    def province_case(self, case_no: str) -> dict[str, Any] | None:
        """The province's view of one case, or None."""
        rows = self._dicts("SELECT * FROM province_cases WHERE case_no = ?", [case_no])
        return rows[0] if rows else None
