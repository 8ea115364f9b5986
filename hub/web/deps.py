"""What handlers are given (Litestar's ``Provide``): the store, the settings, the hub's identity, the clock.

``create_app`` puts the settings, identity and clock in the app's state once (guards and middleware,
which take no dependencies, read them there); handlers name what they need as parameters instead:
``store``, ``settings``, ``identity``, ``now`` (one reading of the clock for the request), ``clock``
(the clock itself, for handlers that read it at several moments) and ``metrics``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeAlias

import anyio
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidation

from hub.keys import HubIdentity
from hub.settings import Settings
from hub.store import DB_FILE, HubStore
from hub.store.location import database_url
from hub.web.metrics import HubMetrics

__all__ = ("DEPENDENCIES", "Clock", "HubSettings", "Identity", "Metrics", "Now", "close_idle", "provide_store")

# The providers hand over the app's own objects: nothing to validate, and nothing spent validating them.
HubSettings: TypeAlias = NamedDependency[SkipValidation[Settings]]
Identity: TypeAlias = NamedDependency[SkipValidation[HubIdentity]]
Now: TypeAlias = NamedDependency[SkipValidation[dt.datetime]]
Clock: TypeAlias = NamedDependency[SkipValidation[Callable[[], dt.datetime]]]
Metrics: TypeAlias = NamedDependency[SkipValidation[HubMetrics]]


STORE_THREADS = 8
"""Worker threads that open and close requests' stores, apart from the 40 the handlers run in: a close
that waited behind handlers which themselves wait for a pooled connection would never give one back."""

_STORE_LIMITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)
_STORE_LIMITERS_LOCK = threading.Lock()


def store_threads() -> anyio.CapacityLimiter:
    """The running event loop's limiter of :data:`STORE_THREADS`.

    One per loop, never one for the process: an anyio limiter hands a freed token to its next waiter by
    setting an asyncio event, which wakes nobody when the waiter sleeps on another loop (another app
    served in the same process, as tests and the county-and-province runs do). A request there waited
    for a token for ever.
    """
    loop = asyncio.get_running_loop()
    with _STORE_LIMITERS_LOCK:
        limiter = _STORE_LIMITERS.get(loop)
        if limiter is None:
            limiter = _STORE_LIMITERS[loop] = anyio.CapacityLimiter(STORE_THREADS)
        return limiter


IDLE_SQLITE = 48
"""SQLite stores kept open between requests, in the whole process (their connections, pragmas set): more
than the requests that run at once (sync handlers run in asyncio's default executor, cores + 4 threads,
and :data:`STORE_THREADS` open and close stores); beyond it a store is closed when its request ends.
In the county's day (395 stations at once) the hub held 509 open files at its peak, a socket per station."""

_IDLE: list[tuple[str, tuple[int, int], HubStore]] = []
"""(database file, its device and inode when opened, store) of the SQLite stores waiting for a request."""
_IDLE_LOCK = threading.Lock()

_STALE: list[HubStore] = []
"""Stores whose database file was put aside for another while they waited (a restore in this process,
hub serve stopped): never closed, for SQLite's close would checkpoint and delete the WAL by its name,
which is now the other file's."""


def _retire(store: HubStore, file_id: tuple[int, int]) -> None:
    """Close a kept store, unless its file is no longer the one at its path (then see _STALE)."""
    if _file_id(str(store.path)) == file_id:
        store.close()
    else:
        with _IDLE_LOCK:
            _STALE.append(store)


def _file_id(path: str) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _open(state: State) -> HubStore:
    """A store for a request: on SQLite one a request before left open when there is one (connecting and
    setting the pragmas cost more than a small request's reading), else a new one."""
    data_dir = state["settings"].data_dir
    if database_url(data_dir) is None:
        path = str(Path(data_dir) / DB_FILE)
        now_id = _file_id(path)
        stale: list[tuple[HubStore, tuple[int, int]]] = []
        found: HubStore | None = None
        with _IDLE_LOCK:
            for index in range(len(_IDLE) - 1, -1, -1):
                where, file_id, store = _IDLE[index]
                if where != path:
                    continue
                del _IDLE[index]
                if file_id == now_id:  # not a file put in its place since (hub restore)
                    found = store
                    break
                stale.append((store, file_id))
        for store, file_id in stale:
            _retire(store, file_id)
        if found is not None:
            return found
    return HubStore.open(data_dir, check_same_thread=False, migrate=False)


