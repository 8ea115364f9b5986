"""The province's quarantine of station forks: a forwarded station set that conflicts with the chain held there."""

from __future__ import annotations

from typing import Any

from hub.store.base import StoreBase

__all__ = ("ProvinceForkStoreMixin",)

_COLUMNS = "id, county, station_id, seq, hash, held_hash, reason, county_seq, received_at, resolved_at, resolved_by"


class ProvinceForkStoreMixin(StoreBase):
    """``province_station_forks`` (m017): kept whole with the county's receipt and the disclosed key, once."""

    def add_province_station_fork(
        self,
        *,
        county: str,
        station_id: str,
        seq: int,
        set_hash: bytes,
        envelope: bytes,
        receipt: bytes,
        body_key: bytes,
        held_hash: bytes | None,
        reason: str,
        county_seq: int,
        at: str,
    ) -> bool:
        """Quarantine a forwarded station set (once, however often it comes); True when it is new."""
        row = self._one(
            "INSERT INTO province_station_forks (county, station_id, seq, hash, envelope, receipt, body_key, "
            "held_hash, reason, county_seq, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (station_id, hash) DO NOTHING RETURNING id",
            [county, station_id, seq, set_hash, envelope, receipt, body_key, held_hash, reason, county_seq, at],
        )
        return row is not None

    def province_station_forks(
        self, county: str | None = None, *, station_id: str | None = None, open_only: bool = True
    ) -> list[dict[str, Any]]:
        """Quarantined station sets (without their bytes), oldest first; only the unresolved by default."""
        sql = f"SELECT {_COLUMNS} FROM province_station_forks WHERE 1 = 1"
        params: list[Any] = []
        if county is not None:
            sql += " AND county = ?"
            params.append(county)
        if station_id is not None:
            sql += " AND station_id = ?"
            params.append(station_id)
        if open_only:
            sql += " AND resolved_at IS NULL"
        return self._dicts(sql + " ORDER BY id", params)

    def province_station_fork(self, fork_id: int) -> dict[str, Any] | None:
        """One quarantined station set with its bytes (envelope, receipt, body_key), or None."""
        rows = self._dicts("SELECT * FROM province_station_forks WHERE id = ?", [fork_id])
        return rows[0] if rows else None

    def province_station_fork_hashed(self, station_id: str, set_hash: bytes) -> bool:
        """Whether a set of the station with this hash was ever quarantined (open or resolved): a set whose ``prev``
        it is belongs to that branch."""
        return (
            self._one("SELECT 1 FROM province_station_forks WHERE station_id = ? AND hash = ?", [station_id, set_hash])
            is not None
        )

    def province_station_fork_counts(self) -> dict[str, int]:
        """Unresolved station forks per county."""
        rows = self.db.execute(
            "SELECT county, COUNT(*) FROM province_station_forks WHERE resolved_at IS NULL GROUP BY county"
        ).fetchall()
        return {row[0]: int(row[1]) for row in rows}

    def resolve_province_station_forks(
        self, station_id: str, *, after_seq: int | None = None, set_hash: bytes | None = None, by: str, at: str
    ) -> int:
        """Mark a station's open forks resolved: those past ``after_seq`` (its county kept the station's branch, which
        follows), or the one with ``set_hash`` (that set was taken after all). Returns how many."""
        sql = "UPDATE province_station_forks SET resolved_at = ?, resolved_by = ? WHERE station_id = ? "
        params: list[Any] = [at, by, station_id]
        if after_seq is not None:
            sql += "AND seq > ? "
            params.append(after_seq)
        if set_hash is not None:
            sql += "AND hash = ? "
            params.append(set_hash)
        cursor = self.db.execute(sql + "AND resolved_at IS NULL", params)
        return int(cursor.rowcount or 0)

    def province_station_forks_kept_out(self, county: str, *, since: str) -> list[dict[str, Any]]:
        """A county's station sets resolved since ``since`` by the province's operator keeping the province's
        chain (resolved, never taken into it, and not by the county's own ``branch``), oldest first."""
        return self._dicts(
            f"SELECT {_COLUMNS} FROM province_station_forks AS f WHERE county = ? AND resolved_at IS NOT NULL "
            "AND resolved_at >= ? AND resolved_by NOT LIKE 'county>%' AND NOT EXISTS "
            "(SELECT 1 FROM province_sets AS s WHERE s.station_id = f.station_id AND s.hash = f.hash) ORDER BY id",
            [county, since],
        )
