"""Recording cases at the station: intake (single item or bundle, with 容缺), and the station's moves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec

from station.deadlines import commitment_due, refresh_due
from station.ratings import publish_query_key
from station.store import Station
from station.store.outbox import ChangeRecorder, recording
from sync.errors import InputError, IntakeError, NotFoundError
from sync.idnumber import validate_id_number
from sync.intake import MaterialState, plan_intake
from sync.lifecycle import Actor, Status, check_transition, status_label
from sync.limits import text_limit
from sync.notice import notice_materials
from sync.personal import validate_phone
from sync.text import check_text, printable
from sync.timeutil import business_date

__all__ = (
    "DEFAULT_DEFER_DAYS",
    "IntakeResult",
    "NewIntake",
    "add_note",
    "case_row",
    "correct_intake",
    "deliver",
    "new_intake",
    "refresh_due",
    "requested_materials",
    "supply_material",
    "withdraw",
)

DEFAULT_DEFER_DAYS = 5
"""Working days a 容缺 commitment gives by default (the county may set its own, brief §11 Q4)."""

MAX_NAME_LENGTH = text_limit("name")


class NewIntake(msgspec.Struct, kw_only=True):
    """What the agent enters for one intake: an item or a bundle, the applicant, the materials."""

    item: str | None = None
    bundle: str | None = None
    applicant_name: str
    id_number: str
    phone: str
    materials: list[str] = []
    """Names (as the catalogue gives them in Chinese) of the materials the applicant handed in."""
    deferred: list[str] = []
    """Materials missing under 容缺, each with a commitment signed by ``signer_name``."""
    defer_days: int = DEFAULT_DEFER_DAYS
    signer_name: str | None = None
    """Who signed the 容缺 commitments; the applicant when None."""
    agent: str | None = None
    note: str | None = None


class CommitmentResult(msgspec.Struct, frozen=True):
    material: str
    due_date: dt.date
    provisional: bool


class CaseResult(msgspec.Struct, frozen=True):
    case_no: str
    item_code: str
    due_date: dt.date | None
    provisional: bool


class IntakeResult(msgspec.Struct, frozen=True):
    """What an intake created. ``number`` is the case number, or the bundle's number for a bundle."""

    number: str
    bundle_code: str | None
    cases: tuple[CaseResult, ...]
    commitments: tuple[CommitmentResult, ...]


def _clean_name(name: str, *, field: str = "name", label_zh: str = "申请人姓名") -> str:
    # Runs of spaces, tabs and line breaks become one space; any other control character (an
    # escape sequence, a direction override) is refused, not silently dropped (sync.text).
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InputError(zh=f"{label_zh}不能为空", en=f"the {field} is empty", field=field, code=f"{field}.empty")
    return check_text(field, cleaned, label_zh=label_zh)


def _clean_agent(value: str | None) -> str | None:
    """An agent's name (``--agent``, ``--by``): bounded, no control characters; None stays None."""
    return None if value is None else check_text("agent", value.strip(), label_zh="代办员姓名")


def _clean_note(text: str | None) -> str | None:
    """A note as stored: line breaks kept (CR LF as LF), bounded, no other control characters."""
    if text is None:
        return None
    return check_text("note", text.replace("\r\n", "\n").strip(), multiline=True, label_zh="备注")


def _next_number(station: Station, day: dt.date) -> str:
    key = day.isoformat()
    (last,) = station.db.execute(
        "INSERT INTO counters (day, last) VALUES (?, 1) ON CONFLICT(day) DO UPDATE SET last = last + 1 RETURNING last",
        [key],
    ).fetchone()
    # Village code + device letter make the number unique county-wide without asking anyone.
    return f"{station.village_code}-{day:%Y%m%d}-{station.device}{last:03d}"


