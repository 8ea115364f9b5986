"""County decisions on a case (accept, refuse, ask for corrections, …), applied and sent down the feeds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from hub.apply import apply_status
from hub.feed import queue, queue_case_state
from hub.store import HubStoreProtocol
from sync.changes import StatusChange
from sync.errors import InputError, NotFoundError
from sync.lifecycle import Actor, Status, check_transition
from sync.notice import correction_notice  # the station reads its materials back (sync.notice)
from sync.text import check_text
from sync.timeutil import iso_utc, utc_now

__all__ = (
    "ALIASES",
    "HUB_ORIGIN",
    "REVIEWER_ACTORS",
    "Decision",
    "decide",
    "resolve_status",
)

HUB_ORIGIN = "hub"
"""The origin of the county's own moves."""

REVIEWER_ACTORS = frozenset({Actor.DEPARTMENT, Actor.TOWNSHIP})

ALIASES: dict[str, Status] = {
    "accept": Status.ACCEPTED,
    "refuse": Status.NOT_ACCEPTED,
    "correct": Status.AWAITING_CORRECTION,
    "review": Status.IN_PROGRESS,
    "special-start": Status.SPECIAL_PROCEDURE,
    "special-end": Status.IN_PROGRESS,
    "suspend": Status.SUSPENDED,
    "resume": Status.IN_PROGRESS,
    "complete": Status.COMPLETED,
}
"""Friendly names a reviewer types, beside the status names themselves."""

OUTCOMES = ("approved", "denied")


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """What a decision did: the move, and the case's state at the hub afterwards."""

    case_no: str
    event_id: str
    from_status: str
    status: str
    outcome: str | None
    accepted_date: str | None
    due_date: str | None
    reason: str | None
    stations: int
    """Enrolled stations of the village the move was queued to."""


def resolve_status(text: str) -> Status:
    """A status from its name (any case) or a friendly alias.

    Raises:
        InputError: listing the names and aliases accepted.
    """
    key = text.strip()
    if key.lower() in ALIASES:
        return ALIASES[key.lower()]
    try:
        return Status(key.upper().replace("-", "_"))
    except ValueError:
        choices = ", ".join([*ALIASES, *(s.value for s in Status)])
        raise InputError(
            zh=f"未知的状态 {text!r}；可用：{choices}",
            en=f"unknown status {text!r}; use one of: {choices}",
            field="status",
        ) from None


def _check_text(reason: str | None, by: str | None, missing: Sequence[str]) -> None:
    """The free text of a decision: bounded as a station's (sync.limits), no control or bidi characters.

    A reason goes down every feed of the village and is printed at the stations, so it obeys the
    rule their own text obeys.
    """
    if reason is not None:
        check_text("reason", reason, label_zh="理由")
    if by is not None:
        check_text("by", by, label_zh="审核人")
    for name in missing:
        check_text("material", name, label_zh="所缺材料")


def _check_inputs(target: Status, reason: str | None, outcome: str | None, missing: Sequence[str]) -> str | None:
    """Check what each kind of decision needs; returns the reason to record."""
    if target is Status.NOT_ACCEPTED and not reason:
        raise InputError(
            zh="不予受理须说明理由（--reason）", en="a refusal needs its reason (--reason)", field="reason"
        )
    if target is Status.AWAITING_CORRECTION:
        if not missing:
            raise InputError(
                zh="补正通知须一次性列出全部所缺材料（--missing，可重复）",
                en="a request for corrections lists every missing material (--missing, repeatable)",
                field="missing",
            )
        # The notice is what is recorded as the move's reason: the whole of it stays within the limit.
        return check_text("reason", correction_notice(missing, reason), label_zh="补正通知（所缺材料连同理由）")
    if missing:
        raise InputError(
            zh="--missing 仅用于补正通知", en="--missing goes only with a request for corrections", field="missing"
        )
    if target is Status.COMPLETED:
        if outcome not in OUTCOMES:
            raise InputError(
                zh="办结须指明结果：--outcome approved 或 denied",
                en="completing a case needs --outcome approved or denied",
                field="outcome",
            )
    elif outcome is not None:
        raise InputError(zh="--outcome 仅用于办结", en="--outcome goes only with complete (COMPLETED)", field="outcome")
    return reason


