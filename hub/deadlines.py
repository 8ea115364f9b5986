"""Due dates at the hub: promised working days from acceptance on the hub's calendar, pauses skipped;
moved, with a history line, when a calendar year is published."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from hub.store import HubStoreProtocol
from sync.deadlines import case_due
from sync.errors import ProxyAppError
from sync.protocol import CaseState
from sync.timeutil import business_date, iso_utc
from sync.workdays import DueDate, WorkCalendar, YearTable

__all__ = (
    "Recomputed",
    "case_state",
    "commitment_due",
    "compute_due",
    "due_fields",
    "recompute_year",
    "refresh_case_due",
)


def compute_due(
    store: HubStoreProtocol,
    case: dict[str, Any],
    today: dt.date,
    *,
    calendar: WorkCalendar | None = None,
    events: list[tuple[str, str]] | None = None,
) -> DueDate | None:
    """The binding due date of a case (invariant 8): the hub's calendar and the dates the hub has seen.

    From the acceptance date, or the receipt date before acceptance (without a timely notice an
    application counts as accepted on the day its materials arrived). None for items without a
    rolling limit, or when the case's catalogue version or item is unknown here. ``calendar``: another
    than the hub's (the one in force before a publication, to tell what the publication moved), or the
    hub's read once by the caller. ``events``: the case's (to_status, at) moves in order when the caller
    holds them (none for a case not yet stored); read from the store when None.
    """
    try:
        item = store.catalog(case["catalog_version"]).item(case["item_code"])
    except ProxyAppError:
        return None
    if events is None:
        events = [(e["to_status"], e["at"]) for e in store.case_events(case["case_no"])]
    return case_due(
        calendar or store.calendar(),
        item.promised_days,
        received_date=case["received_date"],
        accepted_date=case["accepted_date"],
        events=events,
        today=today,
    )


def refresh_case_due(store: HubStoreProtocol, case: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """Recompute and store the case's due date; returns the case with the new values."""
    try:
        due = compute_due(store, case, today)
    except (ValueError, ProxyAppError):
        due = None  # a malformed date from a station must not stop its set (invariant 4)
    fields = {"due_date": due.date.isoformat() if due else None, "due_provisional": int(bool(due and due.provisional))}
    store.update_row("cases", case["case_no"], fields)
    return {**case, **fields}


def commitment_due(
    store: HubStoreProtocol,
    intake_id: str,
    due_days: Any,
    *,
    received: str | None = None,
    calendar: WorkCalendar | None = None,
) -> DueDate | None:
    """A 容缺 commitment's due date: ``due_days`` working days from the intake's receipt date
    (``received`` when the caller has it already)."""
    received = received or store.intake_received_date(intake_id)
    if received is None or not isinstance(due_days, int):
        return None
    try:
        return (calendar or store.calendar()).add_working_days(dt.date.fromisoformat(received), due_days)
    except (ValueError, ProxyAppError):
        return None


class Recomputed(msgspec.Struct, frozen=True, kw_only=True):
    """What a published year table did to the hub's due dates."""

    cases: int = 0
    """Cases whose due date or provisional mark was rewritten."""
    commitments: int = 0
    """容缺 commitments likewise."""
    cases_moved: int = 0
    """Cases whose due date the table moved (each with a history line)."""
    commitments_moved: int = 0
    """Commitments likewise."""


OPEN_STATUSES = frozenset(
    {"RECEIVED", "ACCEPTED", "IN_PROGRESS", "AWAITING_CORRECTION", "SPECIAL_PROCEDURE", "SUSPENDED"}
)
"""Cases whose due date still matters (the clock runs or is paused): a move gets a history line.
A decided or closed case that was still provisional gets its date firmed up silently."""


def _due_fields(due: DueDate | None) -> tuple[str | None, int]:
    return (due.date.isoformat() if due else None, int(bool(due and due.provisional)))


def due_fields(due: DueDate | None) -> dict[str, Any]:
    """The case's (or commitment's) due-date columns for ``due``."""
    date, provisional = _due_fields(due)
    return {"due_date": date, "due_provisional": provisional}


def recompute_year(store: HubStoreProtocol, table: YearTable, before: WorkCalendar, *, now: dt.datetime) -> Recomputed:
    """After ``table`` came into force: recompute every provisional due date, and every open case's
    and commitment's whose count runs through ``table.year``, provisional or not (call inside the
    publishing transaction).

    A date the table moved (it differs from what the calendar in force ``before`` gives today) gets
    a history line (``due_moves``) on an open case; a provisional mark dropped, or a paused case's date moved only
    by the passing days, is rewritten silently.
    """
    today, at = business_date(now), iso_utc(now)
    after = store.calendar()
    cases = commitments = cases_moved = commitments_moved = 0
    for case in store.cases_through_year(table.year):
        try:
            new = _due_fields(compute_due(store, case, today, calendar=after))
            old = _due_fields(compute_due(store, case, today, calendar=before))
        except (ValueError, ProxyAppError):
            continue  # a malformed date from a station: left as it is (invariant 4)
        if new == (case["due_date"], case["due_provisional"]):
            continue
        store.update_row("cases", case["case_no"], {"due_date": new[0], "due_provisional": new[1]})
        cases += 1
        if new[0] != case["due_date"] and new[0] != old[0] and case["status"] in OPEN_STATUSES:
            store.add_due_move(
                kind="case",
                subject=case["case_no"],
                intake_id=case["intake_id"],
                old_due=case["due_date"],
                new_due=new[0],
                year=table.year,
                version=table.version,
                at=at,
            )
            cases_moved += 1
    for row in store.commitments_through_year(table.year):
        args = (row["intake_id"], row["due_days"])
        new = _due_fields(commitment_due(store, *args, received=row["received_date"], calendar=after))
        old = _due_fields(commitment_due(store, *args, received=row["received_date"], calendar=before))
        if new == (row["due_date"], row["due_provisional"]):
            continue
        store.update_row("commitments", row["commitment_id"], {"due_date": new[0], "due_provisional": new[1]})
        commitments += 1
        if new[0] != row["due_date"] and new[0] != old[0] and row["status"] == "open":
            store.add_due_move(
                kind="commitment",
                subject=row["commitment_id"],
                intake_id=row["intake_id"],
                old_due=row["due_date"],
                new_due=new[0],
                year=table.year,
                version=table.version,
                at=at,
            )
            commitments_moved += 1
    return Recomputed(
        cases=cases, commitments=commitments, cases_moved=cases_moved, commitments_moved=commitments_moved
    )


def case_state(case: dict[str, Any], through_seq: int) -> CaseState:
    """The hub's view of a case after a move, for one recipient (``through_seq`` is its own)."""
    return CaseState(
        case_no=case["case_no"],
        status=case["status"],
        outcome=case.get("outcome"),
        accepted_date=case.get("accepted_date"),
        due_date=case.get("due_date"),
        through_seq=through_seq,
    )
