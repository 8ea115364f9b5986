"""Reading the case book: filtered lists with personal data masked, case and bundle detail, commitments."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

from station.ratings import RatingView, query_code_of, ratings_of
from station.store import Station
from station.syncstate import ConflictView, ReceiptView, Refusal, RejectionView, case_sync, refused_cases
from sync.errors import InputError, NotFoundError
from sync.idnumber import normalize_id_number, validate_id_number
from sync.levels import holding_level
from sync.lifecycle import CLOCK_PAUSED, Status, bundle_status
from sync.personal import mask_id_number, mask_phone

__all__ = (
    "ACTIVE_STATUSES",
    "BundleDetail",
    "CaseDetail",
    "CaseFilter",
    "CaseSummary",
    "CommitmentView",
    "DueMoveView",
    "OpinionView",
    "case_for_entity",
    "case_heading",
    "case_outcome",
    "correction_reason",
    "get_bundle",
    "get_case",
    "intake_agent",
    "list_cases",
    "list_commitments",
    "opinions_of",
    "outstanding_materials",
)

ACTIVE_STATUSES = (
    Status.RECEIVED,
    Status.ACCEPTED,
    Status.AWAITING_CORRECTION,
    Status.IN_PROGRESS,
    Status.SPECIAL_PROCEDURE,
    Status.SUSPENDED,
)
"""States whose clock can run out: the ones a due-soon or overdue filter looks at."""

Sort = Literal["received", "due", "case_no"]


class CaseFilter(msgspec.Struct, kw_only=True):
    """What ``list_cases`` selects. Every field narrows the list; the defaults select everything."""

    statuses: list[str] = []
    item: str | None = None
    text: str | None = None
    """A name fragment, a case-number fragment, or a whole ID number (matched exactly, by keyed hash)."""
    due_within: int | None = None
    """Active cases due within this many working days from today (0 = due today), overdue excluded."""
    overdue: bool = False
    sort: Sort | None = None
    """None: soonest due first when filtering by due date (what an agent works through), else newest first."""
    limit: int = 50
    offset: int = 0


class CaseSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a case list: ID and phone masked."""

    case_no: str
    intake_id: str
    bundle_code: str | None
    item_code: str
    item_name: str
    status: str
    applicant_name: str
    id_number_masked: str
    phone_masked: str
    received_at: str
    due_date: str | None
    due_provisional: bool
    days_left: int | None
    """Working days until due (0 = due today, negative = overdue); None when no clock runs."""
    overdue: bool
    refused: bool = False
    """The county refused to file the case (station.syncstate.refused_cases): it is not at the county."""
    level: str | None = None
    """Who holds the case now (sync.levels.Level: village, township, township_initial, county); None once closed."""


class MaterialView(msgspec.Struct, frozen=True):
    name_zh: str
    state: str


class CommitmentView(msgspec.Struct, frozen=True, kw_only=True):
    commitment_id: str
    intake_id: str
    material: str
    signer_name: str
    signed_at: str
    due_date: str
    due_provisional: bool
    status: str
    closed_at: str | None
    overdue: bool


class EventView(msgspec.Struct, frozen=True, kw_only=True):
    from_status: str
    to_status: str
    actor: str
    by: str | None
    at: str
    reason: str | None
    outcome: str | None


class DueMoveView(msgspec.Struct, frozen=True, kw_only=True):
    """A due date a published calendar year moved: the case's own, or (with ``material``) one of its
    intake's 容缺 commitments'. :func:`sync.deadlines.due_move_text` words it."""

    at: str
    old_due: str | None
    new_due: str | None
    year: int
    version: int
    material: str | None = None


class NoteView(msgspec.Struct, frozen=True):
    at: str
    author: str
    text: str


class OpinionView(msgspec.Struct, frozen=True, kw_only=True):
    """A department asked to join the case's parallel review (并联审批), as the hub last said: no names."""

    department: str
    name_zh: str
    name_en: str
    opinion: str | None
    """``consent``, ``object``, ``deemed_consent`` (缺席默认: the system's, at the due date); None: not
    answered yet, the department holds the case."""
    requested_at: str
    due_date: str
    answered_at: str | None


