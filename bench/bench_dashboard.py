"""Hub dashboard benchmark: seed 395 stations and N cases in bulk, then time the read path through a live hub."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from hub.accounts import add_user, create_token, hasher_for
from hub.bootstrap import init_hub
from hub.cli_status import fetch_status
from hub.settings import Settings
from hub.store import HubStore
from sync.timeutil import business_date, iso_utc, utc_now

AIM_MS = 300.0
CHUNK = 20_000
SPAN_DAYS = 730
"""Seeded cases are received over the two years up to now (about 1,370 a day at a million)."""
PASSWORD = "bench-admin-password"
OLD_STATUSES = (
    ("DELIVERED", 60),
    ("COMPLETED", 28),
    ("NOT_ACCEPTED", 6),
    ("WITHDRAWN", 3),
    ("IN_PROGRESS", 2),
    ("SUSPENDED", 1),
)
"""Cases older than 30 days: mostly done; the 2% still in progress are overdue."""
NEW_STATUSES = (
    ("RECEIVED", 25),
    ("ACCEPTED", 20),
    ("IN_PROGRESS", 20),
    ("AWAITING_CORRECTION", 5),
    ("COMPLETED", 15),
    ("DELIVERED", 10),
    ("NOT_ACCEPTED", 5),
)
SURNAMES, GIVEN = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗",
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国玉梅红",
)


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)  # figures go to stdout


def stats(samples: list[float]) -> dict[str, float]:
    """Nearest-rank percentiles (ms)."""
    ordered = sorted(samples)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {"n": len(ordered), "p50": rank(0.5), "p95": rank(0.95), "p99": rank(0.99), "max": ordered[-1]}


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([s for s, _ in table], weights=[w for _, w in table])[0]


# -- seeding (bulk SQL: it is the read path being measured) ------------------------------------------


def seed_stations(store: HubStore, rng: random.Random, now: dt.datetime) -> int:
    """One station per village (every tenth village a second PC), contacts, feeds, a few forks and rejections."""
    villages = [v.code for v in store.divisions().villages()]
    rows: list[tuple[Any, ...]] = []
    keys: list[tuple[Any, ...]] = []
    contacts: list[tuple[Any, ...]] = []
    feed_sets: list[tuple[Any, ...]] = []
    rejected: list[tuple[Any, ...]] = []
    for index, village in enumerate(villages):
        for device in ("A", "B") if index % 10 == 0 else ("A",):
            station_id = f"{village}-{device}-1"
            age_h = rng.choice([1, 2, 5, 20, 50, 80, 100, 200, 400]) if index % 25 else None  # None: never
            last = iso_utc(now - dt.timedelta(hours=age_h)) if age_h else None
            applied = rng.randint(50, 400)
            head = applied + (rng.choice([0, 0, 0, 1, 3]) if last else 0)
            revoked = iso_utc(now - dt.timedelta(days=3)) if index % 97 == 5 else None
            key_id = os.urandom(8).hex()
            rows.append(
                (
                    station_id,
                    village,
                    device,
                    1,
                    key_id,
                    iso_utc(now - dt.timedelta(days=400)),
                    revoked,
                    applied,
                    last,
                    last,
                    last,
                    head if last else None,
                    rng.choice([0, 0, 2]) if last else None,
                    applied // 2,
                    rng.choice([0, 0, 0, 1200, -400_000]) if last else None,
                    "station/0.3",
                    "replay" if index % 31 == 0 else None,
                    last if index % 31 == 0 else None,
                )
            )
            keys.append(
                (
                    key_id,
                    station_id,
                    os.urandom(32),
                    os.urandom(32),
                    iso_utc(now),
                    revoked,
                    applied if revoked else None,
                )
            )
            for n in range(30 if last else 0):
                at = iso_utc(now - dt.timedelta(hours=age_h + 6 * n))  # type: ignore[operator]
                contacts.append(
                    (station_id, at, rng.choice(["push", "pull"]), 1, head - (n // 10), 0, 0, "station/0.3")
                )
            feed_sets.extend(
                (station_id, seq, b"\0" * 32, os.urandom(32), os.urandom(300), 5, iso_utc(now))
                for seq in range(1, applied // 2 + 1)
            )
            rejected.extend(
                (
                    station_id,
                    seq,
                    0,
                    "cases",
                    f"{village}-x-{seq}",
                    "illegal_transition",
                    "en",
                    "zh",
                    b"\x80",
                    iso_utc(now),
                )
                for seq in range(rng.choice([0, 0, 0, 5, 40]))
            )
    with store.transaction():
        store.db.conn.executemany(
            "INSERT INTO stations (station_id, village_code, device, serial, key_id, enrolled_at, revoked_at, "
            "applied_seq, last_contact, last_push, last_pull, head_seq, outbox_length, feed_acked, clock_offset_ms, "
            "software, last_error, last_error_at) VALUES (" + ", ".join("?" * 18) + ")",
            rows,
        )
        store.db.conn.executemany(
            "INSERT INTO station_keys (key_id, station_id, sign_public, box_public, created_at, revoked_at, after_seq)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            keys,
        )
        store.db.conn.executemany(
            "INSERT INTO contacts (station_id, at, kind, ok, head_seq, outbox_length, clock_offset_ms, software) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            sorted(contacts, key=lambda c: c[1]),
        )
        store.db.conn.executemany("INSERT INTO feed_sets VALUES (?, ?, ?, ?, ?, ?, ?)", feed_sets)
        store.db.conn.executemany(
            "INSERT INTO rejected (origin, seq, idx, entity, entity_id, code, reason_en, reason_zh, change, "
            "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rejected,
        )
        for n, (station_id, *_rest) in enumerate(rows[:3]):
            cursor = store.db.execute(
                "INSERT INTO quarantine (origin, seq, hash, envelope, reason, received_at) "
                "VALUES (?, 1, ?, ?, 'fork', ?)",
                [station_id, os.urandom(32), b"x", iso_utc(now)],
            )
            store.db.execute(
                "INSERT INTO forks (station_id, seq, held_hash, quarantine_id, reason, detected_at) "
                "VALUES (?, 1, NULL, ?, 'fork', ?)",
                [station_id, cursor.lastrowid, iso_utc(now)],
            )
    return len(rows)


def seed_cases(store: HubStore, rng: random.Random, count: int, now: dt.datetime) -> None:
    """``count`` cases with their intakes (and 容缺 commitments on 3%), in chunked bulk transactions."""
    villages = [v.code for v in store.divisions().villages()]
    items = [(i.code, i.promised_days) for i in store.catalog().items]
    today = business_date(now)
    started = time.perf_counter()
    for first in range(0, count, CHUNK):
        intakes, cases, commitments = [], [], []
        for n in range(first, min(first + CHUNK, count)):
            age = SPAN_DAYS * (1 - n / count)  # oldest first, as they would have arrived
            received = now - dt.timedelta(days=age)
            day = business_date(received)
            village, (item, promised) = rng.choice(villages), rng.choice(items)
            status = _weighted(rng, OLD_STATUSES if age > 30 else NEW_STATUSES)
            accepted = day + dt.timedelta(days=1) if status not in ("RECEIVED", "NOT_ACCEPTED", "WITHDRAWN") else None
            start = accepted or day
            due = start + dt.timedelta(days=round((promised or 0) * 1.4)) if promised is not None else None
            done_days = rng.randint(0, max(promised or 5, 1)) if status in ("COMPLETED", "DELIVERED") else None
            case_no = f"{village}-{day:%Y%m%d}-A{n:07d}"
            at = iso_utc(received)
            intakes.append((case_no, village, at, day.isoformat(), "代办员", 1))
            birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(24_000))
            cases.append(
                (
                    case_no,
                    case_no,
                    item,
                    status,
                    "approved" if done_days is not None else None,
                    rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                    f"349921{birth:%Y%m%d}{n % 1000:03d}X",
                    os.urandom(8).hex(),
                    f"138{n % 10**8:08d}",
                    rng.choice("MF"),
                    birth.isoformat(),
                    village,
                    at,
                    day.isoformat(),
                    accepted.isoformat() if accepted else None,
                    due.isoformat() if due else None,
                    1,
                    at,
                    done_days,
                )
            )
            if n % 33 == 0:
                closed = "fulfilled" if age > 20 else "open"
                commitments.append(
                    (
                        f"{case_no}/材料",
                        case_no,
                        "材料",
                        "签名人",
                        at,
                        5,
                        (day + dt.timedelta(days=7)).isoformat(),
                        closed,
                    )
                )
        with store.transaction():
            conn = store.db.conn
            conn.executemany(
                "INSERT INTO intakes (intake_id, village_code, received_at, received_date, agent, "
                "catalog_version) VALUES (?, ?, ?, ?, ?, ?)",
                intakes,
            )
            conn.executemany(
                "INSERT INTO cases (case_no, intake_id, item_code, status, outcome, applicant_name, id_number, id_hash,"
                " phone, sex, birth_date, village_code, received_at, received_date, accepted_date, due_date, "
                "catalog_version, updated_at, decision_days) VALUES (" + ", ".join("?" * 19) + ")",
                cases,
            )
            conn.executemany(
                "INSERT INTO commitments (commitment_id, intake_id, material, signer_name, signed_at, "
                "due_days, due_date, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                commitments,
            )
        done = min(first + CHUNK, count)
        if done % 100_000 == 0 or done == count:
            log(f"  {done:,} cases ({done / (time.perf_counter() - started):,.0f}/s)")
    assert today  # the due dates above are relative to the run's date


# -- the live hub, in its own process (the client does not share its GIL) ----------------------------


def start_hub(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``uvicorn --factory hub.app:app_from_env`` on a free loopback port; (process, base URL)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "HUB_DATA_DIR": str(data_dir)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "hub.app:app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the hub did not start")


def timed(call: Callable[[], Any], reps: int) -> list[float]:
    """Durations (ms) of ``reps`` calls after two warm-up calls."""
    call()
    call()
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure(data_dir: Path, url: str, token: str, reps: int) -> list[dict[str, Any]]:
    """Time each operation ``reps`` times through the live hub, beside the raw-SQLite and /healthz baselines."""
    auth = {"authorization": f"Bearer {token}"}
    raw = sqlite3.connect(data_dir / "hub.db")
    session = httpx.Client(base_url=url, timeout=60)
    form = session.get("/login")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    assert session.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": csrf}).status_code == 303
    desk = httpx.Client(base_url=url, timeout=60)
    form = desk.get("/login")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    assert desk.post("/login", data={"username": "rs-desk", "password": PASSWORD, "csrf": csrf}).status_code == 303
    station = raw.execute("SELECT station_id FROM stations ORDER BY station_id LIMIT 1").fetchone()[0]

    def get(client: httpx.Client, path: str, headers: dict[str, str] | None = None) -> Callable[[], Any]:
        def call() -> None:
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code)

        return call

    probes: list[tuple[str, Callable[[], Any], bool]] = [
        (
            "baseline: raw SQLite SELECT COUNT(*) FROM stations",
            lambda: raw.execute("SELECT COUNT(*) FROM stations").fetchone(),
            True,
        ),
        (
            "baseline: raw SQLite SELECT COUNT(*) FROM cases",
            lambda: raw.execute("SELECT COUNT(*) FROM cases").fetchone(),
            True,
        ),
        ("baseline: GET /healthz (HTTP round trip)", get(session, "/healthz"), True),
        ("dashboard page GET /dashboard", get(session, "/dashboard"), False),
        ("JSON station table GET /api/v1/status", get(session, "/api/v1/status", auth), False),
        (
            "`hub status --json` equivalent (fetch + JSON)",
            lambda: json.dumps(fetch_status(url, token, params={}), ensure_ascii=False),
            False,
        ),
        ("county figures GET /api/v1/figures", get(session, "/api/v1/figures", auth), False),
        ("figures page GET /dashboard/figures", get(session, "/dashboard/figures"), False),
        ("station detail GET /dashboard/stations/ID", get(session, f"/dashboard/stations/{station}"), False),
        ("CSV export GET /api/v1/status.csv", get(session, "/api/v1/status.csv", auth), False),
        ("GET /metrics", get(session, "/metrics"), False),
        ("desk: RS cases, newest 50 GET /desk", get(desk, "/desk"), False),
        ("desk: RS overdue GET /desk?overdue=1", get(desk, "/desk?overdue=1"), False),
    ]
    results = []
    for name, call, baseline in probes:
        log(f"  timing {name} ...")
        results.append({"name": name, "baseline": baseline, "stats": stats(timed(call, reps))})
    raw.close()
    return results


def report(results: list[dict[str, Any]]) -> str:
    """The figures as a Markdown table."""
    lines = ["| operation | p50 ms | p95 ms | p99 ms | max ms | aim | pass/fail |", "|---|---:|---:|---:|---:|---|---|"]
    for r in results:
        s = r["stats"]
        verdict = "—" if r["baseline"] else ("pass" if s["p99"] < AIM_MS else "fail")
        aim = "—" if r["baseline"] else f"p99 < {AIM_MS:.0f} ms"
        lines.append(
            f"| {r['name']} | {s['p50']:.2f} | {s['p95']:.2f} | {s['p99']:.2f} | {s['max']:.2f} | {aim} | {verdict} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Create, seed and measure a hub in ``folder``; the figures as a dict."""
    rng = random.Random(args.seed)
    data_dir = folder / "hub"
    now = utc_now()
    log(f"creating a hub in {data_dir}")
    init_hub(data_dir)
    with HubStore.open_existing(data_dir) as store:
        started = time.perf_counter()
        stations = seed_stations(store, rng, now)
        log(f"seeded {stations} stations in {time.perf_counter() - started:.1f} s; seeding {args.cases:,} cases")
        started = time.perf_counter()
        seed_cases(store, rng, args.cases, now)
        seed_s = time.perf_counter() - started
        settings = Settings(data_dir=data_dir)
        add_user(store, "admin", "admin", PASSWORD, hasher=hasher_for(settings), now=now)
        add_user(store, "rs-desk", "department", PASSWORD, department="RS", hasher=hasher_for(settings), now=now)
        token = create_token(store, "admin", expires_days=1, now=now).token
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size_mb = (data_dir / "hub.db").stat().st_size / 1e6
    log(f"seeded in {seed_s:.1f} s ({args.cases / seed_s:,.0f} cases/s); database {size_mb:,.0f} MB; starting the hub")
    server, url = start_hub(data_dir)
    try:
        results = measure(data_dir, url, token, args.reps)
    finally:
        server.terminate()
        server.wait(10)
    return {
        "machine": {
            "date": dt.date.today().isoformat(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
        },
        "seeding": {
            "cases": args.cases,
            "stations": stations,
            "seconds": round(seed_s, 1),
            "cases_per_s": round(args.cases / seed_s),
            "db_mb": round(size_mb),
        },
        "reps": args.reps,
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.bench_dashboard``."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_dashboard", description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000, help="cases to seed (default 1000000)")
    parser.add_argument("--reps", type=int, default=100, help="timed requests per operation (default 100)")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument("--keep", type=Path, help="seed into this new folder and keep it (for profiling)")
    args = parser.parse_args(argv)
    if args.cases < 1 or args.reps < 1:
        parser.error("--cases and --reps must be at least 1")
    if args.keep and args.keep.exists():
        parser.error(f"--keep {args.keep} already exists; give a new folder")
    if args.keep:
        args.keep.mkdir(parents=True)
        figures = run(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
            figures = run(args, Path(tmp))
    m, s = figures["machine"], figures["seeding"]
    print(f"{m['date']}  {m['cpus']} CPUs  Python {m['python']}  SQLite {m['sqlite']}  {m['platform']}")
    print(
        f"seeding: {s['cases']:,} cases and {s['stations']} stations in {s['seconds']:,.1f} s "
        f"({s['cases_per_s']:,} cases/s); database {s['db_mb']:,} MB; {figures['reps']} requests per operation\n"
    )
    print(report(figures["results"]))
    if args.out:
        args.out.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
