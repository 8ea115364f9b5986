"""Make the upgrade fixtures of one past release with that release's own code (not imported by any test).

Run it with the release checked out beside the repository and first on the path, so that every
``hub``, ``station``, ``sync`` and ``tests`` module below is the release's own:

    git worktree add --detach /tmp/rel-0.3.0 48de9fc
    PYTHONPATH=/tmp/rel-0.3.0 .venv/bin/python tests/support/release_fixtures.py 0.3.0 48de9fc tests

It builds a small county with the release's end-to-end harness (``tests/integration/county.py``
of that release): ``hub init``, one station of village 349921001001 enrolled over HTTP, three
intakes synced, one of them accepted by the county and the decision synced down, then a fourth
intake sealed but never sent and a note left unsealed, so an upgrade has to carry every kind of
state. It writes ``hub/fixtures/hub-VERSION.sql`` and ``station/fixtures/station-VERSION.sql``
(``.dump`` of the plain databases; ``station-0.4.0-enrolled.sql`` for 0.4, whose
``station-0.4.0.sql`` is an unpaired fixture of the at-rest tests) and
``hub/fixtures/county-VERSION.keys.json``: the test keys made here (the hub's ``hub.key``, the
station's ``station.key`` and ``lookup.key``, the passphrase), never any real county's.

The releases, from the changelog and the version in pyproject.toml: 0.2.0 at def751d ("Changelog for
0.2.0"); 0.3.0 at 48de9fc, the last tree of version 0.3.0 (its release commit 72cab09 has a hub that
does not start: hub/app.py imports hub.auth.require_admin, which that tree lacks; the hub and station
schemas of the two are the same); 0.4.0 at 14fdc75 ("0.4.0: ..."). Release 0.1.0 had no hub.
"""

from __future__ import annotations

import inspect
import json
import sqlite3
import sys
import tempfile
from pathlib import Path

from hub.bootstrap import init_hub  # the release's own
from tests.integration import county as harness  # the release's own end-to-end harness

VILLAGE = "349921001001"


def dump(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return "\n".join(conn.iterdump()) + "\n"
    finally:
        conn.close()


def main(version: str, commit: str, tests: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix=f"release-{version}-"))
    template = root / "template"
    made = init_hub(template)
    args = [root / "county", template]
    if "admin_token" in inspect.signature(harness.county).parameters:
        args.append(made.admin_token)  # 0.2's hub had one administrator token, made by init
    (root / "county").mkdir()
    with harness.county(*args) as county:
        station = county.enrol(VILLAGE)
        first = [station.new_case(name, serial) for serial, name in enumerate(("王一", "李二", "张三"), start=1)]
        assert not station.sync().errors
        county.decide(first[0], "accept", by="审核员")
        assert not station.sync().errors
        later = station.new_case("赵四", 4)
        with station.open() as opened:
            from station.sealing import seal_pending  # the release's own

            seal_pending(opened, station.keys)  # sealed, never sent: it goes up after the upgrade
            from station import cases as ops

            ops.add_note(opened, first[1], "补充材料已电话通知")  # unsealed: sealed after the upgrade
        hub_dir, station_dir = county.hub_dir, station.data_dir
    keys = {
        "made_by": f"release {version} (commit {commit}): tests/support/release_fixtures.py with that release's "
        f"own code: hub init, one station enrolled over HTTP, three intakes synced, {first[0]} accepted and "
        f"synced down, {later} sealed but not sent, a note on {first[1]} not sealed",
        "passphrase": harness.PASSPHRASE,
        "station_id": station.station_id,
        "hub.key": (hub_dir / "hub.key").read_bytes().hex(),
        "station.key": (station_dir / "station.key").read_bytes().hex(),
        "cases": [*first, later],
        "accepted": first[0],
        "noted": first[1],
    }
    if (station_dir / "lookup.key").exists():
        keys["lookup.key"] = (station_dir / "lookup.key").read_bytes().hex()
    station_file = tests / "station" / "fixtures" / f"station-{version}.sql"
    if version == "0.4.0":
        station_file = station_file.with_name("station-0.4.0-enrolled.sql")
    keys["hub_fixture"] = f"hub-{version}.sql"
    keys["station_fixture"] = station_file.name
    header = f"-- {keys['made_by']}\n"
    (tests / "hub" / "fixtures").mkdir(exist_ok=True)
    (tests / "hub" / "fixtures" / f"hub-{version}.sql").write_text(header + dump(hub_dir / "hub.db"), encoding="utf-8")
    station_file.write_text(header + dump(station_dir / "station.db"), encoding="utf-8")
    (tests / "hub" / "fixtures" / f"county-{version}.keys.json").write_text(
        json.dumps(keys, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
