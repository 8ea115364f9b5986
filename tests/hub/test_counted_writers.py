"""Every writer of the counted rows takes the ingest's locks in its order: decisions, fork resolutions, recovery.

On PostgreSQL a desk's decision that locked the case_counts rows in the opposite order of a station's set
deadlocked, and the decision was answered busy (503); a restored station's recovery read the chain head
while another worker was applying that station's next set. hub.store.locks gives them all one order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hub.decisions
import hub.ingest
from hub.decisions import decide
from hub.feed import read_feed
from hub.forks import resolve_fork
from hub.ingest import ingest_sets
from hub.keys import HubIdentity
from hub.recovery import recover_if_behind
from hub.store import HubStore, TransactionConflict
from hub.store.locks import COUNTS_LOCK, station_lock
from hub.store.pg import LOCK_SPACE
from sync.protocol import STATION_FEATURES, ReceiptItem, verify_receipt
from tests.hub.builders import Clock, TestStation, enrol
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS

WAIT = 120.0
"""How long a test waits for a thread to reach a lock before it gives up (a hang, not a measure)."""


def _postgres_only(hub_backend: Any) -> None:
    if not hub_backend.postgres:
        pytest.skip("SQLite has one writer at a time: no two transactions hold row or advisory locks at once")


def _held(store: HubStore, *keys: str) -> set[str]:
    """Which of the advisory store locks ``keys`` this store's own connection holds now."""
    return {
        key
        for key in keys
        if store.db.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted "
            "AND objsubid = 2 AND classid = ? AND objid::bigint = (hashtext(?)::bigint & 4294967295)",
            [LOCK_SPACE, key],
        ).fetchone()[0]
    }


def _until_waiting_or_done(observer: HubStore, thread: threading.Thread) -> bool:
    """Wait until ``thread`` waits for a lock another connection holds (True) or has finished (False)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if not thread.is_alive():
            return False
        if observer.db.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:
            return True
        time.sleep(0.01)
    raise AssertionError("the thread neither finished nor waited for a lock")


def _exact_counts(store: HubStore) -> None:
    """The triggers' case_counts rows say what the cases table says."""
    kept = {
        (d, t, s): n
        for d, t, s, n in store.db.execute(
            "SELECT department, township, status, n FROM case_counts WHERE n <> 0"
        ).fetchall()
    }
    counted: dict[tuple[str, str, str], int] = {}
    for item, village, status in store.db.execute("SELECT item_code, village_code, status FROM cases").fetchall():
        key = (item.split("-")[0], village[:9] + "000", status)
        counted[key] = counted.get(key, 0) + 1
    assert kept == counted


def _file(store: HubStore, identity: HubIdentity, station: TestStation) -> str:
    case_no, changes = station.new_case()
    result = ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, lean=True)
    assert [r.status for r in result.results] == ["accepted"]
    return case_no


