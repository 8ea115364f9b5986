"""Recording cases: intake, numbering, due dates, 容缺, bundles, the station's moves, atomicity."""

from __future__ import annotations

import datetime as dt

import pytest

from station import cases as ops
from station.queries import get_bundle, get_case, list_commitments
from station.sealing import seal_pending
from station.store.outbox import ChangeRecorder
from sync.changes import RowChange, StatusChange, decode_change
from sync.errors import IdNumberError, IllegalTransition, InputError, IntakeError, NotFoundError
from sync.lifecycle import Status
from sync.notice import correction_notice
from tests.station.conftest import NEWBORN_MATERIALS, VILLAGE, WANG, ZHAO, pension_benefit_deferred, pension_enrolment
from tests.support.decisions import County, decide


def counts(station) -> dict[str, int]:
    tables = ("intakes", "intake_materials", "commitments", "cases", "case_events", "case_notes", "outbox", "counters")
    return {t: station.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


def test_intake_records_case_with_number_and_due_date(station):
    result = ops.new_intake(station, pension_enrolment())
    (case,) = result.cases
    assert result.number == case.case_no == f"{VILLAGE}-20260928-A001"
    # Accepted Mon 2026-09-28, 3 working days: 29, 30 Sep, then 1-7 Oct off, 8 Oct.
    assert case.due_date == dt.date(2026, 10, 8)
    assert case.provisional is False
    detail = get_case(station, case.case_no)
    assert detail.summary.status == Status.RECEIVED
    assert [(e.from_status, e.to_status, e.actor) for e in detail.history] == [("DRAFT", "RECEIVED", "station")]
    assert detail.sex == "M" and detail.birth_date == "1958-03-12"


def test_brief_worked_example_five_days_is_make_up_saturday(station):
    result = ops.new_intake(station, pension_enrolment(item="RS-007", materials=["居民身份证", "近期1寸免冠彩色照片"]))
    assert result.cases[0].due_date == dt.date(2026, 10, 10)


def test_case_numbers_count_per_day_and_restart_next_day(station, clock):
    first = ops.new_intake(station, pension_enrolment()).number
    second = ops.new_intake(station, pension_enrolment()).number
    clock.advance(days=1)
    third = ops.new_intake(station, pension_enrolment()).number
    assert (first[-4:], second[-4:]) == ("A001", "A002")
    assert third == f"{VILLAGE}-20260929-A001"


def test_case_number_date_is_china_date_not_utc(station, clock):
    clock.moment = dt.datetime(2026, 9, 28, 17, 30, tzinfo=dt.UTC)  # 01:30 on 29 Sep in China
    assert "-20260929-" in ops.new_intake(station, pension_enrolment()).number


def test_two_devices_in_one_village_never_collide(tmp_path, clock):
    from station.store import Station

    a = Station.init(tmp_path / "a", village_code=VILLAGE, device="A", now=clock)
    b = Station.init(tmp_path / "b", village_code=VILLAGE, device="B", now=clock)
    numbers = {ops.new_intake(s, pension_enrolment()).number for s in (a, b) for _ in range(3)}
    assert len(numbers) == 6
    a.close(), b.close()


def test_every_write_lands_in_the_outbox_in_order(station):
    ops.new_intake(station, pension_enrolment())
    rows = station.db.execute("SELECT kind, entity, hlc, body, set_seq FROM outbox ORDER BY id").fetchall()
    changes = [decode_change(body) for *_, body, _ in rows]
    assert [type(c).__name__ for c in changes][-2:] == ["RowChange", "StatusChange"]
    assert {c.table for c in changes if isinstance(c, RowChange)} == {
        "intakes",
        "intake_materials",
        "cases",
    }
    stamps = [hlc for _, _, hlc, _, _ in rows]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert all(seq is None for *_, seq in rows)  # nothing sealed yet
    case_insert = next(c for c in changes if isinstance(c, RowChange) and c.table == "cases")
    # The keyed lookup hash and derived due dates are local: never replicated.
    assert "id_hash" not in case_insert.fields and "due_date" not in case_insert.fields
    assert case_insert.insert is True


def test_hlc_survives_reopen(station, station_dir, clock):
    from station.store import Station

    ops.new_intake(station, pension_enrolment())
    last = station.db.execute("SELECT MAX(hlc) FROM outbox").fetchone()[0]
    station.close()
    clock.moment -= dt.timedelta(days=2)  # the PC's clock was set back
    reopened = Station.open(station_dir, now=clock)
    ops.new_intake(reopened, pension_enrolment())
    newest = reopened.db.execute("SELECT hlc FROM outbox ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert newest > last
    reopened.close()


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"id_number": WANG[:-1] + "5"}, IdNumberError),
        ({"id_number": "12345"}, IdNumberError),
        ({"phone": "12345"}, InputError),
        ({"applicant_name": "  "}, InputError),
        ({"item": "XX-999"}, NotFoundError),
        ({"materials": ["居民身份证"]}, IntakeError),
        ({"deferred": ["居民身份证"]}, IntakeError),
        ({"materials": ["居民身份证", "城乡居民基本养老保险参保登记表", "护照"]}, IntakeError),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(station, overrides, error):
    before = counts(station)
    with pytest.raises(error):
        ops.new_intake(station, pension_enrolment(**overrides))
    assert counts(station) == before


