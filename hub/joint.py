"""Parallel review (并联审批, brief §7.6): the lead asks departments for their opinion by a date; each answers,
or the system records ``deemed_consent`` once the date has passed (hub.escalation.deem_consent)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub.accounts import Principal
from hub.departments import find_department
from hub.joint_feed import queue_opinions
from hub.store import HubStoreProtocol
from sync.errors import InputError, NotFoundError
from sync.text import check_text
from sync.timeutil import business_date, iso_utc

__all__ = ("MAX_DAYS", "answer_opinion", "request_opinion")

MAX_DAYS = 60


def request_opinion(
    store: HubStoreProtocol, principal: Principal, case: dict[str, Any], department: str, days: int, *, now: dt.datetime
) -> str:
    """Ask ``department`` about a case the principal's unit leads, within ``days`` working days; the due date.

    The caller has checked that the principal may see the case (its desk's ``case_for_…``).

    Raises:
        InputError: an unknown department, its own, a number of days out of range, or asked already.
    """
    key = find_department(store.catalog(), department).key
    if key == principal.department:
        raise InputError(zh="不能征求本部门的意见", en="a department does not ask itself", field="department")
    if not 0 < days <= MAX_DAYS:
        raise InputError(
            zh=f"答复期限应为 1 到 {MAX_DAYS} 个工作日", en=f"days must be 1 to {MAX_DAYS} working days", field="days"
        )
    due = store.calendar().add_working_days(business_date(now), days).date.isoformat()
    with store.transaction():
        fresh = store.request_joint_opinion(case["case_no"], key, by=principal.name, at=iso_utc(now), due_date=due)
        if fresh:  # the village's stations learn which department now holds the case too
            queue_opinions(store, case["case_no"], at=iso_utc(now))
    if not fresh:
        raise InputError(zh=f"已征求过 {key} 的意见", en=f"{key} was asked already", field="department")
    return due


def answer_opinion(
    store: HubStoreProtocol, principal: Principal, case_no: str, opinion: str, reason: str | None, *, now: dt.datetime
) -> None:
    """The principal's department answers a request about a case (``consent`` or ``object`` with a reason).

    Raises:
        NotFoundError: no pending request to the department about the case (answered, deemed, or never asked).
        InputError: an unknown opinion, or an objection without its reason.
    """
    if opinion not in ("consent", "object"):
        raise InputError(zh="意见应为同意或不同意", en="the opinion is consent or object", field="opinion")
    reason = (reason or "").strip() or None
    if opinion == "object" and reason is None:
        raise InputError(zh="不同意须说明理由", en="an objection needs its reason", field="reason")
    if reason is not None:
        check_text("reason", reason, label_zh="理由")
    with store.transaction():
        done = store.answer_joint_opinion(
            case_no.strip(),
            principal.department or "",
            opinion=opinion,
            reason=reason,
            by=principal.name,
            at=iso_utc(now),
        )
        if done:
            queue_opinions(store, case_no.strip(), at=iso_utc(now))
    if not done:
        raise NotFoundError(
            zh=f"本部门对 {case_no} 没有待答复的征求意见（可能已答复或已缺席默认）",
            en=f"no pending request to your department about {case_no} (answered already, or deemed consent)",
            field="case_no",
        )