def _run(target: Callable[[], Any], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


# -- decisions --------------------------------------------------------------------------------------


def test_a_decision_takes_no_lock_before_its_writes_and_counts_at_commit_under_the_counts_lock(
    hub_dir: Path,
    store: HubStore,
    identity: HubIdentity,
    station: TestStation,
    clock: Clock,
    hub_backend: Any,
    monkeypatch: Any,
) -> None:
    _postgres_only(hub_backend)
    case_no = _file(store, identity, station)
    real = hub.decisions.apply_status
    held: list[set[str]] = []

    def looked(the_store: HubStore, *args: Any, **kwargs: Any) -> Any:
        held.append(_held(the_store, COUNTS_LOCK))
        return real(the_store, *args, **kwargs)

    monkeypatch.setattr(hub.decisions, "apply_status", looked)
    errors: list[BaseException] = []
    with HubStore.open_existing(hub_dir) as holder, holder.transaction():
        holder.lock(COUNTS_LOCK)  # while another transaction holds it, the decision's commit waits for it
        thread = _run(lambda: decide(store, case_no, "accept", by="张科长", now=clock), errors)
        assert _until_waiting_or_done(holder, thread)
        assert held == [set()]  # its writes went ahead; only the counts' wait for the lock
    thread.join(WAIT)
    assert errors == [] and store.row("cases", case_no)["status"] == "ACCEPTED"
    _exact_counts(store)


def test_a_decision_rolled_back_for_a_conflict_runs_again_and_is_recorded_once(
    store: HubStore, identity: HubIdentity, station: TestStation, clock: Clock, monkeypatch: Any
) -> None:
    case_no = _file(store, identity, station)
    real = hub.decisions.apply_status
    calls: list[int] = []

    def conflicted_once(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)  # the case moved, then the engine rolls it all back
        calls.append(1)
        if len(calls) == 1:
            raise TransactionConflict(zh="数据库死锁（测试）", en="deadlock detected (test)", code="store.busy")
        return result

    monkeypatch.setattr(hub.decisions, "apply_status", conflicted_once)
    decision = decide(store, case_no, "accept", by="张科长", now=clock)
    assert len(calls) == 2
    assert (decision.from_status, decision.status) == ("RECEIVED", "ACCEPTED")
    assert [e["to_status"] for e in store.case_events(case_no)] == ["RECEIVED", "ACCEPTED"]
    _exact_counts(store)


def test_a_decision_crossing_a_stations_set_on_the_counted_rows_is_not_answered_busy(
    hub_dir: Path,
    store: HubStore,
    identity: HubIdentity,
    station: TestStation,
    station_b: TestStation,
    clock: Clock,
    hub_backend: Any,
    monkeypatch: Any,
) -> None:
    """A set of the village's second PC holds the ACCEPTED row of the department and township (as a set
    moving an accepted case does) and then writes a new case's RECEIVED row; a decision on the first PC's
    case takes RECEIVED (-1) and then ACCEPTED (+1). Without the counts lock the two deadlock and
    PostgreSQL rolls the decision back (it checks first: a shorter deadlock_timeout) -> busy (503)."""
    _postgres_only(hub_backend)
    case_no = _file(store, identity, station)
    case = store.row("cases", case_no)
    assert case is not None
    department, township = case["item_code"].split("-")[0], case["village_code"][:9] + "000"
    new_case, changes = station_b.new_case()
    sealed = station_b.seal(changes)
    holds, go = threading.Event(), threading.Event()
    real = hub.ingest._apply_all

    def crossing(the_store: HubStore, *args: Any, **kwargs: Any) -> Any:
        # Under the set's counts lock: the ACCEPTED row, changed by nothing (+0), locked to the commit.
        the_store.db.execute(
            "INSERT INTO case_counts (department, township, status, n, accepted_n, days_n, days_sum) "
            "VALUES (?, ?, 'ACCEPTED', 0, 0, 0, 0) ON CONFLICT (department, township, status) "
            "DO UPDATE SET n = case_counts.n + excluded.n",
            [department, township],
        )
        holds.set()
        assert go.wait(WAIT)
        return real(the_store, *args, **kwargs)  # the new case: DRAFT, then the RECEIVED row

    monkeypatch.setattr(hub.ingest, "_apply_all", crossing)
    errors: list[BaseException] = []
    results: list[Any] = []

    def ingest() -> None:
        with HubStore.open_existing(hub_dir) as own:
            own.db.execute("SET deadlock_timeout = '30s'")  # the decision's backend finds a deadlock first
            pushed = ingest_sets(own, identity, [sealed], station_id=station_b.station_id, now=clock, lean=True)
            results.extend(r.status for r in pushed.results)

    def decision() -> None:
        with HubStore.open_existing(hub_dir) as own:
            own.db.execute("SET deadlock_timeout = '1s'")
            results.append(decide(own, case_no, "accept", by="张科长", now=clock).status)

    ingesting = _run(ingest, errors)
    assert holds.wait(WAIT)
    deciding = _run(decision, errors)
    # Fixed: the decision waits for the counts lock, holding no row. Unfixed: it holds RECEIVED, waits for ACCEPTED.
    assert _until_waiting_or_done(store, deciding)
    go.set()  # the set goes on to the RECEIVED row
    ingesting.join(WAIT)
    deciding.join(WAIT)
    assert errors == []
    assert sorted(results) == ["ACCEPTED", "accepted"]
    assert store.row("cases", case_no)["status"] == "ACCEPTED"
    assert store.row("cases", new_case)["status"] == "RECEIVED"
    _exact_counts(store)


DESK_ROUNDS = 12


def test_a_department_deciding_while_two_workers_ingest_is_never_busy_and_counts_stay_exact(
    hub_dir: Path, store: HubStore, identity: HubIdentity, clock: Clock, hub_backend: Any
) -> None:
    """Two threads ingest sets of two more PCs of the village, each withdrawing an accepted case (its
    ACCEPTED row, then WITHDRAWN) and filing a new one (DRAFT, then RECEIVED), while a third accepts the
    first PC's cases (RECEIVED, then ACCEPTED: the other order), each on its own connection, repeated:
    every decision and every set goes through, and case_counts says what the cases say."""
    _postgres_only(hub_backend)
    first, *others = (enrol(store, identity, clock) for _ in range(3))
    cases = [_file(store, identity, first) for _ in range(DESK_ROUNDS)]
    sealed: dict[str, list[bytes]] = {}
    withdrawn: list[str] = []
    for st in others:
        accepted = [_file(store, identity, st) for _ in range(DESK_ROUNDS)]
        for case_no in accepted:
            decide(store, case_no, "accept", by="张科长", now=clock)
        withdrawn += accepted
        sealed[st.station_id] = [
            st.seal([st.move(case_no, "ACCEPTED", "WITHDRAWN", reason="申请人撤回"), *st.new_case()[1]])
            for case_no in accepted
        ]
    start = threading.Barrier(3, timeout=WAIT)
    errors: list[BaseException] = []
    statuses: list[str] = []

    def ingest(station_id: str) -> None:
        with HubStore.open_existing(hub_dir) as own:
            own.db.execute("SET deadlock_timeout = '10ms'")
            start.wait()
            for data in sealed[station_id]:
                result = ingest_sets(own, identity, [data], station_id=station_id, now=clock, lean=True)
                statuses.extend(r.status for r in result.results)

    def desk() -> None:
        with HubStore.open_existing(hub_dir) as own:
            own.db.execute("SET deadlock_timeout = '10ms'")
            start.wait()
            for case_no in cases:
                decide(own, case_no, "accept", by="张科长", now=clock)

    threads = [_run(lambda s=st.station_id: ingest(s), errors) for st in others] + [_run(desk, errors)]
    for thread in threads:
        thread.join(WAIT * 2)
    assert errors == []
    assert statuses == ["accepted"] * (2 * DESK_ROUNDS)
    assert {store.row("cases", c)["status"] for c in cases} == {"ACCEPTED"}
    assert {store.row("cases", c)["status"] for c in withdrawn} == {"WITHDRAWN"}
    _exact_counts(store)


# -- fork resolution -------------------------------------------------------------------------------


def test_a_fork_is_resolved_under_the_stations_lock(
    store: HubStore, identity: HubIdentity, station: TestStation, clock: Clock, hub_backend: Any, monkeypatch: Any
) -> None:
    _postgres_only(hub_backend)
    _file(store, identity, station)
    _file(store, identity, station)
    _, changes = station.new_case()
    forked = station.seal(changes, seq=2, prev=store.set_in(station.station_id, 1)[0])
    assert ingest_sets(store, identity, [forked], station_id=station.station_id).results[0].status == "fork"
    store.set_features(station.station_id, STATION_FEATURES)
    real = store.resolve_forks
    held: list[set[str]] = []

    def looked(*args: Any, **kwargs: Any) -> Any:
        held.append(_held(store, station_lock(station.station_id), COUNTS_LOCK))
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "resolve_forks", looked)
    done = resolve_fork(store, identity, store.forks()[0].id, keep="station", by="test", now=clock())
    assert (done.base_seq, done.head_seq) == (1, 1)
    assert held == [{station_lock(station.station_id)}]  # the counts lock only at commit, by the triggers
    _exact_counts(store)


