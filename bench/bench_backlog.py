"""Backlog ingest: one station's backlog of 10,000 intakes through the hub's ingest, beside raw batched inserts.

Issue 14's second benchmark. One enrolled station records N intakes (a county's worth of a long
offline spell: spread over the working days before today) and seals them as it would before a
sync. Three copies of the same hub (after the station's enrolment, before the backlog) then take
the same rows:

- **ingest**: ``hub.ingest.ingest_sets`` in-process, the station's sealed sets in requests of at
  most ``MAX_SETS_PER_REQUEST``, as the exchange hands them over (signatures, unsealing, chain
  checks, the lifecycle, receipts, one transaction per set);
- **sync**: the station's real sync rounds (``station.link.sync_once``) to that hub served by
  uvicorn on loopback, the whole backlog until in step;
- **raw (baseline)**: the very rows the ingest wrote (every table but those triggers keep), read
  back from the ingested copy and inserted into the third copy with ``executemany``, 1,000 rows a
  transaction, on the same engine with the same connection settings.

Cases/s of each and the ingest's share of raw (aim: at least 25 %). Progress goes to stderr, the
figures (a Markdown table) to stdout; ``--out`` writes them as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.bench_sync import Workload, _record
from bench.common import log, machine, print_figures
from hub.bootstrap import init_hub
from hub.enroll import issue_code
from hub.ingest import ingest_sets
from hub.keys import load_identity
from hub.settings import Settings
from hub.store import DB_FILE, HubStore
from hub.testing import live_server
from hub.web.app import create_app
from station.enrolment import enroll
from station.identity import load_keypair
from station.link import sync_once
from station.sealing import seal_pending
from station.store import Station
from sync.limits import MAX_SETS_PER_REQUEST

__all__ = ("AIM_SHARE", "main", "run", "table")

PASSPHRASE = "bench-passphrase-1"
INTAKES = 10_000
PER_DAY = 20
RAW_BATCH = 1_000
AIM_SHARE = 0.25
CHINA = dt.timezone(dt.timedelta(hours=8))


def _working_days(count: int, per_day: int) -> list[tuple[dt.date, int]]:
    """``count`` intakes, ``per_day`` on each working day (Monday to Friday) up to yesterday."""
    days: list[tuple[dt.date, int]] = []
    day = dt.datetime.now(CHINA).date()
    left = count
    while left > 0:
        day -= dt.timedelta(days=1)
        if day.weekday() < 5:
            days.append((day, min(per_day, left)))
            left -= per_day
    return list(reversed(days))


def prepare(root: Path, intakes: int, seed: int, progress: Callable[[str], None] = log) -> tuple[Path, Path, int]:
    """(hub folder after enrolment, station folder with the backlog sealed, sets sealed)."""
    hub_dir, station_dir = root / "hub-before", root / "station"
    progress("initialising a hub ...")
    init_hub(hub_dir)
    with HubStore.open_existing(hub_dir) as store:
        village = next(iter(store.divisions().villages())).code
        code = issue_code(store, village).code
    with live_server(create_app(Settings(data_dir=hub_dir))) as url:
        enroll(station_dir, hub_url=url, code=code, passphrase=PASSPHRASE, key_work=2**10)
        keys = load_keypair(station_dir, PASSPHRASE)
        if not sync_once(station_dir, hub_url=url, keys=keys).in_step:
            raise RuntimeError("the station's first sync was not in step")
    progress(f"recording {intakes:,} intakes at the station ...")
    started = time.perf_counter()
    recorded = _record(station_dir, Workload(random.Random(seed)), _working_days(intakes, PER_DAY))
    with Station.open(station_dir) as station:
        sets = len(seal_pending(station, keys))
    progress(f"  {recorded:,} intakes recorded and sealed into {sets} sets in {time.perf_counter() - started:.0f} s")
    return hub_dir, station_dir, sets


def _envelopes(station_dir: Path) -> list[bytes]:
    with Station.open(station_dir) as station:
        return [bytes(r[0]) for r in station.db.execute("SELECT envelope FROM sets_out ORDER BY seq").fetchall()]


def _station_id(station_dir: Path) -> str:
    with Station.open(station_dir) as station:
        return station.station_id


def timed_ingest(hub_dir: Path, station_dir: Path) -> tuple[float, float, int]:
    """Seconds (wall, CPU) to ingest the backlog in-process, and the sets accepted."""
    envelopes = _envelopes(station_dir)
    station_id = _station_id(station_dir)
    identity = load_identity(hub_dir)
    accepted = 0
    with HubStore.open_existing(hub_dir) as store:
        started, cpu = time.perf_counter(), time.process_time()
        for first in range(0, len(envelopes), MAX_SETS_PER_REQUEST):
            chunk = envelopes[first : first + MAX_SETS_PER_REQUEST]
            answer = ingest_sets(store, identity, chunk, station_id=station_id, via="http", lean=True)
            accepted += sum(r.status == "accepted" for r in answer.results)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return seconds, cpu, accepted


def _derived(conn: sqlite3.Connection) -> set[str]:
    found: set[str] = set()
    for (text,) in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger'"):
        found.update(m.lower() for m in re.findall(r"(?i)\b(?:INSERT\s+INTO|UPDATE)\s+(\w+)", text or ""))
    return found


def new_rows(before: Path, after: Path) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """The rows ``after`` holds beyond ``before`` (by rowid), per table, triggers' tables left out."""
    old = sqlite3.connect(before / DB_FILE)
    new = sqlite3.connect(after / DB_FILE)
    try:
        derived = _derived(new)
        tables = [
            r[0]
            for r in new.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "AND sql NOT LIKE '%WITHOUT ROWID%'"
            )
        ]
        found = {}
        for table in tables:
            if table in derived:
                continue
            top = old.execute(f'SELECT COALESCE(MAX(rowid), 0) FROM "{table}"').fetchone()[0]
            cursor = new.execute(f'SELECT * FROM "{table}" WHERE rowid > ? ORDER BY rowid', [top])
            rows = cursor.fetchall()
            if rows:
                found[table] = ([d[0] for d in cursor.description], rows)
        return found
    finally:
        old.close()
        new.close()


