"""A resident's progress query (办件进度查询): what the answer holds, and which level holds a case now.

The same answer comes from the hub's public page (``GET /q``), its JSON twin (``GET /api/v1/q``) and a
station answering for its own cases: the case's status, the level holding it, the due date and
what is missing. Never a name, an ID or a phone number: the code is all the asker proves.
"""

from __future__ import annotations

import msgspec

from sync.lifecycle import Status

__all__ = ("HOLDERS", "QUERY_PATH", "ProgressAnswer", "holder_label", "holder_of")

QUERY_PATH = "/api/v1/q"
"""The hub's JSON answer to a progress query (``?case=CASE_NO&code=CODE``); the page is ``/q``."""

HOLDERS: dict[str, tuple[str, str]] = {
    "station": ("村代办点", "the village station"),
    "township": ("乡镇初审中", "township initial review"),
    "county": ("县直部门办理中", "the county department"),
    "applicant": ("待申请人补正材料", "waiting for the applicant's materials"),
    "delivery": ("结果待送达（请到代办点领取）", "result ready at the village station"),
    "closed": ("已办结", "closed"),
}
"""Who holds a case now, as the resident is told."""

_BY_STATUS = {
    Status.DRAFT.value: "station",
    Status.RECEIVED.value: "county",
    Status.ACCEPTED.value: "county",
    Status.IN_PROGRESS.value: "county",
    Status.SPECIAL_PROCEDURE.value: "county",
    Status.SUSPENDED.value: "county",
    Status.AWAITING_CORRECTION.value: "applicant",
    Status.COMPLETED.value: "delivery",
    Status.DELIVERED.value: "closed",
    Status.WITHDRAWN.value: "closed",
    Status.NOT_ACCEPTED.value: "closed",
}


def holder_of(status: str, approver_level: str | None = None) -> str:
    """The level holding a case in ``status`` (:data:`HOLDERS`); ``approver_level`` "township" (an item the
    township decides) puts a running case at the township."""
    holder = _BY_STATUS.get(status, "county")
    if holder == "county" and approver_level == "township":
        return "township"
    return holder


def holder_label(holder: str, lang: str = "zh") -> str:
    zh, en = HOLDERS.get(holder, (holder, holder))
    return en if lang == "en" else zh


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
