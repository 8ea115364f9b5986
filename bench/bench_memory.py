"""Hub memory: the RSS of ``hub serve`` holding N cases, idle and after its read pages, beside an empty hub.

Issue 14's memory benchmark. For each size (``--cases 0,100000,1000000``) a hub is made with ``hub
init`` and filled in bulk by the dashboard benchmark's seeding (bench.bench_dashboard: 435 stations
with contacts, feeds, forks and rejections, then the cases with their intakes and commitments,
batched SQL inserts: the read path is what is measured, not ingest). The hub then runs as ``hub
serve`` would (``uvicorn --factory hub.app:app_from_env``, one worker, its own process), and its
memory is read from /proc (VmRSS now, VmHWM the peak, counted from after the logins, whose Argon2
would otherwise be it) when it has started, and after each page an
administrator and a department read has been requested ``--reps`` times: the dashboard, the JSON
status, the county figures, the CSV export, /metrics and the desk. The size 0 row is the baseline
of the same run. Linux only (elsewhere the memory reads 0).

``--postgres`` (a throwaway cluster on loopback) or ``--database URL`` (a server whose role may create
databases) runs the same on PostgreSQL: each hub is seeded as above into its SQLite file (the fastest
path), then moved into a new database of the server by ``hub migrate --to`` (COPY, every table's rows
counted and every station's chain and feed head checked on both sides), and served from there. The RSS
is the hub process's own: the server's memory (its shared buffers, a backend per pooled connection) is
its own and not counted.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.bench_dashboard import PASSWORD, seed_cases, seed_stations, start_hub
from bench.common import (
    PgServer,
    add_postgres_options,
    leave_database_env,
    log,
    machine,
    postgres_server,
    print_figures,
)
from hub.accounts import add_user, create_token, hasher_for
from hub.bootstrap import init_hub
from hub.migrate_store import migrate_to_postgresql
from hub.settings import Settings, parse_database_url
from hub.store import DB_FILE, HubStore
from sync.timeutil import utc_now

__all__ = ("PAGES", "main", "measure_hub", "run", "table")

SIZES = (0, 100_000, 1_000_000)
PAGES = (
    ("/dashboard", "admin"),
    ("/dashboard/figures", "admin"),
    ("/api/v1/status", "token"),
    ("/api/v1/figures", "token"),
    ("/api/v1/status.csv", "token"),
    ("/metrics", "admin"),
    ("/desk", "desk"),
    ("/desk?overdue=1", "desk"),
)


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB; zeros where /proc has no status (not Linux)."""
    found = {"VmRSS": 0.0, "VmHWM": 0.0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name = line.split(":", 1)[0]
            if name in found:
                found[name] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return found["VmRSS"], found["VmHWM"]


def _login(url: str, name: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=120)
    form = client.get("/login")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    answer = client.post("/login", data={"username": name, "password": PASSWORD, "csrf": csrf})
    if answer.status_code != 303:
        raise RuntimeError(f"login as {name}: {answer.status_code}")
    return client


def make_hub(data_dir: Path, cases: int, seed: int, progress: Callable[[str], None] = log) -> dict[str, Any]:
    """A hub in ``data_dir`` with 435 stations and ``cases`` cases; its token and how long seeding took."""
    rng = random.Random(seed)
    now = utc_now()
    init_hub(data_dir)
    with HubStore.open_existing(data_dir) as store:
        started = time.perf_counter()
        seed_stations(store, rng, now)
        if cases:
            seed_cases(store, rng, cases, now)
        seconds = time.perf_counter() - started
        settings = Settings(data_dir=data_dir)
        add_user(store, "admin", "admin", PASSWORD, hasher=hasher_for(settings), now=now)
        add_user(store, "rs-desk", "department", PASSWORD, department="RS", hasher=hasher_for(settings), now=now)
        token = create_token(store, "admin", expires_days=1, now=now).token
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = (data_dir / DB_FILE).stat().st_size / 1e6
    progress(f"  {cases:,} cases seeded in {seconds:.0f} s; database {size:,.0f} MB")
    return {"token": token, "seed_s": seconds, "db_mb": size}


def measure_hub(data_dir: Path, token: str, reps: int, progress: Callable[[str], None] = log) -> dict[str, Any]:
    """Start the hub, read its memory, request every page ``reps`` times, read its memory again."""
    server, url = start_hub(data_dir)
    try:
        time.sleep(1.0)  # the app's startup settles (the first requests would otherwise count it)
        started_rss, _ = memory_mb(server.pid)
        clients = {"admin": _login(url, "admin"), "desk": _login(url, "rs-desk")}
        # The logins' Argon2 (64 MiB each) would be the peak: the peak is counted from here on
        # ("5" resets VmHWM to the current RSS, Linux 4.0 and later).
        with contextlib.suppress(OSError):
            Path(f"/proc/{server.pid}/clear_refs").write_text("5")
        clients["token"] = httpx.Client(base_url=url, timeout=120, headers={"authorization": f"Bearer {token}"})
        after: dict[str, float] = {}
        for path, who in PAGES:
            for _ in range(reps):
                answer = clients[who].get(path)
                if answer.status_code != 200:
                    raise RuntimeError(f"GET {path}: {answer.status_code}")
            after[path] = memory_mb(server.pid)[0]
        rss, peak = memory_mb(server.pid)
        for client in clients.values():
            client.close()
        progress(f"  hub RSS {started_rss:.0f} MB at start, {rss:.0f} MB after the pages, peak {peak:.0f} MB")
        return {"start_mb": started_rss, "after_mb": rss, "peak_mb": peak, "per_page_mb": after}
    finally:
        server.terminate()
        server.wait(10)


def _sqlite_files(data_dir: Path) -> list[Path]:
    return [data_dir / DB_FILE, data_dir / f"{DB_FILE}-wal", data_dir / f"{DB_FILE}-shm"]


def to_postgresql(data_dir: Path, server: PgServer, progress: Callable[[str], None] = log) -> tuple[str, float]:
    """Move the seeded SQLite hub into a new database of ``server`` (``hub migrate --to``: COPY, checked);
    (the database's name, seconds). The SQLite file is deleted: the hub opens the database from now on."""
    name = server.create("bench_memory")
    started = time.perf_counter()
    migrate_to_postgresql(data_dir, parse_database_url(server.url(name)))
    seconds = time.perf_counter() - started
    for path in _sqlite_files(data_dir):
        path.unlink(missing_ok=True)
    progress(f"  moved to PostgreSQL (hub migrate --to) in {seconds:.0f} s")
    return name, seconds


def _pg_mb(server: PgServer, name: str) -> float:
    import psycopg

    with psycopg.connect(server.url(name)) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) / 1e6 if row else 0.0