def timed_raw(hub_dir: Path, rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]]) -> tuple[float, float]:
    """Seconds to insert ``rows`` into the hub in ``hub_dir`` with executemany, RAW_BATCH rows a transaction,
    through the hub store's own connection (its pragmas: WAL, foreign keys, synchronous)."""
    with HubStore.open_existing(hub_dir) as store:
        conn = store.db.conn
        started, cpu = time.perf_counter(), time.process_time()
        for table, (columns, values) in rows.items():
            names = ", ".join(f'"{c}"' for c in columns)
            statement = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'
            for first in range(0, len(values), RAW_BATCH):
                with store.transaction():
                    conn.executemany(statement, values[first : first + RAW_BATCH])
        return time.perf_counter() - started, time.process_time() - cpu


def timed_sync(hub_dir: Path, station_dir: Path) -> tuple[float, bool, int]:
    """Seconds for the station's real sync rounds to a live hub until in step; in step; rounds."""
    keys = load_keypair(station_dir, PASSPHRASE)
    Station.open(station_dir, passphrase=PASSPHRASE).close()  # a copied folder: its data key unlocked once
    rounds, in_step = 0, False
    with live_server(create_app(Settings(data_dir=hub_dir))) as url:
        started = time.perf_counter()
        while not in_step and rounds < 200:
            report = sync_once(station_dir, hub_url=url, keys=keys, timeout=300)
            rounds += 1
            in_step = report.in_step
            if report.fatal:
                break
        return time.perf_counter() - started, in_step, rounds


def _cases(hub_dir: Path) -> int:
    with HubStore.open_existing(hub_dir) as store:
        return int(store.count_rows("cases"))


