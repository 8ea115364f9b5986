"""What villagers bring to a station: seeded intakes from the sample catalogue, and the agent's follow-ups."""

from __future__ import annotations

import math
import os
import random
import sys
from dataclasses import dataclass, field

from fleet.ratings import rate_delivered
from station import cases as ops
from station.cases import NewIntake
from station.store import Station
from sync.catalog import Catalog, ServiceItem
from sync.errors import ProxyAppError
from sync.idnumber import check_character

__all__ = ("Activity", "make_id", "make_intake", "material_count", "poisson", "station_day")

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ("桂英", "秀兰", "建国", "小明", "海燕", "志强", "淑珍", "伟", "芳", "军", "丽娟", "德胜", "玉兰", "国庆")


def make_id(serial: int) -> str:
    """A valid resident ID number of the sample county, different for each serial (born 1940–1999)."""
    year = 1940 + serial % 60
    body = f"349921{year}{(serial % 12) + 1:02d}{(serial % 28) + 1:02d}{serial % 1000:03d}"
    return body + check_character(body)


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's Poisson draw: cases walking in on one day (means here are small)."""
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def material_count(item: ServiceItem) -> int:
    """Rows an intake of ``item`` makes in intake_materials: one per distinct material name."""
    return len({m.name_zh for m in item.materials})


def make_intake(rng: random.Random, catalog: Catalog, serial: int) -> NewIntake:
    """A single-item intake with every required material; a third of the time one 容缺 deferral."""
    item = rng.choice(catalog.items)
    required = [m.name_zh for m in item.materials if m.required]
    deferrable = [m.name_zh for m in item.materials if m.allow_deferred and m.required]
    deferred = [rng.choice(deferrable)] if deferrable and rng.random() < 0.33 else []
    return NewIntake(
        item=item.code,
        applicant_name=rng.choice(_SURNAMES) + rng.choice(_GIVEN),
        id_number=make_id(serial),
        phone=f"1{rng.choice('3589')}{serial % 10**9:09d}",
        materials=[m for m in dict.fromkeys(required) if m not in deferred],
        deferred=deferred,
    )


@dataclass
class Activity:
    """What a station did on one day (and the case numbers it created, for the ledger)."""

    created: list[str] = field(default_factory=list)
    delivered: int = 0
    supplied: int = 0
    corrected: int = 0
    withdrawn: int = 0
    rated: int = 0
    refused_locally: dict[str, int] = field(default_factory=dict)
    """Moves the station's own rules stopped (a race with a decision it has not seen yet), by code."""


def station_name(args: tuple) -> str:
    return getattr(args[0], "station_id", "?") if args else "?"


def _try(activity: Activity, action, *args, **kwargs) -> bool:
    try:
        action(*args, **kwargs)
        return True
    except ProxyAppError as exc:
        code = getattr(exc, "code", None) or type(exc).__name__
        if os.environ.get("FLEET_DEBUG"):
            print(f"{station_name(args)} {getattr(action, '__name__', action)}: {code}: {exc}", file=sys.stderr)
        activity.refused_locally[code] = activity.refused_locally.get(code, 0) + 1
        return False


def station_day(station: Station, rng: random.Random, *, mean_cases: float, serial_base: int) -> Activity:
    """One working day at a station: follow-ups on open cases, then the day's new intakes."""
    activity = Activity()
    db = station.db
    # Results the county completed are handed over (held while 容缺 materials are outstanding).
    for (case_no,) in db.execute("SELECT case_no FROM cases WHERE status = 'COMPLETED' ORDER BY case_no").fetchall():
        if rng.random() < 0.7 and _try(activity, ops.deliver, station, case_no):
            activity.delivered += 1
    # Applicants rate what they were handed (好差评), most of them at once (fleet.ratings).
    activity.rated, refused = rate_delivered(station, rng)
    for code, n in refused.items():
        activity.refused_locally[code] = activity.refused_locally.get(code, 0) + n
    # Promised materials arrive.
    for case_no, material in db.execute(
        "SELECT c.case_no, m.material FROM commitments m JOIN cases c ON c.intake_id = m.intake_id "
        # Still deferred: a fulfilment the hub refused reads "open" again (a known hub bug).
        "JOIN intake_materials im ON im.intake_id = m.intake_id AND im.name_zh = m.material "
        "WHERE m.status = 'open' AND im.state = 'deferred' AND c.status NOT IN ('DELIVERED', 'WITHDRAWN', 'NOT_ACCEPTED') ORDER BY c.case_no"
    ).fetchall():
        if rng.random() < 0.4 and _try(activity, ops.supply_material, station, case_no, [material]):
            activity.supplied += 1
    # Corrections the county asked for are handed back in (a corrected phone number).
    for (case_no,) in db.execute(
        "SELECT case_no FROM cases WHERE status = 'AWAITING_CORRECTION' ORDER BY case_no"
    ).fetchall():
        if rng.random() < 0.6 and _try(
            activity, ops.correct_intake, station, case_no, phone=f"139{rng.randrange(10**8):08d}"
        ):
            activity.corrected += 1
    # Now and then an applicant withdraws before the decision.
    for (case_no,) in db.execute("SELECT case_no FROM cases WHERE status IN ('RECEIVED', 'ACCEPTED')").fetchall():
        if rng.random() < 0.01 and _try(activity, ops.withdraw, station, case_no, reason="申请人不再办理"):
            activity.withdrawn += 1
    for i in range(poisson(rng, mean_cases)):
        result = ops.new_intake(station, make_intake(rng, station.catalog, serial_base + i))
        activity.created.extend(c.case_no for c in result.cases)
    return activity
