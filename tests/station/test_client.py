"""One sync round against a hub double over httpx.MockTransport: push, pull, and what goes wrong."""

from __future__ import annotations

import collections
import itertools
import os
import re

import httpx
import msgspec
import pytest

from station import cases as ops
from station.identity import get_meta, set_meta
from station.link import sync_once, watch
from station.link.budget import Budget
from station.link.loop import PROBE_MAX_SECONDS
from station.link.session import ATTEMPTS
from station.queries import get_case
from station.scans.store import attach_pages
from station.sealing import held_tables, seal_pending
from station.store import db as store_db
from station.store.db import write_txn
from station.syncstate import sync_status
from sync.protocol import (
    SET_FORMAT_2,
    CaseState,
    PushResponse,
    RejectedItem,
    SetResult,
    SignedSet2,
    SyncRequest,
    decode_envelope,
    expand_auth,
)
from tests.station.conftest import pension_benefit_deferred, pension_enrolment
from tests.station.hubdouble import at_ms, pushed_counts
from tests.station.scans.pages import page


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def run(station, hub, keys, sleeps):
    """sync_once against the hub double, without real sleeping."""

    def go(**kwargs):
        return sync_once(station, transport=hub.transport(), keys=keys, sleep=sleeps.append, rng=lambda: 1.0, **kwargs)

    return go


def _log(station) -> list[tuple]:
    return station.db.execute("SELECT kind, ok, pushed, pulled, detail FROM sync_log ORDER BY id").fetchall()


def test_push_then_pull_reaches_in_step_in_one_round_trip(station, hub, run):
    number = ops.new_intake(station, pension_enrolment()).number
    report = run()
    assert (report.sealed, report.pushed, report.acknowledged) == (1, 1, 1)
    # The receipt came in the answer; the feed does not repeat it, so there is nothing to pull.
    assert report.pulled == 0 and report.feed_seq == report.hub_feed_seq == 0
    assert report.in_step and not report.errors and report.requests == 1
    assert [r.url.path for r in hub.requests] == ["/api/v1/sync"]
    # Everything but what waits for a feature this hub has not said (the query code: sync.tables ``feature``).
    sent = station.db.execute("SELECT COUNT(*) FROM outbox WHERE set_seq IS NOT NULL").fetchone()[0]
    assert hub.applied_seq == 1 and len(hub.received) == sent
    assert {e for (e,) in station.db.execute("SELECT entity FROM outbox WHERE set_seq IS NULL")} <= set(held_tables(0))
    assert get_case(station, number).sync_state == "acknowledged"
    assert _log(station)[-1] == ("sync", 1, 1, 0, "in step")
    again = run()
    assert (again.pushed, again.pulled, again.in_step, again.requests) == (0, 0, True, 1)


def test_decisions_come_down_in_the_same_round_trip(station, hub, run):
    number = ops.new_intake(station, pension_enrolment()).number
    hub.queue(CaseState(case_no=number, status="ACCEPTED", accepted_date="2026-09-28", through_seq=1))
    report = run()
    assert report.in_step and report.requests == 1 and report.pulled == 1
    assert get_case(station, number).summary.status == "ACCEPTED"


def test_requests_carry_one_compact_signed_header_and_nothing_else(station, hub, run):
    ops.new_intake(station, pension_enrolment())
    run()
    (exchange,) = hub.requests
    assert set(exchange.headers) == {"host", "content-length", "x-sync"}  # no User-Agent, Accept, Content-Type
    signed = expand_auth(exchange.headers["X-Sync"], station.station_id)
    assert (signed["X-Head-Seq"], signed["X-Outbox-Length"]) == ("1", "0") and signed["X-Software"]
    assert len(exchange.headers["X-Sync"]) < 150
    body = msgspec.msgpack.decode(exchange.content, type=SyncRequest)
    assert (len(body.sets), body.feed_after) == (1, 0)


def test_a_hub_without_the_exchange_is_reported_as_too_old_and_nothing_is_lost(station, hub, run, clock):
    hub.no_exchange = True  # a hub of 0.3 (or a wrong address): 404 on POST /api/v1/sync
    number = ops.new_intake(station, pension_enrolment()).number
    report = run()
    assert [e.code for e in report.errors] == ["hub_too_old"] and not report.fatal and not report.in_step
    message = report.errors[0]
    assert "older than 0.4" in message.message("en") and "upgrade the hub" in message.message("en")
    assert "0.4" in message.message("zh") and "县管理员" in message.message("zh")
    assert [r.url.path for r in hub.requests] == ["/api/v1/sync"]  # no push, no feed request: gone since 0.6
    assert report.unacknowledged == 1 and get_case(station, number).sync_state == "sealed"
    hub.no_exchange = False  # the county upgraded the hub: the next round gets everything through
    hub.requests.clear()
    assert run().in_step and [r.url.path for r in hub.requests] == ["/api/v1/sync"]
    assert get_case(station, number).sync_state == "acknowledged"


