"""A station at work in its own process, for crash tests: records cases one by one and syncs every few."""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

from fleet.workload import make_intake
from station import cases as ops
from station.identity import load_keypair
from station.link import sync_once
from station.store import Station

__all__ = ("main",)

USAGE = """python -m fleet.station_worker --data-dir D --hub URL --cases N --seed S [--sync-every K]

The passphrase comes from $STATION_PASSPHRASE. Each line on stdout is flushed only after the
transaction it reports has committed, so whoever kills this process knows what must survive:
"case CASE_NO", "supply CASE_NO MATERIAL", "sync-start", "sync-end IN_STEP PUSHED ACKED", "done".
"""


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fleet.station_worker", description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--hub", required=True, help="the hub's URL")
    parser.add_argument("--cases", type=int, default=100, help="steps to take (intakes and supplies)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sync-every", type=int, default=20, help="sync after this many steps")
    parser.add_argument("--serial", type=int, default=0, help="first serial for applicants' ID numbers")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    keys = load_keypair(args.data_dir, os.environ["STATION_PASSPHRASE"])
    with Station.open(args.data_dir) as station:
        _say("ready")
        for step in range(args.cases):
            open_commitments = station.db.execute(
                "SELECT c.case_no, m.material FROM commitments m JOIN cases c ON c.intake_id = m.intake_id "
                # Still deferred: a fulfilment the hub refused reads "open" again (a known hub bug).
                "JOIN intake_materials im ON im.intake_id = m.intake_id AND im.name_zh = m.material "
                "WHERE m.status = 'open' AND im.state = 'deferred' ORDER BY m.commitment_id"
            ).fetchall()
            if open_commitments and rng.random() < 0.2:
                case_no, material = rng.choice(open_commitments)
                ops.supply_material(station, case_no, [material])
                _say(f"supply {case_no} {material}")
            else:
                result = ops.new_intake(station, make_intake(rng, station.catalog, args.serial + step))
                _say(f"case {result.number}")
            if (step + 1) % args.sync_every == 0:
                _say("sync-start")
                # Short real pauses between retries: a dead hub should not hold the test for seconds.
                report = sync_once(
                    station, hub_url=args.hub, keys=keys, timeout=5.0, sleep=lambda _: time.sleep(0.01), rng=rng.random
                )
                _say(f"sync-end {int(report.in_step)} {report.pushed} {report.acknowledged}")
    _say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
