"""The whole path through the real commands: hub init/serve/station add/decide, station enroll/sync."""

from __future__ import annotations

import json
import sqlite3

import pytest

from station.store import Station
from tests.integration.processes import HubProcess, run

pytestmark = pytest.mark.timeout(180)

WANG = "349921195803120234"


def test_operators_path_through_the_commands(tmp_path):
    hub_dir, station_dir = tmp_path / "hub", tmp_path / "station"
    run("hub", "--data-dir", str(hub_dir), "init")
    hub = HubProcess(hub_dir).start()
    try:
        added = run("hub", "--data-dir", str(hub_dir), "station", "add", "--village", "349921001001")
        code = added.stdout.strip().splitlines()[-1]
        env = {"STATION_DATA_DIR": str(station_dir), "STATION_PASSPHRASE": "village-passphrase-1"}
        enrolled = run("station", "enroll", "--hub", hub.url, "--code", code, env=env)
        assert "fingerprint" in enrolled.stdout.lower()
        new = run(
            "station",
            "case",
            "new",
            "--item",
            "RS-001",
            "--name",
            "王小明",
            "--id-number",
            WANG,
            "--phone",
            "13800138000",
            "--material",
            "居民身份证",
            "--material",
            "城乡居民基本养老保险参保登记表",
            env=env,
        )
        case_no = new.stdout.strip().splitlines()[-1]
        assert run("station", "sync", env=env).returncode == 0

        listed = json.loads(run("hub", "--data-dir", str(hub_dir), "case", "list", "--json").stdout)
        (row,) = [r for r in listed if r["case_no"] == case_no]
        assert row["status"] == "RECEIVED" and WANG not in json.dumps(listed)

        run("hub", "--data-dir", str(hub_dir), "case", "decide", case_no, "--status", "accept")
        refused = run("hub", "--data-dir", str(hub_dir), "case", "decide", case_no, "--status", "deliver", check=False)
        assert refused.returncode == 2
        assert run("station", "sync", env=env).returncode == 0
        shown = json.loads(run("station", "case", "show", case_no, "--json", env=env).stdout)
        assert shown["status"] == "ACCEPTED"
        status = json.loads(run("station", "status", "--json", env=env).stdout)
        assert status["unacknowledged"] == 0 and status["enrolled"] is True
    finally:
        hub.stop()
    # A sync with the hub down says so and fails, keeping the data.
    run(
        "station",
        "case",
        "new",
        "--item",
        "RS-001",
        "--name",
        "李四",
        "--id-number",
        "11010519491231002X",
        "--phone",
        "13800138001",
        "--material",
        "居民身份证",
        "--material",
        "城乡居民基本养老保险参保登记表",
        env=env,
    )
    down = run("station", "sync", env=env, check=False)
    assert down.returncode == 1 and down.stderr.strip()
    # Encrypted at rest: plain SQLite reads nothing; the passphrase opens both cases; a wrong one exits 2.
    db = sqlite3.connect(station_dir / "station.db")
    with pytest.raises(sqlite3.DatabaseError):
        db.execute("SELECT COUNT(*) FROM cases").fetchone()
    db.close()
    with Station.open(station_dir, passphrase=env["STATION_PASSPHRASE"]) as station:
        assert station.db.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 2
    wrong = run("station", "case", "list", env={**env, "STATION_PASSPHRASE": "not-the-passphrase"}, check=False)
    assert wrong.returncode == 2 and "wrong passphrase" in wrong.stderr
