"""The county at once: 395 stations push a day's work (5 intakes each) to a live hub at the same moment.

Issue 14's first benchmark. One load process (this one) holds 395 enrolled stations, each with a
day's work recorded and sealed, and at one moment (a barrier) every station runs the real client's
sync round (``station.link.sync_once``) in a thread of its own against a live hub, ``hub serve`` in
a child process on loopback. It measures the county's wall time (the barrier to the last station
in step), each HTTP exchange's latency (p50/p99, timed at the client's transport) and each round's,
beside ``GET /healthz`` at the same concurrency, from the same process, against the same hub, in the
same run. ``--postgres`` (a throwaway cluster on loopback) or ``--database URL`` (an empty database) serves the
hub from PostgreSQL, and ``--workers N`` runs ``hub serve --workers N`` there; the hub's CPU and memory are
summed over ``hub serve`` and every worker process under it.

Progress goes to stderr; the figures (a Markdown table) go to stdout; ``--out`` writes them as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import faulthandler
import json
import logging
import math
import os
import random
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.bench_sync import Workload, _record
from bench.common import (
    add_postgres_options,
    leave_database_env,
    log,
    machine,
    postgres_server,
    print_figures,
    process_tree,
    tree_cpu_s,
    tree_memory_mb,
)
from hub.bootstrap import init_hub
from hub.enroll import issue_code
from hub.settings import DATABASE_URL_ENV, Settings
from hub.store import HubStore
from hub.testing import live_server
from hub.throttle import Rule
from hub.web.app import create_app
from station.enrolment import enroll
from station.identity import load_keypair
from station.link import SyncReport, sync_once
from station.sealing import seal_pending
from station.store import Station
from sync.crypto import KeyPair

__all__ = ("Prepared", "burst", "main", "prepare", "run", "serve_hub", "table")

PASSPHRASE = "bench-passphrase-1"
STATIONS = 395
PER_STATION = 5
AIM_WALL_S = 5.0
AIM_P99_S = 2.0
CHINA = dt.timezone(dt.timedelta(hours=8))


def percentiles(samples: list[float]) -> dict[str, float]:
    """Nearest-rank p50/p99 and max, in seconds (zeros for no samples)."""
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0, "p50": 0.0, "p99": 0.0, "max": 0.0}

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {"n": len(ordered), "p50": rank(0.5), "p99": rank(0.99), "max": ordered[-1]}


# -- the county's stations, made before the clock starts ---------------------------------------------


@dataclasses.dataclass
class Prepared:
    """One enrolled station with its day's work sealed, ready to push."""

    data_dir: Path
    keys: KeyPair
    cases: int


def _init_hub(hub_dir: Path, database: str | None) -> None:
    if database is None:
        init_hub(hub_dir)
        return
    # The PostgreSQL store is made the way an operator makes it: `hub init --database URL`.
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--data-dir", str(hub_dir), "--lang", "en", "init", "--database", database],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"hub init --database failed ({done.returncode}): {done.stderr.strip()}")


def _settings(hub_dir: Path) -> Settings:
    # Every simulated village enrols from 127.0.0.1: the per-address enrolment limit, meant for one
    # address probing codes, would hold back the county's roll-out (as in fleet/hub_server.py).
    # The store is the folder's own: hub.db, or the PostgreSQL database `hub init --database` recorded.
    return Settings(data_dir=hub_dir, enrol_per_address=Rule(burst=1_000_000, per_minute=1_000_000))


@contextlib.contextmanager
def _store(hub_dir: Path) -> Iterator[HubStore]:
    with HubStore.open_existing(hub_dir) as store:
        yield store


