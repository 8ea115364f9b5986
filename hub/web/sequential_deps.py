"""Litestar resolves a handler's dependencies one after another here, not in a task group per request.

Litestar 2 resolves the dependencies of one depth concurrently, in an anyio task group: a group, a task
and its cancel scope, and the events that wake them, for each request. Every hub handler names several
cheap dependencies (``store``, ``settings``, ``identity``, ``clock``: dictionary look-ups, and the store
taken from those kept open), so that machinery cost more of the event loop than the dependencies
themselves: profiled in the county's day (395 stations at once), the task groups were ~10 % of the
loop's CPU (the hub's one process serves every station, so the loop's CPU is the county's wall time).
Upstream knows (litestar-org/litestar#4563: two flat dependencies cut a handler's requests a second to
36 %). Resolving them in order gives the same values and the same clean-up: none of the hub's dependencies
waits on another's I/O, so nothing is lost by not overlapping them.
"""

from __future__ import annotations

from typing import Any

from litestar._kwargs.cleanup import DependencyCleanupGroup
from litestar._kwargs.dependencies import resolve_dependency
from litestar._kwargs.kwargs_model import KwargsModel
from litestar.connection import ASGIConnection

__all__ = ("install",)


async def _resolve_in_order(
    self: KwargsModel, connection: ASGIConnection, kwargs: dict[str, Any]
) -> DependencyCleanupGroup:
    """``KwargsModel.resolve_dependencies``, batch by batch as Litestar orders them, each in turn."""
    cleanup_group = DependencyCleanupGroup()
    for batch in self.dependency_batches:
        for dependency in batch:
            await resolve_dependency(dependency, connection, kwargs, cleanup_group)
    return cleanup_group


def install() -> None:
    """Make every Litestar app of this process resolve its dependencies in order (idempotent)."""
    KwargsModel.resolve_dependencies = _resolve_in_order  # type: ignore[method-assign]