def test_crash_mid_intake_leaves_neither_rows_nor_changes(station, monkeypatch):
    ops.new_intake(station, pension_enrolment())
    before = counts(station)
    real_insert = ChangeRecorder.insert
    calls = {"n": 0}

    def failing_insert(self, table, row):
        calls["n"] += 1
        if table == "cases":
            raise OSError("simulated power cut")
        return real_insert(self, table, row)

    monkeypatch.setattr(ChangeRecorder, "insert", failing_insert)
    with pytest.raises(OSError):
        ops.new_intake(station, pension_enrolment())
    assert calls["n"] > 1  # some rows had been written inside the transaction
    assert counts(station) == before


def test_deferred_material_creates_commitment_supplied_later(station, clock):
    result = ops.new_intake(station, pension_benefit_deferred())
    (commitment,) = result.commitments
    assert commitment.material == "社会保障卡或本人银行账户"
    assert commitment.due_date == dt.date(2026, 10, 10)  # 5 working days after Mon 28 Sep (make-up Sat)
    case_no = result.cases[0].case_no
    assert [c.status for c in list_commitments(station)] == ["open"]
    closed = ops.supply_material(station, case_no, ["社会保障卡或本人银行账户"])
    assert closed == ["社会保障卡或本人银行账户"]
    assert list_commitments(station) == []
    states = {m.name_zh: m.state for m in get_case(station, case_no).materials}
    assert states["社会保障卡或本人银行账户"] == "supplied"


def test_overdue_commitment_becomes_visible(station, clock):
    ops.new_intake(station, pension_benefit_deferred(defer_days=2))
    assert list_commitments(station, overdue_only=True) == []
    clock.set_china_date(dt.date(2026, 10, 9))
    (overdue,) = list_commitments(station, overdue_only=True)
    assert overdue.overdue and overdue.due_date == "2026-09-30"


def test_supplying_an_unknown_or_received_material_is_refused(station):
    case_no = ops.new_intake(station, pension_benefit_deferred()).number
    with pytest.raises(IntakeError) as info:
        ops.supply_material(station, case_no, ["居民身份证"])
    assert "社会保障卡或本人银行账户" in info.value.message("zh")  # says what is still outstanding
    with pytest.raises(IntakeError):
        ops.supply_material(station, case_no, ["护照"])


def test_bundle_creates_members_in_order_sharing_materials_once(station):
    result = ops.new_intake(
        station,
        pension_enrolment(
            item=None,
            bundle="BND-NEWBORN",
            applicant_name="赵丽",
            id_number=ZHAO,
            materials=NEWBORN_MATERIALS,
            deferred=["近期1寸免冠彩色照片"],
        ),
    )
    assert [c.item_code for c in result.cases] == ["WJ-001", "GA-001", "YB-001", "RS-006"]
    assert result.number not in {c.case_no for c in result.cases}
    stages = station.db.execute("SELECT item_code, stage FROM cases ORDER BY case_no").fetchall()
    assert stages == [("WJ-001", 0), ("GA-001", 1), ("YB-001", 2), ("RS-006", 2)]
    names = [r[0] for r in station.db.execute("SELECT name_zh FROM intake_materials")]
    assert len(names) == len(set(names))  # 居民身份证 is asked by several members, recorded once
    bundle = get_bundle(station, result.number)
    assert bundle.status == Status.RECEIVED and len(bundle.members) == 4
    # Each member shows only the materials its own item asks for.
    member = get_case(station, result.cases[0].case_no)
    assert {m.name_zh for m in member.materials} == {"父母双方居民身份证", "结婚证", "居民户口簿", "出生医学证明"}


def test_delivery_needs_a_completed_case(station):
    case_no = ops.new_intake(station, pension_enrolment()).number
    with pytest.raises(IllegalTransition) as info:
        ops.deliver(station, case_no)
    assert info.value.from_status == "RECEIVED" and info.value.to_status == "DELIVERED"
    decide(station, case_no, Status.ACCEPTED)
    decide(station, case_no, Status.COMPLETED, outcome="approved")
    assert ops.deliver(station, case_no) == Status.DELIVERED
    history = [e.to_status for e in get_case(station, case_no).history]
    assert history == ["RECEIVED", "ACCEPTED", "COMPLETED", "DELIVERED"]


