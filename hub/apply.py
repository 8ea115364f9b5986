"""Applying one change at the hub with the merge rules of sync.merge: keys and villages, columns, versions, lifecycle."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from typing import Any, Literal

import msgspec

from hub.deadlines import commitment_due, compute_due, due_fields
from hub.keys import id_lookup_hash
from hub.ratings import after_rating, rating_problem
from hub.store import HubStoreProtocol
from sync.changes import RowChange, StatusChange
from sync.deadlines import paused_spans
from sync.errors import ProxyAppError
from sync.i18n import label
from sync.ids import Minter, event_minter, intake_of_key, parse_case_number, row_minter
from sync.lifecycle import Actor, Status
from sync.merge import Rejection, RowDecision, decide_row, decide_status, decode_versions, encode_versions, version_of
from sync.ratings import FIRST_STANDS
from sync.scans import MAX_PAGE_BYTES, PAGE_FORMATS
from sync.tables import BY_NAME
from sync.timeutil import business_date, iso_utc, parse_iso
from sync.workdays import WorkCalendar

__all__ = ("Outcome", "SetScope", "apply_row", "apply_status", "decision_days", "status_fields")

# Fields of a case that a station's RowChange may not set even on insert: a new case starts as a
# draft, and everything after moves through StatusChanges (sync.merge allows them on insert).


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What became of one change."""

    result: Literal["applied", "duplicate", "rejected"]
    rejection: Rejection | None = None
    current: dict[str, Any] | None = None
    """For a rejection: the hub's values of the fields the change tried to write (row exists)."""
    case: dict[str, Any] | None = None
    """For an applied status move: the case after it."""
    village_code: str | None = None
    """The village the changed row belongs to (for forwarding)."""
    before: str | None = None
    """For an applied status move: the case's status at the hub before it."""


