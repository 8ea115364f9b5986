"""The station functions the TUI reads through its link: sync facts (syncstate) and case facts (queries)."""

from __future__ import annotations

import msgspec
import pytest

from station import cases as ops
from station.queries import (
    case_for_entity,
    case_heading,
    case_outcome,
    correction_reason,
    outstanding_materials,
)
from station.syncstate import (
    blank_status,
    is_enrolled,
    recent_rejections,
    stamp_lead_ms,
)
from sync.hlc import pack
from tests.station.conftest import pension_enrolment


def test_the_clock_set_back_shows_as_the_lead_of_the_newest_stamp(station, clock):
    ops.new_intake(station, pension_enrolment())
    clock.advance(minutes=-10)  # someone set the PC's clock back after writing
    lead = stamp_lead_ms(station)
    assert lead is not None and 600_000 <= lead < 600_000 + 1000  # the counter bits are not milliseconds
    station.db.execute("UPDATE meta SET value = ? WHERE key = 'hlc_last'", [str(pack(1, 5))])
    assert stamp_lead_ms(station) < 0  # stamps far in the past: no lead


def test_the_status_of_a_station_not_set_up_and_what_the_bar_derives(station):
    blank = blank_status()
    assert not (blank.enrolled or blank.online or blank.needs_admin) and blank.clock_skew_seconds is None
    synced = msgspec.structs.replace(blank, last_success="2026-09-28T01:00:00.000Z", clock_offset_ms=-90_000)
    assert synced.online and synced.clock_skew_seconds == 90
    failed = msgspec.structs.replace(synced, last_error="2026-09-28T01:05:00.000Z", revoked="ab12")
    assert not failed.online and failed.needs_admin
    assert msgspec.json.encode(blank) == msgspec.json.encode(blank_status())  # properties add no field
    assert b"online" not in msgspec.json.encode(synced)
    assert not is_enrolled(station)
    station.db.execute("INSERT INTO meta (key, value) VALUES ('hub_id', 'abcdef0123456789')")
    assert is_enrolled(station)


def test_rejections_newest_first_name_their_row_and_its_case(station):
    intake = ops.new_intake(station, pension_enrolment())
    case_no = intake.number
    intake_id = station.db.execute("SELECT intake_id FROM cases WHERE case_no = ?", [case_no]).fetchone()[0]
    for idx, (entity, entity_id, at) in enumerate(
        [
            ("cases", case_no, "2026-09-28T03:00:00.000Z"),
            ("intake_materials", f"{intake_id}/户口簿", "2026-09-28T04:00:00.000Z"),
        ]
    ):
        station.db.execute(
            "INSERT INTO rejections (seq, idx, entity, entity_id, code, reason_en, reason_zh, received_at) "
            "VALUES (1, ?, ?, ?, 'other_village', 'not here', '不在此', ?)",
            [idx, entity, entity_id, at],
        )
    found = recent_rejections(station, 10)
    assert [(entity_id, r.entity, r.seq) for entity_id, r in found] == [
        (f"{intake_id}/户口簿", "intake_materials", 1),
        (case_no, "cases", 1),
    ]
    assert [case_for_entity(station, entity_id) for entity_id, _ in found] == [case_no, case_no]
    assert len(recent_rejections(station, 1)) == 1
    assert case_for_entity(station, "NO-SUCH/THING") is None
    assert case_heading(station, case_no) == ("王小明", "RS-001")
    with pytest.raises(KeyError):
        case_heading(station, "NO-SUCH")
    assert case_outcome(station, case_no) is None and correction_reason(station, case_no) is None
    assert outstanding_materials(station, intake_id) == []  # every required material was presented
