"""The department desk: a department's cases with personal data, audited reveals, and its decisions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from hub.accounts import Principal
from hub.decisions import Decision, decide
from hub.departments import department_key
from hub.levels import case_level, refuse_unless_county
from hub.store import HubStore, HubStoreProtocol
from sync.deadlines import due_move_text
from sync.errors import NotFoundError, ProxyAppError
from sync.levels import Level
from sync.lifecycle import Actor, Status, allowed_targets
from sync.personal import mask_id_number, mask_phone
from sync.text import printable
from sync.timeutil import business_date, iso_utc

__all__ = (
    "REVEALED_FIELDS",
    "actions_for",
    "admin_case_summary",
    "case_for_department",
    "case_view",
    "decide_as",
    "decide_for_department",
    "department_case_summary",
    "for_page",
    "view_of",
)

REVEALED_FIELDS = "id_number,phone"
"""What a reveal shows in full; the audit log records these names, never the values."""

_ACTIONS: dict[tuple[str | None, Status], tuple[str, str]] = {
    (None, Status.ACCEPTED): ("受理", "Accept"),
    (None, Status.NOT_ACCEPTED): ("不予受理（须说明理由）", "Refuse (give the reason)"),
    (None, Status.AWAITING_CORRECTION): ("一次性告知补正材料", "Ask for corrections (every missing item at once)"),
    (None, Status.SPECIAL_PROCEDURE): ("启动特别程序", "Start a special procedure"),
    (None, Status.SUSPENDED): ("中止办理", "Suspend"),
    (None, Status.COMPLETED): ("办结", "Complete, with the outcome"),
    (None, Status.RECEIVED): ("补正已收齐，回到已收件", "Corrections in: back to received"),
    ("ACCEPTED", Status.IN_PROGRESS): ("开始审查", "Start the review"),
    ("SPECIAL_PROCEDURE", Status.IN_PROGRESS): ("特别程序结束", "End the special procedure"),
    ("SUSPENDED", Status.IN_PROGRESS): ("恢复办理", "Resume"),
    ("AWAITING_CORRECTION", Status.IN_PROGRESS): ("补正已收齐，继续办理", "Corrections in: continue"),
}


def _is_overdue(row: dict[str, Any], today: str) -> bool:
    return (
        row["status"] in ("RECEIVED", "ACCEPTED", "IN_PROGRESS") and bool(row["due_date"]) and row["due_date"] < today
    )


def admin_case_summary(row: dict[str, Any]) -> dict[str, Any]:
    """A case as an administrator may see it: numbers, statuses, dates and codes; no name, ID or phone."""
    return {
        key: row[key]
        for key in (
            "case_no",
            "status",
            "outcome",
            "village_code",
            "item_code",
            "bundle_code",
            "received_date",
            "accepted_date",
            "due_date",
        )
    }


def department_case_summary(row: dict[str, Any], today: str) -> dict[str, Any]:
    """A case in a department's list: the applicant's name, ID and phone masked (full ones only on reveal)."""
    return {
        **admin_case_summary(row),
        "applicant_name": row["applicant_name"],
        "id_number_masked": mask_id_number(row["id_number"] or ""),
        "phone_masked": mask_phone(row["phone"] or ""),
        "due_provisional": bool(row["due_provisional"]),
        "overdue": _is_overdue(row, today),
    }


def for_page(value: Any) -> Any:
    """A case (or a list of them) for a desk page: each string printable.

    Jinja escapes HTML; this drops what HTML escaping leaves, a direction override that turns
    the rest of a name or reason around, and control characters. The JSON API keeps raw values.
    """
    if isinstance(value, str):
        return printable(value, multiline=True)
    if isinstance(value, dict):
        return {key: for_page(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [for_page(item) for item in value]
    return value


def case_for_department(store: HubStore, principal: Principal, case_no: str) -> dict[str, Any]:
    """The case row, if it is one of the principal's department.

    Raises:
        NotFoundError: no such case, or another department's (the two are not told apart).
    """
    case = store.row("cases", case_no.strip())
    if case is None or principal.department is None or department_key(case["item_code"]) != principal.department:
        raise NotFoundError(
            zh=f"本部门没有编号为 {case_no!r} 的办件",
            en=f"no case {case_no!r} for department {principal.department}",
            field="case_no",
            code="case.not_found",
        )
    return case


def actions_for(status: str, lang: str = "zh", level: Level | None = Level.COUNTY) -> list[dict[str, str]]:
    """The decisions a department may take on a case in ``status`` (the lifecycle decides), with labels;
    none while a township holds the case (hub.levels.refuse_unless_county)."""
    if level in (Level.TOWNSHIP, Level.TOWNSHIP_INITIAL):
        return []
    actions = []
    for target in allowed_targets(status, Actor.DEPARTMENT):
        zh, en = _ACTIONS.get((status, target)) or _ACTIONS.get((None, target)) or (target.value, target.value)
        actions.append({"status": target.value, "label": en if lang == "en" else zh})
    return actions


def case_view(
    store: HubStore, principal: Principal, case_no: str, *, reveal: bool, ip: str | None, now: dt.datetime
) -> dict[str, Any]:
    """Everything a department needs to decide a case. A reveal shows the full ID and phone and is audited."""
    case = case_for_department(store, principal, case_no)
    return view_of(store, principal, case, reveal=reveal, ip=ip, now=now)


def view_of(
    store: HubStoreProtocol,
    principal: Principal,
    case: dict[str, Any],
    *,
    reveal: bool,
    ip: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """A case row the principal may see, for its desk page (department or township): a reveal is audited."""
    today = business_date(now).isoformat()
    try:
        item = store.catalog(case["catalog_version"]).item(case["item_code"])
        item_name, materials = item.name_zh, [m.name_zh for m in item.materials]
    except ProxyAppError:
        item_name, materials = case["item_code"], []
    if reveal:
        user = store.user(principal.user_id)
        assert user is not None
        with store.transaction():
            store.add_audit(
                at=iso_utc(now), user=user, action="reveal", case_no=case["case_no"], fields=REVEALED_FIELDS, ip=ip
            )
    try:
        village = store.divisions().village(case["village_code"])
        place = f"{village.township_name_zh}{village.name_zh}"
    except ProxyAppError:
        place = case["village_code"]
    return {
        **department_case_summary(case, today),
        "item_name": item_name,
        "place": place,
        "sex": case["sex"],
        "birth_date": case["birth_date"],
        "received_at": case["received_at"],
        "catalog_version": case["catalog_version"],
        "id_number": case["id_number"] if reveal else None,
        "phone": case["phone"] if reveal else None,
        "revealed": reveal,
        "materials": materials,
        "intake_materials": store.intake_materials(case["intake_id"]),
        "scan_pages": _scan_pages(store, case["case_no"]),
        "commitments": store.intake_commitments(case["intake_id"]),
        "events": store.case_events(case["case_no"]),
        "due_moves": [_due_move(m) for m in store.due_moves(case["case_no"])],
        "level": case_level(store, case),
        "joint": store.joint_opinions(case["case_no"]),
    }


def _scan_pages(store: HubStoreProtocol, case_no: str) -> dict[str, int]:
    """How many scanned pages each material of the case has (the desk's scan viewer shows them)."""
    counts: dict[str, int] = {}
    for row in store.case_attachments(case_no):
        counts[row["material"]] = counts.get(row["material"], 0) + 1
    return counts


def _due_move(move: dict[str, Any]) -> dict[str, Any]:
    """A due date a published calendar moved, for the case's history, with its line in both languages."""
    fields = {k: move[k] for k in ("at", "old_due", "new_due", "year", "version", "material")}
    words = {k: fields[k] for k in ("year", "version", "material")}
    old, new = fields["old_due"], fields["new_due"]
    return {
        **fields,
        "text_zh": due_move_text("zh", old=old, new=new, **words),
        "text_en": due_move_text("en", old=old, new=new, **words),
    }


def decide_for_department(
    store: HubStore,
    principal: Principal,
    case_no: str,
    status: str,
    *,
    reason: str | None = None,
    outcome: str | None = None,
    missing: Sequence[str] = (),
    now: dt.datetime,
) -> Decision:
    """A department's decision on one of its cases, recorded with the staff member's account name.

    Through :func:`hub.decisions.decide`, so it goes down every feed of the village.
    """
    case = case_for_department(store, principal, case_no)
    refuse_unless_county(store, case)
    return decide_as(
        store, principal, case, status, actor=Actor.DEPARTMENT, reason=reason, outcome=outcome, missing=missing, now=now
    )


def decide_as(
    store: HubStoreProtocol,
    principal: Principal,
    case: dict[str, Any],
    status: Status | str,
    *,
    actor: Actor,
    reason: str | None,
    outcome: str | None,
    missing: Sequence[str],
    now: dt.datetime,
) -> Decision:
    """A desk's decision on a case it may move (department or township), recorded with the account's name."""
    return decide(
        store,
        case["case_no"],
        status,
        actor=actor,
        by=principal.name,
        reason=reason,
        outcome=outcome or None,
        missing=missing,
        now=lambda: now,
    )
