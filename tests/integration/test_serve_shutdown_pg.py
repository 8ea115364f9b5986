"""``hub serve`` on PostgreSQL stops on SIGTERM while its requests wait: for a lock, for a pooled connection.

The test holds the station's advisory lock (the one each ingest takes), so an exchange carrying a set waits
inside the ingest holding the pool's only connection (``HUB_DATABASE_POOL=1``), and further exchanges wait
for that connection. SIGTERM must still stop the server: after the graceful-shutdown window
(``hub.cli.GRACEFUL_SHUTDOWN_S``) uvicorn cancels the requests, the app shuts down (closing the pool wakes
those waiting for a connection) and the process ends; PostgreSQL rolls back the ingest it left: the set is
not applied.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from hub.keys import load_identity
from hub.store import HubStore
from hub.store.pg import LOCK_SPACE, POOL_MAX_ENV
from tests.hub.builders import SYNC, Clock, enrol
from tests.integration.processes import HubProcess
from tests.support.postgres import HubBackend

pytestmark = pytest.mark.parametrize("hub_backend", ["postgresql"], indirect=True)


def _until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _lock_waiters(admin: psycopg.Connection[Any]) -> int:
    row = admin.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = %s", [LOCK_SPACE]
    ).fetchone()
    return int(row[0]) if row else 0


def test_sigterm_stops_hub_serve_while_requests_wait_for_a_lock_and_for_connections(
    tmp_path: Path, hub_backend: HubBackend, postgres_hub_template: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub_dir = tmp_path / "hub"
    hub_backend.copy_hub(*postgres_hub_template, hub_dir)
    assert hub_backend.url is not None
    monkeypatch.setenv(POOL_MAX_ENV, "1")  # inherited by hub serve
    clock = Clock(dt.datetime.now(dt.UTC))
    with HubStore.open_existing(hub_dir) as store:
        station = enrol(store, load_identity(hub_dir), clock)
    _, changes = station.new_case()
    envelope = station.seal(changes)
    server = HubProcess(hub_dir).start(timeout=60)
    assert server.process is not None
    admin = psycopg.connect(hub_backend.url, autocommit=True)
    answers: list[Any] = []
    key = f"station:{station.station_id}"

    def send(body: bytes) -> None:
        headers = station.headers("POST", SYNC, body)
        try:
            answers.append(httpx.post(server.url + SYNC, content=body, headers=headers, timeout=120).status_code)
        except httpx.TransportError as exc:
            answers.append(type(exc).__name__)

    threads: list[threading.Thread] = []
    try:
        admin.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", [LOCK_SPACE, key])
        threads.append(threading.Thread(target=send, args=(station.sync_body([envelope]),)))
        threads[0].start()
        _until(lambda: _lock_waiters(admin) == 1, "the exchange inside the ingest, waiting for the station's lock")
        for _ in range(3):  # these wait for the pool's one connection, which the first one holds
            threads.append(threading.Thread(target=send, args=(station.sync_body([]),)))
            threads[-1].start()
        time.sleep(1.0)  # let them reach the pool (not an assertion: the test holds either way)
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(90)
        except subprocess.TimeoutExpired:
            pytest.fail("hub serve did not stop on SIGTERM while its requests waited")
        for thread in threads:
            thread.join(60)
        assert len(answers) == len(threads)  # every request answered or cut off, none left hanging
        assert 200 not in answers  # the waiting ingest was cancelled, not completed after the lock
    finally:
        admin.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [LOCK_SPACE, key])
        admin.close()
        server.stop()
    with HubStore.open_existing(hub_dir) as store:
        assert store.count_sets_in(station.station_id) == 0  # rolled back, nothing half-applied
        assert store.station(station.station_id).applied_seq == 0
