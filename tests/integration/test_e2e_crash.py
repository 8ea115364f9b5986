"""The hub killed mid-ingest, many times: it holds every set it acknowledged, none twice, none it did not."""

from __future__ import annotations

import random
import sqlite3
import threading
import time

import pytest

from hub.bootstrap import init_hub
from hub.enroll import issue_code
from hub.store import HubStore
from station import cases as ops
from station.enrolment import enroll
from station.identity import load_keypair
from station.link import sync_once
from station.store import Station, datakey
from station.store.db import connect
from tests.integration.county import PASSPHRASE, V1, pension_enrolment
from tests.integration.processes import HubProcess

pytestmark = pytest.mark.timeout(300)


def test_hub_killed_mid_ingest_keeps_exactly_what_it_acknowledged(tmp_path):
    rng = random.Random(20261125)
    hub_dir, station_dir = tmp_path / "hub", tmp_path / "station"
    init_hub(hub_dir)
    hub = HubProcess(hub_dir).start()
    try:
        with HubStore.open_existing(hub_dir) as store:
            code = issue_code(store, V1).code
        enroll(station_dir, hub_url=hub.url, code=code, passphrase=PASSPHRASE, key_work=2**10)
        keys = load_keypair(station_dir, PASSPHRASE)
        serial = 0
        kills = interrupted = 0
        for _round in range(6):
            with Station.open(station_dir) as station:
                for _ in range(150):  # ~900 changes: a couple of sets per round
                    ops.new_intake(station, pension_enrolment("王小明", serial))
                    serial += 1
            worker = threading.Thread(
                target=lambda: sync_once(station_dir, hub_url=hub.url, keys=keys, timeout=5, sleep=lambda _: None)
            )
            worker.start()
            time.sleep(rng.uniform(0.0, 0.06))
            hub.kill()
            kills += 1
            worker.join(60)
            with Station.open(station_dir) as station:
                unacknowledged = station.db.execute("SELECT COUNT(*) FROM sets_out WHERE receipt IS NULL").fetchone()[0]
            interrupted += unacknowledged > 0
            hub.start()
        assert kills == 6 and interrupted >= 1  # the kills did land in the middle of syncs
        # After every restart: the next sync completes.
        for _ in range(3):
            report = sync_once(station_dir, hub_url=hub.url, keys=keys, timeout=10, sleep=lambda _: None)
            if report.in_step:
                break
        assert report.in_step, report
    finally:
        hub.stop()

    hub_db = sqlite3.connect(hub_dir / "hub.db")
    station_db = connect(station_dir / "station.db", datakey.unlock(station_dir, PASSPHRASE))
    try:
        assert hub_db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert station_db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        held = [r[0] for r in hub_db.execute("SELECT seq FROM sets_in ORDER BY seq")]
        assert held == list(range(1, len(held) + 1))  # each set once, in order
        receipted = [r[0] for r in station_db.execute("SELECT seq FROM sets_out WHERE receipt IS NOT NULL")]
        assert set(receipted) <= set(held)  # every acknowledged set is at the hub
        hub_cases = {r[0] for r in hub_db.execute("SELECT case_no FROM cases")}
        station_cases = {r[0] for r in station_db.execute("SELECT case_no FROM cases")}
        assert hub_cases == station_cases and len(hub_cases) == serial  # nothing lost, nothing doubled
        events = hub_db.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM case_events").fetchone()
        assert events[0] == events[1] == serial
    finally:
        hub_db.close()
        station_db.close()
