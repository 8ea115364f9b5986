"""Station case-book benchmark: seeding, intake commit and list/search latency at N cases, beside raw SQLite."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from station.cases import NewIntake, new_intake, withdraw
from station.queries import CaseFilter, list_cases
from station.store import DB_FILE, Station
from sync.catalog import Catalog
from sync.idnumber import check_character
from sync.intake import material_rules
from sync.timeutil import utc_now

VILLAGE = "349921001001"
REGION = "349921"
SPAN = dt.timedelta(days=730)
"""Receipt dates of the seeded cases (and the timed intakes after them) cover the two years up to now."""
BIRTH_FIRST, BIRTH_LAST = dt.date(1940, 1, 1), dt.date(2005, 12, 31)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国玉梅红"
COMMON_FRAGMENT = "王"
ABSENT_FRAGMENT = "欧阳"  # no seeded name contains it, so nothing stops the scan early
WITHDRAW_EVERY = 50
"""Every 50th seeded case is withdrawn (through station.cases.withdraw), so a status filter has a rare status."""
PROGRESS_EVERY = 5_000
INTAKE_AIM_MS = 20.0
SEARCH_AIM_MS = 50.0
RAW_COLUMNS = (
    "case_no, intake_id, bundle_code, item_code, status, applicant_name, id_number, phone, "
    "received_at, due_date, due_provisional"
)

Stats = dict[str, float]
Timed = Callable[[int], Any]


class FakeClock:
    """The station's ``now``: returns a fake moment that the seeding loop steps forward."""

    def __init__(self, start: dt.datetime) -> None:
        self.moment = start

    def __call__(self) -> dt.datetime:
        return self.moment

    def advance(self, step: dt.timedelta) -> None:
        self.moment += step


class Applicants:
    """Random but valid intake requests: ID numbers with correct check characters, required materials only."""

    def __init__(self, rng: random.Random, catalog: Catalog) -> None:
        self.rng = rng
        self.count = 0
        self.items = [
            (
                item.code,
                [rule.name_zh for rule in material_rules(catalog, item=item.code) if rule.required and not rule.exempt],
            )
            for item in catalog.items
        ]

    def id_number(self) -> str:
        birth = BIRTH_FIRST + dt.timedelta(days=self.rng.randrange((BIRTH_LAST - BIRTH_FIRST).days + 1))
        body = f"{REGION}{birth:%Y%m%d}{self.rng.randrange(1000):03d}"
        return body + check_character(body)

    def name(self) -> str:
        return self.rng.choice(SURNAMES) + "".join(self.rng.choices(GIVEN, k=self.rng.choice((1, 2))))

    def next(self) -> NewIntake:
        code, materials = self.rng.choice(self.items)
        phone = str(13800000000 + self.count)
        self.count += 1
        return NewIntake(
            item=code, applicant_name=self.name(), id_number=self.id_number(), phone=phone, materials=materials
        )


def stats(samples_ms: list[float]) -> Stats:
    """Nearest-rank percentiles of a list of durations in ms."""
    ordered = sorted(samples_ms)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {
        "n": len(ordered),
        "p50": rank(0.50),
        "p95": rank(0.95),
        "p99": rank(0.99),
        "max": ordered[-1],
        "mean": sum(ordered) / len(ordered),
    }


def time_calls(call: Timed, reps: int, *, warm_up: bool = True) -> list[float]:
    """Durations in ms of ``call(i)`` for i in range(reps), each timed on its own."""
    if warm_up:
        call(0)
    durations = []
    for i in range(reps):
        started = time.perf_counter()
        call(i)
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # progress goes to stderr, figures to stdout