def run(
    root: Path, *, intakes: int = INTAKES, seed: int = 2026, progress: Callable[[str], None] = log
) -> dict[str, Any]:
    before, station_dir, sets = prepare(root, intakes, seed, progress)
    ingest_dir, raw_dir, sync_dir = root / "hub-ingest", root / "hub-raw", root / "hub-sync"
    for target in (ingest_dir, raw_dir, sync_dir):
        shutil.copytree(before, target)
    progress(f"ingest: {sets} sets in-process ...")
    ingest_s, ingest_cpu, accepted = timed_ingest(ingest_dir, station_dir)
    cases = _cases(ingest_dir)
    progress(f"  {ingest_s:.1f} s, {accepted} sets accepted, {cases:,} cases")
    rows = new_rows(before, ingest_dir)
    total_rows = sum(len(v) for _, v in rows.values())
    progress(f"raw: the same {total_rows:,} rows in {len(rows)} tables with executemany ...")
    raw_s, raw_cpu = timed_raw(raw_dir, rows)
    progress(f"  {raw_s:.1f} s")
    progress("sync: the station's real sync rounds over loopback ...")
    sync_station = root / "station-sync"
    shutil.copytree(station_dir, sync_station)
    sync_s, in_step, requests = timed_sync(sync_dir, sync_station)
    progress(f"  {sync_s:.1f} s in {requests} rounds, in step: {in_step}")
    return {
        "machine": machine(sqlite=True),
        "backend": "SQLite",
        "intakes": intakes,
        "sets": sets,
        "cases": cases,
        "rows": {table: len(values) for table, (_, values) in rows.items()},
        "ingest": {
            "seconds": ingest_s,
            "cpu_s": ingest_cpu,
            "sets_accepted": accepted,
            "cases_per_s": cases / ingest_s,
            "cases_per_cpu_s": cases / ingest_cpu,
        },
        "raw": {
            "seconds": raw_s,
            "cpu_s": raw_cpu,
            "rows": total_rows,
            "cases_per_s": cases / raw_s,
            "cases_per_cpu_s": cases / raw_cpu,
        },
        "sync": {
            "seconds": sync_s,
            "in_step": in_step,
            "requests": requests,
            "cases": _cases(sync_dir),
            "cases_per_s": _cases(sync_dir) / sync_s,
        },
        "share_of_raw": raw_s / ingest_s,
        "share_of_raw_cpu": raw_cpu / ingest_cpu,
    }


def table(figures: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    i, r, s = figures["ingest"], figures["raw"], figures["sync"]
    share = figures["share_of_raw"]
    backend = figures["backend"]
    lines = [
        "| engine | path | cases | wall s | cases/s | share of raw | CPU s | cases per CPU s | share of raw (CPU) "
        "| aim ≥ 25 % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| {backend} | baseline: raw `executemany` of the same {r['rows']:,} rows, {RAW_BATCH:,} a transaction "
        f"| {figures['cases']:,} | {r['seconds']:.1f} | {r['cases_per_s']:,.0f} | 100 % | {r['cpu_s']:.1f} "
        f"| {r['cases_per_cpu_s']:,.0f} | 100 % | — |",
        f"| {backend} | hub ingest (`ingest_sets`, {figures['sets']} sets, in-process) | {figures['cases']:,} "
        f"| {i['seconds']:.1f} | {i['cases_per_s']:,.0f} | {share:.1%} | {i['cpu_s']:.1f} | {i['cases_per_cpu_s']:,.0f} "
        f"| {figures['share_of_raw_cpu']:.1%} | {'yes' if share >= AIM_SHARE else 'NO'} |",
        f"| {backend} | the station's sync rounds to uvicorn on loopback ({s['requests']} rounds"
        f"{'' if s['in_step'] else ', NOT in step'}) | {s['cases']:,} | {s['seconds']:.1f} | {s['cases_per_s']:,.0f} "
        f"| {s['cases_per_s'] / r['cases_per_s']:.1%} | | | | — |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_backlog", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--intakes", type=int, default=INTAKES, help=f"intakes in the backlog (default {INTAKES})")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.intakes < 1:
        parser.error("--intakes must be at least 1")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-backlog-") as tmp:
        figures = run(Path(tmp), intakes=args.intakes, seed=args.seed)
    print_figures(figures, table(figures), started=started, out=args.out)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
