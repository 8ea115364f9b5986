"""Upgrades from every release: the databases a past release wrote (its own code made them:
tests/support/release_fixtures.py) open under this one, and the station and the hub sync after.

Release 0.1.0 had no hub: its station folder is upgraded and enrolled with a hub of this release.
From 0.2.0 on, each release's fixture is a county: a hub and a station enrolled with it, with
intakes synced, a decision synced down, a set sealed but never sent and a note never sealed.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from hub.enroll import issue_code
from hub.settings import Settings
from hub.store import HubStore
from hub.store.schema import migrations as hub_migrations
from hub.testing import live_server
from hub.web.app import create_app
from station import cases as ops
from station.enrolment import enroll
from station.identity import load_keypair
from station.link import sync_once
from station.queries import get_case
from station.store import Station
from station.store.schema import migrations as station_migrations
from tests.integration.county import pension_enrolment

TESTS = Path(__file__).resolve().parent.parent
HUB_FIXTURES = TESTS / "hub" / "fixtures"
STATION_FIXTURES = TESTS / "station" / "fixtures"
RELEASES = ["0.2.0", "0.3.0", "0.4.0"]


def load_dump(sql: Path, target: Path) -> None:
    """A database as the release left it: the plain file from its dump, in WAL mode as every release opened it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(target)
    conn.executescript(sql.read_text(encoding="utf-8"))
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()


def old_county(version: str, root: Path) -> tuple[Path, Path, dict]:
    keys = json.loads((HUB_FIXTURES / f"county-{version}.keys.json").read_text(encoding="utf-8"))
    hub_dir, station_dir = root / "hub", root / "station"
    load_dump(HUB_FIXTURES / keys["hub_fixture"], hub_dir / "hub.db")
    (hub_dir / "hub.key").write_bytes(bytes.fromhex(keys["hub.key"]))
    load_dump(STATION_FIXTURES / keys["station_fixture"], station_dir / "station.db")
    (station_dir / "station.key").write_bytes(bytes.fromhex(keys["station.key"]))
    (station_dir / "lookup.key").write_bytes(bytes.fromhex(keys["lookup.key"]))
    return hub_dir, station_dir, keys


def statuses(station_dir: Path) -> dict[str, str]:
    with Station.open(station_dir) as station:
        return dict(station.db.execute("SELECT case_no, status FROM cases").fetchall())


@pytest.mark.parametrize("version", RELEASES)
def test_a_county_of_an_earlier_release_upgrades_and_syncs(version: str, tmp_path: Path) -> None:
    hub_dir, station_dir, keys = old_county(version, tmp_path)
    passphrase = keys["passphrase"]
    with HubStore.open_existing(hub_dir) as store:  # the hub's migrations run here
        assert not hub_migrations.pending(store.db)
        held = {c["case_no"] for c in store.list_cases(limit=100)}
    assert held == set(keys["cases"][:3])  # the fourth was sealed at the station, never sent
    with Station.open(station_dir, passphrase=passphrase) as station:  # encrypted in place, then migrated
        assert not station_migrations.pending(station.db)
        assert station.meta.lookup_key_id  # the 0.4-and-older lookup key file moved inside
        new = ops.new_intake(station, pension_enrolment("周五", 55)).number
    signing = load_keypair(station_dir, passphrase)

    with live_server(create_app(Settings(data_dir=hub_dir))) as url:
        report = sync_once(station_dir, hub_url=url, keys=signing, timeout=10.0, sleep=lambda _: None)
        assert not report.errors, report.errors
        assert report.in_step and report.unacknowledged == 0 and report.unsealed == 0
        again = sync_once(station_dir, hub_url=url, keys=signing, timeout=10.0, sleep=lambda _: None)
        assert not again.errors and again.pushed == 0

    with HubStore.open_existing(hub_dir) as store:
        at_hub = {c["case_no"]: c["status"] for c in store.list_cases(limit=100)}
        assert not store.forks()
        notes = store.db.execute("SELECT case_no, text FROM case_notes").fetchall()
    expected = {*keys["cases"], new}
    assert set(at_hub) == expected  # the set sealed by the old release went up as it was sealed
    assert at_hub[keys["accepted"]] == "ACCEPTED"
    assert (keys["noted"], "补充材料已电话通知") in notes  # the change the old release never sealed
    assert statuses(station_dir) == at_hub
    with Station.open(station_dir) as station:
        assert get_case(station, keys["accepted"]).summary.status == "ACCEPTED"


def test_a_station_of_0_1_upgrades_enrols_and_sends_its_cases(tmp_path: Path, hub_template) -> None:
    """0.1.0 was the station alone: its folder, upgraded, enrols with a hub of this release and sends its book."""
    station_dir = tmp_path / "station"
    load_dump(STATION_FIXTURES / "station-0.1.0.sql", station_dir / "station.db")
    passphrase = "village-passphrase-1"
    with Station.open(station_dir, passphrase=passphrase) as station:
        old_cases = {n for (n,) in station.db.execute("SELECT case_no FROM cases")}
        village, device = station.village_code, station.device
    assert old_cases
    hub_dir = tmp_path / "hub"
    shutil.copytree(hub_template[0], hub_dir)
    with HubStore.open_existing(hub_dir) as store:
        code = issue_code(store, village, device=device).code
    with live_server(create_app(Settings(data_dir=hub_dir))) as url:
        enroll(station_dir, hub_url=url, code=code, passphrase=passphrase, key_work=2**10)
        report = sync_once(
            station_dir, hub_url=url, timeout=10.0, sleep=lambda _: None, keys=load_keypair(station_dir, passphrase)
        )
        assert not report.errors, report.errors
        assert report.unacknowledged == 0 and report.unsealed == 0
    with HubStore.open_existing(hub_dir) as store:
        assert {c["case_no"] for c in store.list_cases(limit=100)} == old_cases
