"""Ratings (好差评) and progress queries in the fleet (issue 16): applicants rate delivered cases at the counter,
and at the end every rating is at the hub as given, every bad one has its one follow-up on the right desk,
the county's satisfaction counts add up, and every case's query code finds it (a wrong one never does)."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

from hub.departments import department_key
from hub.progress import lookup
from hub.ratings import satisfaction
from hub.store import HubStore
from station.ratings import query_code_of, rate
from station.store import Station
from sync.errors import ProxyAppError
from sync.ratings import BAD_LEVELS, CHANNELS

__all__ = ("check_ratings", "rate_delivered")

LEVEL_WEIGHTS = ((5, 0.55), (4, 0.22), (3, 0.12), (2, 0.07), (1, 0.04))
"""How applicants rate: mostly satisfied, about one in nine bad (levels 1–2)."""

RATE_SHARE = 0.8
"""Delivered cases rated at the counter the day they are seen (the rest are not rated: no rating is fine)."""


def rate_delivered(station: Station, rng: random.Random) -> tuple[int, dict[str, int]]:
    """Rate some of the station's delivered, unrated cases; returns (rated, refused by code)."""
    refused: Counter[str] = Counter()
    rated = 0
    rows = station.db.execute(
        "SELECT c.case_no FROM cases c WHERE c.status = 'DELIVERED' AND NOT EXISTS "
        "(SELECT 1 FROM ratings r WHERE r.case_no = c.case_no) ORDER BY c.case_no"
    ).fetchall()
    device = station.station_id.split("-")[1] if station.station_id.count("-") >= 2 else ""
    for (case_no,) in rows:
        # An applicant rates once, at the counter of the PC that filed the case: a second PC of the
        # village sees the case through the hub but does not rate it too (the hub would keep the
        # first rating and refuse the other, duplicate_row, which is right but not what happens).
        if device and not case_no.rsplit("-", 1)[-1].startswith(device):
            continue
        if rng.random() >= RATE_SHARE:
            continue
        level = rng.choices([lv for lv, _ in LEVEL_WEIGHTS], [w for _, w in LEVEL_WEIGHTS])[0]
        channel = rng.choice(list(CHANNELS))
        try:
            rate(station, case_no, level=level, channel=channel, comment="办理太慢" if level in BAD_LEVELS else None)
            rated += 1
        except ProxyAppError as exc:
            refused[exc.code] += 1
    return rated, dict(refused)


def check_ratings(store: HubStore, stations: list[Any], today: dt.date, failures: list[str]) -> dict[str, Any]:
    """End conditions of ratings and progress queries; returns the figures for the report.

    ``stations``: (station id, its open Station, whether it kept syncing to the end) of each station.
    """
    at_hub: dict[str, dict[str, Any]] = {}
    codes_checked = 0
    for station_id, station, syncing in stations:
        rows = station.db.execute(
            "SELECT rating_id, case_no, level, channel FROM ratings ORDER BY rating_id"
        ).fetchall()
        for rating_id, case_no, level, channel in rows:
            hub_row = store.row("ratings", rating_id)
            if hub_row is None:
                if syncing:
                    failures.append(f"{station_id}: rating {rating_id} never reached the hub")
                continue
            at_hub[rating_id] = hub_row
            same = (hub_row["level"], hub_row["channel"], hub_row["case_no"]) == (level, channel, case_no)
            # A station that stopped syncing (revoked) never sent what it rated afterwards; the PC
            # replacing it may rate the same case (the rating's id is the case's), and the first
            # rating to reach the hub stands (sync.ratings.FIRST_STANDS).
            if not same and syncing:
                failures.append(f"{station_id}: rating {rating_id} differs at the hub")
        if not syncing:
            continue
        # Every intake's query code finds its case at the hub; a wrong code finds nothing.
        for case_no, intake_id in station.db.execute(
            "SELECT case_no, intake_id FROM cases WHERE status != 'DRAFT' ORDER BY case_no LIMIT 5"
        ).fetchall():
            derived = query_code_of(station, intake_id)
            code = (derived,) if derived else None
            if code is None:
                failures.append(f"{station_id}: intake {intake_id} has no query code")
                continue
            now = dt.datetime.now(dt.UTC)
            found = lookup(store, case_no, code[0], ip=None, channel="fleet", now=now)
            if found is None or found.case_no != case_no:
                failures.append(f"{station_id}: the query code of {case_no} does not find it at the hub")
            wrong = "0000000" + ("1" if code[0][-1] != "1" else "2")
            if lookup(store, case_no, wrong, ip=None, channel="fleet", now=now) is not None:
                failures.append(f"{station_id}: a wrong query code found {case_no}")
            codes_checked += 1
    bad = {rid: row for rid, row in at_hub.items() if row["level"] in BAD_LEVELS}
    for rating_id, row in bad.items():
        follow = store.followup(rating_id)
        case = store.row("cases", row["case_no"]) if row["case_no"] else None
        if follow is None:
            failures.append(f"bad rating {rating_id} has no follow-up")
        elif case is not None and follow["department"] != department_key(case["item_code"]):
            failures.append(f"follow-up of {rating_id} on desk {follow['department']}, not its case's department")
    for rating_id, row in at_hub.items():
        if row["level"] not in BAD_LEVELS and store.followup(rating_id) is not None:
            failures.append(f"a good rating {rating_id} has a follow-up")
    figures = satisfaction(store, today=today)
    case_ratings = sum(1 for row in at_hub.values() if row["case_no"])
    if figures["total"]["n"] != case_ratings:
        failures.append(f"satisfaction counts {figures['total']['n']} ratings, stations sent {case_ratings}")
    return {
        "ratings_at_hub": len(at_hub),
        "bad": len(bad),
        "follow_ups_open": sum(line["followups_open"] for line in figures["by_department"]),
        "satisfaction_rate": figures["total"]["satisfaction_rate"],
        "query_codes_checked": codes_checked,
    }