def new_intake(station: Station, request: NewIntake) -> IntakeResult:
    """Record an intake: validate everything first, then write it all in one transaction.

    Raises:
        IdNumberError, InputError, IntakeError, NotFoundError: bad input; nothing is written.
    """
    name = _clean_name(request.applicant_name)
    resident = validate_id_number(request.id_number, today=station.today())
    phone = validate_phone(request.phone)
    if not 1 <= request.defer_days <= 60:
        raise InputError(
            zh=f"容缺承诺期限应为 1 至 60 个工作日，而不是 {request.defer_days}",
            en=f"a 容缺 commitment runs 1 to 60 working days, not {request.defer_days}",
            field="defer_days",
        )
    catalog = station.catalog
    plan = plan_intake(
        catalog, item=request.item, bundle=request.bundle, presented=request.materials, deferred=request.deferred
    )
    signer = (
        _clean_name(request.signer_name, field="signer_name", label_zh="承诺人姓名") if request.signer_name else name
    )
    agent = _clean_agent(request.agent) if request.agent is not None else station.agent_name
    note = _clean_note(request.note)

    with recording(station.db, station.now, station.station_id) as rec:
        received_at = rec.now_iso
        day = business_date(rec.now)
        first = _next_number(station, day)
        intake_id = first
        case_nos = [first] if plan.bundle_code is None else [_next_number(station, day) for _ in plan.cases]
        rec.insert(
            "intakes",
            {
                "intake_id": intake_id,
                "bundle_code": plan.bundle_code,
                "village_code": station.village_code,
                "received_at": received_at,
                "received_date": day.isoformat(),
                "agent": agent,
                "catalog_version": catalog.version,
            },
        )
        publish_query_key(station, rec)  # once: the key the receipt's query code is derived from
        for material in plan.materials:
            rec.insert(
                "intake_materials",
                {
                    "material_id": f"{intake_id}/{material.name_zh}",
                    "intake_id": intake_id,
                    "name_zh": material.name_zh,
                    "state": material.state.value,
                    "updated_at": received_at,
                },
            )
        commitments = []
        for material_name in plan.deferred:
            due = commitment_due(station, day.isoformat(), request.defer_days)
            rec.insert(
                "commitments",
                {
                    "commitment_id": f"{intake_id}/{material_name}",
                    "intake_id": intake_id,
                    "material": material_name,
                    "signer_name": signer,
                    "signed_at": received_at,
                    "due_days": request.defer_days,
                    "due_date": due.date.isoformat(),
                    "due_provisional": int(due.provisional),
                    "status": "open",
                    "closed_at": None,
                },
            )
            commitments.append(CommitmentResult(material_name, due.date, due.provisional))
        cases = []
        for case_no, planned in zip(case_nos, plan.cases):
            item = catalog.item(planned.item_code)
            case_due = (
                None if item.promised_days is None else station.calendar.add_working_days(day, item.promised_days)
            )
            rec.insert(
                "cases",
                {
                    "case_no": case_no,
                    "intake_id": intake_id,
                    "item_code": item.code,
                    "bundle_code": plan.bundle_code,
                    "stage": planned.stage,
                    "status": Status.DRAFT.value,
                    "outcome": None,
                    "applicant_name": name,
                    "id_number": resident.number,
                    "id_hash": station.id_hash(resident.number),
                    "phone": phone,
                    "sex": resident.sex,
                    "birth_date": resident.birth_date.isoformat(),
                    "village_code": station.village_code,
                    "received_at": received_at,
                    "received_date": day.isoformat(),
                    "accepted_date": None,
                    "due_date": case_due.date.isoformat() if case_due else None,
                    "due_provisional": int(case_due.provisional) if case_due else 0,
                    "catalog_version": catalog.version,
                    "updated_at": received_at,
                },
            )
            check_transition(Status.DRAFT, Status.RECEIVED, Actor.STATION)
            rec.status(
                case_no=case_no,
                from_status=Status.DRAFT.value,
                to_status=Status.RECEIVED.value,
                actor=Actor.STATION.value,
                by=agent or None,
            )
            if note:
                _insert_note(rec, case_no, note, agent)
            cases.append(
                CaseResult(
                    case_no, item.code, case_due.date if case_due else None, bool(case_due and case_due.provisional)
                )
            )
    return IntakeResult(
        number=intake_id, bundle_code=plan.bundle_code, cases=tuple(cases), commitments=tuple(commitments)
    )


# -- the station's moves on an existing case ------------------------------------------------------


def case_row(station: Station, case_no: str) -> dict[str, Any]:
    """The case's row as a dict; NotFoundError (exit 2 at the CLI) when there is none."""
    cursor = station.db.execute("SELECT * FROM cases WHERE case_no = ?", [case_no.strip()])
    row = cursor.fetchone()
    if row is None:
        raise NotFoundError(
            zh=f"本站没有编号为 {case_no!r} 的办件；可用“station case list --search”查找",
            en=f"no case numbered {case_no!r} at this station; find it with 'station case list --search'",
            field="case_no",
            code="case.not_found",
        )
    return dict(zip([d[0] for d in cursor.description], row))


