"""The county's refusals of this station's changes: which cases stand refused, what the station says."""

from __future__ import annotations

from station import cases as ops
from station.queries import CaseFilter, get_bundle, get_case, list_cases
from station.render import case_text, cases_table
from station.store import Station
from station.syncstate import last_refusal_id, refusals, refused_cases, sync_status
from tests.station.conftest import NEWBORN_MATERIALS, ZHAO, pension_enrolment


def seal_all(station: Station, seq: int = 1) -> list[tuple[str, str, str]]:
    """Put the unsealed outbox in set ``seq`` (as sealing does); its records in order: (kind, entity, id)."""
    station.db.execute("UPDATE outbox SET set_seq = ? WHERE set_seq IS NULL", [seq])
    station.db.commit()
    return station.db.execute(
        "SELECT kind, entity, entity_id FROM outbox WHERE set_seq = ? ORDER BY id", [seq]
    ).fetchall()


def refuse(station: Station, seq: int, records: list[tuple[str, str, str]], kind: str, entity: str, code: str) -> str:
    """Record the county's RejectedItem for the first record of ``kind`` on ``entity`` (as station.feed does)."""
    idx = next(i for i, r in enumerate(records) if r[0] == kind and r[1] == entity)
    entity_id = records[idx][2]
    station.db.execute(
        "INSERT INTO rejections (seq, idx, entity, entity_id, code, reason_en, reason_zh, received_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, '2026-11-26T02:05:00.000Z')",
        [seq, idx, entity, entity_id, code, f"{entity} {entity_id}: refused", f"{entity} {entity_id}：拒收"],
    )
    station.db.commit()
    return entity_id


def test_a_case_whose_insert_was_refused_stands_refused_and_is_flagged(station):
    case_no = ops.new_intake(station, pension_enrolment()).number
    other = ops.new_intake(station, pension_enrolment(applicant_name="李四")).number
    records = seal_all(station)
    mark = last_refusal_id(station)
    refuse(station, 1, [r if r[2] == case_no else ("-", "-", "-") for r in records], "row", "cases", "other_village")
    (new,) = refusals(station, after=mark)
    assert (new.case_no, new.code, new.created) == (case_no, "other_village", True)
    assert refusals(station, after=last_refusal_id(station)) == []
    assert set(refused_cases(station)) == {case_no}
    assert new.message("en").startswith(
        f"case {case_no} is not filed at the county"
    ) and "other_village" in new.message("en")
    assert f"办件 {case_no} 未在县平台立案" in new.message("zh") and "请联系县管理员" in new.message("zh")
    flags = {s.case_no: s.refused for s in list_cases(station, CaseFilter())}
    assert flags == {case_no: True, other: False}
    detail = get_case(station, case_no)
    assert detail.refusal == new and get_case(station, other).refusal is None
    lines = case_text(detail, "en")
    assert "Status: received [REFUSED by the county]" in lines and new.message("en") in lines
    assert any("the county refused the case" in line for line in lines)  # not "acknowledged by the hub"
    table = cases_table(list_cases(station, CaseFilter()), "zh")
    assert "已收件 [县平台拒收]" in [str(cell) for cell in table.columns[5].cells]
    status = sync_status(station)
    assert status.refused_cases == 1 and status.refused == [new]


def test_a_refused_intake_flags_every_member_of_its_bundle(station):
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
    records = seal_all(station)
    refuse(station, 1, records, "row", "intakes", "foreign_id")
    members = {c.case_no for c in result.cases}
    assert set(refused_cases(station)) == members | {result.number}
    assert all(m.refused for m in get_bundle(station, result.number).members)


def test_a_refused_move_or_note_is_named_but_the_case_is_filed(station):
    case_no = ops.new_intake(station, pension_enrolment()).number
    ops.add_note(station, case_no, "已电话通知申请人")
    records = seal_all(station)
    refuse(station, 1, records, "status", "cases", "illegal_transition")
    (move,) = refusals(station)
    assert not move.created and move.case_no == case_no
    assert move.message("en").startswith(f"case {case_no}: the county refused a change (illegal_transition)")
    assert refused_cases(station) == {}  # the station takes the county's state: nothing stands
    refuse(station, 1, records, "row", "case_notes", "foreign_id")
    note = refusals(station)[-1]
    assert note.case_no == case_no and note.created  # the county holds the case, not the note
    assert "the county refused a change" in note.message("en")
    assert list(refused_cases(station)) == [case_no]