class SetScope:
    """What the changes of one set share, read once per set instead of once per change.

    Made anew for each run of a set's transaction (a retried one starts afresh). Run with a savepoint per
    change, it caches only what that transaction cannot undo (the calendar, parents found held), never a
    row a change wrote, which a later failure in the change's savepoint could roll back. ``trusted``: the
    set's changes run with no savepoint, and any failure rolls the set's whole transaction back and runs
    the set again with a new scope, so what a change wrote may be remembered too (the intakes and cases it
    inserted).
    """

    def __init__(
        self, store: HubStoreProtocol, minter: Minter | None, origin: str | None = None, *, trusted: bool = False
    ) -> None:
        self.store = store
        self.trusted = trusted
        """Writes of the set's changes stand or fall together (no savepoint per change)."""
        self.minter = minter
        """The set's station's village and device letter (its station row)."""
        self.origin = origin
        """The set's station (None: not known, and its twice-numbered records not checked)."""
        self._numbered_twice: set[tuple[str, str]] | None = None
        self._calendar: WorkCalendar | None = None
        self._parent_villages: dict[tuple[str, str], str] = {}
        self.held: set[tuple[str, str]] = set()
        """(table, key) of parent rows found held in this transaction (intakes, cases: never deleted)."""
        self.moves_ahead: Counter[str] = Counter()
        """Moves of each case still to come in the set (the ingest counts them down as it goes)."""
        self.due_pending: set[str] = set()
        """New cases of the set whose due date waits for a move later in the set (settle_due)."""
        self._stamped: tuple[dt.datetime, str, dt.date] | None = None
        self.rows_held_back: dict[str, dict[str, dict[str, Any]]] = {}
        """New intakes, materials and commitments of the set, by table and key, judged and not yet written: they go in
        together, table by table (hub.apply_together.write_held_back), before anything reads a row."""
        self.cases_held_back: list[tuple[dict[str, Any], dict[str, Any]]] = []
        """New cases moved, with their history lines, that nobody is sent (not case_rows_wanted): written
        with the rows held back, after them."""
        self.received: dict[str, str] = {}
        """received_date of the intakes this set inserted (trusted only; an update of one forgets it): what
        a commitment's due date counts from, without reading the intake back."""
        self.case_rows_wanted = True
        """Whether a moved case's whole row is sent on (its CaseState); the ingest says no for a set of a
        village's only PC whose own moves need no answer (the row as written stands for it then)."""

    def stamp(self, now: dt.datetime) -> tuple[str, dt.date]:
        """``now`` as stored (UTC text) and its China business date, worked out once for the set's rows."""
        if self._stamped is None or self._stamped[0] != now:
            self._stamped = (now, iso_utc(now), business_date(now))
        return self._stamped[1], self._stamped[2]

    def settle_due(self, now: dt.datetime) -> None:
        """At the end of the set: the due date of each new case whose later move did not come to pass."""
        for case_no in sorted(self.due_pending):
            case = self.store.row("cases", case_no)
            if case is not None:
                self.store.update_row("cases", case_no, _due(self.store, case, business_date(now), self.calendar()))
        self.due_pending.clear()

    def calendar(self) -> WorkCalendar:
        """The hub's calendar, read once per set (a publication takes the write lock, so not mid-set)."""
        if self._calendar is None:
            self._calendar = self.store.calendar()
        return self._calendar

    def numbered_twice(self, table: str, key: str) -> bool:
        """Whether the station's record ``key`` of ``table`` (cases, intakes) was refused because the hub
        holds another applicant's record under its number (a fork's branches numbered the same day):
        read once per set, the first time a change asks."""
        if self.origin is None:
            return False
        if self._numbered_twice is None:
            self._numbered_twice = self.store.refused_as_numbered_twice(self.origin)
        return (table, key) in self._numbered_twice

    def mark_numbered_twice(self, table: str, key: str) -> None:
        """A case or intake of the set refused so (its later changes in the set follow it)."""
        self.numbered_twice(table, key)  # reads the station's earlier refusals, once
        if self._numbered_twice is not None:
            self._numbered_twice.add((table, key))

    def parent_village(self, parent: str, key: str) -> str | None:
        """The village of the parent row ``key`` of ``parent`` (intakes or cases), which must be held (else
        LookupError): the one its key names, remembered for the set (a backlog's intake has a few children,
        each judged by it); for a key of no station's form, the one it was stored with, read each time."""
        village = self._parent_villages.get((parent, key))
        if village is not None:
            return village
        if not self.parent_held(parent, key):
            raise LookupError(f"{parent} {key}")
        minter = row_minter(parent, key)
        if minter is None:
            return _key_village(self.store, parent, key)
        self._parent_villages[(parent, key)] = minter.village
        return minter.village

    def parent_held(self, parent: str, key: str) -> bool:
        """Whether the parent row ``key`` of ``parent`` (intakes or cases) is held."""
        if (parent, key) in self.held:
            return True
        store = self.store
        found = store.village_of_intake(key) if parent == "intakes" else store.village_of_case(key)
        if found is not None:
            self.held.add((parent, key))
        return found is not None


def _reject(code: str, *, zh: str, en: str, current: dict[str, Any] | None = None) -> Outcome:
    return Outcome(result="rejected", rejection=Rejection(code, en, zh), current=current)


def status_fields(case: dict[str, Any]) -> dict[str, Any]:
    """The lifecycle fields of a case: what a rejected move is answered with."""
    return {"status": case["status"], "outcome": case["outcome"], "accepted_date": case["accepted_date"]}


def _key_village(store: HubStoreProtocol, table: str, key: str) -> str | None:
    """The village a row's key names; for a parent row held under a key of no station's form (written
    before keys were bound), the village it was stored with."""
    minter = row_minter(table, key)
    if minter is not None:
        return minter.village
    row = store.row(table, key)
    return row["village_code"] if row is not None and "village_code" in row else None


