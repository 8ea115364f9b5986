"""HubStore's part for resolving forks: which branch the county kept, by whom, and the sets it set aside."""

from __future__ import annotations

from typing import Any

import msgspec

from hub.store.base import StoreBase

__all__ = ("ForkStoreMixin", "ResolvedForkRow")


class ResolvedForkRow(msgspec.Struct, frozen=True, kw_only=True):
    """A fork with its resolution (open while ``resolved_at`` is None)."""

    id: int
    station_id: str
    seq: int
    reason: str
    detected_at: str
    resolved_at: str | None = None
    resolution: str | None = None
    """``hub`` or ``station``: the branch kept."""
    resolved_by: str | None = None


class ForkStoreMixin(StoreBase):
    """Fork resolution: the fork rows' resolution, and the hub's own sets a resolution set aside."""

    def fork(self, fork_id: int) -> ResolvedForkRow | None:
        """One fork, open or resolved, or None."""
        cursor = self.db.execute(
            "SELECT id, station_id, seq, reason, detected_at, resolved_at, resolution, resolved_by"
            " FROM forks WHERE id = ?",
            [fork_id],
        )
        row = cursor.fetchone()
        return None if row is None else ResolvedForkRow(**dict(zip([d[0] for d in cursor.description], row)))

    def station_forks(self, station_id: str) -> list[ResolvedForkRow]:
        """A station's forks, open and resolved, oldest first (its history for administrators)."""
        cursor = self.db.execute(
            "SELECT id, station_id, seq, reason, detected_at, resolved_at, resolution, resolved_by"
            " FROM forks WHERE station_id = ? ORDER BY id",
            [station_id],
        )
        columns = [d[0] for d in cursor.description]
        return [ResolvedForkRow(**dict(zip(columns, row))) for row in cursor.fetchall()]

    def resolve_forks(self, station_id: str, *, resolution: str, by: str, at: str) -> list[int]:
        """Mark every open fork of the station resolved (one divergence: the same choice); returns their ids."""
        ids = [
            int(r[0])
            for r in self.db.execute(
                "SELECT id FROM forks WHERE station_id = ? AND resolved_at IS NULL ORDER BY id", [station_id]
            ).fetchall()
        ]
        self.db.execute(
            "UPDATE forks SET resolved_at = ?, resolution = ?, resolved_by = ? WHERE station_id = ? AND resolved_at IS NULL",
            [at, resolution, by, station_id],
        )
        return ids

    def set_aside_sets_in(self, origin: str, *, after_seq: int, fork_id: int, at: str) -> int:
        """Move the hub's sets of ``origin`` after ``after_seq`` and their receipts out of the chain into
        ``superseded_sets`` (kept whole, as evidence: a resolution keeping the station's branch). Their rows
        stay applied. Returns how many sets moved."""
        moved = self.db.execute(
            "INSERT INTO superseded_sets (origin, seq, hash, envelope, receipt, received_at, fork_id, superseded_at)"
            " SELECT s.origin, s.seq, s.hash, s.envelope, r.receipt, s.received_at, ?, ?"
            " FROM sets_in s LEFT JOIN receipts r ON r.origin = s.origin AND r.seq = s.seq"
            " WHERE s.origin = ? AND s.seq > ?",
            [fork_id, at, origin, after_seq],
        ).rowcount
        self.db.execute("DELETE FROM receipts WHERE origin = ? AND seq > ?", [origin, after_seq])
        self.db.execute("DELETE FROM sets_in WHERE origin = ? AND seq > ?", [origin, after_seq])
        return int(moved)

    def superseded_sets(self, origin: str) -> list[dict[str, Any]]:
        """The sets of ``origin`` a resolution set aside (without their bytes), oldest first."""
        return self._dicts(
            "SELECT origin, seq, hash, received_at, fork_id, superseded_at FROM superseded_sets"
            " WHERE origin = ? ORDER BY fork_id, seq",
            [origin],
        )
