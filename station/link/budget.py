"""Byte budgets: how much one request carries up and asks to bring down, adapted to what the link carries."""

from __future__ import annotations

from typing import Any

from station.store.db import write_txn
from station.store.meta import Meta, get_meta

__all__ = (
    "FEED_BYTES",
    "MAX_SETS_PER_REQUEST",
    "PUSH_BYTES",
    "TARGET_SECONDS",
    "Budget",
    "read_budgets",
    "select_sets",
    "shrink_both",
)

PUSH_BYTES = (32 * 1024, 0, 1024 * 1024)
"""Bytes of sets per request: (start, floor, ceiling). A request carries at least one set, whatever its size
(a budget of 0: one set a request)."""
FEED_BYTES = (64 * 1024, 4 * 1024, 1024 * 1024)
"""Bytes of feed sets the station asks for per answer: (start, floor, ceiling)."""
TARGET_SECONDS = 8.0
"""A request should not take longer than this at the rate the link was measured at: a cut then loses little."""
MAX_SETS_PER_REQUEST = 200


class Budget:
    """Bytes per request in one direction, adapted to the link and kept in ``meta`` between rounds.

    Halved on a timeout or a connection cut mid-request; doubled after a clean answer that it
    limited; and never above what the link was measured to carry in TARGET_SECONDS, so on a slow
    link a cut loses little and a request does not outlast the timeout.
    """

    def __init__(self, db: Any, name: str, limits: tuple[int, int, int], stored: str | None) -> None:
        """``stored``: the ``meta`` setting ``name`` as read (:meth:`read`, or :func:`read_budgets`)."""
        start, self.low, self.high = limits
        self.db = db
        self.name = name
        self.value = min(max(int(stored), self.low), self.high) if stored and stored.isdigit() else start
        self.saved = self.value

    @classmethod
    def read(cls, db: Any, name: str, limits: tuple[int, int, int]) -> Budget:
        """The budget kept under ``name``, as last saved (``limits``' start before it ever was)."""
        return cls(db, name, limits, get_meta(db, name))

    def shrink(self) -> None:
        self.value = max(self.low, self.value // 2)

    def grow(self, *, limited: bool, moved: int = 0, seconds: float = 0.0) -> None:
        if limited:
            self.value = min(self.high, max(self.value * 2, 1024))
        if moved >= 8 * 1024 and seconds >= 2.0:  # enough to measure the link, not its latency
            self.value = max(self.low, min(self.value, int(moved / seconds * TARGET_SECONDS)))

    def save(self) -> None:
        if self.value != self.saved:
            with write_txn(self.db):
                Meta(self.db).update({self.name: self.value})
            self.saved = self.value


def read_budgets(
    db: Any, up: tuple[str, tuple[int, int, int]], down: tuple[str, tuple[int, int, int]]
) -> tuple[Budget, Budget]:
    """The budgets of both directions, read together (one statement)."""
    stored = Meta(db).several(up[0], down[0])
    return Budget(db, *up, stored[up[0]]), Budget(db, *down, stored[down[0]])


def shrink_both(up: Budget, down: Budget, rows: list[tuple[int, bytes]]) -> bool:
    """Halve what a request carries up (when it carried more than one set) and may bring down; False
    when both are as small as they go (then only the link can be at fault)."""
    shrunk = False
    if len(rows) > 1:
        # Half, and at most all but the last set sent: the next request carries fewer sets.
        up.shrink()
        up.value = min(up.value, sum(len(e) for _, e in rows[:-1]))
        shrunk = True
    if down.value > down.low:
        down.shrink()
        shrunk = True
    return shrunk


def select_sets(db: Any, cursor: int, budget: int) -> list[tuple[int, bytes]]:
    """Sealed sets from ``cursor`` in seq order, as many as fit in ``budget`` bytes (at least one)."""
    rows: list[tuple[int, bytes]] = []
    size = 0
    for seq, envelope in db.execute(
        # A set recovered by its receipt alone (station.restore) has no envelope here: the hub holds it.
        "SELECT seq, envelope FROM sets_out WHERE seq >= ? AND length(envelope) > 0 ORDER BY seq LIMIT ?",
        [cursor, MAX_SETS_PER_REQUEST],
    ):
        if rows and size + len(envelope) > budget:
            break
        rows.append((seq, bytes(envelope)))
        size += len(envelope)
    return rows