def prepare(
    root: Path,
    *,
    stations: int = STATIONS,
    per_station: int = PER_STATION,
    database: str | None = None,
    seed: int = 2026,
    threads: int = 4,
    progress: Callable[[str], None] = log,
) -> tuple[Path, list[Prepared]]:
    """A hub in ``root/hub`` and ``stations`` stations enrolled to it, each in a village of its own (the
    county has 395), in step after its first sync, with ``per_station`` intakes recorded and sealed."""
    hub_dir = root / "hub"
    progress(f"initialising a hub ({'PostgreSQL' if database else 'SQLite'}) ...")
    _init_hub(hub_dir, database)
    with _store(hub_dir) as store:
        villages = [v.code for v in store.divisions().villages()]
        codes = [issue_code(store, villages[n % len(villages)]).code for n in range(stations)]
    rng = random.Random(seed)
    seeds = [rng.random() for _ in range(stations)]
    yesterday = dt.datetime.now(CHINA).date() - dt.timedelta(days=1)
    lock = threading.Lock()
    done = [0]
    started = time.perf_counter()

    def one(n: int, url: str) -> Prepared:
        data_dir = root / f"station-{n:03d}"
        enroll(data_dir, hub_url=url, code=codes[n], passphrase=PASSPHRASE, key_work=2**10)
        keys = load_keypair(data_dir, PASSPHRASE)
        first = sync_once(data_dir, hub_url=url, keys=keys)
        if not first.in_step:
            raise RuntimeError(f"station {n}: first sync not in step: {first.errors}")
        cases = _record(data_dir, Workload(random.Random(seeds[n])), [(yesterday, per_station)])
        with Station.open(data_dir) as station:
            seal_pending(station, keys)  # the station's own work at its own PC, not the hub's: before the clock
        with lock:
            done[0] += 1
            if done[0] % 50 == 0:
                progress(f"  {done[0]} stations ready ({time.perf_counter() - started:.0f} s)")
        return Prepared(data_dir, keys, cases)

    with live_server(create_app(_settings(hub_dir))) as url, ThreadPoolExecutor(threads) as pool:
        ready = list(pool.map(lambda n: one(n, url), range(stations)))
    progress(f"{stations} stations enrolled, in step, a day's work sealed ({time.perf_counter() - started:.0f} s)")
    return hub_dir, ready


def _reuse(
    prepared: Path,
    root: Path,
    database: str | None,
    stations: int,
    per_station: int,
    seed: int,
    progress: Callable[[str], None],
) -> tuple[Path, list[Prepared]]:
    """A copy of the county prepared in ``prepared`` (made there first when it is not yet): re-runs skip the
    enrolments (SQLite only: a PostgreSQL hub's rows are not in the folder)."""
    if database is not None:
        raise ValueError("--prepared keeps a SQLite county only")
    manifest = prepared / "county.json"
    if not manifest.exists():
        prepared.mkdir(parents=True, exist_ok=True)
        _, ready = prepare(prepared, stations=stations, per_station=per_station, seed=seed, progress=progress)
        cases = {p.data_dir.name: p.cases for p in ready}
        manifest.write_text(json.dumps(cases))
    cases = json.loads(manifest.read_text())
    progress(f"copying the prepared county of {len(cases)} stations from {prepared} ...")
    shutil.copytree(prepared / "hub", root / "hub")
    ready = []
    for name, count in sorted(cases.items()):
        shutil.copytree(prepared / name, root / name)
        # A copied folder's data key is held by its path: unlocked once here, as the agent does each morning.
        Station.open(root / name, passphrase=PASSPHRASE).close()
        ready.append(Prepared(root / name, load_keypair(root / name, PASSPHRASE), count))
    return root / "hub", ready


# -- the hub under test: `hub serve` in a child process ----------------------------------------------


@contextlib.contextmanager
def serve_hub(hub_dir: Path, *, database: str | None = None, workers: int = 1) -> Iterator[tuple[str, int]]:
    """``hub serve`` on a free loopback port in a child process; yields (base URL, pid)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != DATABASE_URL_ENV}
    if database:
        env[DATABASE_URL_ENV] = database
    argv = [sys.executable, "-m", "hub.cli", "--data-dir", str(hub_dir), "serve", "--port", str(port)]
    if workers != 1:
        argv += ["--workers", str(workers)]
    log_file = (hub_dir / "serve.log").open("wb")
    server = subprocess.Popen(argv, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"hub serve exited with {server.returncode}; see {hub_dir / 'serve.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError("hub serve did not answer /healthz within 60 s")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url, server.pid
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log_file.close()


# -- one burst: every station (or every /healthz client) at the same moment --------------------------

_SSL = ssl.create_default_context()
"""One TLS context for every client: building one per round costs the load process ~10 ms of CPU that
a village PC pays on its own core, not the hub's (the hub here is plain HTTP on loopback anyway)."""


