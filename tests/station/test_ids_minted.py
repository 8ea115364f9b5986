"""What a station mints parses as its own at the hub (sync.ids): numbers, material keys, note and move ids."""

from __future__ import annotations

from station import cases as ops
from sync.ids import event_minter, row_minter
from tests.station.conftest import NEWBORN_MATERIALS, ZHAO, pension_enrolment


def test_every_key_a_station_writes_names_its_village_and_device(station):
    ops.new_intake(station, pension_enrolment(note="首次办理"))
    ops.new_intake(
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
    own = (station.village_code, station.device)
    keys = station.db.execute("SELECT kind, entity, entity_id FROM outbox ORDER BY id").fetchall()
    assert {entity for _, entity, _ in keys} == {
        "intakes",
        "intake_materials",
        "commitments",
        "cases",
        "case_notes",
    }
    for kind, entity, key in keys:
        assert row_minter(entity, key) == own, (kind, entity, key)
    for (event_id,) in station.db.execute("SELECT event_id FROM case_events"):
        assert event_minter(event_id) == own, event_id
    for (note_id,) in station.db.execute("SELECT note_id FROM case_notes"):
        assert event_minter(note_id) == own, note_id
