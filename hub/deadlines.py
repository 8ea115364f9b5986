"""Due dates at the hub: promised working days from acceptance on the hub's calendar, pauses skipped."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub.store import HubStoreProtocol
from sync.deadlines import case_due
from sync.errors import ProxyAppError
from sync.protocol import CaseState
from sync.workdays import DueDate

__all__ = ("case_state", "commitment_due", "compute_due", "refresh_case_due")


def compute_due(store: HubStoreProtocol, case: dict[str, Any], today: dt.date) -> DueDate | None:
    """The binding due date of a case (invariant 8): the hub's calendar and the dates the hub has seen.

    From the acceptance date, or the receipt date before acceptance (without a timely notice an
    application counts as accepted on the day its materials arrived). None for items without a
    rolling limit, or when the case's catalogue version or item is unknown here.
    """
    try:
        item = store.catalog(case["catalog_version"]).item(case["item_code"])
    except ProxyAppError:
        return None
    events = [(e["to_status"], e["at"]) for e in store.case_events(case["case_no"])]
    return case_due(
        store.calendar(),
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


def commitment_due(store: HubStoreProtocol, intake_id: str, due_days: Any) -> DueDate | None:
    """A 容缺 commitment's due date: ``due_days`` working days from the intake's receipt date."""
    received = store.intake_received_date(intake_id)
    if received is None or not isinstance(due_days, int):
        return None
    try:
        return store.calendar().add_working_days(dt.date.fromisoformat(received), due_days)
    except (ValueError, ProxyAppError):
        return None


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