_PARENT_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "cases": (("intakes", "intake_id"),),
    "intake_materials": (("intakes", "intake_id"),),
    "commitments": (("intakes", "intake_id"),),
    "ratings": (("intakes", "intake_id"), ("cases", "case_no")),
    "case_notes": (("cases", "case_no"),),
    "attachments": (("cases", "case_no"),),
}
"""The parent rows (table, and the column naming one) a row of each table belongs to."""


def _villages_touched(
    store: HubStoreProtocol,
    table: str,
    key_village: str | None,
    fields: dict[str, Any],
    existing: dict[str, Any] | None,
    scope: SetScope | None = None,
) -> set[Any]:
    """Every village a row change touches: the one its key names, the one it writes, its parents'.

    A row's village is read from its key, never from the row held: a row another station inserted
    first under this village's number does not make the number that station's (issue 10, item 3).
    """
    villages: set[Any] = {key_village} if key_village else set()
    if table in ("intakes", "cases") and "village_code" in fields:
        villages.add(fields["village_code"])
    for parent, column in _PARENT_COLUMNS.get(table, ()):
        named = fields.get(column)
        held_key = existing[column] if existing else None
        # Each parent the row names before or after the change, once (most changes name one: no set built).
        for key in (named,) if not held_key or held_key == named else (named, held_key):
            if not key:
                continue
            if scope is not None:
                villages.add(scope.parent_village(parent, key))
                continue
            found = store.village_of_intake(key) if parent == "intakes" else store.village_of_case(key)
            if found is None:
                raise LookupError(f"{parent} {key}")
            villages.add(_key_village(store, parent, key))
    return villages


def _check_key(
    store: HubStoreProtocol,
    table: str,
    pk: str,
    fields: dict[str, Any],
    existing: dict[str, Any] | None,
    *,
    origin: str,
    village_code: str,
    insert: bool,
    station_minter: Minter | None = None,
    scope: SetScope | None = None,
) -> Outcome | None:
    """None when a station may make this row change as far as keys go, else its refusal: rows whose key
    (or parent's) names another village, new rows under a number this station (village and device)
    did not mint, keys of no station's form."""
    minter = row_minter(table, pk)
    if minter is not None and minter.village != village_code:
        return _other_village(table, pk)
    if table == "query_keys" and (not insert or pk != origin):
        # A PC sends its own query key once and never changes it: printed codes are derived from it.
        return _foreign_id(table, pk, station_minter or _minter_of_station(store, origin))
    own = (station_minter or _minter_of_station(store, origin)) if existing is None and insert else None
    shared = table in FIRST_STANDS and own is not None and minter is not None and minter.village == own.village
    if existing is None and insert and minter is not None and minter != own and not shared:
        # A station creates rows only under numbers it minted itself: a number of another PC
        # (or village) taken first would make the rightful one's later changes fail.
        return _foreign_id(table, pk, own)
    try:
        villages = _villages_touched(store, table, minter.village if minter else None, fields, existing, scope)
    except LookupError as exc:
        return _reject(
            "row_missing",
            zh=f"{label('table', table)} {pk[:40]}：上级记录 {exc} 不存在",
            en=f"{table} {pk[:40]}: {exc} does not exist here",
        )
    if villages - {village_code}:
        return _other_village(table, pk)
    if minter is None:
        if existing is None and not insert:
            return None  # an update of no row: sync.merge answers row_missing
        return _reject(
            "malformed",
            zh=f"{label('table', table)} {pk[:40]!r} 不是代办点编号的格式",
            en=f"{table} {pk[:40]!r} is not a key a station numbers",
        )
    intake_id = intake_of_key(table, pk)
    if table != "intakes" and intake_id is not None and fields.get("intake_id", intake_id) != intake_id:
        return _reject(
            "malformed",
            zh=f"{label('table', table)} {pk}：所属收件编号与记录编号不符",
            en=f"{table} {pk}: intake_id differs from the key",
        )
    given = fields.get("intake_id")
    if own is not None and table == "cases" and isinstance(given, str) and parse_case_number(given) != own:
        # A new case goes under an intake of the same PC: an intake and its cases are recorded together.
        return _foreign_id(table, pk, own, parent=given)
    return None


