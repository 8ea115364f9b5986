"""Backlog ingest: one station's backlog of 10,000 intakes through the hub's ingest, beside raw batched inserts.

Issue 14's second benchmark. One enrolled station records N intakes (a county's worth of a long
offline spell: spread over the working days before today) and seals them as it would before a
sync. Copies of the same hub (after the station's enrolment, before the backlog) then take the
same rows, by three paths:

- **ingest**: ``hub.ingest.ingest_sets`` in-process, the station's sealed sets in requests of at
  most ``MAX_SETS_PER_REQUEST``, as the exchange hands them over (signatures, unsealing, chain
  checks, the lifecycle, receipts, one transaction per set);
- **sync**: the station's real sync rounds (``station.link.sync_once``) to that hub served by
  uvicorn on loopback, the whole backlog until in step;
- **raw (baseline)**: the very rows the ingest wrote (every table but those triggers keep), read
  back from the ingested copy and inserted into the third copy with ``executemany``, 1,000 rows a
  transaction, on the same engine with the same connection settings.

On SQLite by default (the copies are copies of the folder). ``--postgres`` (a throwaway cluster on
loopback) or ``--database URL`` (a server whose role may create databases) runs the same on
PostgreSQL: the hub is made with ``hub init --database``, the copies are ``CREATE DATABASE … TEMPLATE``
of its database beside copies of its folder (keys, settings), the raw rows go through the hub store's
psycopg connection (``executemany``, client-side binding, no COPY), and the CPU columns add the CPU the
server's backend spent for that connection when the server runs on this machine.

The ingest and the raw inserts run ``--repeat`` times each (default 3), alternated, each on a fresh copy
of the hub, and the run of median wall time of each is reported (one run of each can be a third apart on
a shared VM); the sync runs once.

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
from typing import Any, TypeVar

from bench.bench_sync import Workload, _record
from bench.common import (
    PgServer,
    add_postgres_options,
    cpu_s,
    leave_database_env,
    log,
    machine,
    postgres_server,
    print_figures,
)
from hub.bootstrap import init_hub
from hub.enroll import issue_code
from hub.ingest import ingest_sets
from hub.keys import load_identity
from hub.settings import Settings
from hub.store import DB_FILE, HubStore
from hub.store.location import database_url, record_database_url
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
REPEAT = 3
"""Runs of the ingest and of the raw inserts by default: on a shared VM one run of each can be a third apart."""
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


def prepare(
    root: Path, intakes: int, seed: int, progress: Callable[[str], None] = log, *, database: str | None = None
) -> tuple[Path, Path, int]:
    """(hub folder after enrolment, station folder with the backlog sealed, sets sealed); the hub's store in
    ``database`` (an empty PostgreSQL database) when given."""
    hub_dir, station_dir = root / "hub-before", root / "station"
    progress(f"initialising a hub ({'PostgreSQL' if database else 'SQLite'}) ...")
    init_hub(hub_dir, database=database)
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


class _ServerCpu:
    """The CPU a store's PostgreSQL backend spends (its process, when the server runs on this machine and
    /proc shows it; 0 on SQLite, whose engine runs in this process and counts in its CPU)."""

    def __init__(self, store: HubStore) -> None:
        self.pid: int | None = None
        if store.dialect == "postgresql":
            pid = int(store.db.execute("SELECT pg_backend_pid()").fetchone()[0])
            with contextlib.suppress(OSError):
                if b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    self.pid = pid
        self.measured = store.dialect != "postgresql" or self.pid is not None
        self.start = self._now()

    def _now(self) -> float:
        return (cpu_s(self.pid) or 0.0) if self.pid is not None else 0.0

    def used(self) -> float:
        return self._now() - self.start


def timed_ingest(hub_dir: Path, station_dir: Path) -> tuple[float, float, int, float | None]:
    """Seconds (wall, CPU) to ingest the backlog in-process, the sets accepted, and the PostgreSQL server's
    CPU for it (0 on SQLite; None when it cannot be read: a server elsewhere)."""
    envelopes = _envelopes(station_dir)
    station_id = _station_id(station_dir)
    identity = load_identity(hub_dir)
    accepted = 0
    with HubStore.open_existing(hub_dir) as store:
        server = _ServerCpu(store)
        started, cpu = time.perf_counter(), time.process_time()
        for first in range(0, len(envelopes), MAX_SETS_PER_REQUEST):
            chunk = envelopes[first : first + MAX_SETS_PER_REQUEST]
            answer = ingest_sets(store, identity, chunk, station_id=station_id, via="http", lean=True)
            accepted += sum(r.status == "accepted" for r in answer.results)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        return seconds, cpu, accepted, server.used() if server.measured else None


def _derived(conn: sqlite3.Connection) -> set[str]:
    found: set[str] = set()
    for (text,) in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger'"):
        found.update(m.lower() for m in re.findall(r"(?i)\b(?:INSERT\s+INTO|UPDATE)\s+(\w+)", text or ""))
    return found


RunT = TypeVar("RunT", bound=tuple[Any, ...])
"""One timed run's figures, wall seconds first."""

