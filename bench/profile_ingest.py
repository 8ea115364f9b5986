"""Profile the hub's backlog ingest (``hub.ingest.ingest_sets`` in-process) with cProfile: CPU per case and the top costs.

A tool, not a benchmark: ``python -m bench.profile_ingest --intakes 1000 --keep DIR`` prepares a hub
and a station's sealed backlog as bench.bench_backlog does (once: a second run with the same
``--keep`` folder reuses them), ingests a fresh copy of the hub with and without cProfile, and prints
the process CPU per case and the functions costing the most CPU.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import time
from pathlib import Path

from bench.bench_backlog import PASSPHRASE, _cases, prepare, timed_ingest
from station.store import Station


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_ingest", description=__doc__)
    parser.add_argument("--intakes", type=int, default=1000, help="intakes in the backlog (default 1000)")
    parser.add_argument("--keep", type=Path, required=True, help="folder for the prepared hub and station")
    parser.add_argument("--top", type=int, default=30, help="functions listed (default 30)")
    parser.add_argument("--repeat", type=int, default=3, help="unprofiled runs; the least CPU is printed")
    args = parser.parse_args(argv)
    before, station = args.keep / "hub-before", args.keep / "station"
    if not (before / "hub.db").exists() or not station.exists():
        shutil.rmtree(args.keep, ignore_errors=True)
        args.keep.mkdir(parents=True)
        prepare(args.keep, args.intakes, 2026, lambda m: print(m, file=sys.stderr))
    Station.open(station, passphrase=PASSPHRASE).close()  # its data key unlocked once for this process
    target = args.keep / "hub-run"
    best = float("inf")
    for _ in range(max(args.repeat, 1)):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(before, target)
        _, cpu, _, _ = timed_ingest(target, station)
        best = min(best, cpu)
    cases = _cases(target)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(before, target)
    profile = cProfile.Profile(time.process_time)  # CPU, not wall: other processes share the machine
    profile.enable()
    timed_ingest(target, station)
    profile.disable()
    print(
        f"{cases} cases: {best:.3f} s CPU, {best / max(cases, 1) * 1000:.3f} ms CPU per case (least of {args.repeat})"
    )
    stats = pstats.Stats(profile).strip_dirs().sort_stats("tottime")
    stats.print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
