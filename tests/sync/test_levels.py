"""Which level holds a case: the item's approver level, the state, and the township's forward."""

from __future__ import annotations

import pytest

from sync.errors import IllegalTransition
from sync.levels import Level, holding_level, is_forward, level_label
from sync.lifecycle import TERMINAL, Actor, Status, check_transition

FORWARD = {"actor": "township", "from_status": "IN_PROGRESS", "to_status": "IN_PROGRESS"}


@pytest.mark.parametrize(
    ("status", "approver", "events", "level"),
    [
        ("RECEIVED", "county", [], Level.COUNTY),
        ("IN_PROGRESS", "township", [], Level.TOWNSHIP),
        ("ACCEPTED", "township_or_county", [], Level.TOWNSHIP_INITIAL),
        ("SPECIAL_PROCEDURE", "township_or_county", [], Level.TOWNSHIP_INITIAL),
        ("IN_PROGRESS", "township_or_county", [FORWARD], Level.COUNTY),
        ("SUSPENDED", "township_or_county", [FORWARD], Level.COUNTY),
        ("DRAFT", "county", [], Level.VILLAGE),
        ("COMPLETED", "township_or_county", [FORWARD], Level.VILLAGE),
    ],
)
def test_the_level_holding_a_case(status, approver, events, level):
    assert holding_level(status, approver, events) is level


def test_a_closed_case_is_held_by_nobody():
    for status in TERMINAL:
        assert holding_level(status, "township_or_county", [FORWARD]) is None
    assert level_label(None) == ""


def test_only_the_townships_self_move_is_a_forward():
    assert is_forward(FORWARD)
    assert not is_forward({**FORWARD, "actor": "department"})
    assert not is_forward({"actor": "township", "from_status": "ACCEPTED", "to_status": "IN_PROGRESS"})
    check_transition(Status.IN_PROGRESS, Status.IN_PROGRESS, Actor.TOWNSHIP)
    for actor in (Actor.DEPARTMENT, Actor.STATION):
        with pytest.raises(IllegalTransition):
            check_transition(Status.IN_PROGRESS, Status.IN_PROGRESS, actor)


def test_labels_in_both_languages():
    assert level_label(Level.TOWNSHIP_INITIAL) == "乡镇初审中"
    assert level_label("county") == "县级部门审核中"
    assert level_label("township", "en") == "under township review"
