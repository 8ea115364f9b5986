"""Parallel review end to end: the departments' opinions reach the village's station, shown on the case."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from hub.cli import main as hub_main
from hub.escalation import deem_consent
from station.cli import main as station_main
from tests.integration import county as live
from tests.integration.county import PASSPHRASE, V1, County

pytestmark = pytest.mark.timeout(600)


def station_cli(handle: live.TestStationHandle, *args: str):
    env = {"STATION_DATA_DIR": str(handle.data_dir), "STATION_PASSPHRASE": PASSPHRASE, "LANG": "", "LC_ALL": ""}
    return CliRunner().invoke(station_main, ["--lang", "en", *args], env=env, catch_exceptions=False)


def hub_cli(county: County, *args: str):
    return CliRunner().invoke(hub_main, ["--data-dir", str(county.hub_dir), *args], catch_exceptions=False)


def test_the_station_shows_which_department_holds_the_case_and_what_each_said(live_county: County):
    a1, a2 = live_county.enrol(V1), live_county.enrol(V1)  # the village's two PCs both hear it
    case_no = a1.new_case("王小明", 1)
    assert a1.sync().in_step
    live_county.decide(case_no, "accept", now=lambda: dt.datetime.now(dt.UTC))
    for department in ("YB", "MZ"):
        asked = hub_cli(live_county, "joint", "request", case_no, "--department", department, "--days", "2")
        assert asked.exit_code == 0, asked.output
    answered = hub_cli(
        live_county, "joint", "answer", case_no, "--department", "YB", "--opinion", "consent", "--by", "医保科"
    )
    assert answered.exit_code == 0, answered.output
    live_county.sync_all()

    for handle in (a1, a2):
        shown = json.loads(station_cli(handle, "case", "show", case_no, "--json").stdout)
        assert [(o["department"], o["opinion"]) for o in shown["opinions"]] == [
            ("YB", "consent"),
            ("MZ", None),
        ]  # in the order asked
    text = station_cli(a1, "case", "show", case_no).stdout
    assert "Parallel review (departments' opinions):" in text and "awaiting its answer (by " in text
    assert "医保科" not in text  # who answered stays at the hub

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=14)  # MZ did not answer in time: the system's consent
    with live_county.store() as store:
        assert [r["department"] for r in deem_consent(store, later.date(), now=later)] == ["MZ"]
    live_county.sync_all()
    shown = json.loads(station_cli(a2, "case", "show", case_no, "--json").stdout)
    assert [(o["department"], o["opinion"]) for o in shown["opinions"]] == [("YB", "consent"), ("MZ", "deemed_consent")]
    assert shown["status"] == "ACCEPTED"  # the state re-sent with the opinions moved nothing

    # A PC the village enrols afterwards gets them with the village's history.
    a3 = live_county.enrol(V1)
    a3.sync()
    shown = json.loads(station_cli(a3, "case", "show", case_no, "--json").stdout)
    assert [(o["department"], o["opinion"]) for o in shown["opinions"]] == [("YB", "consent"), ("MZ", "deemed_consent")]
