"""A resident's progress query (办件进度查询): what the answer holds, and which level holds a case now.

The same answer comes from the hub's public page (``GET /q``), its JSON twin (``GET /api/v1/q``) and a
station answering for its own cases: the case's status, the level holding it, the due date and
what is missing. Never a name, an ID or a phone number: the code is all the asker proves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from sync.levels import holding_level, level_label
from sync.lifecycle import Status

__all__ = ("HOLDERS", "QUERY_PATH", "ProgressAnswer", "holder_label", "holder_of")

QUERY_PATH = "/api/v1/q"
"""The hub's JSON answer to a progress query (``?case=CASE_NO&code=CODE``); the page is ``/q``."""

HOLDERS: dict[str, tuple[str, str]] = {
    "applicant": ("待申请人补正材料", "waiting for the applicant's materials"),
    "delivery": ("结果已到村代办点，待领取", "result ready at the village station"),
    "closed": ("已办结", "closed"),
}
"""Who holds a case, beyond the reviewing levels of sync.levels (村代办点, 乡镇, 县级部门)."""


def holder_of(status: str, approver_level: str | None = None, events: Iterable[Mapping[str, Any]] = ()) -> str:
    """Who holds a case now, as the resident is told: the level of sync.levels.holding_level (``village``,
    ``township``, ``township_initial``, ``county``), or ``applicant`` while a correction is awaited,
    ``delivery`` once the result is at the station, ``closed`` after."""
    if status == Status.AWAITING_CORRECTION.value:
        return "applicant"
    if status == Status.COMPLETED.value:
        return "delivery"
    level = holding_level(status, approver_level, events)
    return "closed" if level is None else level.value


def holder_label(holder: str, lang: str = "zh") -> str:
    """The holder as a person reads it."""
    if holder in HOLDERS:
        zh, en = HOLDERS[holder]
        return en if lang == "en" else zh
    try:
        return level_label(holder, lang)
    except ValueError:
        return holder


class ProgressAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """What a progress query shows: no personal data."""

    case_no: str
    item_code: str
    item_name: str
    status: str
    holder: str
    """Who holds the case now (:data:`HOLDERS`)."""
    due_date: str | None
    due_provisional: bool = False
    missing: list[str] = []
    """Materials still to hand in (deferred under 容缺, or asked for by a correction notice)."""
    correction: str | None = None
    """The correction notice's reason, while the case waits for the applicant."""
    outcome: str | None = None
    updated_at: str | None = None
