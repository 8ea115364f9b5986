"""The store locks writers take in one order, and the rerun after a deadlock.

A station's lock (``station_lock``) serialises everything that writes its chain and its feed: the
ingest of its sets, a fork's resolution, a recovery. The counting triggers keep ``case_counts`` and
``counters`` rows that every station's writes share; on PostgreSQL they run when a transaction commits
(schema m018), each first taking the ``counts`` lock, so those rows are written one transaction at a time
in one order and never deadlock, and nothing else waits for them: sets of different stations apply side
by side. Writers of several case rows can still cross one another (PostgreSQL rolls one back):
:meth:`LockStoreMixin.retrying` runs it again. On SQLite both are plain: one writer at a time already
serialises everything, and nothing conflicts.
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
"""The store lock the counting triggers take at commit (schema m018), before they write the shared rows."""

CONFLICT_ATTEMPTS = 5
"""How many times a transaction runs when PostgreSQL rolls it back for a deadlock or a serialisation
failure (TransactionConflict, SQLSTATE 40P01/40001) before the caller is answered busy (as the ingest)."""


def station_lock(station_id: str) -> str:
    """The store lock of a station's chain and feed (hub.ingest, hub.feed, hub.forks, hub.recovery)."""
    return f"station:{station_id}"


class LockStoreMixin(StoreBase):
    """``locked`` and ``retrying``: the ingest's lock order and conflict rerun for every other writer."""

    @contextlib.contextmanager
    def locked(self, *, station_id: str | None = None) -> Iterator[None]:
        """A transaction holding, to its end, the station's lock (when ``station_id`` is given).

        Enter it before the transaction's first write: a lock taken after a row lock is held gives
        no order at all. Nested in another transaction it joins it (the locks are re-entrant). The
        counted rows need no lock here: the triggers take the counts lock at commit (schema m018).
        """
        with self.transaction():
            if station_id is not None:
                self.lock(station_lock(station_id))
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