Rows = dict[str, tuple[list[str], list[tuple[Any, ...]]]]
"""Per table: its columns and the rows to insert, in insertion order (tables in an order their foreign keys allow)."""


def new_rows(before: Path, after: Path, *, server: PgServer | None = None) -> Rows:
    """The rows the hub in ``after`` holds beyond the one in ``before`` (its copy before the ingest), per
    table, the tables triggers keep left out (the triggers write them as the rows go in)."""
    if server is not None:
        return _pg_new_rows(_database_url(before), _database_url(after))
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


def _database_url(hub_dir: Path) -> str:
    url = database_url(hub_dir, {})
    if not url:
        raise RuntimeError(f"{hub_dir} keeps no PostgreSQL database")
    return url


_PG_TABLES = """
SELECT c.relname,
       (SELECT string_agg(a.attname, ',' ORDER BY a.attnum) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       (SELECT a.attname FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND a.attidentity <> '' LIMIT 1) AS key,
       (SELECT string_agg(DISTINCT f.relname, ',') FROM pg_constraint k JOIN pg_class f ON f.oid = k.confrelid
         WHERE k.conrelid = c.oid AND k.contype = 'f' AND k.confrelid <> c.oid) AS needs
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname = current_schema() AND c.relname <> %s
ORDER BY c.oid
"""

_PG_TRIGGERS = """
SELECT p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND n.nspname = current_schema()
"""


def _pg_new_rows(before_url: str, after_url: str) -> Rows:
    """As :func:`new_rows` on PostgreSQL. Every table of the hub has one identity column there, numbered in
    insertion order (its ``INTEGER PRIMARY KEY``, or the backend's ``ord`` where SQLite has a rowid), so the
    new rows are those numbered past the largest number of the copy before. ``ord`` itself is left out of
    the rows (PostgreSQL numbers them again, as SQLite gives new rowids); a primary key is kept, as SQLite's
    ``SELECT *`` keeps it."""
    import psycopg

    from hub.store.dialect import ORD
    from hub.store.pg import MIGRATIONS_TABLE

    with psycopg.connect(before_url) as old, psycopg.connect(after_url) as new:
        derived: set[str] = set()
        for (text,) in new.execute(_PG_TRIGGERS):
            derived.update(m.lower() for m in re.findall(r"(?i)\b(?:INSERT\s+INTO|UPDATE)\s+(\w+)", text or ""))
        tables = new.execute(_PG_TABLES, [MIGRATIONS_TABLE]).fetchall()
        needs = {name: set((wanted or "").split(",")) - {""} for name, _, _, wanted in tables}
        found: Rows = {}
        for name in _dependency_order([t[0] for t in tables], needs):
            columns, key = next((c.split(","), k) for t, c, k, _ in tables if t == name)
            if name in derived or key is None:
                continue
            top = old.execute(f'SELECT COALESCE(MAX("{key}"), 0) FROM "{name}"'.encode()).fetchone()
            wanted = [c for c in columns if c != ORD]
            listed = ", ".join(f'"{c}"' for c in wanted)
            rows = new.execute(
                f'SELECT {listed} FROM "{name}" WHERE "{key}" > %s ORDER BY "{key}"'.encode(),
                [top[0] if top else 0],
            ).fetchall()
            if rows:
                found[name] = (wanted, [tuple(r) for r in rows])
        return found


def _dependency_order(tables: list[str], needs: dict[str, set[str]]) -> list[str]:
    """``tables`` (in creation order) so that each comes after the tables its foreign keys name."""
    ordered: list[str] = []
    left = list(tables)
    while left:
        ready = [t for t in left if needs.get(t, set()) <= set(ordered) | {t}] or left[:1]  # a cycle: as made
        ordered += ready
        left = [t for t in left if t not in ready]
    return ordered


