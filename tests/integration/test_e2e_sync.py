"""End to end over real HTTP: stations record offline, sync, the county decides, every replica agrees."""

from __future__ import annotations

import shutil

import pytest

from station import cases as ops
from station.sealing import seal_pending
from station.syncstate import sync_status
from tests.integration.county import V1, V2, County
from tests.support.postgres import BACKENDS

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("hub_backend", BACKENDS, indirect=True)  # the live county on PostgreSQL too
def test_three_stations_two_villages_converge(live_county: County):
    a1, a2, b = live_county.enrol(V1), live_county.enrol(V1), live_county.enrol(V2)
    # Offline work first: nothing has been synced yet.
    a1_cases = [a1.new_case("王小明", i) for i in range(3)]
    a2_case = a2.new_case("李四", 10)
    b_case = b.new_case("赵六", 20)
    assert a1_cases[0].split("-")[2][0] != a2_case.split("-")[2][0]  # different device letters

    live_county.sync_all()
    hub_cases = live_county.hub_cases()
    assert set(hub_cases) == {*a1_cases, a2_case, b_case}
    # Each PC of village 1 now also holds the other's case; village 2 holds only its own.
    assert set(a1.cases()) == set(a2.cases()) == {*a1_cases, a2_case}
    assert set(b.cases()) == {b_case}

    # The county decides; corrections; the station delivers.
    live_county.decide(a1_cases[0], "ACCEPTED")
    live_county.decide(a1_cases[0], "COMPLETED", outcome="approved")
    live_county.decide(a1_cases[1], "AWAITING_CORRECTION", missing=["城乡居民基本养老保险参保登记表"])
    live_county.decide(b_case, "NOT_ACCEPTED", reason="不属于本事项受理范围")
    live_county.sync_all()
    assert a1.case(a1_cases[0]).summary.status == "COMPLETED"
    assert a2.case(a1_cases[1]).summary.status == "AWAITING_CORRECTION"
    assert b.case(b_case).summary.status == "NOT_ACCEPTED"

    with a1.open() as station:
        ops.deliver(station, a1_cases[0])
        # The notice asks for the form received at intake already: it is handed in again.
        assert ops.requested_materials(station, a1_cases[1]) == ["城乡居民基本养老保险参保登记表"]
        ops.correct_intake(station, a1_cases[1], phone="13700000001", materials=["城乡居民基本养老保险参保登记表"])
    with a2.open() as station:
        ops.withdraw(station, a2_case, reason="申请人改期")
    live_county.sync_all()

    live_county.assert_converged()
    hub = live_county.hub_cases()
    assert hub[a1_cases[0]]["status"] == "DELIVERED"
    assert hub[a1_cases[1]]["status"] == "RECEIVED" and hub[a1_cases[1]]["phone"] == "13700000001"
    assert a2.case(a1_cases[1]).history[-1].reason == "补正材料已提交：城乡居民基本养老保险参保登记表"
    assert hub[a2_case]["status"] == "WITHDRAWN"
    for handle in (a1, a2, b):
        status = sync_status_of(handle)
        assert status.unacknowledged == 0 and status.unsealed == 0


def sync_status_of(handle):
    with handle.open() as station:
        return sync_status(station)


def test_receipts_prove_filing_on_the_case(live_county: County):
    a1 = live_county.enrol(V1)
    case_no = a1.new_case("王小明", 1)
    assert a1.case(case_no).sync_state == "saved"
    report = a1.sync()
    assert report.in_step, report
    detail = a1.case(case_no)
    assert detail.sync_state == "acknowledged"
    assert detail.receipts, "the hub's signed receipt is stored with the case"


def test_station_sync_reports_in_step_only_when_both_sides_hold_everything(live_county: County):
    a1 = live_county.enrol(V1)
    a1.new_case("王小明", 1)
    assert a1.sync().in_step
    live_county.decide(next(iter(live_county.hub_cases())), "ACCEPTED")
    assert a1.sync().in_step  # pulled the decision
    assert a1.sync().pushed == 0


@pytest.mark.parametrize("hub_backend", BACKENDS, indirect=True)
def test_conflicting_edits_on_two_pcs_converge_and_keep_the_loser(live_county: County):
    a1, a2 = live_county.enrol(V1), live_county.enrol(V1)
    case_no = a1.new_case("王小明", 1)
    live_county.sync_all()
    with a1.open() as station:
        ops.correct_intake(station, case_no, phone="13700000001")
    with a2.open() as station:
        ops.correct_intake(station, case_no, phone="13900000002")  # later: wins
    live_county.sync_all(rounds=3)
    live_county.assert_converged()
    assert live_county.hub_cases()[case_no]["phone"] == "13900000002"
    with a1.open() as station:
        lost = station.db.execute("SELECT lost, kept FROM conflicts WHERE pk = ?", [case_no]).fetchall()
    assert lost, "the losing value is kept, visible at the station"


@pytest.mark.parametrize("hub_backend", BACKENDS, indirect=True)
def test_restored_backup_forks_and_loses_nothing(live_county: County, tmp_path):
    a1 = live_county.enrol(V1)
    first = a1.new_case("王小明", 1)
    a1.sync()
    backup = tmp_path / "backup"
    shutil.copytree(a1.data_dir, backup)
    second = a1.new_case("李四", 2)
    a1.sync()
    # The PC's disk dies; yesterday's backup is restored and the agent keeps working.
    shutil.rmtree(a1.data_dir)
    shutil.copytree(backup, a1.data_dir)
    third = a1.new_case("张三", 3)
    report = a1.sync()
    assert not report.in_step
    assert any(issue.code == "fork" for issue in report.errors)
    with live_county.store() as store:
        forks = store.forks()
    assert len(forks) == 1 and forks[0].station_id == a1.station_id
    hub = live_county.hub_cases()
    assert first in hub and second in hub  # nothing already accepted is lost
    # The restored counter hands out the second case's number again: the forked set carrying
    # it is quarantined, so the hub keeps the case it acknowledged, not the restored PC's.
    assert third == second
    assert hub[second]["applicant_name"] == "李四"
    status = sync_status_of(a1)
    assert status.fork


