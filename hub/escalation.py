"""Escalation of time limits at the hub (brief §7.5, §7.6): cases coming due or overdue, who hears of
them, the county's counts, and the system's deemed consent (缺席默认) in parallel reviews.

Who hears of what (docs/hub.md, "Escalation"):

* due within 1 working day, or overdue → the handlers: every account of the level holding the case
  (the county department for a county case, the township clerks for one the township holds);
* overdue → also the head (``hub user add --head``): a department head sees every overdue case of
  its department's items, whichever level holds it (the department answers for the whole limit);
  a township head every overdue case of its villages' township items;
* overdue → the county administrator's figures: counts per department and township, no personal data;
* an overdue 容缺 commitment → the agent, at the station (tui home screen, station.queries): the
  hub counts them on the figures page only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import msgspec

from hub.accounts import Principal
from hub.departments import department_key
from hub.joint_feed import queue_opinions
from hub.levels import levels_of, township_items
from hub.store import HubStoreProtocol, UserRow
from sync.levels import Level
from sync.timeutil import iso_utc

__all__ = (
    "DUE_SOON_DAYS",
    "SYSTEM",
    "CaseAlert",
    "case_alerts",
    "county_counts",
    "deem_consent",
    "for_handler",
    "for_head",
    "for_user",
    "principal_alerts",
)

DUE_SOON_DAYS = 1
"""A case is "due soon" with at most this many working days left (due today or the next working day)."""

SYSTEM = "system"
"""Who records a deemed consent: the hub itself, never a person."""

Kind = Literal["due_soon", "overdue"]


class CaseAlert(msgspec.Struct, frozen=True, kw_only=True):
    """One case coming due or overdue: numbers and codes only, no personal data."""

    case_no: str
    item_code: str
    department: str
    township: str
    village_code: str
    status: str
    level: str | None
    due_date: str
    kind: Kind
    days_left: int
    """Working days until due: 0 = due today, negative = overdue."""


def case_alerts(store: HubStoreProtocol, today: dt.date) -> list[CaseAlert]:
    """Every open case (clock running) due within :data:`DUE_SOON_DAYS` working days of ``today`` or
    past due, soonest first. Counted by the county's published calendar, holidays and make-up days."""
    calendar = store.calendar()
    horizon = calendar.add_working_days(today, DUE_SOON_DAYS).date
    rows = store.open_cases_due_by(horizon.isoformat())
    levels = levels_of(store, rows)
    alerts = []
    for row in rows:
        due = dt.date.fromisoformat(row["due_date"])
        left = calendar.remaining_working_days(today, due)
        alerts.append(
            CaseAlert(
                case_no=row["case_no"],
                item_code=row["item_code"],
                department=department_key(row["item_code"]),
                township=row["village_code"][:9] + "000",
                village_code=row["village_code"],
                status=row["status"],
                level=levels[row["case_no"]],
                due_date=row["due_date"],
                kind="overdue" if due < today else "due_soon",
                days_left=left,
            )
        )
    return alerts


def _township_held(level: str | None) -> bool:
    return level in (Level.TOWNSHIP, Level.TOWNSHIP_INITIAL)


def for_handler(
    alerts: Iterable[CaseAlert], role: str, department: str | None, township: str | None
) -> list[CaseAlert]:
    """The alerts of the cases an account's unit holds now (both kinds)."""
    if role == "department":
        return [a for a in alerts if a.level == Level.COUNTY and a.department == department]
    if role == "township":
        return [a for a in alerts if _township_held(a.level) and a.township == township]
    return []


def for_head(
    alerts: Iterable[CaseAlert], role: str, department: str | None, township: str | None, township_items: Sequence[str]
) -> list[CaseAlert]:
    """The overdue cases a head answers for, whichever level holds them."""
    overdue = [a for a in alerts if a.kind == "overdue"]
    if role == "department":
        return [a for a in overdue if a.department == department]
    if role == "township":
        return [a for a in overdue if a.township == township and a.item_code in township_items]
    return []


def for_user(
    alerts: Sequence[CaseAlert], who: Principal | UserRow, township_items: Sequence[str]
) -> tuple[list[CaseAlert], list[CaseAlert]]:
    """(handler's alerts, head's overdue list) of an account; the second is empty unless it is a head."""
    mine = for_handler(alerts, who.role, who.department, who.township)
    head = for_head(alerts, who.role, who.department, who.township, township_items) if who.head else []
    return mine, head


def principal_alerts(store: HubStoreProtocol, principal: Principal, today: dt.date) -> dict[str, list[CaseAlert]]:
    """A desk's alert panels: ``mine`` (due soon or overdue, held by the principal's unit) and ``head``
    (overdue cases the principal answers for as head; empty otherwise)."""
    if principal.role not in ("department", "township"):
        return {"mine": [], "head": []}
    mine, head = for_user(case_alerts(store, today), principal, township_items(store))
    return {"mine": mine, "head": head}


def county_counts(alerts: Iterable[CaseAlert]) -> dict[str, dict[str, dict[str, int]]]:
    """Counts for the county administrator: ``{"department": {key: {"due_soon": n, "overdue": n}}, "township": …}``."""
    counts: dict[str, dict[str, dict[str, int]]] = {"department": {}, "township": {}}
    for alert in alerts:
        for axis, key in (("department", alert.department), ("township", alert.township)):
            cell = counts[axis].setdefault(key, {"due_soon": 0, "overdue": 0})
            cell[alert.kind] += 1
    return counts


def deem_consent(store: HubStoreProtocol, today: dt.date, *, now: dt.datetime) -> list[dict[str, Any]]:
    """缺席默认: every joint-review department that did not answer by its due date is recorded as
    ``deemed_consent`` by the system (never as a person's approval). Returns what was recorded."""
    recorded = []
    with store.transaction():
        for request in store.joint_requests_past(today.isoformat()):
            if store.answer_joint_opinion(
                request["case_no"],
                request["department"],
                opinion="deemed_consent",
                reason=None,
                by=SYSTEM,
                at=iso_utc(now),
            ):
                recorded.append(request)
                queue_opinions(store, request["case_no"], at=iso_utc(now))  # the stations show it as deemed
    return recorded