def timed_raw(hub_dir: Path, rows: Rows) -> tuple[float, float, float | None]:
    """Seconds (wall, CPU) to insert ``rows`` into the hub in ``hub_dir`` with executemany, RAW_BATCH rows a
    transaction, through the hub store's own connection (SQLite: its pragmas, WAL, foreign keys,
    synchronous; PostgreSQL: its psycopg connection, client-side binding, no COPY), and the PostgreSQL
    server's CPU for it (as :func:`timed_ingest`)."""
    with HubStore.open_existing(hub_dir) as store:
        server = _ServerCpu(store)
        postgres = store.dialect == "postgresql"
        conn = store.db.conn
        started, cpu = time.perf_counter(), time.process_time()
        for table, (columns, values) in rows.items():
            names = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join(("%s" if postgres else "?") for _ in columns)
            statement = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'
            for first in range(0, len(values), RAW_BATCH):
                with store.transaction():
                    if postgres:
                        with conn.cursor() as cursor:
                            cursor.executemany(statement.encode(), values[first : first + RAW_BATCH])
                    else:
                        conn.executemany(statement, values[first : first + RAW_BATCH])
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        return seconds, cpu, server.used() if server.measured else None


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


def _copy_hub(before: Path, target: Path, server: PgServer | None, dbs: list[str]) -> None:
    """``target``: a copy of the hub in ``before`` (its folder; on PostgreSQL also its database, by
    ``CREATE DATABASE … TEMPLATE``, recorded in the copy's folder as ``hub init --database`` records it)."""
    shutil.copytree(before, target)
    if server is not None:
        template = _database_url(before).rsplit("/", 1)[1].split("?", 1)[0]
        dbs.append(server.create("bench_backlog", template=template))
        record_database_url(target, server.url(dbs[-1]))


