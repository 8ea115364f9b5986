"""The PostgreSQL store's connection pool under load: every borrowed connection is given back.

A request's store borrows a pooled connection in the handler's worker thread and gives it back when the
request's ``store`` dependency is cleaned up. Litestar runs a sync generator's cleanup in a worker thread
of the same limited set (40) the handlers run in: with more requests than that waiting for a connection,
the cleanups that would give connections back waited behind them, and the hub stalled until the
requests' 30 s pool wait ran out (503 ``store.busy``). These tests send more requests at once than
there are worker threads, against a pool of 2, including requests that fail (4xx, an exception), and
check that every one is answered as itself and that the pool holds all its connections afterwards.
And the store's reading of results does not build psycopg's column list once per column.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from hub.settings import Settings
from hub.store import HubStore, pg
from hub.testing import live_server
from hub.web import api
from hub.web.app import create_app
from tests.hub.builders import SYNC, Clock, TestStation, bearer
from tests.support.postgres import HubBackend

pytestmark = pytest.mark.parametrize("hub_backend", ["postgresql"], indirect=True)

AT_ONCE = 64
"""More requests at once than Litestar's 40 worker threads."""


@pytest.fixture
def small_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pg.POOL_MAX_ENV, "2")
    # A stalled pool answers 503 after this wait instead of 30 s: the test fails sooner without the fix.
    monkeypatch.setattr(pg, "POOL_WAIT_S", 8.0)


@pytest.fixture
def served(small_pool: None, settings: Settings, clock: Clock) -> Iterator[str]:
    with live_server(create_app(settings, now=clock), timeout=60) as url:
        yield url


def _burst(requests: list[tuple[str, str, dict[str, Any]]], base: str) -> list[httpx.Response | BaseException]:
    """Send ``requests`` (method, path, httpx keywords) at the same moment, one thread and connection each."""
    answers: list[httpx.Response | BaseException] = [RuntimeError("not sent")] * len(requests)
    start = threading.Barrier(len(requests))

    def send(i: int, method: str, path: str, kwargs: dict[str, Any]) -> None:
        # Well inside the test's own timeout: a request left unanswered is reported by the assertion
        # below, with what it was, instead of pytest-timeout's bare "Timeout".
        with httpx.Client(base_url=base, timeout=60) as client:
            start.wait()
            try:
                answers[i] = client.request(method, path, **kwargs)
            except BaseException as exc:  # reported by the assertion below
                answers[i] = exc

    threads = [threading.Thread(target=send, args=(i, *r)) for i, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _pool_stats(hub_backend: HubBackend) -> dict[str, int]:
    pool = pg.pool_for(hub_backend.url or "")
    assert pool is not None, "the app opened no pool"
    return pool.get_stats()


@pytest.mark.timeout(300)
def test_many_requests_at_once_on_a_pool_of_two_all_complete_and_give_their_connections_back(
    hub_backend: HubBackend,
    station: TestStation,
    admin_token: str,
    served: str,  # after the test's own store: it keeps a connection of its own, not one of the pool's
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a handler that fails after using the store")

    monkeypatch.setattr(api, "station_detail", broken)
    requests: list[tuple[str, str, dict[str, Any]]] = []
    expected: list[set[int]] = []
    for i in range(AT_ONCE):
        kind = i % 4
        if kind == 0:  # a station's exchange (pull): 200, or 409 replay when a later counter arrived first
            body = station.sync_body([])
            requests.append(("POST", SYNC, {"content": body, "headers": station.headers("POST", SYNC, body)}))
            expected.append({200, 409})
        elif kind == 1:  # an unknown key: the store looked up, then 401
            requests.append(("POST", SYNC, {"content": b"\x90", "headers": {"X-Sync": "nokey 1 1 0 0 test/1 AAAA"}}))
            expected.append({400, 401})
        elif kind == 2:  # the JSON status: a guard and a handler, each with a store
            requests.append(("GET", "/api/v1/status", {"headers": bearer(admin_token)}))
            expected.append({200})
        else:  # the handler raises after its guard used the store: 500
            requests.append(("GET", f"/api/v1/status/stations/{station.station_id}", {"headers": bearer(admin_token)}))
            expected.append({500})
    answers = _burst(requests, served)
    got = [a.status_code if isinstance(a, httpx.Response) else repr(a) for a in answers]
    wrong = [(i, requests[i][1], got[i]) for i in range(AT_ONCE) if got[i] not in expected[i]]
    assert not wrong, f"answers not as expected (503 = waited for a connection in vain): {wrong}"
    stats = _pool_stats(hub_backend)
    assert stats.get("requests_waiting", 0) == 0
    assert stats["pool_available"] == stats["pool_size"], f"connections not given back: {stats}"
    assert stats["pool_size"] <= 2


def test_a_row_is_read_without_building_psycopg_s_column_list(
    hub_backend: HubBackend, store: HubStore, station: TestStation
) -> None:
    # psycopg builds cursor.description anew (a Column object per column) at each reading; the store read
    # it once per column of a result, which made reading a station's row (about 20 columns) cost more CPU
    # than the rest of the exchange. The names are now taken from the result itself: no Column at all.
    built = 0

    class Counting(psycopg.Cursor):  # type: ignore[type-arg]
        @property
        def description(self) -> Any:
            nonlocal built
            built += 1
            return super().description

    store.db.conn.cursor_factory = Counting
    row = store.station(station.station_id)
    assert row is not None and row.station_id == station.station_id and row.village_code == station.village_code
    assert built == 0


@pytest.fixture
def one_connection_pool(hub_backend: HubBackend) -> Iterator[Any]:
    url = hub_backend.url or ""
    pool = pg.open_pool(url, max_size=1)
    try:
        pool.wait(timeout=30)
        yield pool
    finally:
        pg.close_pool(url)


def _backend_pid(pool: Any, hub_backend: HubBackend) -> int:
    """Borrow the pool's connection as a request's store does, ask its server process id, give it back."""
    db = pg.PgDatabase(hub_backend.url or "", where="test", pool=pool)
    try:
        return int(db.execute("SELECT pg_backend_pid()").fetchone()[0])
    finally:
        db.close()


def test_a_connection_given_back_moments_ago_is_lent_without_a_check_and_one_idle_a_while_with_one(
    hub_backend: HubBackend, one_connection_pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from psycopg_pool import ConnectionPool

    checks = 0
    check = ConnectionPool.check_connection

    def counted(conn: Any) -> None:
        nonlocal checks
        checks += 1
        check(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counted))
    first = _backend_pid(one_connection_pool, hub_backend)
    before = checks
    assert _backend_pid(one_connection_pool, hub_backend) == first  # the same connection, lent again at once
    assert checks == before  # ... without a round trip to check it (a burst of requests pays none)
    monkeypatch.setattr(pg, "POOL_CHECK_IDLE_S", 0.0)  # now every connection given back has waited "long"
    assert _backend_pid(one_connection_pool, hub_backend) == first
    assert checks == before + 1


def test_a_connection_the_server_cut_while_it_waited_is_replaced_before_a_request_gets_it(
    hub_backend: HubBackend, one_connection_pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cut = _backend_pid(one_connection_pool, hub_backend)
    with psycopg.connect(hub_backend.url or "", autocommit=True) as admin:  # as a server restart would
        admin.execute("SELECT pg_terminate_backend(%s)", [cut])
    monkeypatch.setattr(pg, "POOL_CHECK_IDLE_S", 0.0)
    # The request is served on a new connection, not failed on the cut one.
    assert _backend_pid(one_connection_pool, hub_backend) != cut