class TimedTransport(httpx.BaseTransport):
    """The network, with each request's time from sending to the whole answer read, in ``samples``."""

    def __init__(self, samples: list[tuple[str, float]]) -> None:
        self.inner = httpx.HTTPTransport(verify=_SSL)
        self.samples = samples

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        response = self.inner.handle_request(request)
        body = b"".join(response.stream)  # type: ignore[arg-type]
        self.samples.append((request.url.path, time.perf_counter() - started))
        return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)

    def close(self) -> None:
        self.inner.close()


@dataclasses.dataclass
class Burst:
    """What one burst measured."""

    wall_s: float
    rounds: list[float]
    """Each client's whole call (a station's sync round), seconds."""
    exchanges: list[tuple[str, float]]
    """Each HTTP request's path and seconds."""
    outcomes: Counter[str]
    cpu_s: float
    """CPU seconds this (load) process spent during the burst."""


def burst(calls: list[Callable[[list[tuple[str, float]]], str]]) -> Burst:
    """Run every call in a thread of its own, all released at once; each returns an outcome word."""
    barrier = threading.Barrier(len(calls) + 1)
    rounds: list[float] = []
    exchanges: list[tuple[str, float]] = []
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    finished: list[float] = []

    def worker(call: Callable[[list[tuple[str, float]]], str]) -> None:
        samples: list[tuple[str, float]] = []
        barrier.wait()
        started = time.perf_counter()
        try:
            outcome = call(samples)
        except Exception as exc:  # a failure is a figure here, not the end of the run
            outcome = f"raised {type(exc).__name__}"
        ended = time.perf_counter()
        with lock:
            rounds.append(ended - started)
            exchanges.extend(samples)
            outcomes[outcome] += 1
            finished.append(ended)

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in calls]
    for thread in threads:
        thread.start()
    cpu = time.process_time()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return Burst(max(finished) - started, rounds, exchanges, outcomes, time.process_time() - cpu)


def _station_call(prepared: Prepared, url: str) -> Callable[[list[tuple[str, float]]], str]:
    def call(samples: list[tuple[str, float]]) -> str:
        report: SyncReport = sync_once(
            prepared.data_dir, hub_url=url, keys=prepared.keys, transport=TimedTransport(samples), timeout=120
        )
        if report.in_step and report.pushed:
            return "in step"
        return "NOT in step: " + (",".join(e.code or "?" for e in report.errors) or "nothing pushed")

    return call


def _healthz_call(url: str) -> Callable[[list[tuple[str, float]]], str]:
    def call(samples: list[tuple[str, float]]) -> str:
        with httpx.Client(transport=TimedTransport(samples), timeout=120) as client:
            return "ok" if client.get(url + "/healthz").status_code == 200 else "not ok"

    return call


def _kinds(pids: list[int]) -> dict[str, int]:
    """What the processes of ``hub serve`` are, counted: the server itself, its workers, multiprocessing's
    resource tracker (read from /proc: the CPU and RSS figures sum them all)."""
    kinds: Counter[str] = Counter()
    for pid in pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "resource_tracker" in argv:
            kinds["resource tracker"] += 1
        elif "spawn_main" in argv or "forkserver" in argv:
            kinds["worker"] += 1
        else:
            kinds["hub serve"] += 1
    return dict(kinds)


def _hub_cases(hub_dir: Path, database: str | None) -> int:
    with _store(hub_dir) as store:
        return int(store.count_rows("cases"))