def test_a_hub_that_says_this_station_is_too_old_stops_the_watch(station, hub, run):
    ops.new_intake(station, pension_enrolment())
    hub.faults.append(
        httpx.Response(
            410,
            json={
                "error": "peer_too_old",
                "detail": "install release 0.8 or newer",
                "detail_zh": "请安装 0.8 或更新的版本",
            },
        )
    )
    report = run()
    assert [e.code for e in report.errors] == ["peer_too_old"] and report.fatal  # only an upgrade of this PC mends it
    assert "0.8" in report.errors[0].message("en") and "0.8" in report.errors[0].message("zh")


def test_sets_are_sealed_in_format_2_before_the_hub_has_said_what_it_reads(station, hub, run, keys):
    # The double says nothing (as a hub of 0.3 did), yet every hub within the support window reads
    # format 2 and zstd-r2: the station seals nothing else (a folder upgraded from 0.3 seals so at once).
    assert not get_meta(station.db, "hub_features")
    ops.new_intake(station, pension_enrolment())
    seal_pending(station, keys)
    (envelope,) = [bytes(e) for (e,) in station.db.execute("SELECT envelope FROM sets_out")]
    outer = decode_envelope(envelope)
    assert (outer.protocol, outer.key_id) == (SET_FORMAT_2, "")
    assert msgspec.msgpack.decode(bytes(outer.payload), type=SignedSet2).method == 2  # zstd-r2
    assert run().in_step and hub.applied_seq == 1


def test_a_replayed_counter_jumps_past_the_hubs_and_retries_once(station, hub, run):
    hub.last_counter = 100  # e.g. the data folder was restored from yesterday's backup
    ops.new_intake(station, pension_enrolment())
    report = run()
    assert report.in_step
    assert int(station.db.execute("SELECT value FROM meta WHERE key = 'request_counter'").fetchone()[0]) > 100


def test_a_fork_stops_pushing_and_says_to_call_the_county(station, hub, run):
    ops.new_intake(station, pension_enrolment())
    hub.forks.add(1)
    report = run()
    assert report.fatal and not report.in_step
    assert [e.code for e in report.errors] == ["fork"]
    assert "county administrator" in report.errors[0].message("en") and "县管理员" in report.errors[0].message("zh")
    assert sync_status(station).fork
    pushes = len(pushed_counts(hub))
    later = run()
    assert len(pushed_counts(hub)) == pushes and later.fatal  # nothing more goes up
    assert station.db.execute("SELECT COUNT(*) FROM sets_out").fetchone()[0] == 1  # nothing deleted


def test_a_refused_set_stops_with_its_code(station, hub, run):
    ops.new_intake(station, pension_enrolment())
    hub.ingest = lambda sets, **_: PushResponse(  # type: ignore[method-assign]
        results=[SetResult(seq=1, status="refused", code="bad_signature", detail="altered")], next_seq=1, hub_ms=0
    )
    report = run()
    assert report.fatal and [e.code for e in report.errors] == ["bad_signature"]
    assert report.unacknowledged == 1


def test_a_dead_link_keeps_everything_and_reports(station, hub, run, sleeps):
    number = ops.new_intake(station, pension_enrolment()).number
    hub.faults.extend([httpx.ConnectError("no route to host")] * 10)
    report = run()
    assert [e.code for e in report.errors] == ["unreachable"] and not report.fatal and not report.in_step
    assert report.unacknowledged == 1 and report.hub_feed_seq is None
    assert len(sleeps) == ATTEMPTS - 1 and all(0 < s <= 8 for s in sleeps)
    assert get_case(station, number).sync_state == "sealed"
    assert _log(station)[-1][:2] == ("sync", 0)
    assert "王小明" not in _log(station)[-1][4]
    assert sync_status(station).last_error is not None


def test_a_cut_connection_is_retried_within_the_round(station, hub, run, sleeps):
    ops.new_intake(station, pension_enrolment())
    hub.faults.extend([httpx.ReadError("connection reset"), httpx.Response(503)])
    report = run()
    assert report.in_step and len(sleeps) == 2