def _close(store: HubStore) -> None:
    """Give a request's SQLite store to the next request, or close it (PostgreSQL: the pooled connection
    goes back to its pool)."""
    if store.dialect == "sqlite" and not store.db.conn.in_transaction:
        file_id = _file_id(str(store.path))
        if file_id is not None:
            with _IDLE_LOCK:
                _IDLE.append((str(store.path), file_id, store))
                evicted = _IDLE.pop(0) if len(_IDLE) > IDLE_SQLITE else None
            if evicted is not None:
                _retire(evicted[2], evicted[1])
            return
    store.close()


def close_idle(data_dir: Path | str | None = None) -> None:
    """Close the SQLite stores kept open for requests (of one data folder's database, or all): at shutdown."""
    path = None if data_dir is None else str(Path(data_dir) / DB_FILE)
    with _IDLE_LOCK:
        closing = [(store, file_id) for where, file_id, store in _IDLE if path is None or where == path]
        _IDLE[:] = [entry for entry in _IDLE if path is not None and entry[0] != path]
    for store, file_id in closing:
        _retire(store, file_id)


async def provide_store(state: State) -> AsyncIterator[HubStore]:
    """One store per request, closed when the request is done, on every path (an answer, an error, a
    cancelled request).

    Opened and closed off the event loop (SQLite's connect, pragmas and close; the data folder's
    ``database.url``), in a thread of :func:`store_threads`; on SQLite kept open for the next request
    (:func:`_close`, at most :data:`IDLE_SQLITE`), then handed over and back on the loop itself
    (:func:`_take_idle`, :func:`_put_back`), and used by the handler's worker thread,
    hence ``check_same_thread=False``; one owner at a time. On PostgreSQL the store borrows its pooled
    connection at its first statement, in the handler's thread. Litestar would run a sync generator's
    cleanup in a worker thread of the handlers' own limited set (40): with that many requests waiting
    for a pooled connection, the cleanups that give connections back would wait behind them and the
    pool stall (every request 503 after the pool's wait). Here the close runs in a thread of its own
    small set, shielded from cancellation, so it always happens and never waits for a handler.
    """
    limiter = store_threads()
    # A kept SQLite store is handed over and back on the loop (a lock, a stat): two trips to a thread and
    # back cost the loop more than that, and it serves every request (the county's day: 395 at once).
    kept = _take_idle(state["settings"].data_dir)
    if kept is not None:
        store = kept
    else:
        with anyio.CancelScope(shield=True):  # an opened store is always closed below
            store = await anyio.to_thread.run_sync(_open, state, limiter=limiter)
    try:
        yield store
    finally:
        if not _put_back(store):
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_close, store, limiter=limiter)


def _take_idle(data_dir: Path | str) -> HubStore | None:
    """A kept SQLite store of ``data_dir``'s database, ready for a request; None when there is none, or when
    the one found is stale (``_open``, in a thread, retires it)."""
    if database_url(data_dir) is not None:
        return None
    path = str(Path(data_dir) / DB_FILE)
    now_id = _file_id(path)
    with _IDLE_LOCK:
        for index in range(len(_IDLE) - 1, -1, -1):
            where, file_id, store = _IDLE[index]
            if where == path:
                if file_id != now_id:
                    return None
                del _IDLE[index]
                return store
    return None


def _put_back(store: HubStore) -> bool:
    """Keep a request's SQLite store for the next when that closes nothing (else ``_close``, in a thread)."""
    if store.dialect != "sqlite" or store.db.conn.in_transaction:
        return False
    file_id = _file_id(str(store.path))
    if file_id is None:
        return False
    with _IDLE_LOCK:
        if len(_IDLE) >= IDLE_SQLITE:
            return False
        _IDLE.append((str(store.path), file_id, store))
    return True


def _settings(state: State) -> Settings:
    return state["settings"]


def _identity(state: State) -> HubIdentity:
    # hub.key as it is now: ``hub key rotate`` may have replaced it while the hub serves.
    source = state.get("identity_file")
    return source.current() if source is not None else state["identity"]


def _clock(state: State) -> Callable[[], dt.datetime]:
    return state["now"]


def _now(state: State) -> dt.datetime:
    return state["now"]()


def _metrics(state: State) -> HubMetrics:
    return state["metrics"]


DEPENDENCIES = {
    "store": Provide(provide_store),  # an async generator: opened and closed in threads of its own
    # Dictionary look-ups: run on the event loop, never worth a thread.
    "settings": Provide(_settings, sync_to_thread=False),
    "identity": Provide(_identity, sync_to_thread=False),
    "clock": Provide(_clock, sync_to_thread=False),
    "now": Provide(_now, sync_to_thread=False),
    "metrics": Provide(_metrics, sync_to_thread=False),
}
"""The app-level dependencies, by the parameter name a handler gives them."""
