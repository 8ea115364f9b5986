"""A request's store is opened and closed off the event loop (hub.web.deps.provide_store).

On SQLite opening is ``sqlite3.connect`` and three pragmas, closing a file close: on the event loop they
held up every other request (a sixth of the hub's samples in the county benchmark).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar.testing import TestClient

from hub.store import HubStore
from tests.hub.builders import bearer
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_the_requests_store_is_opened_and_closed_off_the_event_loop(
    client: TestClient[Any], admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    where: list[tuple[str, bool]] = []
    real_open, real_close = HubStore.open.__func__, HubStore.close  # type: ignore[attr-defined]

    def open_(cls: type[HubStore], *args: Any, **kwargs: Any) -> HubStore:
        where.append(("open", _on_event_loop()))
        return real_open(cls, *args, **kwargs)

    def close(self: HubStore) -> None:
        where.append(("close", _on_event_loop()))
        real_close(self)

    monkeypatch.setattr(HubStore, "open", classmethod(open_))
    monkeypatch.setattr(HubStore, "close", close)
    for _ in range(3):
        assert client.get("/api/v1/status", headers=bearer(admin_token)).status_code == 200
    assert ("open", False) in where and ("close", False) in where
    assert ("open", True) not in where and ("close", True) not in where, where