def test_revoked_station_is_refused_and_earlier_sets_stand(live_county: County):
    a1 = live_county.enrol(V1)
    first = a1.new_case("王小明", 1)
    a1.sync()
    live_county.revoke(a1.station_id)
    a1.new_case("李四", 2)
    report = a1.sync()
    assert not report.in_step
    assert any(issue.code == "revoked_key" for issue in report.errors)
    assert set(live_county.hub_cases()) == {first}


def test_a_pc_enrolled_later_catches_up_with_its_village(live_county: County):
    a1 = live_county.enrol(V1)
    cases = [a1.new_case("王小明", i) for i in range(4)]
    a1.sync()
    live_county.decide(cases[0], "ACCEPTED")
    live_county.decide(cases[1], "AWAITING_CORRECTION", missing=["城乡居民基本养老保险参保登记表"])
    with a1.open() as station:
        ops.withdraw(station, cases[2], reason="申请人撤回")
    a1.sync()
    with a1.open() as station:
        ops.correct_intake(station, cases[3], phone="13700000009")
    a1.sync()
    # A second PC joins the village (or replaces a dead one): it sees the village's whole book.
    a2 = live_county.enrol(V1)
    assert a2.sync().in_step
    live_county.assert_converged()
    assert a2.case(cases[1]).summary.status == "AWAITING_CORRECTION"
    assert a2.case(cases[3]).phone == "13700000009"
    # Field versions came along: a later edit on either PC merges the same way everywhere.
    with a2.open() as station:
        ops.correct_intake(station, cases[3], phone="13600000006")
    live_county.sync_all(rounds=2)
    live_county.assert_converged()
    assert live_county.hub_cases()[cases[3]]["phone"] == "13600000006"


def test_a_move_the_county_refused_leaves_the_station_history_with_its_reason(live_county: County):
    a1 = live_county.enrol(V1)
    case_no = a1.new_case("王小明", 1)
    a1.sync()
    live_county.decide(case_no, "ACCEPTED")
    live_county.decide(case_no, "COMPLETED", outcome="approved")
    with a1.open() as station:  # offline, the applicant withdraws: too late, the county has decided
        ops.withdraw(station, case_no, reason="申请人撤回")
    a1.sync()
    a1.sync()
    detail = a1.case(case_no)
    assert detail.summary.status == "COMPLETED"
    assert "WITHDRAWN" not in [e.to_status for e in detail.history]
    with live_county.store() as store:
        hub_history = [e["to_status"] for e in store.case_events(case_no)]
    assert [e.to_status for e in detail.history] == hub_history
    assert [r.code for r in detail.rejections] == ["illegal_transition"]
    live_county.assert_converged()


def test_a_move_refused_in_the_same_set_as_a_later_move_that_stood_leaves_the_station_where_the_hub_is(live_county):
    # Found by the fleet: two PCs of a village hand in the same correction at once; the county
    # applies the first and refuses the second PC's (the case is RECEIVED already), then applies
    # that PC's withdrawal, which the county's state allows. The refusal's "current" values
    # (RECEIVED) must not be the last word at that PC: the hub's state after the whole set is.
    a1, a2 = live_county.enrol(V1), live_county.enrol(V1)
    case_no = a2.new_case("李四", 1)
    live_county.sync_all()
    live_county.decide(case_no, "AWAITING_CORRECTION", missing=["城乡居民基本养老保险参保登记表"])
    live_county.sync_all()
    with a1.open() as station:
        ops.correct_intake(station, case_no, phone="13700000001")
    assert a1.sync().in_step  # the county has the correction: RECEIVED
    with a2.open() as station:
        ops.correct_intake(station, case_no, phone="13700000002")  # refused: RECEIVED already
        ops.withdraw(station, case_no, reason="申请人不再办理")  # stands: RECEIVED -> WITHDRAWN
    assert a2.sync().in_step
    assert live_county.hub_cases()[case_no]["status"] == "WITHDRAWN"
    assert a2.case(case_no).summary.status == "WITHDRAWN"
    live_county.sync_all()
    live_county.assert_converged()


def test_a_move_refused_in_one_set_and_a_later_move_in_the_next_leave_the_station_where_the_hub_is(live_county):
    # As above, with the refused correction and the withdrawal in two sets of one exchange: the hub
    # says nothing more about the withdrawal (applied as made); the station puts it back on top of
    # the values the refusal brought.
    a1, a2 = live_county.enrol(V1), live_county.enrol(V1)
    case_no = a2.new_case("李四", 1)
    live_county.sync_all()
    live_county.decide(case_no, "AWAITING_CORRECTION", missing=["城乡居民基本养老保险参保登记表"])
    live_county.sync_all()
    with a1.open() as station:
        ops.correct_intake(station, case_no, phone="13700000001")
    assert a1.sync().in_step
    with a2.open() as station:
        ops.correct_intake(station, case_no, phone="13700000002")
        assert seal_pending(station, a2.keys)  # one set
        ops.withdraw(station, case_no, reason="申请人不再办理")  # the next
    report = a2.sync()
    assert report.in_step and report.pushed == 2
    assert live_county.hub_cases()[case_no]["status"] == "WITHDRAWN"
    assert a2.case(case_no).summary.status == "WITHDRAWN"
    live_county.sync_all()
    live_county.assert_converged()