def decide(
    store: HubStoreProtocol,
    case_no: str,
    status: str | Status,
    *,
    actor: str | Actor = Actor.DEPARTMENT,
    by: str | None = None,
    reason: str | None = None,
    outcome: str | None = None,
    missing: Sequence[str] = (),
    now: Callable[[], dt.datetime] = utc_now,
) -> Decision:
    """Record a reviewer's decision on a case and queue it to every enrolled station of the village.

    The lifecycle decides (sync.lifecycle.check_transition); the move is a StatusChange with
    origin "hub", stamped by the hub's persisted hybrid logical clock, followed in each feed by
    the hub's CaseState.

    Raises:
        NotFoundError: no such case at the hub.
        IllegalTransition: the move is not allowed from the case's state for this actor.
        InputError: a missing reason, outcome or list of missing materials; a reason, reviewer's
            name or material past its limit or holding a control or bidi character (nothing written).
    """
    if store.get_meta("hub_role") == "province":  # hub.upstream.ROLE_META: departments decide at their county
        raise InputError(
            zh="省级平台只读：办件由各县（区）部门在县级平台审批",
            en="a province hub is read-only for cases: departments decide at their county's hub",
            field="role",
            code="province_read_only",
        )
    target = resolve_status(status) if isinstance(status, str) else status
    try:
        who = Actor(actor)
    except ValueError:
        who = None
    if who not in REVIEWER_ACTORS:
        raise InputError(
            zh=f"--actor 应为 department 或 township，而不是 {actor!r}",
            en=f"--actor must be department or township, not {actor!r}",
            field="actor",
        )
    reason = (reason or "").strip() or None
    by = (by or "").strip() or None
    missing = [m.strip() for m in missing if m.strip()]
    _check_text(reason, by, missing)
    recorded_reason = _check_inputs(target, reason, outcome, missing)
    moment = now()
    at = iso_utc(moment)

    def record() -> tuple[dict[str, Any], StatusChange, dict[str, Any], int]:
        # No lock before its writes: their counts are written at commit, under the counts lock the triggers take
        # (hub.store.locks). A set writing the same case rows in the other order (a bundle's) makes PostgreSQL
        # roll one of the two back, and this runs again (store.retrying, below).
        with store.locked():
            case = store.row("cases", case_no.strip())
            if case is None:
                raise NotFoundError(
                    zh=f"县平台没有编号为 {case_no!r} 的办件；可用“hub case list”查看",
                    en=f"no case numbered {case_no!r} at the hub; list them with 'hub case list'",
                    field="case_no",
                    code="case.not_found",
                )
            check_transition(case["status"], target, who)
            stamp = store.tick_clock(int(moment.timestamp() * 1000))
            change = StatusChange(
                event_id=f"{HUB_ORIGIN}:{stamp}",
                case_no=case["case_no"],
                from_status=case["status"],
                to_status=target.value,
                actor=who.value,
                hlc=stamp,
                at=at,
                reason=recorded_reason,
                outcome=outcome if target is Status.COMPLETED else None,
                by=by,
                origin=HUB_ORIGIN,
            )
            result = apply_status(
                store, change, origin=HUB_ORIGIN, actors=REVIEWER_ACTORS, village_code=None, now=moment
            )
            assert result.case is not None, result  # check_transition agreed with decide_status above
            stations = [s.station_id for s in store.stations(village_code=case["village_code"], enrolled_only=True)]
            queue(store, stations, change, at=at)
            queue_case_state(store, result.case, at=at)
            return case, change, result.case, len(stations)

    # A decision PostgreSQL still rolls back (deadlock, serialisation) runs again from the case's state.
    case, change, decided, stations = store.retrying(record)
    return Decision(
        case_no=change.case_no,
        event_id=change.event_id,
        from_status=case["status"],
        status=target.value,
        outcome=decided["outcome"],
        accepted_date=decided["accepted_date"],
        due_date=decided["due_date"],
        reason=recorded_reason,
        stations=stations,
    )