def _other_village(table: str, pk: str) -> Outcome:
    # No `current` here: another village's values are not this station's to see (invariant 11).
    return _reject(
        "other_village",
        zh=f"{label('table', table)} {pk[:40]} 属于其他村，本代办点无权修改",
        en=f"{table} {pk[:40]} belongs to another village",
    )


def _foreign_id(table: str, pk: str, own: Minter | None, parent: str | None = None) -> Outcome:
    device = own.device if own else "?"
    key = f"{pk} (intake {parent})" if parent else pk
    key_zh = f"{pk}（收件 {parent}）" if parent else pk
    return _reject(
        "foreign_id",
        zh=f"{label('table', table)} {key_zh} 不是本代办点（设备 {device}）编的号；代办点只能以本机编号新建记录",
        en=f"{table} {key} was not numbered by this station (device {device}); "
        "a station creates rows only under its own numbers",
    )


def _minter_of_station(store: HubStoreProtocol, origin: str) -> Minter | None:
    """The village and device letter the hub enrolled ``origin`` with (its station row)."""
    station = store.station(origin)
    return Minter(station.village_code, station.device) if station is not None else None


def row_problem(store: HubStoreProtocol, change: RowChange, scope: SetScope | None) -> Outcome | None:
    """apply_row's refusals of a change on its own, before its key and versions: a table or columns a
    station does not write, a page or rating that is not one, a record the hub refused as numbered twice."""
    table = change.table
    definition = BY_NAME.get(table)
    if definition is None:
        return _reject("unknown_table", zh=f"{table!r} 不是同步数据表", en=f"{table!r} is not a replicated table")
    pk_column = definition.pk
    fits = definition.replicated.issuperset(change.fields)  # the common case, without building a set
    stray = [] if fits else sorted(change.fields.keys() - definition.replicated)
    if stray or (pk_column in change.fields and change.fields[pk_column] != change.pk):
        what = f"unknown or derived column(s) {', '.join(stray)}" if stray else f"{pk_column} differs from the key"
        what_zh = f"未知或不可写的字段 {'、'.join(stray)}" if stray else "主键字段与记录编号不符"
        return _reject(
            "malformed",
            zh=f"{label('table', table)} {change.pk}：字段无效（{what_zh}）",
            en=f"{table} {change.pk}: {what}",
        )
    if table == "attachments":
        wrong = _attachment_problem(change)
        if wrong is not None:
            return _reject(
                "malformed",
                zh=f"{label('table', table)} {change.pk[:60]}：{wrong[0]}",
                en=f"{table} {change.pk[:60]}: {wrong[1]}",
            )
    if table == "ratings":
        wrong = rating_problem(store, change.pk, change.fields)
        if wrong is not None:
            return _reject(
                "malformed",
                zh=f"{label('table', table)} {change.pk[:60]}：{wrong[0]}",
                en=f"{table} {change.pk[:60]}: {wrong[1]}",
            )
    if scope is not None:
        refused = _numbered_twice(scope, table, change.pk, change.fields)
        if refused is not None:
            return refused
    return None