def run(
    root: Path,
    *,
    stations: int = STATIONS,
    per_station: int = PER_STATION,
    database: str | None = None,
    workers: int = 1,
    seed: int = 2026,
    prepared: Path | None = None,
    server_cpu_s: Callable[[], float | None] = lambda: None,
    progress: Callable[[str], None] = log,
) -> dict[str, Any]:
    """Prepare the county (or copy the one prepared in ``prepared``), then time /healthz and the county's
    push, each at the same concurrency. ``server_cpu_s`` reads the PostgreSQL server's CPU seconds so far
    (the throwaway cluster's), or None where it cannot be read."""
    if prepared is not None:
        hub_dir, ready = _reuse(prepared, root, database, stations, per_station, seed, progress)
    else:
        hub_dir, ready = prepare(root, stations=stations, per_station=per_station, database=database, seed=seed)
    before = _hub_cases(hub_dir, database)
    with serve_hub(hub_dir, database=database, workers=workers) as (url, pid):
        progress(f"hub serve: {workers} worker(s), {url}; GET /healthz x{stations} at once ...")
        processes = _kinds(process_tree(pid))  # hub serve and its workers (uvicorn's supervisor when N > 1)
        cpu = tree_cpu_s(pid)
        healthz = burst([_healthz_call(url) for _ in ready])
        healthz_cpu, cpu = tree_cpu_s(pid) - cpu, tree_cpu_s(pid)
        progress(f"  {healthz.wall_s:.2f} s; the county's day: {stations} stations x {per_station} intakes at once ...")
        server_before = server_cpu_s()
        county = burst([_station_call(p, url) for p in ready])
        county_cpu = tree_cpu_s(pid) - cpu
        server_after = server_cpu_s()
        progress(f"  {county.wall_s:.2f} s")
        rss, hwm = tree_memory_mb(pid)
    received = _hub_cases(hub_dir, database) - before
    figures_machine = machine(sqlite=database is None)
    if database:
        import psycopg

        with psycopg.connect(database) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        figures_machine["postgresql"] = str(version[0]).split()[0] if version else "?"
    exchanges = [s for path, s in county.exchanges if path.startswith("/api/v1/sync")]
    return {
        "machine": figures_machine,
        "backend": "PostgreSQL" if database else "SQLite",
        "workers": workers,
        "hub_processes": processes,
        "stations": stations,
        "per_station": per_station,
        "cases_sent": sum(p.cases for p in ready),
        "cases_received": received,
        "healthz": {
            "wall_s": healthz.wall_s,
            "request": percentiles([s for _, s in healthz.exchanges]),
            "outcomes": dict(healthz.outcomes),
            "load_cpu_s": healthz.cpu_s,
            "hub_cpu_s": healthz_cpu,
        },
        "county": {
            "wall_s": county.wall_s,
            "exchange": percentiles(exchanges),
            "exchanges": len(exchanges),
            "round": percentiles(county.rounds),
            "outcomes": dict(county.outcomes),
            "load_cpu_s": county.cpu_s,
            "hub_cpu_s": county_cpu,
            # The PostgreSQL server's share of the two cores (a throwaway cluster's postmaster and backends).
            "database_cpu_s": None if server_before is None or server_after is None else server_after - server_before,
        },
        "hub_rss_mb": round(rss),
        "hub_peak_rss_mb": round(hwm),
    }


def _server_cpu(figures: dict[str, Any]) -> str:
    if figures["backend"] != "PostgreSQL":
        return ""
    spent = figures["county"].get("database_cpu_s")
    if spent is None:
        return ", the PostgreSQL server not counted"
    return f"; the PostgreSQL server (its postmaster and backends) used {spent:.1f} CPU s during the county's day"