def opinions_of(station: Station, case_no: str) -> list[OpinionView]:
    """The departments asked about the case, in the order asked."""
    return [
        OpinionView(
            department=row[0],
            name_zh=row[1],
            name_en=row[2],
            opinion=row[3],
            requested_at=row[4],
            due_date=row[5],
            answered_at=row[6],
        )
        for row in station.db.execute(
            "SELECT department, name_zh, name_en, opinion, requested_at, due_date, answered_at FROM joint_opinions "
            "WHERE case_no = ? ORDER BY requested_at, department",
            [case_no],
        )
    ]


class CaseDetail(msgspec.Struct, frozen=True, kw_only=True):
    """Everything about one case, with full personal data: only for the handling agent's screen."""

    summary: CaseSummary
    applicant_name: str
    id_number: str
    phone: str
    sex: str
    birth_date: str
    outcome: str | None
    accepted_date: str | None
    catalog_version: int
    materials: list[MaterialView]
    commitments: list[CommitmentView]
    history: list[EventView]
    notes: list[NoteView]
    sync_state: str
    """"saved" (some change only here), "sealed" (in change sets, not all acknowledged yet),
    "acknowledged" (the hub's signed receipt holds for every set carrying the case's changes)."""
    receipts: list[ReceiptView] = []
    """The hub's receipts for the sets carrying the case's changes: proof of filing."""
    rejections: list[RejectionView] = []
    """Changes of ours the hub kept but did not apply, with its reason."""
    conflicts: list[ConflictView] = []
    """Values that lost a merge, with the one kept."""
    refusal: Refusal | None = None
    """Why the county refused to file the case (``summary.refused``), or None."""
    due_moves: list[DueMoveView] = []
    """Due dates a published calendar year moved (the case's and its commitments'), oldest first."""
    query_code: str | None = None
    """The intake's progress-query code (printed on the receipt beside the case number; sync.ratings)."""
    ratings: list[RatingView] = []
    """The applicant's rating of this case (and of its bundle overall), once delivered (好差评)."""
    opinions: list[OpinionView] = []
    """Parallel review (并联审批): the departments the lead asked, and each one's opinion as the hub sent it."""


class BundleDetail(msgspec.Struct, frozen=True, kw_only=True):
    intake_id: str
    bundle_code: str
    bundle_name: str
    status: str
    members: list[CaseSummary]
    materials: list[MaterialView]
    commitments: list[CommitmentView]
    query_code: str | None = None
    ratings: list[RatingView] = []


_SUMMARY_SQL = (
    "SELECT case_no, intake_id, bundle_code, item_code, status, applicant_name, id_number, phone, "
    "received_at, due_date, due_provisional FROM cases"
)


def _summary(station: Station, row: tuple[Any, ...], today: dt.date, refused: Any = frozenset()) -> CaseSummary:
    (case_no, intake_id, bundle_code, item_code, status, name, id_number, phone, received_at, due, provisional) = row
    days_left = None
    overdue = False
    if due and status in ACTIVE_STATUSES and status not in CLOCK_PAUSED:
        days_left = station.calendar.remaining_working_days(today, dt.date.fromisoformat(due))
        overdue = days_left < 0
    try:
        item = station.catalog.item(item_code)
        item_name, approver = item.name_zh, item.approver_level
    except NotFoundError:
        item_name, approver = item_code, "county"
    return CaseSummary(
        case_no=case_no,
        intake_id=intake_id,
        bundle_code=bundle_code,
        item_code=item_code,
        item_name=item_name,
        status=status,
        applicant_name=name,
        id_number_masked=mask_id_number(id_number),
        phone_masked=mask_phone(phone),
        received_at=received_at,
        due_date=due,
        due_provisional=bool(provisional),
        days_left=days_left,
        overdue=overdue,
        refused=case_no in refused,
        level=_level(station, case_no, status, approver),
    )


def _level(station: Station, case_no: str, status: str, approver: str) -> str | None:
    """The level holding the case, from the item's approver level and (township_or_county) the
    township's forward in the history the hub sent down (sync.levels)."""
    forwards: list[dict[str, str]] = []
    if approver == "township_or_county" and status not in (Status.DRAFT, Status.COMPLETED):
        found = station.db.execute(
            "SELECT 1 FROM case_events WHERE case_no = ? AND actor = 'township' AND from_status = 'IN_PROGRESS' "
            "AND to_status = 'IN_PROGRESS' LIMIT 1",
            [case_no],
        ).fetchone()
        if found:
            forwards.append({"actor": "township", "from_status": "IN_PROGRESS", "to_status": "IN_PROGRESS"})
    level = holding_level(status, approver, forwards)
    return None if level is None else level.value