def apply_row(
    store: HubStoreProtocol,
    change: RowChange,
    *,
    origin: str,
    village_code: str,
    lookup_key: bytes,
    now: dt.datetime,
    station_minter: Minter | None = None,
    scope: SetScope | None = None,
) -> Outcome:
    """Merge a station's row change: last writer wins per field by (hlc, origin); losers become conflicts.

    Args:
        origin: the station whose set carries the change (its id breaks HLC ties); a new row must
            be keyed with a number of its village and device letter (``foreign_id`` otherwise).
        village_code: the station's village; rows whose key (or parent's key) names any other
            village are refused (``other_village``).
        lookup_key: the county ID-lookup key, for the case's ``id_hash``.
        station_minter: ``origin``'s village and device letter when the caller holds its station row
            (the ingest, once per set); else read from the store where needed.
        scope: what the set's changes share (the ingest): the calendar and parents read once per set;
            a new row under the station's own number is then inserted without reading it first.
    """
    refused = row_problem(store, change, scope)
    if refused is not None:
        return refused
    table = change.table
    station_minter = station_minter or (scope.minter if scope is not None else None)
    # A new row under the station's own number is almost always new: the chain delivers each change once.
    # It is inserted unread (ON CONFLICT DO NOTHING); when it is held after all (a station restored from
    # a backup sends it again, another PC of the village rated first) or would be refused as new, the
    # change is judged again against the row read as usual.
    if (
        scope is not None
        and change.insert
        and station_minter is not None
        and row_minter(table, change.pk) == station_minter
    ):
        outcome = _merge_row(
            store, change, None, origin, village_code, lookup_key, now, station_minter, scope, optimistic=True
        )
        if outcome is not None:
            return outcome
    existing = store.row(table, change.pk)
    outcome = _merge_row(store, change, existing, origin, village_code, lookup_key, now, station_minter, scope)
    assert outcome is not None
    return outcome


_PARENTS = {
    "cases": ("intakes", "intake_id"),
    "intake_materials": ("intakes", "intake_id"),
    "commitments": ("intakes", "intake_id"),
    "case_notes": ("cases", "case_no"),
    "attachments": ("cases", "case_no"),
    "ratings": ("cases", "case_no"),
}
"""A child table's parent (the table and the child's column naming it), for twice-numbered records."""


def _numbered_twice_refusal(table: str, pk: str) -> Outcome:
    return _reject(
        "duplicate_row",
        zh=f"{label('table', table)} {pk}：该编号在县平台已属另一申请人，本站记录未采用",
        en=f"{table} {pk}: the county holds another applicant's record under this number; this one is not filed",
    )


def _numbered_twice(scope: SetScope, table: str, pk: str, fields: dict[str, Any]) -> Outcome | None:
    """The refusal of a change to a station's record the hub refused as numbered twice (``duplicate_row``:
    the hub holds another applicant's record under that number), or to a child of one (``parent_refused``):
    what the station adds to its own applicant's case must never land on the hub's record of the other."""
    if table in ("cases", "intakes") and scope.numbered_twice(table, pk):
        return _numbered_twice_refusal(table, pk)
    parent = _PARENTS.get(table)
    if parent is not None:
        key = fields.get(parent[1])
        if isinstance(key, str) and scope.numbered_twice(parent[0], key):
            return _reject(
                "parent_refused",
                zh=f"{label('table', table)} {pk[:60]}：所属记录 {key} 已被县平台拒收（编号重复），本条一并不采用",
                en=f"{table} {pk[:60]}: its {parent[0][:-1]} {key} was refused (numbered twice), so this is not filed",
            )
    return None


def _judge(
    store: HubStoreProtocol,
    change: RowChange,
    existing: dict[str, Any] | None,
    origin: str,
    village_code: str,
    station_minter: Minter | None,
    scope: SetScope | None,
) -> Outcome | RowDecision:
    """The merge's decision for a row change against ``existing`` (None: no row held), or what becomes of
    it instead: refused for its key, rejected by the merge rules, a duplicate."""
    refused = _check_key(
        store,
        change.table,
        change.pk,
        change.fields,
        existing,
        origin=origin,
        village_code=village_code,
        insert=change.insert,
        station_minter=station_minter,
        scope=scope,
    )
    if refused is not None:
        return refused
    decision = decide_row(decode_versions(existing["versions"]) if existing else None, change, origin)
    if isinstance(decision, Rejection):
        current = {f: existing[f] for f in change.fields if f in existing} if existing else None
        return Outcome(result="rejected", rejection=decision, current=current)
    if decision.duplicate:
        return Outcome(result="duplicate", village_code=village_code)
    return decision


