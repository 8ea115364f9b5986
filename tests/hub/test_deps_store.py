"""A request's store is opened and closed off the event loop (hub.web.deps.provide_store), in threads
that each event loop limits on its own.

On SQLite opening is ``sqlite3.connect`` and three pragmas, closing a file close: on the event loop they
held up every other request (a sixth of the hub's samples in the county benchmark).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from hub.settings import Settings
from hub.store import HubStore
from hub.testing import live_server
from hub.web import deps
from hub.web.app import create_app
from tests.hub.builders import SYNC, Clock, bearer
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


def test_each_event_loop_has_its_own_limiter_for_opening_stores() -> None:
    async def limiter() -> object:
        first = deps.store_threads()
        assert deps.store_threads() is first  # one per loop: the requests of a loop share it
        return first

    assert asyncio.run(limiter()) is not asyncio.run(limiter())


def test_two_hubs_served_in_one_process_at_once_answer_every_request(
    settings: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With one limiter for the process, a token freed on one server's event loop was handed to a waiter
    # on the other's by setting an asyncio event from the wrong thread (which wakes nobody there), and a
    # waiter whose loop had stopped kept its token for ever. Each loop now limits its own requests.
    real_open = deps._open

    def slow_open(state: Any) -> HubStore:
        time.sleep(0.02)  # every token taken while the bursts arrive
        return real_open(state)

    monkeypatch.setattr(deps, "_open", slow_open)
    body = b"\x90"
    headers = {"X-Sync": "nokey 1 1 0 0 test/1 AAAA"}  # an unknown key: the store is opened, then 401
    with (
        live_server(create_app(settings, now=clock)) as first,
        live_server(create_app(settings, now=clock)) as second,
    ):
        targets = [first, second] * 24
        start = threading.Barrier(len(targets))
        answers: list[int | str] = ["not sent"] * len(targets)

        def send(i: int, base: str) -> None:
            with httpx.Client(base_url=base, timeout=20) as http:
                start.wait()
                try:
                    answers[i] = http.post(SYNC, content=body, headers=headers).status_code
                except httpx.HTTPError as exc:
                    answers[i] = repr(exc)

        threads = [threading.Thread(target=send, args=(i, base)) for i, base in enumerate(targets)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert all(answer in (400, 401) for answer in answers), answers
