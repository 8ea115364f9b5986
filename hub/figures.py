"""County figures without personal data: cases by department and township, completion, due soon, overdue, 容缺;
cases received and completed per week and the time since each station's last contact, for the charts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub.dashboard import Thresholds, station_rows
from hub.departments import department_key, departments
from hub.escalation import DUE_SOON_DAYS
from hub.store import HubStoreProtocol
from sync.timeutil import CHINA_TZ, iso_utc

__all__ = ("OPEN", "county_figures", "sync_lag", "weekly_cases")

OPEN = frozenset({"RECEIVED", "ACCEPTED", "IN_PROGRESS", "AWAITING_CORRECTION", "SPECIAL_PROCEDURE", "SUSPENDED"})
"""Cases not yet decided, withdrawn or refused."""
_COMPLETED = frozenset({"COMPLETED", "DELIVERED"})


def _blank() -> dict[str, Any]:
    return {
        "received": 0,
        "accepted": 0,
        "not_accepted": 0,
        "withdrawn": 0,
        "open": 0,
        "completed": 0,
        "due_soon": 0,
        "overdue": 0,
        "days_n": 0,
        "days_sum": 0,
    }


def _add(line: dict[str, Any], row: dict[str, Any]) -> None:
    status, n = row["status"], row["n"]
    if status == "DRAFT":
        return  # not yet received: a station's intake still being typed
    line["received"] += n
    line["accepted"] += row["accepted_n"]
    line["days_n"] += row["days_n"]
    line["days_sum"] += row["days_sum"]
    if status in _COMPLETED:
        line["completed"] += n
    elif status == "NOT_ACCEPTED":
        line["not_accepted"] += n
    elif status == "WITHDRAWN":
        line["withdrawn"] += n
    elif status in OPEN:
        line["open"] += n


def _finish(line: dict[str, Any]) -> dict[str, Any]:
    days_n, days_sum = line.pop("days_n"), line.pop("days_sum")
    line["completion_rate"] = round(line["completed"] / line["accepted"], 4) if line["accepted"] else None
    line["avg_working_days"] = round(days_sum / days_n, 2) if days_n else None
    return line


def county_figures(store: HubStoreProtocol, *, today: dt.date) -> dict[str, Any]:
    """The county's figures as of ``today`` (China date): totals, by department, by township, 容缺.

    Read from ``case_counts`` (kept by triggers with every case write) and the partial index of open
    cases, so the cost does not grow with the number of closed cases.
    """
    tree = store.divisions()
    known = {d.key: d for d in departments(store.catalog())}
    total = _blank()
    by_department: dict[str, dict[str, Any]] = {key: _blank() for key in known}
    by_township: dict[str, dict[str, Any]] = {t.code: _blank() for t in tree.townships}
    for row in store.case_counts():
        for line in (
            total,
            by_department.setdefault(row["department"], _blank()),
            by_township.setdefault(row["township"], _blank()),
        ):
            _add(line, row)
    for department, township, n in store.overdue_counts(today.isoformat()):
        total["overdue"] += n
        by_department.setdefault(department, _blank())["overdue"] += n
        by_township.setdefault(township, _blank())["overdue"] += n
    for department, township in _due_soon(store, today):
        for line in (total, by_department.setdefault(department, _blank()), by_township.setdefault(township, _blank())):
            line["due_soon"] += 1
    names = {t.code: t.name_zh for t in tree.townships}
    open_commitments, overdue_commitments = store.open_commitments(today.isoformat())
    return {
        "as_of": today.isoformat(),
        "total": _finish(total),
        "by_department": [
            {
                "department": key,
                "name_zh": known[key].name_zh if key in known else key,
                "name_en": known[key].name_en if key in known else key,
                **_finish(line),
            }
            for key, line in by_department.items()
        ],
        "by_township": [
            {"township_code": code, "township_name": names.get(code, code), **_finish(line)}
            for code, line in by_township.items()
        ],
        "commitments": {"open": open_commitments, "overdue": overdue_commitments},
    }


def _due_soon(store: HubStoreProtocol, today: dt.date) -> list[tuple[str, str]]:
    """(department, township) of each open case (clock running) due today or within DUE_SOON_DAYS working
    days of it, by the county's calendar: the cases hub.escalation lists as ``due_soon``, counted."""
    horizon = store.calendar().add_working_days(today, DUE_SOON_DAYS).date.isoformat()
    first = today.isoformat()
    return [
        (department_key(row["item_code"]), row["village_code"][:9] + "000")
        for row in store.open_cases_due_by(horizon)
        if row["due_date"] >= first  # the ones before are overdue, counted apart
    ]