def new_row_values(
    store: HubStoreProtocol,
    change: RowChange,
    origin: str,
    village_code: str,
    lookup_key: bytes,
    at: str,
    station_minter: Minter | None,
    scope: SetScope | None,
) -> dict[str, Any] | Outcome:
    """The row a change makes when no row with its key is held (its columns, versions and what the hub
    derives but the due date), or what becomes of the change instead (_judge)."""
    judged = _judge(store, change, None, origin, village_code, station_minter, scope)
    if isinstance(judged, Outcome):
        return judged
    values = dict(judged.write)
    values["versions"] = encode_versions(judged.versions)
    values[BY_NAME[change.table].pk] = change.pk
    _derive(store, change.table, values, values, lookup_key, at, scope)
    return values


def _merge_row(
    store: HubStoreProtocol,
    change: RowChange,
    existing: dict[str, Any] | None,
    origin: str,
    village_code: str,
    lookup_key: bytes,
    now: dt.datetime,
    station_minter: Minter | None,
    scope: SetScope | None,
    *,
    optimistic: bool = False,
) -> Outcome | None:
    """apply_row against ``existing``; with ``optimistic`` (taken as not held, unread), None when anything
    but an insert came of it, and nothing was written: the caller reads the row and judges again."""
    table = change.table
    at, today = scope.stamp(now) if scope is not None else (iso_utc(now), business_date(now))
    calendar = scope.calendar() if scope is not None else None
    if existing is None:
        values = new_row_values(store, change, origin, village_code, lookup_key, at, station_minter, scope)
        if isinstance(values, Outcome):
            return None if optimistic else values
        if table == "cases" and scope is not None and scope.moves_ahead[change.pk] > 0:
            scope.due_pending.add(change.pk)  # a move of it comes later in the set: computed there, once
        elif table == "cases":
            # A case not yet held has no moves (case_events refers to it): its due date goes in with it.
            values.update(_due(store, defaultdict(lambda: None, values), today, calendar, events=[]))
        if optimistic:
            if not store.insert_new_row(table, values):
                return None
        else:
            store.insert_row(table, values)
        if scope is not None and scope.trusted and table in ("intakes", "cases"):
            scope.held.add((table, change.pk))
            if table == "intakes" and isinstance(values.get("received_date"), str):
                scope.received[change.pk] = values["received_date"]
    else:
        decision = _judge(store, change, existing, origin, village_code, station_minter, scope)
        if isinstance(decision, Outcome):
            return decision
        values = dict(decision.write)
        values["versions"] = encode_versions(decision.versions)
        merged = {**existing, **values}
        if table == "intakes" and scope is not None:
            scope.received.pop(change.pk, None)
        _derive(store, table, values, merged, lookup_key, at, scope)
        store.update_row(table, change.pk, values)
        for field, lost in decision.lost.items():
            kept_version = version_of(decode_versions(existing["versions"]), field) or (0, "")
            store.add_conflict(
                table=table,
                pk=change.pk,
                field=field,
                kept=existing.get(field),
                kept_version=kept_version,
                lost=lost,
                lost_version=(change.hlc, origin),
                at=at,
            )
        if table == "cases":
            case = store.row("cases", change.pk)
            if case is not None:
                store.update_row("cases", change.pk, _due(store, case, today, calendar))
    if table == "attachments":
        _announce(store, change.pk, origin, at)
    elif table == "ratings":
        after_rating(store, change.pk, now)  # a bad one opens its follow-up on the department's desk
    return Outcome(result="applied", village_code=village_code)


