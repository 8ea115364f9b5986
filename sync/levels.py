"""Which level holds a case now (village, township, county department), from its item and history."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from sync.lifecycle import TERMINAL, Actor, Status

__all__ = (
    "TOWNSHIP_LEVELS",
    "Level",
    "holding_level",
    "is_forward",
    "level_label",
)

TOWNSHIP_LEVELS = frozenset({"township", "township_or_county"})
"""Catalogue ``approver_level`` values whose cases a township desk reviews."""


class Level(enum.StrEnum):
    """Who holds a case now. ``township_initial``: a township's initial review of a county item."""

    VILLAGE = "village"
    TOWNSHIP = "township"
    TOWNSHIP_INITIAL = "township_initial"
    COUNTY = "county"


_LABELS: dict[Level, tuple[str, str]] = {
    Level.VILLAGE: ("村代办点办理中", "at the village station"),
    Level.TOWNSHIP: ("乡镇审核中", "under township review"),
    Level.TOWNSHIP_INITIAL: ("乡镇初审中", "township initial review"),
    Level.COUNTY: ("县级部门审核中", "under county department review"),
}


def level_label(level: Level | str | None, lang: str = "zh") -> str:
    """The level as a person reads it ("乡镇初审中"); an empty string for a closed case."""
    if level is None:
        return ""
    zh, en = _LABELS[Level(level)]
    return en if lang == "en" else zh


def is_forward(event: Mapping[str, Any]) -> bool:
    """Whether a recorded move is a township forwarding its initial review to the county department.

    The forward is the one move that keeps the state: IN_PROGRESS → IN_PROGRESS by the township,
    with the township's opinion as its reason (sync.lifecycle.TRANSITIONS). It travels as any hub
    move does, so a station of any version records it as history.
    """
    return (
        event.get("actor") == Actor.TOWNSHIP.value
        and event.get("from_status") == Status.IN_PROGRESS.value
        and event.get("to_status") == Status.IN_PROGRESS.value
    )


def holding_level(status: str, approver_level: str | None, events: Iterable[Mapping[str, Any]] = ()) -> Level | None:
    """The level holding a case in ``status`` for an item of ``approver_level``, None once it is closed.

    A draft, and a completed case awaiting delivery, are at the village station. Otherwise the
    reviewing level: the county department for county items, the township for items it decides,
    and for ``township_or_county`` items the township until it forwards the case (:func:`is_forward`),
    then the county department.
    """
    state = Status(status)
    if state in TERMINAL:
        return None
    if state in (Status.DRAFT, Status.COMPLETED):
        return Level.VILLAGE
    if approver_level == "township":
        return Level.TOWNSHIP
    if approver_level == "township_or_county":
        return Level.COUNTY if any(is_forward(e) for e in events) else Level.TOWNSHIP_INITIAL
    return Level.COUNTY