def test_the_hub_names_where_to_resume(station, hub, run, keys, clock):
    ops.new_intake(station, pension_enrolment())
    seal_pending(station, keys)
    ops.new_intake(station, pension_benefit_deferred())
    seal_pending(station, keys)
    assert run().in_step
    hub.forget_after(1)  # the hub was restored from a backup holding set 1 only
    clock.advance(minutes=1)
    ops.add_note(station, station.db.execute("SELECT case_no FROM cases LIMIT 1").fetchone()[0], "补充说明")
    report = run()
    assert report.in_step and hub.applied_seq == 3
    assert pushed_counts(hub)[-2:] == [1, 2]  # set 3 alone, then from 2 as the hub asked


def test_timeouts_shrink_the_batch_and_success_grows_it(station, hub, run, keys):
    for _ in range(5):
        ops.new_intake(station, pension_enrolment())
        seal_pending(station, keys)

    def slow_link(request: httpx.Request):
        # The link carries at most two sets before the request times out.
        if len(msgspec.msgpack.decode(request.content, type=SyncRequest).sets) > 2:
            raise httpx.ReadTimeout("too slow")

    # How many sets "half the bytes" holds depends on the sets' sizes (each compressed on its own, the
    # applicants' details are random): 2 when the first two are no larger than the next two, else 1.
    sizes = [len(envelope) for (envelope,) in station.db.execute("SELECT envelope FROM sets_out ORDER BY seq")]
    half = sum(sizes[:4]) // 2
    fit_in_half = max(1, sum(1 for k in range(1, 5) if sum(sizes[:k]) <= half))
    hub.faults.extend([slow_link] * 20)
    report = run()
    assert report.in_step and hub.applied_seq == 5
    # 5 sets time out; then at most all but the last (4) time out; half of those bytes get through; success
    # doubles the bytes (the 3 left time out); half of that gets through, and so on.
    counts = pushed_counts(hub)
    assert counts[:3] == [5, 4, fit_in_half] and sum(n for n in counts if n <= 2) == 5
    left = 5
    for sent, following in zip(counts, counts[1:]):
        if sent > 2:  # timed out: the next request carries fewer sets
            assert following < sent, counts
        else:  # went through: the next carries at least as many, as far as there are sets left
            left -= sent
            assert following >= min(sent, left), counts
    assert int(get_meta(station.db, "push_bytes")) < 32 * 1024
    assert int(get_meta(station.db, "feed_bytes")) < 64 * 1024  # a timeout also asks for less down


def _bulky(n: int) -> RejectedItem:
    """A feed item of about 2 kB that does not compress (a station applies it harmlessly)."""
    return RejectedItem(
        seq=1,
        index=n,
        entity="cases",
        entity_id=f"c{n}",
        code="malformed",
        reason_en=os.urandom(1000).hex(),
        reason_zh="格式错误",
    )


def test_a_long_feed_comes_down_in_answers_of_the_bytes_asked_for(station, hub, run):
    for n in range(12):
        hub.queue(_bulky(n))
        hub.seal_queue()  # twelve feed sets of about 2 kB
    with write_txn(station.db):
        set_meta(station.db, {"feed_bytes": 0})  # as small as it goes: the floor
    report = run()
    assert report.in_step and report.pulled == 12 and report.feed_seq == 12
    # From the floor (4 KiB: the hub adds sets while below it, 3 of these), doubled after each answer it
    # limited: 3 sets, 6 sets, the last 3.
    assert hub.feed_bytes == [4096, 8192, 16384] and report.requests == 3
    assert get_meta(station.db, "feed_bytes") == "16384"  # kept for the next round


