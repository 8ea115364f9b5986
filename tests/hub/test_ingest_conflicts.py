"""A set's transaction rolled back for a deadlock or serialisation failure runs again, applied once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import hub.ingest
from hub.ingest import CONFLICT_ATTEMPTS, ingest_sets
from hub.keys import HubIdentity
from hub.store import HubStore, TransactionConflict
from hub.store.locks import COUNTS_LOCK
from hub.store.pg import LOCK_SPACE
from sync.errors import StoreError
from tests.hub.builders import Clock, TestStation, enrol
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS


def _counter(store: HubStore, name: str, label: str) -> int:
    row = store.db.execute("SELECT value FROM counters WHERE name = ? AND label = ?", [name, label]).fetchone()
    return row[0] if row else 0


def _applied(store: HubStore, station_id: str) -> int | None:
    row = store.station(station_id)
    return row.applied_seq if row else None


def _conflict() -> TransactionConflict:
    return TransactionConflict(zh="数据库死锁（测试）", en="deadlock detected (test)", code="store.busy")


def test_a_set_rolled_back_for_a_conflict_runs_again_and_is_applied_once(
    store: HubStore, identity: HubIdentity, station: TestStation, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = hub.ingest._chain_and_apply
    calls: list[int] = []

    def conflicted_once(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)  # everything written, then the engine rolls it all back
        calls.append(1)
        if len(calls) == 1:
            raise _conflict()
        return result

    monkeypatch.setattr(hub.ingest, "_chain_and_apply", conflicted_once)
    sets_before = _counter(store, "sets", "http")
    case_no, changes = station.new_case()
    result = ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=station.clock)
    assert [r.status for r in result.results] == ["accepted"]
    assert len(calls) == 2
    assert store.count_sets_in(station.station_id) == 1
    assert len(store.case_events(case_no)) == 1
    assert _applied(store, station.station_id) == 1
    assert _counter(store, "sets", "http") == sets_before + 1


def test_a_set_that_keeps_conflicting_is_busy_and_nothing_kept(
    store: HubStore, identity: HubIdentity, station: TestStation, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = hub.ingest._chain_and_apply
    calls: list[int] = []

    def always_conflicted(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        calls.append(1)
        raise _conflict()

    monkeypatch.setattr(hub.ingest, "_chain_and_apply", always_conflicted)
    monkeypatch.setattr(hub.ingest.time, "sleep", lambda _: None)
    case_no, changes = station.new_case()
    with pytest.raises(StoreError) as raised:
        ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=station.clock)
    assert raised.value.code == "store.busy"
    assert len(calls) == CONFLICT_ATTEMPTS
    assert store.count_sets_in(station.station_id) == 0
    assert store.row("cases", case_no) is None
    assert _applied(store, station.station_id) == 0


ROUNDS = 8


def test_two_stations_locking_counter_rows_in_opposite_orders_all_apply_once(
    hub_dir: Path,
    store: HubStore,
    identity: HubIdentity,
    clock: Clock,
    hub_backend: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two threads, each a station's ingest on its own connection; in its transaction, before its locks, each
    first attempt updates two counter rows in the opposite order of the other's: on PostgreSQL a real deadlock
    every round, which the hub breaks by running the losing set again (on SQLite, one writer: no deadlock)."""
    if not hub_backend.postgres:
        pytest.skip("SQLite has one writer at a time: no two transactions hold row locks at once")
    stations = [enrol(store, identity, clock), enrol(store, identity, clock)]
    store.db.execute("INSERT INTO counters (name, label, value) VALUES ('test', 'a', 0), ('test', 'b', 0)")
    sets_before = _counter(store, "sets", "http")
    sealed = [[st.seal(st.new_case()[1]) for _ in range(ROUNDS)] for st in stations]
    orders = {stations[0].station_id: ("a", "b"), stations[1].station_id: ("b", "a")}
    meet = threading.Barrier(2, timeout=30)
    start = threading.Barrier(2, timeout=60)
    first_try = threading.local()
    attempts: list[str] = []
    real = HubStore.lock

    def crossed(the_store: HubStore, *keys: str) -> None:
        # At the set's first lock (the station's, and the counts lock with it), so two sets are in their
        # transactions at once: each updates its two rows in the other's opposite order before taking them.
        origin = next((key.removeprefix("station:") for key in keys if key.startswith("station:")), None)
        if origin in orders:
            first, second = orders[origin]
            attempts.append(origin)
            the_store.db.execute("UPDATE counters SET value = value + 1 WHERE name = 'test' AND label = ?", [first])
            if first_try.pending:
                first_try.pending = False
                meet.wait()  # both now hold their first row: each one's second update waits for the other's
            the_store.db.execute("UPDATE counters SET value = value + 1 WHERE name = 'test' AND label = ?", [second])
        real(the_store, *keys)

    monkeypatch.setattr(HubStore, "lock", crossed)
    errors: list[BaseException] = []
    statuses: list[str] = []

    def run(st: TestStation, sets: list[bytes]) -> None:
        try:
            with HubStore.open_existing(hub_dir) as own:
                own.db.execute("SET deadlock_timeout = '20ms'")  # found at once, not after PostgreSQL's 1 s
                for data in sets:
                    start.wait()
                    first_try.pending = True
                    result = ingest_sets(own, identity, [data], station_id=st.station_id, now=clock)
                    statuses.extend(r.status for r in result.results)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            meet.abort()
            start.abort()

    threads = [threading.Thread(target=run, args=(st, sets)) for st, sets in zip(stations, sealed, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert statuses == ["accepted"] * (2 * ROUNDS)
    for st in stations:
        assert store.count_sets_in(st.station_id) == ROUNDS
        assert _applied(store, st.station_id) == ROUNDS
    assert _counter(store, "sets", "http") == sets_before + 2 * ROUNDS
    # Each committed set updated both rows once; a rolled-back attempt left nothing.
    assert (_counter(store, "test", "a"), _counter(store, "test", "b")) == (2 * ROUNDS, 2 * ROUNDS)
    assert len(attempts) == 3 * ROUNDS  # every round one real deadlock: the loser's set ran twice


def test_sets_apply_side_by_side_and_queue_only_to_count_at_commit(
    hub_dir: Path,
    store: HubStore,
    identity: HubIdentity,
    station: TestStation,
    hub_backend: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A set takes no lock but its station's before it writes (sets of different stations apply side by side,
    across hub serve's workers); the rows every set counts are written at its commit, under the counts lock
    the triggers take there (schema m018): while another transaction holds it, the set's commit waits, and
    then counts exactly once (PostgreSQL)."""
    if not hub_backend.postgres:
        pytest.skip("SQLite has one writer at a time: store.lock does nothing there")
    real = hub.ingest._apply_all
    held: list[int] = []

    def looked(the_store: HubStore, *args: Any, **kwargs: Any) -> Any:
        held.append(
            the_store.db.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                "AND granted AND objsubid = 2 AND classid = ? AND objid::bigint = (hashtext(?)::bigint & 4294967295)",
                [LOCK_SPACE, COUNTS_LOCK],
            ).fetchone()[0]
        )
        return real(the_store, *args, **kwargs)

    monkeypatch.setattr(hub.ingest, "_apply_all", looked)
    before = store.db.execute("SELECT coalesce(sum(n), 0) FROM case_counts").fetchone()[0]
    _, changes = station.new_case()
    data = station.seal(changes)
    results: list[str] = []

    def ingest() -> None:
        result = ingest_sets(store, identity, [data], station_id=station.station_id, now=station.clock)
        results.extend(r.status for r in result.results)

    with HubStore.open_existing(hub_dir) as holder, holder.transaction():
        holder.lock(COUNTS_LOCK)
        thread = threading.Thread(target=ingest)
        thread.start()
        deadline = time.monotonic() + 30
        while not holder.db.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:
            assert thread.is_alive() and time.monotonic() < deadline, "the set neither waited nor finished"
            time.sleep(0.01)
        assert held == [0]  # applied without the counts lock; waiting for it only to count, at commit
    thread.join(30)
    assert results == ["accepted"]
    assert store.db.execute("SELECT coalesce(sum(n), 0) FROM case_counts").fetchone()[0] == before + 1
