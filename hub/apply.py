"""Applying one change at the hub with the merge rules of sync.merge: village, columns, versions, lifecycle."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

from hub.deadlines import commitment_due, refresh_case_due
from hub.keys import id_lookup_hash
from hub.schema import PK_COLUMNS, REPLICATED_COLUMNS
from hub.store import HubStore
from sync.changes import RowChange, StatusChange
from sync.deadlines import paused_spans
from sync.errors import ProxyAppError
from sync.lifecycle import Actor, Status
from sync.merge import Rejection, decide_row, decide_status, decode_versions, encode_versions, version_of
from sync.timeutil import business_date, iso_utc, parse_iso

__all__ = ("Outcome", "apply_row", "apply_status", "decision_days", "status_fields")

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


def _reject(code: str, en: str, zh: str, current: dict[str, Any] | None = None) -> Outcome:
    return Outcome(result="rejected", rejection=Rejection(code, en, zh), current=current)


def status_fields(case: dict[str, Any]) -> dict[str, Any]:
    """The lifecycle fields of a case: what a rejected move is answered with."""
    return {"status": case["status"], "outcome": case["outcome"], "accepted_date": case["accepted_date"]}


def _villages_touched(store: HubStore, table: str, fields: dict[str, Any], existing: dict[str, Any] | None) -> set[str | None]:
    """Every village a row change touches: the row's own and its parent's, before and after."""
    villages: set[str | None] = set()
    if table in ("intakes", "cases"):
        if existing is not None:
            villages.add(existing["village_code"])
        if "village_code" in fields:
            villages.add(fields["village_code"])
    parents: list[tuple[str, str]] = []
    if table in ("cases", "intake_materials", "commitments"):
        parents += [("intakes", v) for v in {fields.get("intake_id"), existing and existing["intake_id"]} if v]
    if table == "case_notes":
        parents += [("cases", v) for v in {fields.get("case_no"), existing and existing["case_no"]} if v]
    for parent, key in parents:
        village = store.village_of_intake(key) if parent == "intakes" else store.village_of_case(key)
        if village is None:
            raise LookupError(f"{parent} {key}")
        villages.add(village)
    return villages


def apply_row(
    store: HubStore, change: RowChange, *, origin: str, village_code: str, lookup_key: bytes, now: dt.datetime
) -> Outcome:
    """Merge a station's row change: last writer wins per field by (hlc, origin); losers become conflicts.

    Args:
        origin: the station whose set carries the change (its id breaks HLC ties).
        village_code: the station's village; rows of any other village are refused.
        lookup_key: the county ID-lookup key, for the case's ``id_hash``.
    """
    table = change.table
    if table not in REPLICATED_COLUMNS:
        return _reject("unknown_table", f"{table!r} is not a replicated table", f"{table!r} 不是同步数据表")
    pk_column = PK_COLUMNS[table]
    stray = sorted(set(change.fields) - REPLICATED_COLUMNS[table])
    if stray or (pk_column in change.fields and change.fields[pk_column] != change.pk):
        what = f"unknown or derived column(s) {', '.join(stray)}" if stray else f"{pk_column} differs from the key"
        return _reject("malformed", f"{table} {change.pk}: {what}", f"{table} {change.pk}：字段无效（{what}）")
    existing = store.row(table, change.pk)
    try:
        villages = _villages_touched(store, table, change.fields, existing)
    except LookupError as exc:
        return _reject("row_missing", f"{table} {change.pk}: {exc} does not exist here",
                       f"{table} {change.pk}：上级记录 {exc} 不存在")
    if villages - {village_code}:
        # No `current` here: another village's values are not this station's to see (invariant 11).
        return _reject("other_village", f"{table} {change.pk} belongs to another village",
                       f"{table} {change.pk} 属于其他村，本代办点无权修改")
    decision = decide_row(decode_versions(existing["versions"]) if existing else None, change, origin)
    if isinstance(decision, Rejection):
        current = {f: existing[f] for f in change.fields if f in existing} if existing else None
        return Outcome(result="rejected", rejection=decision, current=current)
    village = village_code
    if decision.duplicate:
        return Outcome(result="duplicate", village_code=village)
    at = iso_utc(now)
    values = dict(decision.write)
    values["versions"] = encode_versions(decision.versions)
    if existing is None:
        values[pk_column] = change.pk
        _derive(store, table, values, values, lookup_key, at)
        store.insert_row(table, values)
    else:
        merged = {**existing, **values}
        _derive(store, table, values, merged, lookup_key, at)
        store.update_row(table, change.pk, values)
        for field, lost in decision.lost.items():
            kept_version = version_of(decode_versions(existing["versions"]), field) or (0, "")
            store.add_conflict(table=table, pk=change.pk, field=field, kept=existing.get(field),
                               kept_version=kept_version, lost=lost, lost_version=(change.hlc, origin), at=at)
    if table == "cases":
        case = store.row("cases", change.pk)
        if case is not None:
            refresh_case_due(store, case, business_date(now))
    return Outcome(result="applied", village_code=village)


def _derive(store: HubStore, table: str, values: dict[str, Any], row: dict[str, Any], lookup_key: bytes, at: str) -> None:
    """Fill the columns the hub derives itself into ``values`` (``row`` is the row after the write)."""
    if table == "cases":
        values["updated_at"] = at
        if "id_number" in values and isinstance(values["id_number"], str):
            values["id_hash"] = id_lookup_hash(lookup_key, values["id_number"])
    elif table == "commitments" and ("due_days" in values or "intake_id" in values):
        due = commitment_due(store, row.get("intake_id") or "", row.get("due_days"))
        values["due_date"] = due.date.isoformat() if due else None
        values["due_provisional"] = int(bool(due and due.provisional))


def apply_status(
    store: HubStore,
    change: StatusChange,
    *,
    origin: str,
    actors: frozenset[Actor],
    village_code: str | None,
    now: dt.datetime,
) -> Outcome:
    """Apply a lifecycle move if the lifecycle allows it from the case's state at the hub, for ``actors``.

    Args:
        origin: who made the move (a station id, or "hub" for a county decision).
        actors: the actors ``origin`` may speak for (a station only as the station).
        village_code: the station's village (None for the hub itself).
    """
    case = store.row("cases", change.case_no)
    if case is None:
        return _reject("row_missing", f"case {change.case_no} does not exist here", f"不存在办件 {change.case_no}")
    if village_code is not None and case["village_code"] != village_code:
        return _reject("other_village", f"case {change.case_no} belongs to another village",
                       f"办件 {change.case_no} 属于其他村，本代办点无权办理")
    if store.has_event(change.event_id):
        return Outcome(result="duplicate", village_code=case["village_code"])
    try:
        parse_iso(change.at)
    except ValueError:
        return _reject("malformed", f"move {change.event_id}: {change.at!r} is not a UTC time",
                       f"办理环节 {change.event_id}：时间 {change.at!r} 格式无效")
    rejection = decide_status(case["status"], change, origin_actors=actors)
    if rejection is not None:
        return Outcome(result="rejected", rejection=rejection, current=status_fields(case))
    at = iso_utc(now)
    store.add_event({
        "event_id": change.event_id, "case_no": change.case_no, "from_status": case["status"],
        "to_status": change.to_status, "actor": change.actor, "by": change.by, "at": change.at, "hlc": change.hlc,
        "reason": change.reason, "outcome": change.outcome, "origin": origin, "recorded_at": at,
    })
    fields: dict[str, Any] = {"status": change.to_status, "updated_at": at}
    if change.outcome is not None:
        fields["outcome"] = change.outcome
    if change.to_status == Status.ACCEPTED:
        # The legal clock starts on the China date of the decision; the station derives the same.
        fields["accepted_date"] = business_date(parse_iso(change.at)).isoformat()
    if change.to_status == Status.COMPLETED:
        fields["decision_days"] = decision_days(store, {**case, **fields}, business_date(now))
    store.update_row("cases", change.case_no, fields)
    case = refresh_case_due(store, {**case, **fields}, business_date(now))
    return Outcome(result="applied", case=case, village_code=case["village_code"])


def decision_days(store: HubStore, case: dict[str, Any], decided: dt.date) -> int | None:
    """Working days from acceptance to the decision, pauses skipped, on the hub's calendar (for the figures).

    Counted as the law counts a time limit, so it compares with the item's promised days. None when
    a date is malformed or outside the calendar: a figure must never stop a station's set.
    """
    try:
        start = dt.date.fromisoformat(case["accepted_date"] or case["received_date"])
        events = [(e["to_status"], e["at"]) for e in store.case_events(case["case_no"])]
        return store.calendar().working_days_between(start, decided, paused=paused_spans(events, decided))
    except (ValueError, TypeError, ProxyAppError):
        return None
