"""Identifiers bound to a village and a device: the hub reads a row's village from its key and takes a
new row only under a number the inserting station minted (issue 10, item 3)."""

from __future__ import annotations

import datetime as dt

from hub.enroll import revoke_station
from hub.ingest import ingest_sets
from sync.changes import Change, RowChange, StatusChange
from sync.ids import case_number, event_minter, origin_minter, parse_case_number, row_minter
from sync.protocol import RejectedItem
from sync.timeutil import business_date, iso_utc
from tests.hub.builders import ID_NUMBER, OTHER_VILLAGE, PHONE, VILLAGE, TestStation, enrol
from tests.hub.test_ingest import queued


def push(store, identity, st: TestStation, changes: list[Change]):
    result = ingest_sets(store, identity, [st.seal(changes)], station_id=st.station_id, now=st.clock)
    assert result.results[0].status == "accepted"
    return result


def intake(st: TestStation, case_no: str, *, village: str) -> list[Change]:
    """The rows and first move a station records for a case numbered ``case_no`` (whoever numbered it)."""
    at, day = iso_utc(st.clock()), business_date(st.clock()).isoformat()
    return [
        st.insert(
            "intakes",
            case_no,
            {
                "intake_id": case_no,
                "bundle_code": None,
                "village_code": village,
                "received_at": at,
                "received_date": day,
                "agent": "李代办",
                "catalog_version": 1,
            },
        ),
        st.insert(
            "intake_materials",
            f"{case_no}/居民身份证",
            {
                "material_id": f"{case_no}/居民身份证",
                "intake_id": case_no,
                "name_zh": "居民身份证",
                "state": "presented",
                "updated_at": at,
            },
        ),
        st.insert(
            "cases",
            case_no,
            {
                "case_no": case_no,
                "intake_id": case_no,
                "item_code": "RS-001",
                "bundle_code": None,
                "stage": 0,
                "status": "DRAFT",
                "outcome": None,
                "applicant_name": "王小明",
                "id_number": ID_NUMBER,
                "phone": PHONE,
                "sex": "M",
                "birth_date": "1958-03-12",
                "village_code": village,
                "received_at": at,
                "received_date": day,
                "accepted_date": None,
                "catalog_version": 1,
            },
        ),
        st.move(case_no, "DRAFT", "RECEIVED"),
    ]


def number(st: TestStation, counter: int, *, device: str | None = None, village: str | None = None) -> str:
    return case_number(village or st.village_code, business_date(st.clock()), device or st.response.device, counter)


def codes(store, st: TestStation) -> list[str]:
    return [r["code"] for r in store.rejected(st.station_id)]


def test_the_formats_name_their_minter():
    day = dt.date(2026, 11, 26)
    assert case_number(VILLAGE, day, "A", 7) == f"{VILLAGE}-20261126-A007"
    assert parse_case_number(f"{VILLAGE}-20261126-A1234") == (VILLAGE, "A")
    assert origin_minter(f"{VILLAGE}-B-3") == (VILLAGE, "B")
    assert origin_minter(f"{VILLAGE}-B-2204f5ab") == (VILLAGE, "B")  # before enrolment
    assert event_minter(f"{VILLAGE}-C-12:117646295040000007") == (VILLAGE, "C")
    assert row_minter("commitments", f"{VILLAGE}-20261126-D001/社会保障卡") == (VILLAGE, "D")
    for table, key in [
        ("cases", "n1"),
        ("cases", f"{VILLAGE}-20261126-a001"),
        ("intakes", f"{VILLAGE}-2026-A001"),
        ("intake_materials", f"{VILLAGE}-20261126-A001"),
        ("case_notes", "hub:5"),
        ("case_notes", f"{VILLAGE}-A-1:x"),
        ("cases", f" {VILLAGE}-20261126-A001"),
    ]:
        assert row_minter(table, key) is None, (table, key)


def test_a_station_of_another_village_cannot_squat_a_number_and_the_rightful_station_files_it(
    store, identity, station, other_station
):
    squatted = number(station, 1)  # the number village 349921001001's station A will give its first case
    # The squatter writes its own village in the rows, as a 0.4 hub let it.
    push(store, identity, other_station, intake(other_station, squatted, village=OTHER_VILLAGE))
    assert codes(store, other_station) == ["other_village"] * 4
    assert store.row("intakes", squatted) is None and store.row("cases", squatted) is None
    assert all(i.current is None for i in queued(store, other_station.station_id, RejectedItem))
    assert {i.entity_id for i in queued(store, other_station.station_id, RejectedItem)} == {
        squatted,
        f"{squatted}/居民身份证",
    }
    case_no, changes = station.new_case()
    assert case_no == squatted
    push(store, identity, station, changes)
    assert codes(store, station) == []
    case = store.row("cases", case_no)
    assert (case["status"], case["village_code"]) == ("RECEIVED", VILLAGE)


def test_the_squatter_cannot_claim_the_number_for_the_real_village_either(store, identity, station, other_station):
    squatted = number(station, 1)
    push(store, identity, other_station, intake(other_station, squatted, village=VILLAGE))
    assert codes(store, other_station) == ["other_village"] * 4
    assert store.row("intakes", squatted) is None


def test_a_second_pc_cannot_take_the_first_pcs_numbers(store, identity, station, station_b):
    squatted = number(station, 1)
    push(store, identity, station_b, intake(station_b, squatted, village=VILLAGE))
    # The rows under A's number are refused; the move then finds no case.
    assert codes(store, station_b) == ["foreign_id", "foreign_id", "foreign_id", "row_missing"]
    (item, *_) = queued(store, station_b.station_id, RejectedItem)
    assert "device B" in item.reason_en and "设备 B" in item.reason_zh
    case_no, changes = station.new_case()
    push(store, identity, station, changes)
    assert codes(store, station) == [] and store.row("cases", case_no)["status"] == "RECEIVED"