def _insert_note(rec: ChangeRecorder, case_no: str, text: str, author: str | None) -> None:
    rec.insert(
        "case_notes",
        {
            "note_id": f"{rec.origin}:{rec.clock.tick(int(rec.now.timestamp() * 1000))}",
            "case_no": case_no,
            "at": rec.now_iso,
            "author": author or "",
            "text": text,
        },
    )


def _move(station: Station, rec: ChangeRecorder, case: dict[str, Any], target: Status, **extra: Any) -> None:
    check_transition(case["status"], target, Actor.STATION)
    rec.status(
        case_no=case["case_no"], from_status=case["status"], to_status=target.value, actor=Actor.STATION.value, **extra
    )
    case["status"] = target.value
    refresh_due(station, rec, case)


def deliver(station: Station, case_no: str, *, by: str | None = None, note: str | None = None) -> str:
    """Record that the county's result was handed to the applicant (COMPLETED → DELIVERED).

    A result is held while the intake has open 容缺 commitments (先办后补: the certificate is
    issued only after the promised materials arrive).
    """
    by, note = _clean_agent(by), _clean_note(note)
    case = case_row(station, case_no)
    check_transition(case["status"], Status.DELIVERED, Actor.STATION)
    open_materials = [
        material
        for (material,) in station.db.execute(
            "SELECT material FROM commitments WHERE intake_id = ? AND status = 'open' ORDER BY material",
            [case["intake_id"]],
        )
    ]
    if open_materials:
        listed = "、".join(open_materials)
        raise IntakeError(
            zh=f"容缺材料尚未补齐，结果暂不送达：{listed}；补交后用“station case update 办件编号 supply --material 材料名”登记",
            en=f"the result is held until the promised materials are supplied: {listed}; "
            "record them with 'station case update CASE supply --material NAME'",
            field="commitments",
            code="deliver.commitments_open",
        )
    with recording(station.db, station.now, station.station_id) as rec:
        _move(station, rec, case, Status.DELIVERED, by=by or station.agent_name or None)
        if note:
            _insert_note(rec, case["case_no"], note, by or station.agent_name)
    return case["status"]


def withdraw(station: Station, case_no: str, *, reason: str, by: str | None = None) -> str:
    """The applicant withdraws the application before the decision (→ WITHDRAWN), with a reason."""
    if not reason or not reason.strip():
        raise InputError(
            zh="撤回须填写申请人的撤回理由（--reason）",
            en="a withdrawal needs the applicant's reason (--reason)",
            field="reason",
        )
    reason = check_text("reason", reason.strip(), label_zh="撤回理由")
    by = _clean_agent(by)
    case = case_row(station, case_no)
    with recording(station.db, station.now, station.station_id) as rec:
        _move(station, rec, case, Status.WITHDRAWN, by=by or station.agent_name or None, reason=reason)
    return case["status"]


def _check_supply(
    station: Station, case: dict[str, Any], materials: Sequence[str], requested: Sequence[str] = ()
) -> dict[str, str]:
    """Validate materials handed in after intake; returns {name: current state} of the intake's materials.

    ``requested`` are the materials a correction notice asks for: each is accepted even when it is
    not one of the intake's, or was received at intake already (the reviewer wants it again).
    """
    if case["status"] in (Status.DELIVERED, Status.WITHDRAWN, Status.NOT_ACCEPTED):
        raise InputError(
            zh=f"办件 {case['case_no']} 已结束（{status_label(case['status'])}），不能再补交材料",
            en=f"case {case['case_no']} is closed ({case['status']}); materials can no longer be added",
            field="status",
        )
    rows = dict(
        station.db.execute(
            "SELECT name_zh, state FROM intake_materials WHERE intake_id = ?", [case["intake_id"]]
        ).fetchall()
    )
    unknown = [printable(n) for n in materials if n not in rows and n not in requested]  # echoed: plain text only
    already = [
        n for n in materials if rows.get(n) in (MaterialState.PRESENTED, MaterialState.SUPPLIED) and n not in requested
    ]
    if unknown or already:
        pending = "、".join(n for n, s in rows.items() if s in (MaterialState.DEFERRED, MaterialState.NOT_PROVIDED))
        asked = "、".join(printable(n) for n in requested)
        raise IntakeError(
            zh=(f"不是本办件的材料：{'、'.join(unknown)}。" if unknown else "")
            + (f"已收取过：{'、'.join(already)}。" if already else "")
            + (f"补正通知所列材料：{asked}。" if asked else "")
            + f"尚缺材料：{pending or '无'}",
            en=(f"not a material of this case: {', '.join(unknown)}. " if unknown else "")
            + (f"already received: {', '.join(already)}. " if already else "")
            + (f"The correction notice asks for: {asked.replace('、', ', ')}. " if asked else "")
            + f"Still outstanding: {pending or 'none'}",
            field="material",
            code="supply.material",
        )
    return rows