def table(figures: dict[str, Any]) -> str:
    """The figures as a Markdown table: /healthz and the county's push side by side."""
    h, c = figures["healthz"], figures["county"]
    within = c["wall_s"] < AIM_WALL_S and c["exchange"]["p99"] < AIM_P99_S
    backend = f"{figures['backend']}, {figures['workers']} worker{'s' if figures['workers'] != 1 else ''}"
    lines = [
        "| hub | what (all at once) | requests | wall s | p50 s | p99 s | max s | hub CPU s | load CPU s | outcomes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| {backend} | baseline: `GET /healthz` x{figures['stations']} | {h['request']['n']} | {h['wall_s']:.2f} "
        f"| {h['request']['p50']:.3f} | {h['request']['p99']:.3f} | {h['request']['max']:.3f} | {h['hub_cpu_s']:.1f} "
        f"| {h['load_cpu_s']:.1f} "
        f"| {', '.join(f'{n} {k}' for k, n in h['outcomes'].items())} |",
        f"| {backend} | the county's day: {figures['stations']} stations x {figures['per_station']} intakes, "
        f"per exchange | {c['exchanges']} | {c['wall_s']:.2f} | {c['exchange']['p50']:.3f} | {c['exchange']['p99']:.3f} "
        f"| {c['exchange']['max']:.3f} | {c['hub_cpu_s']:.1f} | {c['load_cpu_s']:.1f} "
        f"| {', '.join(f'{n} {k}' for k, n in c['outcomes'].items())} |",
        f"| {backend} | the same, per station's whole sync round | {c['round']['n']} | {c['wall_s']:.2f} "
        f"| {c['round']['p50']:.3f} | {c['round']['p99']:.3f} | {c['round']['max']:.3f} | | | |",
    ]
    verdict = "within" if within else "NOT within"
    lines.append(
        f"\nCases sent {figures['cases_sent']:,}, received at the hub {figures['cases_received']:,}; hub RSS "
        f"{figures['hub_rss_mb']} MB (peak {figures['hub_peak_rss_mb']} MB); the hub's CPU and RSS summed over "
        f"its processes ({', '.join(f'{k} {n}' for k, n in figures['hub_processes'].items())})"
        f"{_server_cpu(figures)}. "
        f"Aim (county < {AIM_WALL_S:.0f} s, p99 < {AIM_P99_S:.0f} s): {verdict}."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_county", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=STATIONS, help=f"stations (default {STATIONS})")
    parser.add_argument("--per-station", type=int, default=PER_STATION, help=f"intakes each (default {PER_STATION})")
    add_postgres_options(parser, "serve the hub from this PostgreSQL database (empty; hub init --database)")
    parser.add_argument("--workers", type=int, default=1, help="hub serve --workers N (PostgreSQL; default 1)")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument("--keep", type=Path, help="prepare in this new folder and keep it")
    parser.add_argument(
        "--prepared",
        type=Path,
        metavar="DIR",
        help="prepare the county once into DIR (SQLite), and run on a copy of it (this run and later ones)",
    )
    args = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would time the terminal
    # 395 threads in C extensions at once (SQLCipher, cryptography): a crash prints every thread's stack.
    faulthandler.enable()
    if args.stations < 1 or args.per_station < 1 or args.workers < 1:
        parser.error("--stations, --per-station and --workers must be at least 1")
    if args.workers > 1 and not (args.database or args.postgres):
        parser.error("--workers above 1 needs --postgres or --database (SQLite has one writer: one worker)")
    if args.prepared and (args.database or args.postgres):
        parser.error("--prepared keeps a SQLite county only (a PostgreSQL hub's rows are not in the folder)")
    if args.keep and args.keep.exists():
        parser.error(f"--keep {args.keep} already exists; give a new folder")
    leave_database_env()
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(postgres_server(postgres=args.postgres, database=None))
        database = stack.enter_context(server.database("bench_county")) if server else args.database
        if args.keep:
            args.keep.mkdir(parents=True)
            root = args.keep
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-county-")))
        figures = run(
            root,
            stations=args.stations,
            per_station=args.per_station,
            database=database,
            workers=args.workers,
            seed=args.seed,
            prepared=args.prepared,
            server_cpu_s=server.server_cpu_s if server else lambda: None,
        )
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print_figures(figures, table(figures), started=started, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