def test_a_case_goes_only_under_an_intake_of_the_same_pc(store, identity, station, station_b):
    case_no, changes = station.new_case()
    push(store, identity, station, changes)
    own = number(station_b, 1)
    borrowed = [c for c in intake(station_b, own, village=VILLAGE) if isinstance(c, RowChange) and c.table == "cases"]
    # A material keyed under B's number that names A's intake: the key and the row disagree.
    wrong_material = station_b.insert(
        "intake_materials",
        f"{own}/户口簿",
        {
            "material_id": f"{own}/户口簿",
            "intake_id": case_no,
            "name_zh": "户口簿",
            "state": "presented",
            "updated_at": iso_utc(station_b.clock()),
        },
    )
    push(
        store,
        identity,
        station_b,
        [
            RowChange(
                table="cases",
                pk=own,
                hlc=station_b.stamp(),
                insert=True,
                fields={**borrowed[0].fields, "intake_id": case_no},
            ),
            wrong_material,
        ],
    )
    assert codes(store, station_b) == ["foreign_id", "malformed"]


def test_moves_and_notes_are_numbered_by_the_pc_that_makes_them(store, identity, station, station_b):
    case_no, changes = station.new_case()
    push(store, identity, station, changes)
    # B takes a move id and a note id in A's name first.
    stamp = station.stamp()
    taken = StatusChange(
        event_id=f"{station.station_id}:{stamp}",
        case_no=case_no,
        from_status="RECEIVED",
        to_status="WITHDRAWN",
        actor="station",
        hlc=stamp,
        at=iso_utc(station.clock()),
        reason="申请人撤回",
        by="李代办",
    )
    note = station_b.insert(
        "case_notes",
        f"{station.station_id}:{stamp}",
        {
            "note_id": f"{station.station_id}:{stamp}",
            "case_no": case_no,
            "at": iso_utc(station.clock()),
            "author": "x",
            "text": "y",
        },
    )
    push(store, identity, station_b, [taken, note])
    assert codes(store, station_b) == ["foreign_id", "foreign_id"]
    assert store.row("cases", case_no)["status"] == "RECEIVED"
    # A's own move with that id is applied, not taken for a duplicate.
    push(store, identity, station, [taken])
    assert codes(store, station) == []
    assert store.row("cases", case_no)["status"] == "WITHDRAWN"


def test_a_second_pc_updates_moves_and_notes_the_first_pcs_cases(store, identity, station, station_b):
    case_no, changes = station.new_case()
    push(store, identity, station, changes)
    station_b.clock.advance(seconds=1)
    stamp = station_b.stamp()
    push(
        store,
        identity,
        station_b,
        [
            station_b.update("cases", case_no, {"phone": "13900000000"}),
            station_b.update("intake_materials", f"{case_no}/居民身份证", {"state": "supplied"}),
            station_b.insert(
                "case_notes",
                f"{station_b.station_id}:{stamp}",
                {
                    "note_id": f"{station_b.station_id}:{stamp}",
                    "case_no": case_no,
                    "at": iso_utc(station_b.clock()),
                    "author": "李代办",
                    "text": "已电话通知",
                },
            ),
            station_b.move(case_no, "RECEIVED", "WITHDRAWN", reason="申请人撤回"),
        ],
    )
    assert codes(store, station_b) == []
    case = store.row("cases", case_no)
    assert (case["phone"], case["status"]) == ("13900000000", "WITHDRAWN")


def test_a_replacement_pc_works_with_the_same_letter_or_a_new_one(store, identity, clock, station):
    first, changes = station.new_case()
    push(store, identity, station, changes)
    revoke_station(store, station.station_id, reason="laptop stolen", now=clock)
    same = enrol(store, identity, clock, device="A")  # re-enrolled with A: goes on numbering with A
    same.cases = 1
    second, changes = same.new_case()
    push(store, identity, same, [*changes, same.move(first, "RECEIVED", "WITHDRAWN", reason="申请人撤回")])
    assert codes(store, same) == []
    assert second == number(same, 2) and store.row("cases", second)["status"] == "RECEIVED"
    fresh = enrol(store, identity, clock)  # a new letter: moves A's cases, numbers its own with its letter
    assert fresh.response.device not in ("A", "")
    third, changes = fresh.new_case()
    push(store, identity, fresh, [*changes, fresh.update("cases", second, {"phone": "13900000001"})])
    assert codes(store, fresh) == []
    push(store, identity, fresh, intake(fresh, number(station, 3), village=VILLAGE))
    assert codes(store, fresh) == ["foreign_id", "foreign_id", "foreign_id", "row_missing"]


def test_a_row_held_under_another_villages_number_belongs_to_the_village_its_key_names(
    store, identity, station, other_station
):
    # What a 0.4 hub let a squatter leave behind: a case under village A's number, stored as its own.
    squatted = number(station, 1)
    for change in intake(other_station, squatted, village=OTHER_VILLAGE)[:3]:
        assert isinstance(change, RowChange)
        derived = {"updated_at": iso_utc(station.clock())} if change.table == "cases" else {}
        store.insert_row(
            change.table,
            {**change.fields, **derived, "versions": f'{{"*": [{change.hlc}, "{other_station.station_id}"]}}'},
        )
    push(store, identity, other_station, [other_station.update("cases", squatted, {"phone": "13900000002"})])
    assert codes(store, other_station) == ["other_village"]
    station.clock.advance(seconds=1)
    push(store, identity, station, [station.update("cases", squatted, {"phone": "13900000003"})])
    assert codes(store, station) == []
    assert store.row("cases", squatted)["phone"] == "13900000003"
