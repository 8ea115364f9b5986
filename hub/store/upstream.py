"""HubStore's part for a county forwarding to its province: the link, the queue, the county's own sealed sets."""

from __future__ import annotations

from typing import Any

from hub.store.base import StoreBase

__all__ = ("UpstreamStoreMixin",)

_LINK_FIELDS = frozenset({"url", "gen", "acked_seq", "last_push", "last_ok", "last_error", "fork_seq"})


class UpstreamStoreMixin(StoreBase):
    """The county side of county → province (hub.upstream). Mixed into :class:`hub.store.HubStore`."""

    # -- the link ---------------------------------------------------------------------------------

    def upstream_link(self) -> dict[str, Any] | None:
        """The province this county forwards to, or None before ``hub upstream enroll``."""
        rows = self._dicts("SELECT * FROM upstream_link WHERE link = 'province'")
        return rows[0] if rows else None

    def set_upstream_link(
        self, *, url: str, county: str, province_id: str, sign_public: bytes, box_public: bytes, gen: int, at: str
    ) -> None:
        """Record (or replace, at a re-enrolment) the province and the key generation it pinned."""
        self.db.execute(
            "INSERT INTO upstream_link (link, url, county, province_id, sign_public, box_public, gen, enrolled_at) "
            "VALUES ('province', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (link) DO UPDATE SET url = excluded.url, "
            "county = excluded.county, province_id = excluded.province_id, sign_public = excluded.sign_public, "
            "box_public = excluded.box_public, gen = excluded.gen, enrolled_at = excluded.enrolled_at",
            [url, county, province_id, sign_public, box_public, gen, at],
        )

    def note_upstream(self, **fields: Any) -> None:
        """Update the link's counters (``acked_seq``, ``gen``, ``last_push``, ``last_ok``, ``last_error``, ``url``,
        ``fork_seq``: the county's set the province quarantined as a county fork, None when there is none)."""
        names = sorted(fields)
        if not names or not set(names) <= _LINK_FIELDS:
            raise ValueError(f"unknown upstream link fields: {names}")
        assignments = ", ".join(f"{name} = ?" for name in names)
        self.db.execute(f"UPDATE upstream_link SET {assignments} WHERE link = 'province'", [fields[n] for n in names])

    # -- the queue and the county's sets ----------------------------------------------------------

    def queue_upstream(self, kind: str, body: bytes, at: str) -> None:
        """Queue one encoded item for the county's next set."""
        self.db.execute("INSERT INTO upstream_items (kind, body, queued_at) VALUES (?, ?, ?)", [kind, body, at])

    def upstream_unsealed(self, limit: int) -> list[tuple[int, bytes]]:
        """(id, body) of the items not yet in a set, in queue order."""
        rows = self.db.execute(
            "SELECT id, body FROM upstream_items WHERE set_seq IS NULL ORDER BY id LIMIT ?", [limit]
        ).fetchall()
        return [(row[0], bytes(row[1])) for row in rows]

    def upstream_items_of(self, seq: int) -> list[bytes]:
        """The items sealed into the county's set ``seq``, in order."""
        rows = self.db.execute("SELECT body FROM upstream_items WHERE set_seq = ? ORDER BY id", [seq]).fetchall()
        return [bytes(row[0]) for row in rows]

    def add_upstream_set(self, *, seq: int, set_hash: bytes, envelope: bytes, item_ids: list[int], at: str) -> None:
        """Store a sealed county set and mark its items as in it."""
        self.db.execute(
            "INSERT INTO upstream_sets (seq, hash, envelope, items, sealed_at) VALUES (?, ?, ?, ?, ?)",
            [seq, set_hash, envelope, len(item_ids), at],
        )
        for start in range(0, len(item_ids), 500):
            chunk = item_ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            self.db.execute(f"UPDATE upstream_items SET set_seq = ? WHERE id IN ({marks})", [seq, *chunk])

    def upstream_head(self) -> tuple[int, bytes] | None:
        """(seq, hash) of the county's newest sealed set, or None."""
        row = self._one("SELECT seq, hash FROM upstream_sets ORDER BY seq DESC LIMIT 1")
        return (row[0], bytes(row[1])) if row else None

    def upstream_set_hash(self, seq: int) -> bytes | None:
        """The hash of the county's set ``seq``, or None."""
        row = self._one("SELECT hash FROM upstream_sets WHERE seq = ?", [seq])
        return bytes(row[0]) if row else None

    def set_upstream_receipt(self, seq: int, receipt: bytes) -> None:
        """Keep the province's verified receipt for the county's set ``seq``."""
        self.db.execute("UPDATE upstream_sets SET receipt = ? WHERE seq = ?", [receipt, seq])

    def upstream_receipts(self) -> tuple[int, int | None]:
        """(county sets holding the province's receipt, the newest such seq)."""
        row = self._one("SELECT COUNT(*), MAX(seq) FROM upstream_sets WHERE receipt IS NOT NULL")
        return (int(row[0]), row[1]) if row else (0, None)

    def upstream_receipt(self, seq: int) -> bytes | None:
        """The province's receipt for the county's set ``seq``, or None."""
        row = self._one("SELECT receipt FROM upstream_sets WHERE seq = ?", [seq])
        return bytes(row[0]) if row and row[0] is not None else None

    def upstream_sets_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """(seq, envelope) of the county's sets after ``seq``, oldest first."""
        rows = self.db.execute(
            "SELECT seq, envelope FROM upstream_sets WHERE seq > ? ORDER BY seq LIMIT ?", [seq, limit]
        ).fetchall()
        return [(row[0], bytes(row[1])) for row in rows]

    def upstream_unseal_after(self, seq: int) -> int:
        """Drop the county's sets after ``seq`` and put their items back in the queue (re-sealed under a new
        key after a revocation); returns how many sets were dropped. The items keep their order."""
        count = self._one("SELECT COUNT(*) FROM upstream_sets WHERE seq > ?", [seq])
        self.db.execute("UPDATE upstream_items SET set_seq = NULL WHERE set_seq > ?", [seq])
        self.db.execute("DELETE FROM upstream_sets WHERE seq > ?", [seq])
        return int(count[0]) if count else 0

    def upstream_pending(self, acked_seq: int) -> tuple[int, str | None]:
        """(items not yet acknowledged by the province, when the oldest of them was queued)."""
        row = self._one(
            "SELECT COUNT(*), MIN(queued_at) FROM upstream_items WHERE set_seq IS NULL OR set_seq > ?", [acked_seq]
        )
        return (int(row[0]), row[1]) if row else (0, None)

    # -- what was sent already ---------------------------------------------------------------------

    def upstream_sent(self, kind: str) -> dict[str, str]:
        """``name -> digest`` of what was queued of ``kind`` (station seqs, roster keys, figures, moves)."""
        rows = self.db.execute("SELECT name, digest FROM upstream_sent WHERE kind = ?", [kind]).fetchall()
        return {row[0]: row[1] for row in rows}

    def upstream_sent_one(self, kind: str, name: str) -> str | None:
        """The digest queued of one ``kind``/``name``, or None."""
        row = self._one("SELECT digest FROM upstream_sent WHERE kind = ? AND name = ?", [kind, name])
        return row[0] if row else None

    def set_upstream_sent(self, kind: str, name: str, digest: str) -> None:
        """Remember what was queued of ``kind``/``name``."""
        self.db.execute(
            "INSERT INTO upstream_sent (kind, name, digest) VALUES (?, ?, ?) "
            "ON CONFLICT (kind, name) DO UPDATE SET digest = excluded.digest",
            [kind, name, digest],
        )

    # -- what there is to forward -----------------------------------------------------------------

    def accepted_sets(self, station_id: str, after: int, limit: int) -> list[tuple[int, bytes, bytes]]:
        """(seq, envelope, receipt) of a station's accepted sets after ``after``, in seq order."""
        rows = self.db.execute(
            "SELECT s.seq, s.envelope, r.receipt FROM sets_in s JOIN receipts r ON r.origin = s.origin "
            "AND r.seq = s.seq WHERE s.origin = ? AND s.seq > ? ORDER BY s.seq LIMIT ?",
            [station_id, after, limit],
        ).fetchall()
        return [(row[0], bytes(row[1]), bytes(row[2])) for row in rows]

    def cases_updated_since(self, since: str, limit: int) -> list[dict[str, Any]]:
        """The non-personal columns of cases updated at or after ``since``, oldest change first."""
        return self._dicts(
            "SELECT case_no, village_code, item_code, status, outcome, received_date, accepted_date, due_date, "
            "updated_at FROM cases WHERE updated_at >= ? ORDER BY updated_at, case_no LIMIT ?",
            [since, limit],
        )

    def county_moves_since(self, since: str, origin: str, limit: int) -> list[dict[str, Any]]:
        """The county's own moves (``origin``) recorded at or after ``since``, oldest first."""
        return self._dicts(
            "SELECT event_id, case_no, from_status, to_status, actor, at, by, reason, outcome, recorded_at "
            "FROM case_events WHERE origin = ? AND recorded_at >= ? ORDER BY recorded_at, event_id LIMIT ?",
            [origin, since, limit],
        )