def run(
    sizes: list[int],
    reps: int,
    seed: int,
    root: Path,
    progress: Callable[[str], None] = log,
    *,
    server: PgServer | None = None,
) -> dict[str, Any]:
    """Each size's hub made, served and measured in turn (on SQLite, or moved to a database ``server``
    makes and drops after measuring it)."""
    rows = []
    for cases in sizes:
        progress(f"a hub with {cases:,} cases ...")
        data_dir = root / f"hub-{cases}"
        made = make_hub(data_dir, cases, seed, progress)
        name = None
        try:
            if server is not None:
                name, moved_s = to_postgresql(data_dir, server, progress)
                made["seed_s"] += moved_s
                made["db_mb"] = _pg_mb(server, name)
            measured = measure_hub(data_dir, made["token"], reps, progress)
        finally:
            if server is not None and name is not None:
                server.drop(name)  # a million cases is most of a gigabyte: not kept for the next size
        rows.append({"cases": cases, "db_mb": made["db_mb"], "seed_s": made["seed_s"], **measured})
        for path in _sqlite_files(data_dir):
            path.unlink(missing_ok=True)
    figures_machine = machine(sqlite=server is None)
    if server is not None:
        figures_machine["postgresql"] = server.version()
    return {
        "machine": figures_machine,
        "backend": "PostgreSQL" if server is not None else "SQLite",
        "database": server.label if server is not None else "hub.db in the data folder",
        "reps": reps,
        "rows": rows,
    }


def table(figures: dict[str, Any]) -> str:
    """The figures as a Markdown table, each size beside the empty hub of the same run."""
    rows = figures["rows"]
    base = next((r for r in rows if r["cases"] == 0), None)
    lines = [
        "| engine | cases | database MB | RSS at start MB | RSS after the pages MB | peak MB (pages) "
        "| peak beyond the empty hub MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        beyond = "—" if base is None or r is base else f"{r['peak_mb'] - base['peak_mb']:+.0f}"
        label = "baseline: no cases" if r["cases"] == 0 else f"{r['cases']:,}"
        lines.append(
            f"| {figures['backend']} | {label} | {r['db_mb']:,.0f} | {r['start_mb']:.0f} | {r['after_mb']:.0f} "
            f"| {r['peak_mb']:.0f} | {beyond} |"
        )
    if figures["backend"] == "PostgreSQL":
        lines.append(
            f"\nPostgreSQL {figures['machine'].get('postgresql', '')}: {figures['database']}. The RSS is the hub "
            "process's own (uvicorn, one worker, its pool of connections); the server's memory (shared buffers, "
            "a backend per connection) is the server's and not counted. Database MB: pg_database_size."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_memory", description=__doc__)
    parser.add_argument(
        "--cases",
        default=",".join(str(s) for s in SIZES),
        help="sizes, comma-separated (default 0,100000,1000000; 0 is the baseline)",
    )
    parser.add_argument("--reps", type=int, default=20, help="requests per page (default 20)")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON to this file")
    add_postgres_options(
        parser,
        "run on the PostgreSQL server of this URL, whose role may create databases: one per size, dropped after",
    )
    args = parser.parse_args(argv)
    try:
        sizes = [int(s.replace("_", "")) for s in args.cases.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--cases: {args.cases!r} is not a comma-separated list of numbers")
    if not sizes or min(sizes) < 0 or args.reps < 1:
        parser.error("--cases needs sizes of 0 or more, --reps at least 1")
    leave_database_env()
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp,
        postgres_server(postgres=args.postgres, database=args.database) as server,
    ):
        figures = run(sizes, args.reps, args.seed, Path(tmp), server=server)
    print_figures(figures, table(figures), started=started, out=args.out, note=f"; {figures['reps']} requests per page")
    return 0


if __name__ == "__main__":
    sys.exit(main())
