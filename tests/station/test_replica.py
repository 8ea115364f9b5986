"""Other origins' row changes merged at the station: last writer wins per field, losers kept."""

from __future__ import annotations

import json

from station import cases as ops
from station.feed import apply_feed_set
from station.queries import get_case
from station.render import case_text
from station.replica import apply_row_change, write_hub_values
from station.store.db import write_txn
from sync.changes import RowChange
from sync.merge import decode_versions
from tests.station.conftest import pension_enrolment

OTHER_PC = "349921001001-B-2"


def _phone_version(station, number: str) -> int:
    versions = decode_versions(
        station.db.execute("SELECT versions FROM cases WHERE case_no = ?", [number]).fetchone()[0]
    )
    return (versions.get("phone") or versions["*"])[0]


def _phone(station, number: str) -> str:
    return station.db.execute("SELECT phone FROM cases WHERE case_no = ?", [number]).fetchone()[0]


def _conflicts(station) -> list[tuple]:
    return station.db.execute(
        "SELECT field, kept, kept_origin, lost, lost_origin FROM conflicts ORDER BY id"
    ).fetchall()


def test_a_newer_value_wins_and_ours_lands_in_conflicts(station, hub, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    ours = _phone_version(station, number)
    change = RowChange(table="cases", pk=number, hlc=ours + 10, fields={"phone": "13700001111"}, origin=OTHER_PC)
    apply_feed_set(station, hub.feed_set(change), keys)
    assert _phone(station, number) == "13700001111"
    assert _conflicts(station) == [
        ("phone", json.dumps("13700001111"), OTHER_PC, json.dumps("13800138000"), station.station_id)
    ]
    detail = get_case(station, number)
    assert [(c.field, c.lost_origin) for c in detail.conflicts] == [("phone", station.station_id)]
    assert any("cases.phone" in line for line in case_text(detail, "en"))


def test_an_older_value_loses_and_lands_in_conflicts(station, hub, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    ours = _phone_version(station, number)
    change = RowChange(table="cases", pk=number, hlc=ours - 10, fields={"phone": "13700001111"}, origin=OTHER_PC)
    apply_feed_set(station, hub.feed_set(change), keys)
    assert _phone(station, number) == "13800138000"
    assert _conflicts(station) == [
        ("phone", json.dumps("13800138000"), station.station_id, json.dumps("13700001111"), OTHER_PC)
    ]


def test_equal_clocks_are_broken_by_origin_id(station, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    ours = _phone_version(station, number)
    lower, higher = "000-A-0", "zzz-Z-9"  # origin ids sort around ours
    with write_txn(station.db):
        apply_row_change(station, RowChange(table="cases", pk=number, hlc=ours, fields={"phone": "13700000001"}), lower)
        assert _phone(station, number) == "13800138000"
        apply_row_change(
            station, RowChange(table="cases", pk=number, hlc=ours, fields={"phone": "13700000002"}), higher
        )
    assert _phone(station, number) == "13700000002"


def test_later_changes_of_one_origin_are_no_conflict(station, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    ours = _phone_version(station, number)
    with write_txn(station.db):
        for step, phone in enumerate(("13700000001", "13700000002"), start=1):
            apply_row_change(
                station, RowChange(table="cases", pk=number, hlc=ours + step, fields={"phone": phone}), OTHER_PC
            )
    assert _phone(station, number) == "13700000002"
    assert len(_conflicts(station)) == 1  # ours, overwritten once; the other PC's own sequence is no conflict


def test_status_never_changes_by_row(station, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    with write_txn(station.db):
        rejection = apply_row_change(
            station, RowChange(table="cases", pk=number, hlc=2**62, fields={"status": "COMPLETED"}), OTHER_PC
        )
    assert rejection is not None and rejection.code == "status_by_row"
    assert get_case(station, number).summary.status == "RECEIVED"


def test_fields_this_release_does_not_know_are_ignored(station, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    with write_txn(station.db):
        apply_row_change(
            station,
            RowChange(table="cases", pk=number, hlc=2**62, fields={"phone": "13700000003", "wechat_id": "x"}),
            OTHER_PC,
        )
    assert _phone(station, number) == "13700000003"


def test_hub_values_drop_our_claim_on_the_field(station, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    insert_version = _phone_version(station, number)
    ops.correct_intake(station, number, phone="13700001111")
    with write_txn(station.db):
        assert write_hub_values(station, "cases", number, {"phone": "13800138000"})
        assert not write_hub_values(station, "cases", "no-such-case", {"phone": "1"})
    assert _phone(station, number) == "13800138000"
    # Back to the insert's version: a later change from anyone now wins, as it does at the hub.
    assert _phone_version(station, number) == insert_version