def run(
    root: Path,
    *,
    intakes: int = INTAKES,
    seed: int = 2026,
    progress: Callable[[str], None] = log,
    server: PgServer | None = None,
    repeat: int = 1,
) -> dict[str, Any]:
    """Record and seal the backlog, then time the three paths on copies of one hub: on SQLite, or on
    databases ``server`` makes (and drops before returning). The ingest and the raw inserts run ``repeat``
    times each, alternated, each on a fresh copy: their medians are compared (the sync runs once)."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    dbs: list[str] = []
    try:
        if server is not None:
            dbs.append(server.create("bench_backlog"))
        before, station_dir, sets = prepare(
            root, intakes, seed, progress, database=server.url(dbs[0]) if server else None
        )
        return _run(root, before, station_dir, sets, intakes, progress, server, dbs, repeat)
    finally:
        for name in dbs:
            if server is not None:
                server.drop(name)


def _run(
    root: Path,
    before: Path,
    station_dir: Path,
    sets: int,
    intakes: int,
    progress: Callable[[str], None],
    server: PgServer | None,
    dbs: list[str],
    repeat: int = 1,
) -> dict[str, Any]:
    sync_dir = root / "hub-sync"
    _copy_hub(before, sync_dir, server, dbs)
    ingests: list[tuple[float, float, int, float | None]] = []
    raws: list[tuple[float, float, float | None]] = []
    rows: Rows = {}
    ingest_dir = raw_dir = root
    for run_no in range(1, repeat + 1):
        # Alternated, each on a fresh copy: a VM's pace drifts over minutes, and both sides drift alike.
        ingest_dir, raw_dir = root / f"hub-ingest-{run_no}", root / f"hub-raw-{run_no}"
        for target in (ingest_dir, raw_dir):
            _copy_hub(before, target, server, dbs)
        of = f" (run {run_no} of {repeat})" if repeat > 1 else ""
        progress(f"ingest: {sets} sets in-process{of} ...")
        ingests.append(timed_ingest(ingest_dir, station_dir))
        progress(f"  {ingests[-1][0]:.1f} s, {ingests[-1][2]} sets accepted")
        if not rows:
            rows = new_rows(before, ingest_dir, server=server)
        progress(f"raw: the same {sum(len(v) for _, v in rows.values()):,} rows in {len(rows)} tables{of} ...")
        raws.append(timed_raw(raw_dir, rows))
        progress(f"  {raws[-1][0]:.1f} s")
    ingest_s, ingest_cpu, accepted, ingest_server = _median_run(ingests)
    raw_s, raw_cpu, raw_server = _median_run(raws)
    cases = _cases(ingest_dir)
    total_rows = sum(len(v) for _, v in rows.values())
    progress("sync: the station's real sync rounds over loopback ...")
    sync_station = root / "station-sync"
    shutil.copytree(station_dir, sync_station)
    sync_s, in_step, requests = timed_sync(sync_dir, sync_station)
    progress(f"  {sync_s:.1f} s in {requests} rounds, in step: {in_step}")
    # The work of the hub and its engine: on PostgreSQL the server's backend does part of it (added when
    # it could be read; otherwise this process's CPU alone, and the table says so).
    server_cpu = ingest_server is not None and raw_server is not None
    ingest_cpu_all = ingest_cpu + (ingest_server or 0.0)
    raw_cpu_all = raw_cpu + (raw_server or 0.0)
    figures_machine = machine(sqlite=server is None)
    if server is not None:
        figures_machine["postgresql"] = server.version()
    return {
        "machine": figures_machine,
        "backend": "PostgreSQL" if server is not None else "SQLite",
        "database": server.label if server is not None else "hub.db in the data folder",
        "server_cpu_counted": server is None or server_cpu,
        "intakes": intakes,
        "sets": sets,
        "cases": cases,
        "rows": {table: len(values) for table, (_, values) in rows.items()},
        "ingest": {
            "seconds": ingest_s,
            "cpu_s": ingest_cpu_all,
            "process_cpu_s": ingest_cpu,
            "server_cpu_s": ingest_server,
            "sets_accepted": accepted,
            "cases_per_s": cases / ingest_s,
            "cases_per_cpu_s": cases / ingest_cpu_all,
        },
        "raw": {
            "seconds": raw_s,
            "cpu_s": raw_cpu_all,
            "process_cpu_s": raw_cpu,
            "server_cpu_s": raw_server,
            "rows": total_rows,
            "cases": _cases(raw_dir),
            "cases_per_s": cases / raw_s,
            "cases_per_cpu_s": cases / raw_cpu_all,
        },
        "sync": {
            "seconds": sync_s,
            "in_step": in_step,
            "requests": requests,
            "cases": _cases(sync_dir),
            "cases_per_s": _cases(sync_dir) / sync_s,
        },
        "share_of_raw": raw_s / ingest_s,
        "share_of_raw_cpu": raw_cpu_all / ingest_cpu_all,
        "runs": {
            "ingest_s": [r[0] for r in ingests],
            "raw_s": [r[0] for r in raws],
            "share_of_raw": [raw[0] / ingest[0] for ingest, raw in zip(ingests, raws, strict=True)],
        },
    }


def _median_run(runs: list[RunT]) -> RunT:
    """The run of median wall time (the lower middle one of an even count): its figures stay one run's."""
    return sorted(runs, key=lambda run: run[0])[(len(runs) - 1) // 2]


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
    runs = figures.get("runs", {})
    if len(runs.get("ingest_s", [])) > 1:
        lines.append(
            f"\nThe ingest's and the raw inserts' run of median wall time of {len(runs['ingest_s'])}, alternated on "
            f"fresh copies: ingest {_spread(runs['ingest_s'])} s, raw {_spread(runs['raw_s'])} s, share of raw in "
            f"each pair {', '.join(f'{x:.1%}' for x in runs['share_of_raw'])}."
        )
    if backend == "PostgreSQL":
        counted = (
            f"this process's and its server backend's (ingest {i['process_cpu_s']:.1f} + {i['server_cpu_s']:.1f} s, "
            f"raw {r['process_cpu_s']:.1f} + {r['server_cpu_s']:.1f} s)"
            if figures["server_cpu_counted"]
            else "this process's only (the server's backend is not on this machine)"
        )
        lines.append(
            f"\nPostgreSQL {figures['machine'].get('postgresql', '')}: {figures['database']}; CPU s is {counted}."
        )
    return "\n".join(lines)


def _spread(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_backlog", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--intakes", type=int, default=INTAKES, help=f"intakes in the backlog (default {INTAKES})")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=REPEAT,
        help=f"runs of the ingest and of the raw inserts, alternated; their medians are compared (default {REPEAT})",
    )
    parser.add_argument("--out", type=Path, help="also write the figures as JSON to this file")
    add_postgres_options(
        parser,
        "run on the PostgreSQL server of this URL, whose role may create databases: the benchmark makes its "
        "databases there (the hub's, one for the sync and two for each --repeat: CREATE DATABASE … TEMPLATE) "
        "and drops them after",
    )
    args = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.intakes < 1:
        parser.error("--intakes must be at least 1")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    leave_database_env()
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="bench-backlog-") as tmp,
        postgres_server(postgres=args.postgres, database=args.database) as server,
    ):
        figures = run(Path(tmp), intakes=args.intakes, seed=args.seed, server=server, repeat=args.repeat)
    print_figures(figures, table(figures), started=started, out=args.out)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