def _due(
    store: HubStoreProtocol,
    case: dict[str, Any],
    today: dt.date,
    calendar: WorkCalendar | None,
    events: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The case's due-date columns (hub.deadlines.refresh_case_due without its write)."""
    try:
        due = compute_due(store, case, today, calendar=calendar, events=events)
    except (ValueError, TypeError, ProxyAppError):
        due = None  # a malformed date from a station must not stop its set (invariant 4); the row's
        # own insert refuses a value of the wrong type (STRICT tables)
    return due_fields(due)


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _attachment_problem(change: RowChange) -> tuple[str, str] | None:
    """Why an attachment record cannot announce a page: its key must carry its hash (so a row never changes
    the page it names), the hash be SHA-256 in hex, the size a page's, the format one a browser shows."""
    fields = change.fields
    if "sha256" in fields:
        sha = fields["sha256"]
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha) or change.pk.partition("/")[2] != sha[:32]:
            return "页面哈希无效或与记录编号不符", "sha256 is not a SHA-256 in hex, or differs from the key"
    if "size" in fields and (not isinstance(fields["size"], int) or not 0 < fields["size"] <= MAX_PAGE_BYTES):
        return f"页面大小应在 1 到 {MAX_PAGE_BYTES} 字节之间", f"size must be 1 to {MAX_PAGE_BYTES} bytes"
    if "format" in fields and fields["format"] not in PAGE_FORMATS:
        return "页面格式无效", f"format must be one of {', '.join(sorted(PAGE_FORMATS))}"
    return None


def _announce(store: HubStoreProtocol, pk: str, origin: str, at: str) -> None:
    """A page a signed record names: its bytes may now come (hub.scans), and only its."""
    row = store.row("attachments", pk)
    if row is not None and isinstance(row["sha256"], str) and isinstance(row["size"], int):
        store.announce_scan(sha256=row["sha256"], size=row["size"], format=row["format"], station_id=origin, at=at)


def _derive(
    store: HubStoreProtocol,
    table: str,
    values: dict[str, Any],
    row: dict[str, Any],
    lookup_key: bytes,
    at: str,
    scope: SetScope | None = None,
) -> None:
    """Fill the columns the hub derives itself into ``values`` (``row`` is the row after the write)."""
    if table == "cases":
        values["updated_at"] = at
        if "id_number" in values and isinstance(values["id_number"], str):
            values["id_hash"] = id_lookup_hash(lookup_key, values["id_number"])
    elif table == "commitments" and ("due_days" in values or "intake_id" in values):
        intake_id = row.get("intake_id") or ""
        due = commitment_due(
            store,
            intake_id,
            row.get("due_days"),
            received=scope.received.get(intake_id) if scope is not None else None,
            calendar=scope.calendar() if scope is not None else None,
        )
        values["due_date"] = due.date.isoformat() if due else None
        values["due_provisional"] = int(bool(due and due.provisional))