def test_result_is_held_while_a_commitment_is_open(station):
    case_no = ops.new_intake(station, pension_benefit_deferred()).number
    decide(station, case_no, Status.ACCEPTED)
    decide(station, case_no, Status.COMPLETED, outcome="approved")
    with pytest.raises(IntakeError, match="社会保障卡或本人银行账户"):
        ops.deliver(station, case_no)
    ops.supply_material(station, case_no, ["社会保障卡或本人银行账户"])
    assert ops.deliver(station, case_no) == Status.DELIVERED


def test_withdraw_needs_a_reason_and_an_undecided_case(station):
    case_no = ops.new_intake(station, pension_enrolment()).number
    with pytest.raises(InputError):
        ops.withdraw(station, case_no, reason=" ")
    assert ops.withdraw(station, case_no, reason="申请人不再需要") == Status.WITHDRAWN
    with pytest.raises(IllegalTransition):
        ops.withdraw(station, case_no, reason="again")


def test_correction_requested_then_handed_in_returns_to_reviewer(station, clock, hub, keys):
    case_no = ops.new_intake(station, pension_enrolment()).number
    seal_pending(station, keys)  # the county asks for a correction of an intake it has received
    decide(station, case_no, Status.AWAITING_CORRECTION, reason="登记表未签字", county=County(hub, keys))
    status = ops.correct_intake(station, case_no, phone="13700137000")
    assert status == Status.RECEIVED
    detail = get_case(station, case_no)
    assert detail.phone == "13700137000"
    assert detail.history[-1].reason == "补正材料已提交"


def test_correction_after_acceptance_resumes_review_and_clock(station, clock, hub, keys):
    case_no = ops.new_intake(
        station,
        pension_enrolment(
            item="RS-002", materials=["居民身份证", "社会保障卡或本人银行账户", "待遇领取通知表（本人签字或按指纹）"]
        ),
    ).number
    seal_pending(station, keys)  # the county decides on an intake it has received
    county = County(hub, keys)
    decide(station, case_no, Status.ACCEPTED, county=county)
    due_before = get_case(station, case_no).summary.due_date
    decide(station, case_no, Status.IN_PROGRESS, county=county)
    clock.set_china_date(dt.date(2026, 9, 29))
    notice = correction_notice(["待遇领取通知表（本人签字或按指纹）"], "缺签字")
    decide(station, case_no, Status.AWAITING_CORRECTION, reason=notice, county=county)
    clock.set_china_date(dt.date(2026, 10, 9))
    assert ops.correct_intake(station, case_no, materials=["待遇领取通知表（本人签字或按指纹）"]) == Status.IN_PROGRESS
    due_after = get_case(station, case_no).summary.due_date
    assert due_after > due_before  # the paused days (29 Sep to 9 Oct) do not count


def _awaiting(station, hub, keys, *missing: str, reason: str | None = None) -> str:
    """A pension enrolment (ID card and form received) the county asks to correct, listing ``missing``."""
    case_no = ops.new_intake(station, pension_enrolment()).number
    seal_pending(station, keys)  # the county asks for a correction of an intake it has received
    notice = correction_notice(missing, reason)
    decide(station, case_no, Status.AWAITING_CORRECTION, reason=notice, county=County(hub, keys))
    return case_no


def test_the_notices_materials_are_read_back_in_its_order(station, hub, keys):
    case_no = _awaiting(station, hub, keys, "居民身份证", "情况说明", reason="身份证复印件不清晰")
    assert ops.requested_materials(station, case_no) == ["居民身份证", "情况说明"]


def test_a_material_received_at_intake_and_asked_for_again_is_handed_in_again(station, hub, keys):
    # The issue: "--material 居民身份证" failed with "已收取过" although the notice asked for it.
    case_no = _awaiting(station, hub, keys, "居民身份证")
    assert ops.correct_intake(station, case_no, materials=["居民身份证"]) == Status.RECEIVED
    last = get_case(station, case_no).history[-1]
    assert (last.to_status, last.reason, last.by) == ("RECEIVED", "补正材料已提交：居民身份证", "李代办")


