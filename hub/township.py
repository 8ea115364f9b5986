"""The township desk: a township's cases of the items it reviews, its decisions and its forward to the county."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from hub.accounts import Principal
from hub.decisions import Decision, resolve_status
from hub.desk import decide_as, view_of
from hub.levels import approver_level, case_level, township_items
from hub.store import HubStoreProtocol
from sync.errors import IllegalTransition, InputError, NotFoundError
from sync.levels import TOWNSHIP_LEVELS, Level, level_label
from sync.lifecycle import Actor, Status, allowed_targets

__all__ = (
    "FORWARD",
    "case_for_township",
    "decide_for_township",
    "township_actions",
    "township_case_view",
    "township_list",
)

FORWARD = "FORWARD"
"""The form's and CLI's name for the township's forward (IN_PROGRESS → IN_PROGRESS, sync.levels.is_forward)."""

_LABELS: dict[str, tuple[str, str]] = {
    Status.ACCEPTED: ("受理", "Accept"),
    Status.NOT_ACCEPTED: ("不予受理（须说明理由）", "Refuse (give the reason)"),
    Status.AWAITING_CORRECTION: ("一次性告知补正材料", "Ask for corrections (every missing item at once)"),
    Status.SPECIAL_PROCEDURE: (
        "启动特别程序（入户调查、公示等）",
        "Start a special procedure (household visit, public notice)",
    ),
    Status.SUSPENDED: ("中止办理", "Suspend"),
    Status.COMPLETED: ("办结（乡镇决定）", "Complete (the township decides)"),
    Status.RECEIVED: ("补正已收齐，回到已收件", "Corrections in: back to received"),
    Status.IN_PROGRESS: ("开始审查 / 继续办理", "Start or resume the review"),
    FORWARD: (
        "初审完毕，签署意见转报县级部门",
        "Initial review done: forward to the county department with our opinion",
    ),
}


def _not_ours(case_no: str, principal: Principal) -> NotFoundError:
    return NotFoundError(
        zh=f"本乡镇没有编号为 {case_no!r} 的待审办件",
        en=f"no case {case_no!r} for township {principal.township}",
        field="case_no",
        code="case.not_found",
    )


def case_for_township(store: HubStoreProtocol, principal: Principal, case_no: str) -> dict[str, Any]:
    """The case row, if it is of one of the township's villages and an item the township reviews.

    Raises:
        NotFoundError: no such case, another township's, or a county item (never told apart).
    """
    case = store.row("cases", case_no.strip())
    township = principal.township or ""
    if (
        case is None
        or len(township) != 12
        or case["village_code"][:9] != township[:9]
        or approver_level(store, case) not in TOWNSHIP_LEVELS
    ):
        raise _not_ours(case_no, principal)
    return case


def township_actions(status: str, level: Level | None, lang: str = "zh") -> list[dict[str, str]]:
    """What the township may do now: everything a reviewer may for items it decides; for a county item
    in initial review everything but completing it, plus the forward; nothing once forwarded."""
    if level not in (Level.TOWNSHIP, Level.TOWNSHIP_INITIAL):
        return []
    targets: list[str] = [t.value for t in allowed_targets(status, Actor.TOWNSHIP) if t.value != status]
    if level is Level.TOWNSHIP_INITIAL:
        targets = [t for t in targets if t != Status.COMPLETED]
        if status == Status.IN_PROGRESS:
            targets.append(FORWARD)
    return [{"status": t, "label": _LABELS[t][1 if lang == "en" else 0]} for t in targets]


def township_list(
    store: HubStoreProtocol,
    principal: Principal,
    *,
    status: str | None,
    overdue_before: str | None,
    case_no: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """The township's cases (full rows: the page masks), newest first."""
    return store.township_cases(
        principal.township or "",
        township_items(store),
        status=status,
        overdue_before=overdue_before,
        case_no=case_no,
        limit=limit,
        offset=offset,
    )


def township_case_view(
    store: HubStoreProtocol, principal: Principal, case_no: str, *, reveal: bool, ip: str | None, now: dt.datetime
) -> dict[str, Any]:
    """Everything the township needs to review a case (as the department desk's view, audited reveals)."""
    case = case_for_township(store, principal, case_no)
    return view_of(store, principal, case, reveal=reveal, ip=ip, now=now)


def decide_for_township(
    store: HubStoreProtocol,
    principal: Principal,
    case_no: str,
    status: str,
    *,
    reason: str | None = None,
    outcome: str | None = None,
    missing: Sequence[str] = (),
    now: dt.datetime,
) -> Decision:
    """A township's decision, or its forward (``FORWARD``, with its opinion as the reason).

    Raises:
        NotFoundError: not one of the township's cases.
        IllegalTransition: the case is with the county already, or a county item would be completed
            by the township, or the lifecycle refuses the move.
        InputError: a forward without an opinion, and what :func:`hub.decisions.decide` refuses.
    """
    case = case_for_township(store, principal, case_no)
    level = case_level(store, case)
    wanted = status.strip().upper()
    if level not in (Level.TOWNSHIP, Level.TOWNSHIP_INITIAL):
        raise IllegalTransition(
            zh=f"办件 {case['case_no']} 已转报县级部门（{level_label(level) or '已结束'}），乡镇不能再办理",
            en=f"case {case['case_no']} is with the county department now; the township can no longer move it",
            from_status=case["status"],
            to_status=wanted,
            actor=Actor.TOWNSHIP.value,
        )
    if wanted == FORWARD:
        if level is not Level.TOWNSHIP_INITIAL:
            raise IllegalTransition(
                zh="该事项由乡镇决定，无需转报县级部门；请直接办结",
                en="the township decides this item itself; complete it rather than forward it",
                from_status=case["status"],
                to_status=Status.IN_PROGRESS.value,
                actor=Actor.TOWNSHIP.value,
            )
        if not (reason or "").strip():
            raise InputError(
                zh="转报县级部门须签署初审意见（理由）",
                en="a forward carries the township's opinion (reason)",
                field="reason",
            )
        target = Status.IN_PROGRESS
    else:
        target = resolve_status(status)
        if target.value == case["status"]:
            raise IllegalTransition(
                zh=f"办件已是“{target.value}”", en=f"the case is {target.value} already",
                from_status=case["status"], to_status=target.value, actor=Actor.TOWNSHIP.value,
            )  # fmt: skip
        if target is Status.COMPLETED and level is Level.TOWNSHIP_INITIAL:
            raise IllegalTransition(
                zh="该事项由县级部门决定：乡镇初审后请转报，不能办结",
                en="the county department decides this item: forward it after the initial review, do not complete it",
                from_status=case["status"],
                to_status=target.value,
                actor=Actor.TOWNSHIP.value,
            )
    return decide_as(
        store, principal, case, target, actor=Actor.TOWNSHIP, reason=reason, outcome=outcome, missing=missing, now=now
    )