def seed(
    station: Station, clock: FakeClock, applicants: Applicants, cases: int, step: dt.timedelta
) -> tuple[dict[str, Any], list[str]]:
    """Seed ``cases`` intakes through new_intake (one transaction each); returns figures and probe ID numbers."""
    probe_ids: list[str] = []
    probe_every = max(1, cases // 200)
    intake_s = withdraw_s = 0.0
    withdrawn = 0
    started = time.perf_counter()
    for i in range(1, cases + 1):
        request = applicants.next()
        t0 = time.perf_counter()
        result = new_intake(station, request)
        t1 = time.perf_counter()
        intake_s += t1 - t0
        if i % WITHDRAW_EVERY == 0:
            withdraw(station, result.number, reason="申请人撤回")
            withdraw_s += time.perf_counter() - t1
            withdrawn += 1
        if i % probe_every == 0:
            probe_ids.append(request.id_number)
        clock.advance(step)
        if i % PROGRESS_EVERY == 0 or i == cases:
            elapsed = time.perf_counter() - started
            log(
                f"  seeded {i:,}/{cases:,} cases in {elapsed:,.0f} s ({i / elapsed:,.0f} cases/s, "
                f"about {(cases - i) * elapsed / i:,.0f} s to go)"
            )
    figures = {
        "cases": cases,
        "withdrawn": withdrawn,
        "wall_s": time.perf_counter() - started,
        "intake_s": intake_s,
        "intakes_per_s": cases / intake_s,
        "withdraw_s": withdraw_s,
        "db_mb": (station.data_dir / DB_FILE).stat().st_size / 1e6,
    }
    return figures, probe_ids


def bench_intake(
    station: Station, clock: FakeClock, applicants: Applicants, samples: int, step: dt.timedelta
) -> list[float]:
    """Durations in ms of ``samples`` further new_intake calls, each including its commit."""
    requests = [applicants.next() for _ in range(samples)]

    def one(i: int) -> None:
        new_intake(station, requests[i])
        clock.advance(step)

    return time_calls(one, samples, warm_up=False)


def bench_raw_insert(path: Path, station: Station, rows: int, samples: int) -> list[float]:
    """The floor: a case row plus its outbox row, inserted raw, one transaction each, same pragmas."""
    cursor = station.db.execute("SELECT * FROM cases ORDER BY rowid DESC LIMIT 1")
    columns = [d[0] for d in cursor.description]
    case = list(cursor.fetchone())
    hlc, kind, entity, _, body, created_at = station.db.execute(
        "SELECT hlc, kind, entity, entity_id, body, created_at FROM outbox "
        "WHERE entity = 'cases' AND kind = 'row' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(f"CREATE TABLE cases ({columns[0]} TEXT PRIMARY KEY, {', '.join(columns[1:])})")
    conn.execute(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, hlc INTEGER, kind TEXT, entity TEXT, "
        "entity_id TEXT, body BLOB, created_at TEXT, set_seq INTEGER)"
    )
    case_sql = f"INSERT INTO cases ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    outbox_sql = "INSERT INTO outbox (hlc, kind, entity, entity_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?)"

    def insert(i: int) -> None:
        key = f"raw-{i:08d}"
        conn.execute(case_sql, [key, *case[1:]])
        conn.execute(outbox_sql, [hlc + i, kind, entity, key, body, created_at])

    conn.execute("BEGIN")  # fill to the same row count first, in one (untimed) transaction
    for i in range(rows):
        insert(i)
    conn.execute("COMMIT")

    def one(i: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        insert(rows + i)
        conn.execute("COMMIT")

    durations = time_calls(one, samples, warm_up=False)
    conn.close()
    return durations


def query_probes(station: Station, probe_ids: list[str]) -> dict[str, tuple[Timed, Timed | None]]:
    """Each list/search operation, with its raw-SQL baseline where there is one."""
    db = station.db
    middle = db.execute(
        "SELECT case_no FROM cases ORDER BY received_at LIMIT 1 OFFSET (SELECT COUNT(*) / 2 FROM cases)"
    ).fetchone()[0]
    number_fragment = middle[13:-1]  # "20251125-A03": ten numbers of one day
    hashes = [station.id_hash(n) for n in probe_ids]
    raw_like = f"SELECT {RAW_COLUMNS} FROM cases WHERE applicant_name LIKE ? LIMIT 50"
    raw_hash = f"SELECT {RAW_COLUMNS} FROM cases WHERE id_hash = ?"

    def listing(**fields: Any) -> Timed:
        return lambda i: list_cases(station, CaseFilter(**fields))

    def raw(sql: str, param: str) -> Timed:
        return lambda i: db.execute(sql, [param]).fetchall()

    return {
        "(a) default list, newest 50": (listing(), None),
        "(b) status RECEIVED (~98% of cases)": (listing(statuses=["RECEIVED"]), None),
        "(b2) status WITHDRAWN (~2%)": (listing(statuses=["WITHDRAWN"]), None),
        "(c) item RS-001": (listing(item="RS-001"), None),
        "(d) name: common surname": (listing(text=COMMON_FRAGMENT), raw(raw_like, f"%{COMMON_FRAGMENT}%")),
        "(d2) name: fragment with no match": (listing(text=ABSENT_FRAGMENT), raw(raw_like, f"%{ABSENT_FRAGMENT}%")),
        "(e) exact ID number (keyed hash)": (
            lambda i: list_cases(station, CaseFilter(text=probe_ids[i % len(probe_ids)])),
            lambda i: db.execute(raw_hash, [hashes[i % len(hashes)]]).fetchall(),
        ),
        "(f) overdue": (listing(overdue=True), None),
        "(g) due within 3 working days": (listing(due_within=3), None),
        f"(h) case-number fragment {number_fragment}": (listing(text=number_fragment), None),
    }


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "date": dt.date.today().isoformat(),
    }


def report(rows: list[dict[str, Any]]) -> str:
    """The figures as a Markdown table."""
    lines = ["| operation | p50 ms | p99 ms | baseline p50/p99 ms | aim | pass/fail |", "|---|---:|---:|---:|---|---|"]
    for row in rows:
        own, base = row["stats"], row["baseline"]
        baseline = f"{base['p50']:.2f} / {base['p99']:.2f}" if base else "—"
        verdict = "pass" if own["p99"] < row["aim_ms"] else "FAIL"
        lines.append(
            f"| {row['operation']} | {own['p50']:.2f} | {own['p99']:.2f} | {baseline} | "
            f"p99 < {row['aim_ms']:.0f} ms | {verdict} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    step = SPAN / (args.cases + args.samples)
    clock = FakeClock(utc_now() - SPAN)
    # Encrypted, as every station's data is (docs/security.md): the figures include SQLCipher.
    station = Station.init(data_dir / "station", village_code=VILLAGE, passphrase="bench-passphrase-1", now=clock)
    try:
        applicants = Applicants(rng, station.catalog)
        log(f"seeding {args.cases:,} cases through new_intake into {data_dir} ...")
        seeding, probe_ids = seed(station, clock, applicants, args.cases, step)
        log(f"timing {args.samples} intakes, then the raw-insert baseline ...")
        intake = stats(bench_intake(station, clock, applicants, args.samples, step))
        raw_insert = stats(bench_raw_insert(data_dir / "raw.db", station, args.cases, args.samples))
        rows = [
            {
                "operation": "intake commit (new_intake)",
                "stats": intake,
                "baseline": raw_insert,
                "aim_ms": INTAKE_AIM_MS,
            }
        ]
        for operation, (call, baseline) in query_probes(station, probe_ids).items():
            log(f"timing {operation} x{args.reps} ...")
            rows.append(
                {
                    "operation": operation,
                    "stats": stats(time_calls(call, args.reps)),
                    "baseline": stats(time_calls(baseline, args.reps)) if baseline else None,
                    "aim_ms": SEARCH_AIM_MS,
                    "rows_returned": len(call(0)),
                }
            )
    finally:
        station.close()
    return {"machine": machine(), "cases": args.cases, "seed": args.seed, "seeding": seeding, "results": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_station", description=__doc__)
    parser.add_argument("--cases", type=int, default=50_000, help="cases to seed before timing (default 50000)")
    parser.add_argument("--samples", type=int, default=500, help="intakes timed one by one (default 500)")
    parser.add_argument("--reps", type=int, default=200, help="repetitions of each list/search (default 200)")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument("--keep", type=Path, help="seed into this new folder and keep it (for profiling)")
    args = parser.parse_args(argv)
    if min(args.cases, args.samples, args.reps) < 1:
        parser.error("--cases, --samples and --reps must be at least 1")
    if args.keep and args.keep.exists():
        parser.error(f"--keep {args.keep} already exists; give a new folder")
    if args.keep:
        args.keep.mkdir(parents=True)
        figures = run(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-station-") as tmp:
            figures = run(args, Path(tmp))
    m, s, intake = figures["machine"], figures["seeding"], figures["results"][0]["stats"]
    print(f"{m['date']}  {m['cpus']} CPUs  Python {m['python']}  SQLite {m['sqlite']}  {m['platform']}")
    print(
        f"seeding: {s['cases']:,} cases in {s['intake_s']:,.1f} s of new_intake = {s['intakes_per_s']:,.0f} "
        f"intakes/s (+{s['withdrawn']:,} withdrawals in {s['withdraw_s']:,.2f} s); database {s['db_mb']:,.1f} MB"
    )
    print(
        f"intake commit: p50 {intake['p50']:.2f}  p95 {intake['p95']:.2f}  p99 {intake['p99']:.2f}  "
        f"max {intake['max']:.2f} ms over {intake['n']} calls\n"
    )
    print(report(figures["results"]))
    if args.out:
        args.out.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
