"""End conditions of township review and escalation (issue 16), for fleet.checks: no level overstepped, the
levels and overdue lists agreeing between the hub and each station, deemed consents only by the system."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from hub.escalation import SYSTEM, case_alerts, county_counts
from hub.levels import approver_level
from hub.store import HubStore
from station.queries import get_case
from station.store import Station
from sync.errors import NotFoundError
from sync.levels import is_forward

__all__ = ("check_township", "station_levels")


def check_township(store: HubStore, today: dt.date, failures: list[str]) -> dict[str, Any]:
    """Check every case's history against its item's level, and the escalation lists against the rows."""
    counts: Counter[str] = Counter()
    rows = store.list_cases(limit=10**7)
    for row in rows:
        level = approver_level(store, row)
        events = store.case_events(row["case_no"])
        forwarded = False
        for event in events:
            if is_forward(event):
                counts["forwarded"] += 1
                if level != "township_or_county" or forwarded:
                    failures.append(f"{row['case_no']}: a forward of a {level} item, or twice")
                forwarded = True
            elif event["actor"] == "department" and level == "township":
                failures.append(f"{row['case_no']}: a department moved a township item ({event['to_status']})")
            elif event["actor"] == "department" and level == "township_or_county" and not forwarded:
                failures.append(f"{row['case_no']}: a department moved it before the township forwarded it")
            elif event["actor"] == "township" and level == "township_or_county" and forwarded:
                failures.append(f"{row['case_no']}: the township moved it after forwarding it")
            elif event["actor"] == "township" and event["to_status"] == "COMPLETED" and level != "township":
                failures.append(f"{row['case_no']}: a township completed a {level} item")
            if event["actor"] == "township":
                counts[f"township_moves:{level}"] += 1
    # The escalation lists are the open cases by their due dates, nothing more or less.
    alerts = case_alerts(store, today)
    overdue = {a.case_no for a in alerts if a.kind == "overdue"}
    expected = {
        r["case_no"]
        for r in rows
        if r["status"] in ("RECEIVED", "ACCEPTED", "IN_PROGRESS")
        and r["due_date"]
        and r["due_date"] < today.isoformat()
    }
    if overdue != expected:
        failures.append(
            f"overdue list {len(overdue)} cases, open past due {len(expected)}: {sorted(overdue ^ expected)[:5]}"
        )
    tallies = county_counts(alerts)
    for axis in ("department", "township"):
        if sum(c["overdue"] for c in tallies[axis].values()) != len(overdue):
            failures.append(f"overdue counts per {axis} do not add up to {len(overdue)}")
    for case_no in {r["case_no"] for r in rows}:
        for opinion in store.joint_opinions(case_no):
            if opinion["opinion"] == "deemed_consent" and opinion["answered_by"] != SYSTEM:
                failures.append(f"{case_no}: a deemed consent not recorded by the system")
    return {
        **dict(counts),
        "overdue": len(overdue),
        "due_soon": sum(1 for a in alerts if a.kind == "due_soon"),
        "overdue_by_department": {k: v["overdue"] for k, v in sorted(tallies["department"].items()) if v["overdue"]},
    }


def station_levels(station: Station, hub_levels: dict[str, str | None], failures: list[str], sid: str) -> None:
    """The level each case of the station shows (from its own history) is the hub's."""
    for case_no, level in hub_levels.items():
        try:
            mine = get_case(station, case_no).summary.level
        except NotFoundError:  # a case the station lacks: the convergence checks report it
            mine = level
        if mine != level:
            failures.append(f"{sid}: {case_no} shows level {mine}, the hub {level}")