def _looks_like_id(text: str) -> str | None:
    candidate = normalize_id_number(text)
    if len(candidate) != 18:
        return None
    try:
        return validate_id_number(candidate).number
    except InputError:
        return None


def list_cases(station: Station, flt: CaseFilter | None = None) -> list[CaseSummary]:
    """Cases matching ``flt``, newest first by default, ID and phone masked."""
    flt = flt or CaseFilter()
    today = station.today()
    where: list[str] = []
    params: list[Any] = []
    if flt.statuses:
        statuses = [Status(s.upper()).value for s in flt.statuses]
        where.append(f"status IN ({', '.join('?' for _ in statuses)})")
        params += statuses
    if flt.item:
        where.append("item_code = ?")
        params.append(flt.item.strip())
    if flt.text and flt.text.strip():
        text = flt.text.strip()
        id_number = _looks_like_id(text)
        if id_number:
            where.append("id_hash = ?")
            params.append(station.id_hash(id_number))
        elif text.isascii():
            # Case numbers are ASCII: a number's head is a range on the primary key; any other
            # fragment scans the numbers only, never the names.
            village = station.village_code
            if village.startswith(text) or text.startswith(village):
                where.append("((case_no >= ? AND case_no < ?) OR (intake_id >= ? AND intake_id < ?))")
                params += [text, text + "\uffff", text, text + "\uffff"]
            else:
                where.append("(case_no LIKE ? OR intake_id LIKE ?)")
                params += [f"%{text}%", f"%{text}%"]
        else:
            where.append("applicant_name LIKE ?")
            params.append(f"%{text}%")
    if flt.overdue or flt.due_within is not None:
        running = [s.value for s in ACTIVE_STATUSES if s not in CLOCK_PAUSED]
        where.append(f"status IN ({', '.join('?' for _ in running)}) AND due_date IS NOT NULL")
        params += running
        if flt.overdue:
            where.append("due_date < ?")
            params.append(today.isoformat())
        if flt.due_within is not None:
            if flt.due_within < 0:
                raise InputError(
                    zh="--due-within 应为 0 或正数", en="--due-within takes 0 or more working days", field="due_within"
                )
            horizon = station.calendar.add_working_days(today, flt.due_within).date
            where.append("due_date >= ? AND due_date <= ?")
            params += [today.isoformat(), horizon.isoformat()]
    dated = flt.overdue or flt.due_within is not None
    order = {
        "received": "received_at DESC, case_no DESC",
        # Undated cases last; when the filter already drops them, the plain order lets SQLite walk
        # the due-date index and stop after `limit` rows (24 ms -> under 1 ms at 50,000 cases).
        "due": "due_date, case_no" if dated else "due_date IS NULL, due_date, case_no",
        "case_no": "case_no",
    }[flt.sort or ("due" if dated else "received")]
    sql = _SUMMARY_SQL + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY {order} LIMIT ? OFFSET ?"
    rows = station.db.execute(sql, [*params, max(flt.limit, 0), max(flt.offset, 0)]).fetchall()
    refused = refused_cases(station) if rows else {}
    return [_summary(station, row, today, refused) for row in rows]


def _commitments(station: Station, intake_id: str, today: dt.date) -> list[CommitmentView]:
    cursor = station.db.execute(
        "SELECT commitment_id, intake_id, material, signer_name, signed_at, due_date, due_provisional, status,"
        " closed_at FROM commitments WHERE intake_id = ? ORDER BY material",
        [intake_id],
    )
    return [_commitment(row, today) for row in cursor.fetchall()]


def _commitment(row: tuple[Any, ...], today: dt.date) -> CommitmentView:
    commitment_id, intake_id, material, signer, signed_at, due, provisional, status, closed_at = row
    return CommitmentView(
        commitment_id=commitment_id,
        intake_id=intake_id,
        material=material,
        signer_name=signer,
        signed_at=signed_at,
        due_date=due,
        due_provisional=bool(provisional),
        status=status,
        closed_at=closed_at,
        overdue=status == "open" and due < today.isoformat(),
    )


