"""Today's work for the home screen, assembled from station.queries and station.syncstate (no SQL here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from station.queries import (
    CaseFilter,
    CaseSummary,
    case_for_entity,
    case_heading,
    case_outcome,
    correction_reason,
    list_cases,
    list_commitments,
)
from station.store import Station
from station.syncstate import Refusal, recent_rejections, refused_cases
from sync.lifecycle import Status

__all__ = (
    "DUE_SOON_DAYS",
    "KINDS",
    "TodayItem",
    "refused_list",
    "short_number",
    "today_items",
)

DUE_SOON_DAYS = 1
"""Brief §7.5: a case is "due soon" with at most one working day left (due today or next)."""

SECTION_LIMIT = 100
"""Rows per section on the home screen: a page, never the whole case book."""

Kind = Literal["overdue", "due_soon", "correction", "commitment", "ready", "rejected"]
KINDS: tuple[Kind, ...] = ("overdue", "due_soon", "correction", "commitment", "ready", "rejected")


@dataclass(frozen=True)
class TodayItem:
    """One line of the home screen; ``detail`` values are language-neutral facts the screen words."""

    kind: Kind
    case_no: str
    applicant: str
    item_name: str
    due_date: str | None = None
    days_left: int | None = None
    provisional: bool = False
    material: str | None = None
    overdue: bool = False
    outcome: str | None = None
    reason_zh: str | None = None
    reason_en: str | None = None


def short_number(station: Station, number: str) -> str:
    """A case number without this station's village prefix (26 cells are too wide for 80 columns)."""
    prefix = station.village_code + "-"
    return number.removeprefix(prefix)


def _from_summary(kind: Kind, s: CaseSummary, *, reason_zh: str | None = None, outcome: str | None = None) -> TodayItem:
    return TodayItem(
        kind=kind,
        case_no=s.case_no,
        applicant=s.applicant_name,
        item_name=s.item_name,
        due_date=s.due_date,
        days_left=s.days_left,
        provisional=s.due_provisional,
        reason_zh=reason_zh,
        outcome=outcome,
    )


def today_items(station: Station) -> list[TodayItem]:
    """Everything that needs the agent today, most urgent first, each kind at most a page."""
    items: list[TodayItem] = []
    for s in list_cases(station, CaseFilter(overdue=True, sort="due", limit=SECTION_LIMIT)):
        items.append(_from_summary("overdue", s))
    for s in list_cases(station, CaseFilter(due_within=DUE_SOON_DAYS, sort="due", limit=SECTION_LIMIT)):
        items.append(_from_summary("due_soon", s))
    for s in list_cases(station, CaseFilter(statuses=[Status.AWAITING_CORRECTION], sort="due", limit=SECTION_LIMIT)):
        items.append(_from_summary("correction", s, reason_zh=correction_reason(station, s.case_no)))
    horizon = station.calendar.add_working_days(station.today(), DUE_SOON_DAYS).date.isoformat()
    due_commitments = [c for c in list_commitments(station) if c.due_date <= horizon][:SECTION_LIMIT]
    for c in due_commitments:
        case_no = case_for_entity(station, c.intake_id)
        if case_no is None:
            continue
        applicant, item_code = case_heading(station, case_no)
        items.append(
            TodayItem(
                kind="commitment",
                case_no=case_no,
                applicant=applicant,
                item_name=_item_name(station, item_code),
                due_date=c.due_date,
                provisional=c.due_provisional,
                material=c.material,
                overdue=c.overdue,
            )
        )
    for s in list_cases(station, CaseFilter(statuses=[Status.COMPLETED], sort="received", limit=SECTION_LIMIT)):
        items.append(_from_summary("ready", s, outcome=case_outcome(station, s.case_no)))
    for entity_id, r in recent_rejections(station, SECTION_LIMIT):
        case_no = case_for_entity(station, entity_id)
        if case_no is None:
            continue
        applicant, item_code = case_heading(station, case_no)
        items.append(
            TodayItem(
                kind="rejected",
                case_no=case_no,
                applicant=applicant,
                item_name=_item_name(station, item_code),
                reason_zh=r.reason_zh,
                reason_en=r.reason_en,
            )
        )
    return items


def _item_name(station: Station, code: str) -> str:
    try:
        return station.catalog.item(code).name_zh
    except Exception:  # noqa: BLE001 (an item from a newer catalogue than this station holds)
        return code


def refused_list(station: Station, limit: int = SECTION_LIMIT) -> list[Refusal]:
    """Cases the county refused to file, newest refusal first (case number, code, reason: no personal data)."""
    standing = sorted(refused_cases(station).values(), key=lambda r: r.received_at, reverse=True)
    seen: set[str] = set()
    unique = []
    for r in standing:
        if r.case_no not in seen:  # a bundle's members share one
            seen.add(r.case_no)
            unique.append(r)
    return unique[:limit]
