"""``hub serve --workers 2`` on PostgreSQL: two worker processes, the same set sent to both at once, applied once.

The test holds the station's advisory lock (the one each ingest takes, hub.store.pg) while it sends the
same set in two signed exchanges, one after the other, and waits until PostgreSQL shows both requests
waiting for that lock: both are inside the ingest at the same moment. Released, one applies the set and
the other finds it held. Each round repeats that with the station's next set until the two waiting
requests were seen in two different worker processes (each connection names its process:
``application_name = proxyapp-hub/<pid>``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest

from hub.keys import load_identity
from hub.store import HubStore
from hub.store.pg import APPLICATION, LOCK_SPACE
from sync.protocol import SyncResponse
from tests.hub.builders import SYNC, Clock, TestStation, enrol
from tests.integration.processes import HubProcess
from tests.support.postgres import HubBackend

pytestmark = pytest.mark.parametrize("hub_backend", ["postgresql"], indirect=True)

ROUNDS_MAX = 12


class WorkersHub(HubProcess):
    """``hub serve --workers N`` in a child process (the environment's HUB_DATABASE_URL names the store)."""

    def __init__(self, data_dir: Path, workers: int) -> None:
        super().__init__(data_dir)
        self.workers = workers

    def command(self) -> tuple[list[str], Path | None, dict[str, str] | None]:
        argv, cwd, env = super().command()
        return [*argv, "--workers", str(self.workers)], cwd, env

    def start(self, timeout: float = 120.0) -> WorkersHub:
        # Each worker imports the hub in its own process: slower than one server on a busy 2-core machine.
        try:
            super().start(timeout)
        except BaseException:
            self.stop()
            raise
        return self


def _until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _worker_processes(admin: psycopg.Connection[Any]) -> set[str]:
    rows = admin.execute(
        "SELECT DISTINCT application_name FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name LIKE %s",
        [f"{APPLICATION}/%"],
    ).fetchall()
    return {r[0] for r in rows}


def _waiting(admin: psycopg.Connection[Any]) -> list[str]:
    """The processes (application names) of the requests waiting for the station's advisory lock."""
    rows = admin.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND NOT l.granted AND l.classid = %s AND l.objsubid = 2",
        [LOCK_SPACE],
    ).fetchall()
    return [r[0] for r in rows]


def _both_waiting(admin: psycopg.Connection[Any]) -> list[str] | None:
    waiting = _waiting(admin)
    return waiting if len(waiting) == 2 else None


def _exchange(url: str, station: TestStation, envelope: bytes) -> tuple[bytes, dict[str, str]]:
    # No short receipts (features 0): each answer then carries the receipt whole, as the hub stored it.
    body = station.sync_body([envelope], features=0)
    return body, station.headers("POST", SYNC, body)


def test_two_workers_take_the_same_set_sent_to_both_once(
    tmp_path: Path, hub_backend: HubBackend, postgres_hub_template: tuple[Path, str]
) -> None:
    hub_dir = tmp_path / "hub"
    hub_backend.copy_hub(*postgres_hub_template, hub_dir)
    assert hub_backend.url is not None
    clock = Clock(dt.datetime.now(dt.UTC))
    with HubStore.open_existing(hub_dir) as store:
        station = enrol(store, load_identity(hub_dir), clock)
    server = WorkersHub(hub_dir, workers=2).start()
    admin = psycopg.connect(hub_backend.url, autocommit=True)
    try:
        # Each worker opened its connection pool at startup: two processes hold connections.
        _until(lambda: len(_worker_processes(admin)) == 2, "two worker processes")
        in_two_processes, rounds = False, 0
        key = f"station:{station.station_id}"
        while not in_two_processes and rounds < ROUNDS_MAX:
            rounds += 1
            _, changes = station.new_case()
            envelope = station.seal(changes)
            requests = [_exchange(server.url, station, envelope) for _ in range(2)]  # counters n, n + 1
            answers: list[httpx.Response | None] = [None, None]

            def send(
                i: int,
                requests: list[tuple[bytes, dict[str, str]]] = requests,
                answers: list[httpx.Response | None] = answers,
            ) -> None:
                body, headers = requests[i]
                answers[i] = httpx.post(server.url + SYNC, content=body, headers=headers, timeout=60)

            admin.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", [LOCK_SPACE, key])
            threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
            threads[0].start()
            _until(lambda: len(_waiting(admin)) == 1, "the first send inside the ingest")
            threads[1].start()
            waiting = _until(lambda: _both_waiting(admin), "both sends inside the ingest")
            in_two_processes = len(set(waiting)) == 2
            admin.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [LOCK_SPACE, key])
            for thread in threads:
                thread.join(60)
            results = []
            for answer in answers:
                assert answer is not None and answer.status_code == 200, answer and answer.text
                (result,) = msgspec.msgpack.decode(answer.content, type=SyncResponse).results
                results.append(result)
            assert sorted(r.status for r in results) == ["accepted", "duplicate"]
            assert results[0].receipt == results[1].receipt and results[0].receipt
        assert in_two_processes, f"in {rounds} rounds the two sends never met in two different workers"
    finally:
        admin.close()
        server.stop()
    with HubStore.open_existing(hub_dir) as store:
        assert store.count_sets_in(station.station_id) == rounds  # each set once
        assert store.station(station.station_id).applied_seq == rounds
        counted = {(name, label): value for name, label, value in store.counters()}
        assert counted[("sets", "http")] == rounds and counted[("changes", "http")] == rounds * len(changes)
        assert store.count_rows("cases") == rounds
