"""Merge rules: last writer wins per field, status fields only through lifecycle moves, drafts on insert."""

from __future__ import annotations

from sync.changes import RowChange, StatusChange
from sync.lifecycle import Actor
from sync.merge import Rejection, RowDecision, decide_row, decide_status

A, B = "349921001001-A-1", "349921001001-B-2"


def change(**overrides) -> RowChange:
    fields = dict(table="cases", pk="349921001001-20260302-A001", hlc=5 << 16, fields={"phone": "13700000001"})
    fields.update(overrides)
    return RowChange(**fields)


def test_newer_field_wins_older_is_lost():
    current = {"*": (3 << 16, A)}
    decision = decide_row(current, change(), B)
    assert isinstance(decision, RowDecision) and decision.write == {"phone": "13700000001"}
    older = decide_row({"*": (3 << 16, A), "phone": (9 << 16, A)}, change(), B)
    assert isinstance(older, RowDecision) and older.write == {} and older.lost == {"phone": "13700000001"}


def test_equal_clocks_are_broken_by_origin():
    current = {"*": (1, A), "phone": (5 << 16, A)}
    assert decide_row(current, change(), B).write == {"phone": "13700000001"}  # B > A
    assert decide_row({"*": (1, B), "phone": (5 << 16, B)}, change(), A).lost == {"phone": "13700000001"}


def test_case_status_never_changes_by_row():
    decision = decide_row({"*": (1, A)}, change(fields={"status": "ACCEPTED"}), A)
    assert isinstance(decision, Rejection) and decision.code == "status_by_row"


def test_a_commitment_fulfilment_is_not_a_case_status_move():
    # Found by the fleet: the status-field rule once applied to every table, so the hub refused
    # every 容缺 fulfilment and the station could never deliver the result.
    fulfil = RowChange(
        table="commitments",
        pk="349921001001-20260302-A001/居民身份证",
        hlc=2 << 16,
        fields={"status": "fulfilled", "closed_at": "2026-03-03T01:00:00.000Z"},
    )
    decision = decide_row({"*": (1 << 16, A)}, fulfil, A)
    assert isinstance(decision, RowDecision) and decision.write["status"] == "fulfilled"


def test_cases_are_created_as_drafts():
    insert = change(insert=True, fields={"status": "RECEIVED", "outcome": None, "accepted_date": None})
    assert isinstance(decide_row(None, insert, A), Rejection)
    draft = change(insert=True, fields={"status": "DRAFT", "outcome": None, "accepted_date": None})
    assert isinstance(decide_row(None, draft, A), RowDecision)


def test_a_station_cannot_speak_for_a_department():
    move = StatusChange(
        event_id="x",
        case_no="c",
        from_status="RECEIVED",
        to_status="ACCEPTED",
        actor="department",
        hlc=1,
        at="2026-03-02T01:00:00.000Z",
    )
    assert decide_status("RECEIVED", move, origin_actors=frozenset({Actor.STATION})).code == "actor_not_allowed"
    assert decide_status("RECEIVED", move, origin_actors=frozenset({Actor.DEPARTMENT})) is None
