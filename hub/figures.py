"""County figures without personal data: cases by department and township, completion, overdue, 容缺."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub.departments import departments
from hub.store import HubStoreProtocol

__all__ = ("OPEN", "county_figures")

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