def _materials(
    station: Station, intake_id: str, item_code: str | None, catalog_version: int, bundle_code: str | None = None
) -> list[MaterialView]:
    rows = dict(
        station.db.execute("SELECT name_zh, state FROM intake_materials WHERE intake_id = ?", [intake_id]).fetchall()
    )
    if item_code is None:
        return [MaterialView(name, state) for name, state in rows.items()]
    # A bundle's materials are recorded once; each member case shows the ones its item asks for.
    # A member's material that the bundle's shared one satisfies (Bundle.satisfied_by) shows that one's state.
    catalog = station.catalog_version(catalog_version)
    item = catalog.item(item_code)
    bundle = (
        catalog.bundle(bundle_code) if bundle_code and any(b.code == bundle_code for b in catalog.bundles) else None
    )
    views = []
    for material in item.materials:
        name = material.name_zh if bundle is None else bundle.recorded_as(item_code, material.name_zh)
        if material.name_zh in rows:
            views.append(MaterialView(material.name_zh, rows[material.name_zh]))
        elif name in rows:
            views.append(MaterialView(material.name_zh, rows[name]))
    return views


def get_case(station: Station, case_no: str) -> CaseDetail:
    """Full detail of one case; NotFoundError when there is none."""
    today = station.today()
    number = case_no.strip()
    row = station.db.execute(_SUMMARY_SQL + " WHERE case_no = ?", [number]).fetchone()
    if row is None:
        raise NotFoundError(
            zh=f"本站没有编号为 {number!r} 的办件",
            en=f"no case numbered {number!r} at this station",
            field="case_no",
            code="case.not_found",
        )
    refused = refused_cases(station)
    summary = _summary(station, row, today, refused)
    name, id_number, phone, sex, birth, outcome, accepted, version = station.db.execute(
        "SELECT applicant_name, id_number, phone, sex, birth_date, outcome, accepted_date, catalog_version "
        "FROM cases WHERE case_no = ?",
        [number],
    ).fetchone()
    history = [
        EventView(from_status=f, to_status=t, actor=a, by=b, at=at, reason=r, outcome=o)
        for f, t, a, b, at, r, o in station.db.execute(
            "SELECT from_status, to_status, actor, by, at, reason, outcome FROM case_events "
            "WHERE case_no = ? ORDER BY hlc",
            [number],
        )
    ]
    notes = [
        NoteView(at, author, text)
        for at, author, text in station.db.execute(
            "SELECT at, author, text FROM case_notes WHERE case_no = ? ORDER BY at, note_id", [number]
        )
    ]
    sync = case_sync(station, number, summary.intake_id)
    due_moves = [
        DueMoveView(at=at, old_due=old, new_due=new, year=year, version=version, material=material)
        for at, old, new, year, version, material in station.db.execute(
            "SELECT m.at, m.old_due, m.new_due, m.year, m.version, c.material FROM due_moves m "
            "LEFT JOIN commitments c ON m.kind = 'commitment' AND c.commitment_id = m.subject "
            "WHERE (m.kind = 'case' AND m.subject = ?) OR (m.kind = 'commitment' AND m.intake_id = ?) ORDER BY m.id",
            [number, summary.intake_id],
        )
    ]
    return CaseDetail(
        summary=summary,
        applicant_name=name,
        id_number=id_number,
        phone=phone,
        sex=sex,
        birth_date=birth,
        outcome=outcome,
        accepted_date=accepted,
        catalog_version=version,
        materials=_materials(station, summary.intake_id, summary.item_code, version, summary.bundle_code),
        commitments=_commitments(station, summary.intake_id, today),
        history=history,
        notes=notes,
        sync_state=sync.state,
        receipts=sync.receipts,
        rejections=sync.rejections,
        conflicts=sync.conflicts,
        refusal=refused.get(number),
        due_moves=due_moves,
        query_code=query_code_of(station, summary.intake_id),
        ratings=ratings_of(station, summary.intake_id, number),
        opinions=opinions_of(station, number),
    )


