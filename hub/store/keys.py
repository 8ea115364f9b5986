"""HubStore's part for key rotation: stations' key handovers, the hub key generation each feed is under,
and the case numbers a village's device letter has used (for a PC that replaces one)."""

from __future__ import annotations

from hub.store.base import StoreBase
from hub.store.stations import KeyRow

__all__ = ("KeyStoreMixin",)


class KeyStoreMixin(StoreBase):
    """Key rotation. Mixed into :class:`hub.store.HubStore`."""

    # -- a station's own keys ----------------------------------------------------------------------

    def replace_station_key(self, station_id: str, new: KeyRow, *, after_seq: int, at: str) -> None:
        """The station handed over from its current key to ``new`` in set ``after_seq``: sets up to it stand
        under the old key, later ones (and every request from now) must be the new key's."""
        self.db.execute(
            "UPDATE station_keys SET replaced_at = ?, replaced_after = ? WHERE key_id = "
            "(SELECT key_id FROM stations WHERE station_id = ?)",
            [at, after_seq, station_id],
        )
        self.db.execute(
            "INSERT INTO station_keys (key_id, station_id, sign_public, box_public, created_at, from_seq) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [new.key_id, station_id, new.sign_public, new.box_public, at, after_seq + 1],
        )
        self.db.execute("UPDATE stations SET key_id = ? WHERE station_id = ?", [new.key_id, station_id])

    def station_key_for_seq(self, station_id: str, seq: int) -> KeyRow | None:
        """The key that signs the station's set ``seq``: the newest whose first set is at or before it."""
        cursor = self.db.execute(
            "SELECT * FROM station_keys WHERE station_id = ? AND from_seq <= ? ORDER BY from_seq DESC, created_at DESC "
            "LIMIT 1",
            [station_id, seq],
        )
        row = cursor.fetchone()
        return None if row is None else KeyRow(**dict(zip([d[0] for d in cursor.description], row)))

    def station_keys(self, station_id: str) -> list[KeyRow]:
        """Every key the station had, oldest first."""
        cursor = self.db.execute(
            "SELECT * FROM station_keys WHERE station_id = ? ORDER BY from_seq, created_at", [station_id]
        )
        columns = [d[0] for d in cursor.description]
        return [KeyRow(**dict(zip(columns, row))) for row in cursor.fetchall()]

    # -- the hub's key generation in each station's feed -----------------------------------------

    def hub_key_pinned(self, station_id: str, gen: int, at: str) -> None:
        """The station pinned hub key generation ``gen`` at enrolment (before feed set 1)."""
        self.db.execute(
            "INSERT INTO hub_key_handovers (station_id, gen, queued_at, feed_seq) VALUES (?, ?, ?, 0) "
            "ON CONFLICT DO NOTHING",
            [station_id, gen, at],
        )

    def hub_key_queued(self, station_id: str, gen: int, at: str) -> None:
        """The handover to generation ``gen`` was queued to the station's feed."""
        self.db.execute(
            "INSERT INTO hub_key_handovers (station_id, gen, queued_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [station_id, gen, at],
        )

    def hub_key_sealed(self, station_id: str, gen: int, seq: int) -> None:
        """The station's feed set ``seq`` carries the handover to generation ``gen``."""
        self.db.execute(
            "UPDATE hub_key_handovers SET feed_seq = ? WHERE station_id = ? AND gen = ?", [seq, station_id, gen]
        )

    def hub_key_seen(self, station_id: str, gen: int, position: int, at: str) -> None:
        """The station showed (its request MAC) that it holds generation ``gen`` at feed ``position``."""
        self.db.execute(
            "INSERT INTO hub_key_handovers (station_id, gen, queued_at, feed_seq) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (station_id, gen) DO UPDATE SET feed_seq = excluded.feed_seq "
            "WHERE hub_key_handovers.feed_seq IS NULL OR hub_key_handovers.feed_seq > excluded.feed_seq",
            [station_id, gen, at, position],
        )

    def hub_key_held(self, station_id: str, position: int) -> int:
        """The hub key generation a station holds once it applied its feed up to ``position``: the newest
        handed over in a set at or before it (1 for a station that never got one)."""
        row = self._one(
            "SELECT MAX(gen) FROM hub_key_handovers WHERE station_id = ? AND feed_seq IS NOT NULL AND feed_seq <= ?",
            [station_id, position],
        )
        return int(row[0]) if row and row[0] is not None else 1

    def hub_key_latest(self, station_id: str) -> int:
        """The newest generation handed over to the station, sealed or still queued (1 for none)."""
        row = self._one("SELECT MAX(gen) FROM hub_key_handovers WHERE station_id = ?", [station_id])
        return int(row[0]) if row and row[0] is not None else 1

    # -- case numbers --------------------------------------------------------------------------------

    def case_numbers(self, village_code: str, device: str) -> list[tuple[str, int]]:
        """``(YYYY-MM-DD, highest counter)`` for each day on which the hub holds a case or intake numbered
        ``VILLAGE-YYYYMMDD-DNNN`` with this village and device letter, oldest first."""
        rows = self.db.execute(
            "SELECT substr(n, 14, 4) || '-' || substr(n, 18, 2) || '-' || substr(n, 20, 2) AS day,"
            " MAX(CAST(substr(n, 24) AS INTEGER)) FROM ("
            " SELECT case_no AS n FROM cases WHERE village_code = ? AND substr(case_no, 23, 1) = ?"
            " UNION ALL SELECT intake_id FROM intakes WHERE village_code = ? AND substr(intake_id, 23, 1) = ?)"
            " WHERE length(n) >= 26 AND substr(n, 13, 1) = '-' AND substr(n, 22, 1) = '-'"
            " GROUP BY day ORDER BY day",
            [village_code, device, village_code, device],
        )
        return [(str(day), int(last)) for day, last in rows.fetchall() if last]