def weekly_cases(store: HubStoreProtocol, *, today: dt.date, weeks: int = 12) -> list[dict[str, Any]]:
    """Cases received and completed in each of the last ``weeks`` weeks (China dates, Monday first),
    oldest first; the last week is this one, so far. Completed: the day a department decided it so."""
    first = today - dt.timedelta(days=today.weekday() + 7 * (weeks - 1))
    lines = [
        {"week_start": (first + dt.timedelta(weeks=i)).isoformat(), "received": 0, "completed": 0} for i in range(weeks)
    ]

    def line_of(day: dt.date) -> dict[str, Any] | None:
        index = (day - first).days // 7
        return lines[index] if 0 <= index < weeks else None

    for day, n in store.received_per_day(first.isoformat()):
        if (line := line_of(dt.date.fromisoformat(day))) is not None:
            line["received"] += n
    since = iso_utc(dt.datetime.combine(first, dt.time(), CHINA_TZ))
    for hour, n in store.completed_per_hour(since):
        moment = dt.datetime.fromisoformat(hour + ":00:00+00:00")
        if (line := line_of(moment.astimezone(CHINA_TZ).date())) is not None:
            line["completed"] += n
    return lines


_HOUR = 3600
_DAY = 86400


def _span(seconds: float) -> tuple[str, str]:
    # A bin edge in words: whole days from a day on, else hours.
    if seconds >= _DAY:
        return f"{seconds / _DAY:g}天", f"{seconds / _DAY:g} d"
    return f"{seconds / _HOUR:g}小时", f"{seconds / _HOUR:g} h"


def sync_lag(store: HubStoreProtocol, *, now: dt.datetime, limits: Thresholds) -> list[dict[str, Any]]:
    """How long ago each enrolled (not revoked) station was last in contact, as histogram bins.

    Bins end at 1 hour, 6 hours, a day and the dashboard's warning and danger thresholds, then past
    danger, then never: each bin has its names (zh, en), its count and the dashboard state it means.
    """
    edges = sorted({_HOUR, 6 * _HOUR, _DAY, limits.warn_days * _DAY, limits.danger_days * _DAY})
    bins: list[dict[str, Any]] = []
    low = 0.0
    for high in edges:
        hz, he = _span(high)
        if low == 0:
            zh, en = f"<{hz}", f"<{he}"
        else:
            lz, le = _span(low)
            zh, en = f"{lz}–{hz}", f"{le}–{he}"
        state = (
            "ok" if high <= limits.warn_days * _DAY else "warning" if high <= limits.danger_days * _DAY else "danger"
        )
        bins.append({"zh": zh, "en": en, "low_s": low, "high_s": high, "state": state, "count": 0})
        low = high
    lz, le = _span(low)
    bins.append({"zh": f">{lz}", "en": f">{le}", "low_s": low, "high_s": None, "state": "danger", "count": 0})
    never: dict[str, Any] = {
        "zh": "从未联系",
        "en": "never",
        "low_s": None,
        "high_s": None,
        "state": "never",
        "count": 0,
    }
    for row in station_rows(store, now=now, limits=limits):
        if row["station_id"] is None or row["revoked_at"]:
            continue
        age = row["contact_age_s"]
        if age is None:
            never["count"] += 1
            continue
        # A bin holds ages above its low edge up to and including its high one, as the thresholds count.
        next(b for b in bins if b["high_s"] is None or age <= b["high_s"])["count"] += 1
    return [*bins, never]