def apply_status(
    store: HubStoreProtocol,
    change: StatusChange,
    *,
    origin: str,
    actors: frozenset[Actor],
    village_code: str | None,
    now: dt.datetime,
    station_minter: Minter | None = None,
    scope: SetScope | None = None,
) -> Outcome:
    """Apply a lifecycle move if the lifecycle allows it from the case's state at the hub, for ``actors``.

    Args:
        origin: who made the move (a station id, or "hub" for a county decision).
        actors: the actors ``origin`` may speak for (a station only as the station).
        village_code: the station's village (None for the hub itself).
        station_minter: ``origin``'s village and device letter when the caller holds its station row.
        scope: what the set's changes share (the ingest): its station's minter, the calendar read once.
    """
    if scope is not None and scope.numbered_twice("cases", change.case_no):
        return _numbered_twice_refusal("cases", change.case_no)
    station_minter = station_minter or (scope.minter if scope is not None else None)
    # The case's village is the one its number names (a number another station took first does
    # not make it that station's); a case of another village is refused before it is looked up.
    key_village = _key_village(store, "cases", change.case_no) if village_code is not None else None
    if key_village is not None and key_village != village_code:
        return _reject(
            "other_village",
            zh=f"办件 {change.case_no} 属于其他村，本代办点无权办理",
            en=f"case {change.case_no} belongs to another village",
        )
    case = store.row("cases", change.case_no)
    if case is None:
        return _reject(
            "row_missing", zh=f"不存在办件 {change.case_no}", en=f"case {change.case_no} does not exist here"
        )
    own = (station_minter or _minter_of_station(store, origin)) if village_code is not None else None
    if village_code is not None and (own is None or event_minter(change.event_id) != own):
        # A move's id names the station that made it: one taken first under another station's id
        # would make that station's own move look like a duplicate and vanish.
        return _reject(
            "foreign_id",
            zh=f"办理环节 {change.event_id[:60]} 不是本代办点编的号",
            en=f"move {change.event_id[:60]} was not numbered by this station",
        )
    if store.has_event(change.event_id):
        return Outcome(result="duplicate", village_code=case["village_code"])
    try:
        parse_iso(change.at)
    except ValueError:
        return _reject(
            "malformed",
            zh=f"办理环节 {change.event_id}：时间 {change.at!r} 格式无效",
            en=f"move {change.event_id}: {change.at!r} is not a UTC time",
        )
    rejection = decide_status(case["status"], change, origin_actors=actors)
    if rejection is not None:
        return Outcome(result="rejected", rejection=rejection, current=status_fields(case))
    at, today = iso_utc(now), business_date(now)
    store.add_event(history_line(change, case["status"], origin, at))
    calendar = scope.calendar() if scope is not None else None
    fields = fields_after_move(store, change, case, at, today, calendar)
    store.update_row("cases", change.case_no, fields)
    if scope is not None:
        scope.due_pending.discard(change.case_no)
    before = case["status"]
    case = {**case, **fields}
    return Outcome(result="applied", case=case, village_code=case["village_code"], before=before)


def history_line(change: StatusChange, from_status: str, origin: str, at: str) -> dict[str, Any]:
    """The case_events row of an applied move."""
    return {
        "event_id": change.event_id,
        "case_no": change.case_no,
        "from_status": from_status,
        "to_status": change.to_status,
        "actor": change.actor,
        "by": change.by,
        "at": change.at,
        "hlc": change.hlc,
        "reason": change.reason,
        "outcome": change.outcome,
        "origin": origin,
        "recorded_at": at,
    }


def fields_after_move(
    store: HubStoreProtocol,
    change: StatusChange,
    case: dict[str, Any],
    at: str,
    today: dt.date,
    calendar: WorkCalendar | None,
    events: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The case's columns an applied move sets: its state, the acceptance date, the decision's working
    days, and the due date with the move in its history (``events``: that history when the caller holds
    it; read from the store, the move already added, when None)."""
    fields: dict[str, Any] = {"status": change.to_status, "updated_at": at}
    if change.outcome is not None:
        fields["outcome"] = change.outcome
    if change.to_status == Status.ACCEPTED:
        # The legal clock starts on the China date of the decision; the station derives the same.
        fields["accepted_date"] = business_date(parse_iso(change.at)).isoformat()
    if change.to_status == Status.COMPLETED:
        fields["decision_days"] = decision_days(store, {**case, **fields}, today, calendar=calendar)
    # The due date after the move goes in the same write as the move.
    fields.update(_due(store, defaultdict(lambda: None, {**case, **fields}), today, calendar, events))
    return fields


def decision_days(
    store: HubStoreProtocol, case: dict[str, Any], decided: dt.date, *, calendar: WorkCalendar | None = None
) -> int | None:
    """Working days from acceptance to the decision, pauses skipped, on the hub's calendar (for the figures).

    Counted as the law counts a time limit, so it compares with the item's promised days. None when
    a date is malformed or outside the calendar: a figure must never stop a station's set.
    """
    try:
        start = dt.date.fromisoformat(case["accepted_date"] or case["received_date"])
        events = [(e["to_status"], e["at"]) for e in store.case_events(case["case_no"])]
        return (calendar or store.calendar()).working_days_between(start, decided, paused=paused_spans(events, decided))
    except (ValueError, TypeError, ProxyAppError):
        return None
