"""One sync round against a hub double over httpx.MockTransport: push, pull, and what goes wrong."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from station import cases as ops
from station.client import ATTEMPTS, sync_once, watch
from station.queries import get_case
from station.sealing import seal_pending
from station.syncstate import sync_status
from sync.protocol import CaseState, PushRequest, PushResponse, SetResult
from tests.station.conftest import pension_benefit_deferred, pension_enrolment
from tests.station.hubdouble import at_ms, pushed_counts


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def run(station, hub, keys, sleeps):
    """sync_once against the hub double, without real sleeping."""

    def go(**kwargs):
        return sync_once(station, transport=hub.transport(), keys=keys, sleep=sleeps.append, rng=lambda: 1.0,
                         **kwargs)

    return go


def _log(station) -> list[tuple]:
    return station.db.execute("SELECT kind, ok, pushed, pulled, detail FROM sync_log ORDER BY id").fetchall()


def test_push_then_pull_reaches_in_step(station, hub, run):
    number = ops.new_intake(station, pension_enrolment()).number
    report = run()
    assert (report.sealed, report.pushed, report.acknowledged) == (1, 1, 1)
    assert report.pulled == 1 and report.feed_seq == report.hub_feed_seq == 1  # the receipt, repeated in the feed
    assert report.in_step and not report.errors
    assert hub.applied_seq == 1 and len(hub.received) == station.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    assert get_case(station, number).sync_state == "acknowledged"
    assert _log(station)[-1] == ("sync", 1, 1, 1, "in step")
    again = run()
    assert (again.pushed, again.pulled, again.in_step) == (0, 0, True)


def test_decisions_come_down_in_the_same_round(station, hub, run):
    number = ops.new_intake(station, pension_enrolment()).number
    hub.queue(CaseState(case_no=number, status="ACCEPTED", accepted_date="2026-09-28", through_seq=1))
    assert run().in_step
    assert get_case(station, number).summary.status == "ACCEPTED"


def test_requests_are_signed_with_headers_for_administrators(station, hub, run):
    ops.new_intake(station, pension_enrolment())
    run()
    push = next(r for r in hub.requests if r.url.path == "/api/v1/sync/push")
    assert push.headers["X-Head-Seq"] == "1" and push.headers["X-Outbox-Length"] == "0"
    assert push.headers["X-Software"] and push.headers["Content-Type"] == "application/vnd.msgpack"
    counters = [int(r.headers["X-Counter"]) for r in hub.requests]
    assert counters == sorted(set(counters))


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
    hub.ingest = lambda sets: PushResponse(  # type: ignore[method-assign]
        results=[SetResult(seq=1, status="refused", code="bad_signature", detail="altered")], next_seq=1, hub_ms=0)
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
        if request.url.path.endswith("/push") and len(msgspec.msgpack.decode(request.content, type=PushRequest).sets) > 2:
            raise httpx.ReadTimeout("too slow")
        return None

    hub.faults.extend([slow_link] * 20)
    report = run()
    assert report.in_step and hub.applied_seq == 5
    # Batch 20, 10, 5 time out (5 sets each); 2 gets through and grows to 4 (3 left: times out);
    # 2 again (grown to 4), then the last 1.
    assert pushed_counts(hub) == [5, 5, 5, 2, 3, 2, 1]
    assert station.db.execute("SELECT value FROM meta WHERE key = 'push_batch'").fetchone()[0] == "4"


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
    assert report.in_step and str(hub.requests[-1].url).startswith("http://relay.test:8080/api/v1/sync/feed")
    assert sync_status(station).hub_url == "http://hub.test"


def test_watch_backs_off_with_jitter_and_stops_when_asked(station, hub, keys):
    hub.faults.extend([httpx.ConnectError("down")] * ATTEMPTS * 2)
    reports, slept = [], []
    watch(station, transport=hub.transport(), keys=keys, on_report=reports.append, sleep=slept.append,
          rng=lambda: 0.5, should_stop=lambda: len(reports) >= 3, busy_seconds=4, idle_seconds=30)
    assert [bool(r.errors) for r in reports] == [True, True, False]
    assert reports[-1].in_step
    # In-round retries 0.5 + 1 + 2 per failed round; between rounds half (rng) of 4·2 then 4·4 seconds.
    assert sum(slept) == 3.5 + 4 + 3.5 + 8 and max(slept) <= 2


def test_watch_stops_on_ctrl_c_and_after_a_fatal_report(station, hub, keys):
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    assert watch(station, transport=hub.transport(), keys=keys, sleep=interrupt).in_step
    hub.forks.add(1)
    ops.new_intake(station, pension_enrolment())
    assert watch(station, transport=hub.transport(), keys=keys, sleep=interrupt).fatal
