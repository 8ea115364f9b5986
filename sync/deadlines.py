"""Due dates of cases: promised working days from acceptance, paused spans skipped (both replicas)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sync.lifecycle import CLOCK_PAUSED
from sync.timeutil import business_date, parse_iso
from sync.workdays import DueDate, WorkCalendar

__all__ = ("case_due", "due_move_text", "paused_spans")


def paused_spans(events: Sequence[tuple[str, str]], until: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Inclusive date spans a case spent in clock-paused states, from (to_status, at) moves in order.

    A span runs from the day the case entered a paused state to the day it left it. A pause
    still open is taken to run until ``until`` (today), so the due date shown is the earliest the
    case can now be due; it moves again when the pause ends.
    """
    spans: list[tuple[dt.date, dt.date]] = []
    started: dt.date | None = None
    for to_status, at in events:
        day = business_date(parse_iso(at))
        if to_status in CLOCK_PAUSED:
            if started is None:
                started = day
        elif started is not None:
            # Moves come from clocks that disagree (a station's may be days behind the hub's):
            # a pause is never taken to end before it began.
            spans.append((started, max(started, day)))
            started = None
    if started is not None:
        spans.append((started, max(started, until)))
    return spans


def case_due(
    calendar: WorkCalendar,
    promised_days: int | None,
    *,
    received_date: str,
    accepted_date: str | None,
    events: Sequence[tuple[str, str]],
    today: dt.date,
) -> DueDate | None:
    """A case's due date: ``promised_days`` working days after acceptance, pauses skipped.

    Before acceptance the receipt date stands in (without a timely notice an application counts
    as accepted on the day its materials were received, brief §6.1). None when the item has no
    rolling limit (annual batch).
    """
    if promised_days is None:
        return None
    start = dt.date.fromisoformat(accepted_date or received_date)
    spans = [(a, b) for a, b in paused_spans(events, today) if b > start]
    return calendar.add_working_days(start, promised_days, paused=spans)


def due_move_text(
    lang: str, *, old: str | None, new: str | None, year: int, version: int, material: str | None = None
) -> str:
    """The history line a calendar publication writes when it moves a due date (hub and stations alike).

    ``material`` names the 容缺 commitment's material when the date moved is a commitment's; a
    correction (``version`` above 1) says which version moved it.
    """
    was, now = old or "—", new or "—"
    if lang.startswith("en"):
        why = f"{year} calendar published" + (f" (version {version})" if version > 1 else "")
        what = f"容缺 commitment ({material}): due date" if material is not None else "due date"
        return f"{what} moved from {was} to {now}: {why}"
    why = f"{year} 年工作日历已发布" + (f"（第 {version} 版）" if version > 1 else "")
    what = f"容缺补交期限（{material}）" if material is not None else "应办结日期"
    return f"{what}由 {was} 改为 {now}：{why}"
