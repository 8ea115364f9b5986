"""The store locks every writer of counted rows takes in one order, and the rerun after a deadlock.

The counting triggers (schema m002) keep ``case_counts`` and ``counters`` rows that every change of
a case's state, every set taken and every fork updates. On PostgreSQL two transactions updating
those rows in opposite orders deadlock, and one of them is rolled back. The ingest takes the
station's lock (its chain) and then the ``counts`` lock before its first counted write; every other
writer of those rows (a desk's decision, a fork's resolution) takes them in the same order through
:meth:`LockStoreMixin.locked`, so they queue behind one another instead of deadlocking, and
:meth:`LockStoreMixin.retrying` runs a transaction again when PostgreSQL still rolls it back.
On SQLite both are plain: one writer at a time already serialises everything, and nothing conflicts.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from hub.store.base import StoreBase, TransactionConflict

__all__ = ("CONFLICT_ATTEMPTS", "COUNTS_LOCK", "LockStoreMixin", "station_lock")

T = TypeVar("T")

COUNTS_LOCK = "counts"
"""The store lock taken before the first write the counting triggers follow (hub.ingest takes it too)."""

CONFLICT_ATTEMPTS = 5
"""How many times a transaction runs when PostgreSQL rolls it back for a deadlock or a serialisation
failure (TransactionConflict, SQLSTATE 40P01/40001) before the caller is answered busy (as the ingest)."""


def station_lock(station_id: str) -> str:
    """The store lock of a station's chain and feed (hub.ingest, hub.feed, hub.forks, hub.recovery)."""
    return f"station:{station_id}"


class LockStoreMixin(StoreBase):
    """``locked`` and ``retrying``: the ingest's lock order and conflict rerun for every other writer."""

    @contextlib.contextmanager
    def locked(self, *, station_id: str | None = None, counts: bool = True) -> Iterator[None]:
        """A transaction holding, to its end, the station's lock (when ``station_id`` is given) and then
        the ``counts`` lock (unless ``counts`` is False): the order the ingest takes them in.

        Enter it before the transaction's first write: a lock taken after a row lock is held gives
        no order at all. Nested in another transaction it joins it (the locks are re-entrant).
        """
        with self.transaction():
            keys = [] if station_id is None else [station_lock(station_id)]
            if counts:
                keys.append(COUNTS_LOCK)
            if keys:
                self.lock(*keys)  # on PostgreSQL both in one round trip, in this order
            yield

    def in_transaction(self) -> bool:
        """Whether a transaction of this store is open (a rerun belongs to the outermost one)."""
        if self.dialect == "postgresql":
            return bool(self.db.in_transaction)
        return bool(self.db.conn.in_transaction)

    def retrying(self, work: Callable[[], T], *, attempts: int = CONFLICT_ATTEMPTS) -> T:
        """``work()`` (which opens its own transaction), run again after a short jittered pause when
        PostgreSQL rolled it all back (TransactionConflict), up to ``attempts`` times; the last
        conflict goes up (``store.busy``). Inside an open transaction ``work`` runs once: only the
        outermost transaction is rolled back, and its own caller decides whether to run it again."""
        if self.in_transaction():
            return work()
        for attempt in range(1, attempts + 1):
            try:
                return work()
            except TransactionConflict:
                if attempt == attempts:
                    raise
                time.sleep(random.uniform(0.005, 0.05) * attempt)
        raise AssertionError("unreachable")