def test_a_material_only_the_notice_names_is_accepted_and_the_rest_is_listed_as_still_missing(station, hub, keys):
    case_no = _awaiting(station, hub, keys, "情况说明", "居民户口簿")
    before = counts(station)["intake_materials"]
    ops.correct_intake(station, case_no, materials=["情况说明"], by="张代办")
    last = get_case(station, case_no).history[-1]
    assert (last.reason, last.by) == ("补正材料已提交：情况说明；仍缺：居民户口簿", "张代办")
    assert counts(station)["intake_materials"] == before  # the intake's own list is not changed


def test_handing_in_nothing_is_refused_and_the_case_keeps_waiting(station, hub, keys):
    case_no = _awaiting(station, hub, keys, "居民身份证", "情况说明")
    before = counts(station)
    for kwargs in ({}, {"phone": "13800138000"}, {"materials": [" "]}):  # the phone is the one recorded
        with pytest.raises(InputError) as info:
            ops.correct_intake(station, case_no, **kwargs)
        assert info.value.code == "correct.nothing"
        assert "居民身份证、情况说明" in info.value.zh and "居民身份证, 情况说明" in info.value.en
    assert counts(station) == before
    assert get_case(station, case_no).summary.status == Status.AWAITING_CORRECTION


def test_a_material_neither_the_intake_nor_the_notice_names_is_refused_naming_the_notice(station, hub, keys):
    case_no = _awaiting(station, hub, keys, "情况说明")
    with pytest.raises(IntakeError) as info:
        ops.correct_intake(station, case_no, materials=["结婚证"])
    assert "不是本办件的材料：结婚证" in info.value.zh and "补正通知所列材料：情况说明" in info.value.zh


def test_a_received_case_corrected_with_nothing_changed_is_refused(station):
    case_no = ops.new_intake(station, pension_enrolment()).number
    with pytest.raises(InputError) as info:
        ops.correct_intake(station, case_no, name="王小明 ")  # as recorded, once cleaned
    assert info.value.code == "correct.nothing"
    # Outside a correction, a material received at intake is still "received already".
    with pytest.raises(IntakeError, match="already received: 居民身份证"):
        ops.correct_intake(station, case_no, materials=["居民身份证"])


def test_correcting_the_id_number_updates_lookup_hash(station):
    from station.queries import CaseFilter, list_cases

    case_no = ops.new_intake(station, pension_enrolment()).number
    ops.correct_intake(station, case_no, id_number=ZHAO)
    assert [c.case_no for c in list_cases(station, CaseFilter(text=ZHAO))] == [case_no]
    assert list_cases(station, CaseFilter(text=WANG)) == []


def test_intake_cannot_be_corrected_once_accepted(station):
    case_no = ops.new_intake(station, pension_enrolment()).number
    decide(station, case_no, Status.ACCEPTED)
    with pytest.raises(InputError):
        ops.correct_intake(station, case_no, name="王小民")


def test_unknown_case_is_not_found(station):
    with pytest.raises(NotFoundError):
        ops.deliver(station, "349921001001-20260928-A999")


def test_provisional_due_date_firms_up_when_the_year_table_arrives(station, clock):
    from sync.workdays import YearTable

    clock.set_china_date(dt.date(2026, 12, 30))
    result = ops.new_intake(station, pension_enrolment(item="RS-007", materials=["居民身份证", "近期1寸免冠彩色照片"]))
    case = result.cases[0]
    assert case.provisional is True
    # Provisional estimate, 1 Jan being a statutory holiday: 31 Dec, 4, 5, 6, 7 Jan.
    assert case.due_date == dt.date(2027, 1, 7)
    # A table the provisional rule could not foresee: 4 Jan given off by arrangement.
    holidays = ("2027-01-01", "2027-01-02", "2027-01-03", "2027-01-04")
    table = YearTable(year=2027, holidays=holidays, workdays=(), source="hub")
    assert station.install_calendar_year(table) >= 1
    summary = get_case(station, case.case_no).summary
    assert summary.due_provisional is False
    assert summary.due_date == "2027-01-08"


def test_notes_are_kept_with_author(station):
    case_no = ops.new_intake(station, pension_enrolment()).number
    ops.add_note(station, case_no, "申请人下午再来", by="李代办")
    (note,) = get_case(station, case_no).notes
    assert (note.author, note.text) == ("李代办", "申请人下午再来")


def test_status_changes_in_outbox_carry_actor_and_states(station):
    case_no = ops.new_intake(station, pension_enrolment()).number
    ops.withdraw(station, case_no, reason="不办了")
    body = station.db.execute("SELECT body FROM outbox WHERE kind = 'status' ORDER BY id DESC LIMIT 1").fetchone()[0]
    change = decode_change(body)
    assert isinstance(change, StatusChange)
    assert (change.from_status, change.to_status, change.actor, change.reason) == (
        "RECEIVED",
        "WITHDRAWN",
        "station",
        "不办了",
    )
