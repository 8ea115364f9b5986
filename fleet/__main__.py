"""``python -m fleet``: simulate a county's stations against one hub process and print the report."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from fleet.checks import check_fleet
from fleet.report import build_report, render
from fleet.sim import MIN_DAYS, FleetConfig, run_fleet


def parse(argv: list[str] | None) -> tuple[FleetConfig, Path | None]:
    defaults = FleetConfig()
    p = argparse.ArgumentParser(prog="python -m fleet", description=__doc__ + " Progress goes to stderr.")
    p.add_argument("--villages", type=int, default=defaults.villages, help="stations' villages (max 395)")
    p.add_argument("--days", type=int, default=defaults.days, help="simulated days (working days get work)")
    p.add_argument(
        "--seed",
        type=int,
        default=defaults.seed,
        help="replays a run's plan: profiles, work, events (concurrent syncs may interleave differently)",
    )
    p.add_argument(
        "--cases-per-day", type=float, default=defaults.cases_per_day, help="mean intakes per village per working day"
    )
    p.add_argument("--long-gap", type=int, default=defaults.long_gap, help="days the long-offline stations stay away")
    p.add_argument("--gprs", type=int, default=defaults.gprs, help="stations behind a GPRS link (slow on purpose)")
    p.add_argument("--workers", type=int, default=defaults.workers, help="stations working/syncing at once")
    p.add_argument("--start", type=dt.date.fromisoformat, default=defaults.start, help="first simulated day")
    p.add_argument("--root", type=Path, default=None, help="keep the hub and station folders here")
    p.add_argument("--out", type=Path, default=None, help="also write the report as JSON")
    a = p.parse_args(argv)
    if a.days < MIN_DAYS:
        p.error(f"--days must be at least {MIN_DAYS}: the backup, revocation and restore need room")
    small = a.villages < 60
    return FleetConfig(
        villages=a.villages,
        days=a.days,
        seed=a.seed,
        cases_per_day=a.cases_per_day,
        long_gap=a.long_gap,
        gprs=a.gprs,
        workers=a.workers,
        start=a.start,
        root=a.root,
        long_offline=1 if small else 3,
        skewed=4,
        usb=1 if small else 2,
        second_pcs=1 if small else 5,
        weekly_share=0.15,
    ), a.out


def main(argv: list[str] | None = None) -> int:
    config, out = parse(argv)
    started = time.monotonic()
    report = run_fleet(config, after=lambda fleet: build_report(fleet, check_fleet(fleet), time.monotonic() - started))
    report["seconds"]["wall"] = round(time.monotonic() - started, 1)
    print(render(report))
    if out:
        out.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    if report["failures"]:
        args = " ".join(sys.argv[1:] if argv is None else argv)
        print(
            f"replay with: python -m fleet {args} (same seed {config.seed}; FLEET_DEBUG=1 shows refused moves)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
