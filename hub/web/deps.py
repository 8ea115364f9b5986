"""What handlers are given (Litestar's ``Provide``): the store, the settings, the hub's identity, the clock.

``create_app`` puts the settings, identity and clock in the app's state once (guards and middleware,
which take no dependencies, read them there); handlers name what they need as parameters instead:
``store``, ``settings``, ``identity``, ``now`` (one reading of the clock for the request), ``clock``
(the clock itself, for handlers that read it at several moments) and ``metrics``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import TypeAlias

import anyio
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidation

from hub.keys import HubIdentity
from hub.settings import Settings
from hub.store import HubStore
from hub.web.metrics import HubMetrics

__all__ = ("DEPENDENCIES", "Clock", "HubSettings", "Identity", "Metrics", "Now", "provide_store")

# The providers hand over the app's own objects: nothing to validate, and nothing spent validating them.
HubSettings: TypeAlias = NamedDependency[SkipValidation[Settings]]
Identity: TypeAlias = NamedDependency[SkipValidation[HubIdentity]]
Now: TypeAlias = NamedDependency[SkipValidation[dt.datetime]]
Clock: TypeAlias = NamedDependency[SkipValidation[Callable[[], dt.datetime]]]
Metrics: TypeAlias = NamedDependency[SkipValidation[HubMetrics]]


_STORE_THREADS = anyio.CapacityLimiter(8)
"""Worker threads that open and close requests' stores, apart from the 40 the handlers run in: a close
that waited behind handlers which themselves wait for a pooled connection would never give one back."""


def _open(state: State) -> HubStore:
    return HubStore.open(state["settings"].data_dir, check_same_thread=False, migrate=False)


async def provide_store(state: State) -> AsyncIterator[HubStore]:
    """One store per request, closed when the request is done, on every path (an answer, an error, a
    cancelled request).

    Opened and closed off the event loop (SQLite's connect, pragmas and close; the data folder's
    ``database.url``), in a thread of :data:`_STORE_THREADS`, and used by the handler's worker thread,
    hence ``check_same_thread=False``; one owner at a time. On PostgreSQL the store borrows its pooled
    connection at its first statement, in the handler's thread. Litestar would run a sync generator's
    cleanup in a worker thread of the handlers' own limited set (40): with that many requests waiting
    for a pooled connection, the cleanups that give connections back would wait behind them and the
    pool stall (every request 503 after the pool's wait). Here the close runs in a thread of its own
    small set, shielded from cancellation, so it always happens and never waits for a handler.
    """
    with anyio.CancelScope(shield=True):  # an opened store is always closed below
        store = await anyio.to_thread.run_sync(_open, state, limiter=_STORE_THREADS)
    try:
        yield store
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(store.close, limiter=_STORE_THREADS)


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