def get_bundle(station: Station, intake_id: str) -> BundleDetail:
    """A bundle intake by its number: members in order, derived status, shared materials."""
    number = intake_id.strip()
    row = station.db.execute("SELECT bundle_code FROM intakes WHERE intake_id = ?", [number]).fetchone()
    if row is None or row[0] is None:
        raise NotFoundError(
            zh=f"本站没有编号为 {number!r} 的一件事",
            en=f"no bundle numbered {number!r} at this station",
            field="case_no",
            code="case.not_found",
        )
    today = station.today()
    refused = refused_cases(station)
    members = [
        _summary(station, r, today, refused)
        for r in station.db.execute(_SUMMARY_SQL + " WHERE intake_id = ? ORDER BY stage, case_no", [number])
    ]
    bundle = station.catalog.bundle(row[0])
    return BundleDetail(
        intake_id=number,
        bundle_code=bundle.code,
        bundle_name=bundle.name_zh,
        status=bundle_status(m.status for m in members).value,
        members=members,
        materials=_materials(station, number, None, 0),
        commitments=_commitments(station, number, today),
        query_code=query_code_of(station, number),
        ratings=ratings_of(station, number),
    )


def is_bundle_number(station: Station, number: str) -> bool:
    """True when ``number`` names a bundle intake rather than a case."""
    row = station.db.execute(
        "SELECT bundle_code FROM intakes WHERE intake_id = ? AND intake_id NOT IN (SELECT case_no FROM cases)",
        [number.strip()],
    ).fetchone()
    return row is not None and row[0] is not None


def intake_agent(station: Station, intake_id: str) -> str | None:
    """The proxy agent who took in ``intake_id`` (what its receipt prints), None when none was named."""
    row = station.db.execute("SELECT agent FROM intakes WHERE intake_id = ?", [intake_id]).fetchone()
    return row[0] if row else None


def list_commitments(station: Station, *, overdue_only: bool = False, open_only: bool = True) -> list[CommitmentView]:
    """容缺 commitments, soonest due first; ``overdue_only`` keeps the open ones past their date."""
    today = station.today()
    where = []
    params: list[Any] = []
    if open_only or overdue_only:
        where.append("status = 'open'")
    if overdue_only:
        where.append("due_date < ?")
        params.append(today.isoformat())
    cursor = station.db.execute(
        "SELECT commitment_id, intake_id, material, signer_name, signed_at, due_date, due_provisional, status,"
        " closed_at FROM commitments" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY due_date",
        params,
    )
    return [_commitment(row, today) for row in cursor.fetchall()]


def case_for_entity(station: Station, entity_id: str) -> str | None:
    """The case a replicated row belongs to: the case itself, or the first case of its intake."""
    if station.db.execute("SELECT 1 FROM cases WHERE case_no = ?", [entity_id]).fetchone():
        return entity_id
    intake_id = entity_id.split("/", 1)[0]
    row = station.db.execute(
        "SELECT case_no FROM cases WHERE intake_id = ? ORDER BY stage, case_no LIMIT 1", [intake_id]
    ).fetchone()
    return row[0] if row else None


def case_heading(station: Station, case_no: str) -> tuple[str, str]:
    """A case's applicant name and item code, for a one-line mention (KeyError when there is no such case)."""
    row = station.db.execute("SELECT applicant_name, item_code FROM cases WHERE case_no = ?", [case_no]).fetchone()
    if row is None:
        raise KeyError(case_no)
    return row[0], row[1]


def case_outcome(station: Station, case_no: str) -> str | None:
    """The outcome recorded on a case (None until one is; KeyError when there is no such case)."""
    row = station.db.execute("SELECT outcome FROM cases WHERE case_no = ?", [case_no]).fetchone()
    if row is None:
        raise KeyError(case_no)
    return row[0]


def correction_reason(station: Station, case_no: str) -> str | None:
    """The reason of the newest correction notice (补正通知) on a case."""
    row = station.db.execute(
        "SELECT reason FROM case_events WHERE case_no = ? AND to_status = ? ORDER BY hlc DESC LIMIT 1",
        [case_no, Status.AWAITING_CORRECTION.value],
    ).fetchone()
    return row[0] if row else None


def outstanding_materials(station: Station, intake_id: str) -> list[tuple[str, str]]:
    """Materials of an intake not yet received: (name, state) with state deferred or not_provided."""
    return [
        (name, state)
        for name, state in station.db.execute(
            "SELECT name_zh, state FROM intake_materials WHERE intake_id = ? AND state IN ('deferred', 'not_provided') "
            "ORDER BY rowid",
            [intake_id],
        )
    ]