_RECEIVED_ALREADY = (MaterialState.PRESENTED, MaterialState.SUPPLIED)


def _apply_supply(
    rec: ChangeRecorder, case: dict[str, Any], materials: Sequence[str], rows: dict[str, str]
) -> list[str]:
    closed = []
    for name in materials:
        if name not in rows or rows[name] in _RECEIVED_ALREADY:
            continue  # asked for by a correction notice only, or handed in again: the move's reason names it
        deferred = rows[name] == MaterialState.DEFERRED
        state = MaterialState.SUPPLIED if deferred else MaterialState.PRESENTED
        rec.update("intake_materials", f"{case['intake_id']}/{name}", {"state": state.value, "updated_at": rec.now_iso})
        if deferred:
            rec.update("commitments", f"{case['intake_id']}/{name}", {"status": "fulfilled", "closed_at": rec.now_iso})
            closed.append(name)
    return closed


def supply_material(station: Station, case_no: str, materials: Sequence[str], *, by: str | None = None) -> list[str]:
    """Record materials handed in after intake; a deferred one fulfils its 容缺 commitment.

    Returns the materials whose commitment this closed.
    """
    by = _clean_agent(by)
    case = case_row(station, case_no)
    names = [m.strip() for m in materials if m.strip()]
    if not names:
        raise InputError(
            zh="请指明补交的材料（--material）", en="name the material(s) supplied (--material)", field="material"
        )
    rows = _check_supply(station, case, names)
    with recording(station.db, station.now, station.station_id) as rec:
        closed = _apply_supply(rec, case, names, rows)
        _insert_note(rec, case["case_no"], "补交材料：" + "、".join(names), by or station.agent_name)
    return closed


_CORRECTABLE = (Status.RECEIVED, Status.AWAITING_CORRECTION)

HANDED_IN = "补正材料已提交"
"""The reason of the move that hands a requested correction back in; the materials follow it."""


def requested_materials(station: Station, case_no: str) -> list[str]:
    """The materials the case's correction notice asks for ([] unless it awaits a correction).

    The newest notice counts: it is the one the applicant was given (sync.notice writes its list).
    """
    return _requested(station, case_row(station, case_no))


def _requested(station: Station, case: dict[str, Any]) -> list[str]:
    if case["status"] != Status.AWAITING_CORRECTION:
        return []
    row = station.db.execute(
        "SELECT reason FROM case_events WHERE case_no = ? AND to_status = ? ORDER BY hlc DESC LIMIT 1",
        [case["case_no"], Status.AWAITING_CORRECTION.value],
    ).fetchone()
    return notice_materials(row[0] if row else None)


def _changed_fields(
    station: Station, case: dict[str, Any], name: str | None, phone: str | None, id_number: str | None
) -> dict[str, Any]:
    """The applicant fields that differ from what is recorded (an unchanged value is no correction)."""
    fields: dict[str, Any] = {}
    if name is not None and (cleaned := _clean_name(name)) != case["applicant_name"]:
        fields["applicant_name"] = cleaned
    if phone is not None and (number := validate_phone(phone)) != case["phone"]:
        fields["phone"] = number
    if id_number is not None:
        resident = validate_id_number(id_number, today=station.today())
        if resident.number != case["id_number"]:
            fields.update(id_number=resident.number, sex=resident.sex, birth_date=resident.birth_date.isoformat())
    return fields


def _check_something_handed_in(
    case: dict[str, Any], names: Sequence[str], fields: dict[str, Any], requested: Sequence[str]
) -> None:
    """A correction changes something: an empty one must not send the case back to the reviewer."""
    if names or fields:
        return
    asked = "、".join(printable(n) for n in requested)
    awaiting = case["status"] == Status.AWAITING_CORRECTION
    raise InputError(
        zh="没有交来或改正任何内容，未提交："
        + (f"补正通知要求补交 {asked}，请指明申请人本次交来的材料（--material，可重复）" if asked else "")
        + ("，或" if asked else "请指明申请人交来的材料（--material），或")
        + "改正申请人信息（--name、--phone、--id-number）"
        + ("；什么都没交来时办件仍为“待补正”" if awaiting else ""),
        en="nothing handed in or corrected, so nothing was submitted: "
        + (f"the correction notice asks for {asked.replace('、', ', ')}; " if asked else "")
        + "name the materials the applicant handed in now (--material, repeatable) or correct the applicant's "
        "details (--name, --phone, --id-number)"
        + ("; while nothing is handed in the case stays awaiting correction" if awaiting else ""),
        field="material",
        code="correct.nothing",
    )