# -- recovery ----------------------------------------------------------------------------------------


def test_recovery_racing_an_ingest_of_the_same_station_gives_each_set_back_once(
    hub_dir: Path, store: HubStore, identity: HubIdentity, station: TestStation, clock: Clock, hub_backend: Any
) -> None:
    """Another worker is applying the station's set 4 (its transaction holds the station's lock) when a
    request of the restored station (head 1) asks for what it lost: the recovery waits for that set and
    queues the receipts 2, 3 and 4 once; asked again, nothing more."""
    _postgres_only(hub_backend)
    for _ in range(3):
        _file(store, identity, station)
    position = read_feed(store, identity, station.station_id, after=0, limit=None, now=clock())[1].last_seq
    _, changes = station.new_case()
    fourth = station.seal(changes)
    errors: list[BaseException] = []
    queued: list[int] = []

    def recover() -> None:
        with HubStore.open_existing(hub_dir) as own:
            queued.append(recover_if_behind(own, identity, station.station_id, 1, now=clock()))

    with HubStore.open_existing(hub_dir) as worker, worker.transaction():
        worker.lock(station_lock(station.station_id))  # as hub.ingest does, first thing in the set's transaction
        pushed = ingest_sets(worker, identity, [fourth], station_id=station.station_id, now=clock, lean=True)
        assert [r.status for r in pushed.results] == ["accepted"]
        recovering = _run(recover, errors)
        _until_waiting_or_done(store, recovering)
    recovering.join(WAIT)
    assert errors == []
    assert queued[0] > 0
    rows, _ = read_feed(store, identity, station.station_id, after=position, limit=None, now=clock())
    items = [item for row in rows for item in station.read_feed_set(row.envelope)[1]]
    receipts = [verify_receipt(i.receipt, identity.keys.sign_public) for i in items if isinstance(i, ReceiptItem)]
    assert [r.seq for r in receipts] == [2, 3, 4]
    assert recover_if_behind(store, identity, station.station_id, 1, now=clock()) == 0  # once
