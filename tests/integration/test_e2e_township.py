"""Township review end to end: a live hub, a real station of the township's village, the township's decisions.

A delegated item (NY-002, the township decides) goes to completion by the township clerk and is delivered
at the station; a 低保 case (MZ-001, township_or_county) is reviewed first by the township, forwarded with its
opinion and decided by the county department; the station shows which level holds the case at each step.
"""

from __future__ import annotations

import datetime as dt

import pytest

from hub.accounts import Principal, add_user, hasher_for
from hub.desk import decide_for_department
from hub.settings import Settings
from hub.township import FORWARD, decide_for_township
from station import cases as ops
from station.cases import NewIntake
from station.render import case_text
from sync.catalog import sample_catalog
from sync.errors import IllegalTransition
from tests.integration.county import make_id

pytestmark = pytest.mark.timeout(180)

TOWNSHIP = "349921001000"


def intake(item: str, serial: int) -> NewIntake:
    required = [m.name_zh for m in sample_catalog().item(item).materials if m.required]
    return NewIntake(
        item=item, applicant_name="赵六", id_number=make_id(serial), phone="13800000001", materials=required
    )


def clerk(county, name: str, role: str, **scope: str) -> Principal:
    with county.store() as store:
        settings = Settings(data_dir=county.hub_dir, argon2_time_cost=1, argon2_memory_kib=1024)
        user = add_user(
            store, name, role, "desk-password-1", hasher=hasher_for(settings), now=dt.datetime.now(dt.UTC), **scope
        )
    return Principal(
        user_id=user.user_id, name=user.name, role=user.role, department=user.department,
        via="session", township=user.township,
    )  # fmt: skip


def level_at_station(handle, case_no: str) -> str | None:
    return handle.case(case_no).summary.level


def test_township_review_end_to_end(live_county):
    station = live_county.enrol()
    township = clerk(live_county, "tw", "township", township=TOWNSHIP)
    mz = clerk(live_county, "mz", "department", department="MZ")
    with station.open() as st:
        delegated = ops.new_intake(st, intake("NY-002", 1)).number
        county_item = ops.new_intake(st, intake("MZ-001", 2)).number
    station.sync()
    assert level_at_station(station, delegated) == "township"
    assert level_at_station(station, county_item) == "township_initial"

    now = dt.datetime.now(dt.UTC)
    with live_county.store() as store:
        # The delegated item: the township decides it.
        for status in ("ACCEPTED", "IN_PROGRESS"):
            decide_for_township(store, township, delegated, status, now=now)
        decide_for_township(store, township, delegated, "COMPLETED", outcome="approved", now=now)
        # The county item: the department may not act while the township holds it.
        with pytest.raises(IllegalTransition):
            decide_for_department(store, mz, county_item, "ACCEPTED", now=now)
        decide_for_township(store, township, county_item, "ACCEPTED", now=now)
        decide_for_township(store, township, county_item, "IN_PROGRESS", now=now)
    station.sync()
    with station.open() as st:
        ops.deliver(st, delegated, by="李代办")
    assert level_at_station(station, county_item) == "township_initial"
    text = "\n".join(case_text(station.case(county_item), "zh"))
    assert "当前办理层级：乡镇初审中" in text

    with live_county.store() as store:
        decide_for_township(store, township, county_item, FORWARD, reason="入户调查属实，同意上报", now=now)
        with pytest.raises(IllegalTransition):
            decide_for_township(store, township, county_item, "SUSPENDED", reason="x", now=now)
        decide_for_department(store, mz, county_item, "COMPLETED", outcome="approved", now=now)
    station.sync()
    station.sync()
    detail = station.case(county_item)
    forward = [e for e in detail.history if e.actor == "township" and e.from_status == e.to_status == "IN_PROGRESS"]
    assert [e.reason for e in forward] == ["入户调查属实，同意上报"]
    assert (detail.summary.status, detail.outcome, detail.summary.level) == ("COMPLETED", "approved", "village")
    assert station.case(delegated).summary.status == "DELIVERED"
    assert station.case(delegated).summary.level is None
    live_county.assert_converged()
