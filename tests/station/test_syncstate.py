"""Where sync stands: the station-wide status and each case's sync state."""

from __future__ import annotations

import httpx

from station import cases as ops
from station.link import sync_once
from station.queries import get_bundle, get_case
from station.syncstate import case_sync, sync_status
from tests.station.conftest import NEWBORN_MATERIALS, ZHAO, pension_enrolment


def test_an_unenrolled_station_says_so(station):
    status = sync_status(station)
    assert not status.enrolled and status.hub_url is None and status.key_id is None
    assert (status.unacknowledged, status.feed_seq, status.last_success) == (0, 0, None)


def test_status_follows_the_work_and_the_last_error_clears_on_success(station, hub, keys):
    ops.new_intake(station, pension_enrolment())
    assert sync_status(station).unsealed > 0
    hub.faults.extend([httpx.ConnectError("down")] * 4)
    sync_once(station, transport=hub.transport(), keys=keys, sleep=lambda s: None)
    failed = sync_status(station)
    assert (failed.unsealed, failed.unacknowledged, failed.head_seq) == (0, 1, 1)
    assert failed.last_error and "unreachable" in failed.last_error_detail and failed.last_success is None
    sync_once(station, transport=hub.transport(), keys=keys)
    ok = sync_status(station)
    assert ok.unacknowledged == 0 and ok.last_success and ok.last_error is None
    assert ok.feed_seq == ok.hub_feed_seq == 0 and not ok.clock_warning  # the receipt came in the answer, not the feed


def test_a_case_goes_saved_sealed_acknowledged_and_back_to_saved(station, hub, keys, clock):
    number = ops.new_intake(station, pension_enrolment()).number
    assert get_case(station, number).sync_state == "saved"
    sync_once(station, transport=hub.transport(), keys=keys)
    assert get_case(station, number).sync_state == "acknowledged"
    clock.advance(minutes=1)
    ops.add_note(station, number, "申请人来电")
    assert get_case(station, number).sync_state == "saved"


def test_a_bundle_member_carries_the_intakes_changes(station, hub, keys):
    bundle = ops.new_intake(
        station,
        pension_enrolment(
            item=None,
            bundle="BND-NEWBORN",
            applicant_name="赵丽",
            id_number=ZHAO,
            phone="0551-6543210",
            materials=NEWBORN_MATERIALS,
            deferred=["近期1寸免冠彩色照片"],
        ),
    ).number
    member = get_bundle(station, bundle).members[0]
    sync = case_sync(station, member.case_no, member.intake_id)
    assert sync.state == "saved"
    sync_once(station, transport=hub.transport(), keys=keys)
    sync = case_sync(station, member.case_no, member.intake_id)
    assert sync.state == "acknowledged" and [r.seq for r in sync.receipts] == [1]