def test_a_cut_in_the_middle_of_the_feed_resumes_where_it_stopped(station, hub, run, sleeps):
    for n in range(6):
        hub.queue(_bulky(n))
        hub.seal_queue()
    with write_txn(station.db):
        set_meta(station.db, {"feed_bytes": 0})
    afters: list[int] = []

    def watch_position(request: httpx.Request):
        afters.append(msgspec.msgpack.decode(request.content, type=SyncRequest).feed_after)

    def cut(request: httpx.Request):
        watch_position(request)
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    per_answer = -(-4096 // len(hub.feed[0][0]))
    hub.faults.extend([watch_position, cut, watch_position, watch_position, watch_position])
    report = run()
    assert report.in_step and report.pulled == 6
    # What came before the cut stays applied: the next request asks from there, not from the start.
    assert afters[:3] == [0, per_answer, per_answer]


def test_the_budget_follows_the_link():
    budget = Budget.__new__(Budget)
    budget.value, budget.low, budget.high, budget.saved = 32 * 1024, 0, 1024 * 1024, 0
    budget.shrink()
    assert budget.value == 16 * 1024
    budget.grow(limited=True)
    assert budget.value == 32 * 1024
    budget.grow(limited=False, moved=4 * 1024, seconds=10.0)  # too little to measure the link: unchanged
    assert budget.value == 32 * 1024
    budget.grow(limited=True, moved=12_000, seconds=10.0)  # GPRS: 1.2 kB/s carries 9.6 kB in 8 s
    assert budget.value == 9_600
    for _ in range(20):
        budget.shrink()
    assert budget.value == 0  # one set a request
    budget.grow(limited=True)
    assert budget.value == 1024


def test_a_revoked_key_stops_sync(station, hub, run):
    hub.faults.append(httpx.Response(403, json={"error": "revoked_key", "detail": "revoked", "detail_zh": "已吊销"}))
    report = run()
    assert report.fatal and [e.code for e in report.errors] == ["revoked_key"]
    assert sync_status(station).revoked
    assert run().fatal and len(hub.requests) == 1  # no more requests


def test_clock_offset_is_measured_and_warned(station, hub, run, clock):
    hub.hub_ms = at_ms(clock()) + 10 * 60 * 1000
    report = run()
    assert report.clock_offset_ms == 10 * 60 * 1000
    status = sync_status(station)
    assert status.clock_warning and status.clock_offset_ms == 10 * 60 * 1000


def test_another_hub_address_for_one_round(station, hub, keys):
    report = sync_once(station, hub_url="http://relay.test:8080/", transport=hub.transport(), keys=keys)
    assert report.in_step and str(hub.requests[-1].url) == "http://relay.test:8080/api/v1/sync"
    assert sync_status(station).hub_url == "http://hub.test"


def test_watch_knocks_every_few_seconds_while_offline_and_syncs_when_the_link_returns(station, hub, keys):
    link = {"up": False}
    slept: list[float] = []
    knocks: list[float] = []  # simulated time of each probe

    def line(request: httpx.Request):
        if request.url.path == "/healthz":
            knocks.append(sum(slept))
        if not link["up"]:
            raise httpx.ConnectError("no route to host")

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        link["up"] = sum(slept) >= 60  # the link comes back after a minute

    hub.faults.extend([line] * 100)
    ops.new_intake(station, pension_enrolment())
    reports = []
    watch(
        station,
        transport=hub.transport(),
        keys=keys,
        on_report=reports.append,
        sleep=sleep,
        rng=lambda: 1.0,
        should_stop=lambda: bool(reports) and reports[-1].in_step,
    )
    assert [bool(r.errors) for r in reports] == [True, False] and reports[-1].in_step
    gaps = [b - a for a, b in itertools.pairwise(knocks)]
    assert gaps[:3] == [4, 8, 12] and max(gaps) == PROBE_MAX_SECONDS  # 2, 4, 8, then every 12 s
    assert knocks[-1] - 60 <= PROBE_MAX_SECONDS  # noticed within one probe interval of coming back
    assert sum(slept) < 60 + PROBE_MAX_SECONDS + 1


def test_watch_knocks_with_jitter_and_stops_when_asked(station, hub, keys):
    hub.faults.extend([httpx.ConnectError("down")] * 50)
    slept: list[float] = []
    watch(
        station,
        transport=hub.transport(),
        keys=keys,
        sleep=slept.append,
        rng=lambda: 0.0,
        should_stop=lambda: sum(slept) > 30,
    )
    # In-round retries sleep nothing here (rng 0); knocks wait half their interval (1, 2, 4, 6, 6 ...).
    assert slept and all(s <= 1.0 for s in slept) and sum(slept) <= 31


def test_watch_backs_off_when_the_hub_answers_but_fails(station, hub, keys):
    hub.faults.extend([httpx.Response(500, json={"error": "internal", "detail": "x", "detail_zh": "x"})] * 2)
    reports, slept = [], []
    watch(
        station,
        transport=hub.transport(),
        keys=keys,
        on_report=reports.append,
        sleep=slept.append,
        rng=lambda: 0.5,
        should_stop=lambda: len(reports) >= 3,
        busy_seconds=4,
        idle_seconds=30,
    )
    assert [bool(r.errors) for r in reports] == [True, True, False]
    assert sum(slept) == 4 + 8  # half (rng) of 4·2, then of 4·4 seconds: a hub in trouble is not hammered


def test_watch_stops_on_ctrl_c_and_after_a_fatal_report(station, hub, keys):
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    assert watch(station, transport=hub.transport(), keys=keys, sleep=interrupt).in_step
    hub.forks.add(1)
    ops.new_intake(station, pension_enrolment())
    assert watch(station, transport=hub.transport(), keys=keys, sleep=interrupt).fatal


def test_watch_asks_less_often_while_nothing_happens_and_at_once_after_new_work(station, hub, keys):
    reports: list = []
    slept: list[float] = []
    waits: list[float] = []  # seconds slept between one report and the next

    def on_report(report) -> None:
        reports.append(report)
        waits.append(sum(slept))
        slept.clear()
        if len(reports) == 7:
            ops.new_intake(station, pension_enrolment())  # the agent records a case

    watch(
        station,
        transport=hub.transport(),
        keys=keys,
        on_report=on_report,
        sleep=slept.append,
        rng=lambda: 0.5,
        should_stop=lambda: len(reports) >= 9,
    )
    # In step with nothing to do: 60 s, then doubling to 15 minutes; the new case wakes it after
    # busy_seconds (5), and the round that carried it starts the idle wait again from 60 s.
    assert waits[1:] == [60, 120, 240, 480, 900, 900, 5, 60]
    assert reports[7].pushed == 1 and reports[8].in_step


def _traced(monkeypatch) -> list[str]:
    """Every statement the station's connections opened from now on run, as SQLite traces them."""
    statements: list[str] = []
    real_connect = store_db.connect

    def traced(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(store_db, "connect", traced)
    return statements


def test_a_round_reads_each_setting_once_and_runs_few_statements(station, hub, keys, monkeypatch):
    # Each statement hands the interpreter over to the process's other threads while SQLite works; a
    # process running many rounds at once (bench_county's 395 stations) spends more on those handovers
    # than on the statements. A round from a data folder, with a day's new work to seal and push:
    number = ops.new_intake(station, pension_enrolment()).number
    sync_once(station.data_dir, transport=hub.transport(), keys=keys, sleep=lambda s: None)
    ops.add_note(station, number, "已电话通知")
    statements = _traced(monkeypatch)
    report = sync_once(station.data_dir, transport=hub.transport(), keys=keys, sleep=lambda s: None)
    assert report.in_step and (report.sealed, report.pushed, report.acknowledged) == (1, 1, 1)
    single_reads = collections.Counter(
        match.group(1) for s in statements if (match := re.match(r"SELECT value FROM meta WHERE key = '(\w+)'", s))
    )
    # Read twice at most: the feed position (before the request, and at the end) and a key change on its
    # way (inside the sealing and the receipt's transactions, which act on it); every other setting once.
    assert single_reads and max(single_reads.values()) <= 2, single_reads
    assert {key for key, times in single_reads.items() if times > 1} <= {"feed_seq", "rekey"}, single_reads
    assert sum(s.startswith("BEGIN") for s in statements) == 4  # seal, request counter, receipts, log
    assert len(statements) <= 44, len(statements)  # 56 before the settings and counts were read together


def test_a_round_reports_the_pages_left_waiting_and_reads_none_when_no_page_is_held(station, hub, keys, monkeypatch):
    statements = _traced(monkeypatch)
    report = sync_once(station.data_dir, transport=hub.transport(), keys=keys, sleep=lambda s: None)
    assert report.in_step and (report.scans_pages, report.scans_total, report.scan_store_bytes) == (0, 0, 0)
    # No page held: neither the retention's candidates nor the backlog are read (both read held pages only).
    assert not [
        s for s in statements if s.startswith(("SELECT sha256 FROM scan_blobs", "SELECT COUNT(*), coalesce(sum(b."))
    ]
    case_no = ops.new_intake(station, pension_enrolment()).number
    attach_pages(station, case_no, "居民身份证", [page(1), page(2)])
    report = sync_once(station.data_dir, transport=hub.transport(), keys=keys, sleep=lambda s: None, scans=False)
    size = station.db.execute("SELECT sum(size) FROM scan_blobs").fetchone()[0]
    assert size > 0 and report.scans_pages == 2
    assert report.scans_total == report.scans_waiting == report.scan_store_bytes == size