def _handed_in_reason(names: Sequence[str], requested: Sequence[str]) -> str:
    """``补正材料已提交：A、B；仍缺：C``; the bare words when that would pass the reason's limit."""
    if not names:
        return HANDED_IN
    still = [n for n in requested if n not in names]
    text = f"{HANDED_IN}：{'、'.join(names)}" + (f"；仍缺：{'、'.join(still)}" if still else "")
    return text if len(text) <= text_limit("reason") else HANDED_IN


def correct_intake(
    station: Station,
    case_no: str,
    *,
    name: str | None = None,
    phone: str | None = None,
    id_number: str | None = None,
    materials: Sequence[str] = (),
    by: str | None = None,
) -> str:
    """Correct what was recorded at intake, and hand a requested correction back in.

    Applicant fields change on every case of the intake that can still be corrected (a bundle's
    members share the applicant). A case awaiting correction then goes back to the reviewer:
    to RECEIVED if it was never accepted (acceptance restarts from the day the correction
    arrived), else to IN_PROGRESS (the paused clock resumes). The materials the notice asks for
    are accepted even when received at intake already (handed in again). A correction that hands
    in nothing and changes nothing is refused (InputError ``correct.nothing``): a case is never
    sent back to the reviewer empty-handed.
    Returns the case's new status.
    """
    by = _clean_agent(by)
    case = case_row(station, case_no)
    if case["status"] not in _CORRECTABLE:
        raise InputError(
            zh=f"办件 {case['case_no']} 当前为“{status_label(case['status'])}”，只有“已收件”或“待补正”时才能更正收件信息",
            en=f"case {case['case_no']} is {case['status']}: intake can be corrected only while it is "
            "RECEIVED or AWAITING_CORRECTION",
            field="status",
            code="correct.not_allowed",
        )
    fields = _changed_fields(station, case, name, phone, id_number)
    siblings = [
        row[0]
        for row in station.db.execute(
            "SELECT case_no FROM cases WHERE intake_id = ? AND status IN (?, ?) ORDER BY case_no",
            [case["intake_id"], *(s.value for s in _CORRECTABLE)],
        )
    ]
    names = list(dict.fromkeys(m.strip() for m in materials if m.strip()))
    requested = _requested(station, case)
    _check_something_handed_in(case, names, fields, requested)
    rows = _check_supply(station, case, names, requested) if names else {}
    with recording(station.db, station.now, station.station_id) as rec:
        if names:
            _apply_supply(rec, case, names, rows)
        if fields:
            for sibling in siblings:
                rec.update("cases", sibling, {**fields, "updated_at": rec.now_iso})
                if "id_number" in fields:
                    rec.local_update("cases", sibling, {"id_hash": station.id_hash(fields["id_number"])})
        if case["status"] == Status.AWAITING_CORRECTION:
            target = Status.RECEIVED if case["accepted_date"] is None else Status.IN_PROGRESS
            reason = _handed_in_reason(names, requested)
            _move(station, rec, case, target, by=by or station.agent_name or None, reason=reason)
            if reason == HANDED_IN and names:  # the list did not fit the reason: keep it as a note
                _insert_note(rec, case["case_no"], f"{HANDED_IN}：{'、'.join(names)}", by or station.agent_name)
    return case["status"]


def add_note(station: Station, case_no: str, text: str, *, by: str | None = None) -> None:
    """Add a free-text note to a case. Notes must not hold ID numbers (brief §9)."""
    text = _clean_note(text) or ""
    by = _clean_agent(by)
    case = case_row(station, case_no)
    if not text:
        raise InputError(zh="备注为空", en="the note is empty", field="note")
    with recording(station.db, station.now, station.station_id) as rec:
        # Without --by the note is the agent's at this PC (station agent set-name), as every other change is.
        _insert_note(rec, case["case_no"], text, by or station.agent_name)
