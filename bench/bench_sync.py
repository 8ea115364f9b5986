"""Sync on the wire: bytes, round trips and time to sync a village's work to a live hub over slow links.

For each link profile of netsim (loopback, 3G 384 kbit/s, EDGE 64 kbit/s, GPRS 9.6 kbit/s) it
measures, through netsim's FaultProxy in front of a live hub (uvicorn, as ``hub serve`` runs it):

- the first sync of a newly enrolled station (catalogue, calendar, division tree), then one idle
  round (nothing new either way: what ``station sync --watch`` pays per poll);
- one day's work of 5 and of 20 intakes, synced together, and one intake synced alone;
- a 90-day backlog (3-5 intakes per working day, synced at once after the station was offline);

beside a NAIVE BASELINE measured in the same run over the same profile: one JSON POST per case, as
form-submission systems do it (the case's fields, its materials, commitments and history), with an
ordinary httpx client to a minimal HTTP server in this file that answers a small JSON ack.

Bytes are what crossed the proxy both ways (headers, bodies, signatures, receipts, the feed);
round trips are the requests that reached the server. Progress goes to stderr, the figures (a
Markdown table) to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx

from hub.bootstrap import init_hub
from hub.enroll import issue_code
from hub.settings import Settings
from hub.store import HubStore
from hub.testing import live_server
from hub.web.app import create_app
from netsim.proxy import PROFILES, FaultProxy, LinkProfile
from station import cases as ops
from station.cases import NewIntake
from station.enrolment import enroll
from station.identity import load_keypair
from station.link import SyncReport, sync_once
from station.store import Station
from sync.crypto import KeyPair
from sync.idnumber import check_character
from sync.intake import material_rules
from sync.timeutil import utc_now

__all__ = ("Workload", "main", "naive_documents", "record_backlog", "record_day", "sync_until_in_step")

PASSPHRASE = "bench-passphrase-1"
DEFAULT_PROFILES = ("loopback", "3g", "edge", "gprs")
DAY_SIZES = (1, 3, 5, 20)
BACKLOG_DAYS = 90
BACKLOG_PER_DAY = (3, 5)
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂华建国志红玉珍凤春海"
CHINA = dt.timezone(dt.timedelta(hours=8))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # progress to stderr, figures to stdout


# -- the village's work ------------------------------------------------------------------------------


class Clock:
    """The station's clock while recording: moved by hand."""

    def __init__(self, moment: dt.datetime) -> None:
        self.moment = moment

    def __call__(self) -> dt.datetime:
        return self.moment


class Workload:
    """Realistic intakes: an item with a promised time limit, its required materials (about a third
    of the deferrable ones under 容缺), a random applicant with a valid ID number and a mobile number."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def intake(self, station: Station) -> NewIntake:
        rng = self.rng
        items = [item for item in station.catalog.items if item.promised_days is not None]
        item = rng.choice(items)
        needed = [r for r in material_rules(station.catalog, item=item.code) if r.required]
        deferred = [r.name_zh for r in needed if r.allow_deferred and rng.random() < 0.3]
        body = (
            f"349921{rng.randint(1940, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
        )
        return NewIntake(
            item=item.code,
            applicant_name=rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2))),
            id_number=body + check_character(body),
            phone=f"1{rng.choice('3578')}{rng.randint(0, 10**9 - 1):09d}",
            materials=[r.name_zh for r in needed if r.name_zh not in deferred],
            deferred=deferred,
        )


def _record(data_dir: Path, workload: Workload, days: list[tuple[dt.date, int]]) -> int:
    """Record ``count`` intakes on each (China) date, 8:30 on, 3-40 minutes apart; returns how many."""
    clock = Clock(utc_now())
    station = Station.open(data_dir, now=clock)
    total = 0
    try:
        for day, count in days:
            clock.moment = dt.datetime(day.year, day.month, day.day, 8, 30, tzinfo=CHINA).astimezone(dt.UTC)
            for _ in range(count):
                clock.moment += dt.timedelta(minutes=workload.rng.randint(3, 40), seconds=workload.rng.randint(0, 59))
                ops.new_intake(station, workload.intake(station))
                total += 1
    finally:
        station.close()
    return total


def record_day(data_dir: Path, workload: Workload, cases: int) -> int:
    """One day's work: ``cases`` intakes today, before now (a day that has not ended is not in the future)."""
    today = dt.datetime.now(CHINA).date() - dt.timedelta(days=1)
    return _record(data_dir, workload, [(today, cases)])


def record_backlog(
    data_dir: Path, workload: Workload, days: int = BACKLOG_DAYS, per_day: tuple[int, int] = BACKLOG_PER_DAY
) -> int:
    """A station offline for ``days`` days: 3-5 intakes on each working day (Monday to Friday)."""
    today = dt.datetime.now(CHINA).date()
    dates = [today - dt.timedelta(days=n) for n in range(days, 0, -1)]
    return _record(data_dir, workload, [(d, workload.rng.randint(*per_day)) for d in dates if d.weekday() < 5])


# -- syncing through the proxy -------------------------------------------------------------------------


@dataclass
class Measure:
    """What one sync (or the naive upload) cost on the wire."""

    cases: int
    bytes_up: int
    bytes_down: int
    round_trips: int
    seconds: float
    ok: bool
    sets: int = 0
    """Feed sets pulled (first sync) or sets pushed."""

    @property
    def bytes(self) -> int:
        return self.bytes_up + self.bytes_down

    @property
    def per_case(self) -> float:
        return self.bytes / self.cases if self.cases else float(self.bytes)


def sync_until_in_step(
    data_dir: Path, keys: KeyPair, proxy: FaultProxy, *, cases: int = 0, rounds: int = 20, timeout: float = 60.0
) -> Measure:
    """Sync rounds through ``proxy`` until both sides hold everything; what crossed the proxy meanwhile."""
    proxy.reset_stats()
    started = time.perf_counter()
    report: SyncReport | None = None
    pushed = pulled = 0
    for _ in range(rounds):
        report = sync_once(data_dir, hub_url=proxy.url, keys=keys, timeout=timeout)
        pushed += report.pushed
        pulled += report.pulled
        if report.in_step or report.fatal:
            break
    seconds = time.perf_counter() - started
    stats = proxy.stats
    return Measure(
        cases=cases,
        bytes_up=stats.bytes_up,
        bytes_down=stats.bytes_down,
        round_trips=stats.round_trips,
        seconds=seconds,
        ok=bool(report and report.in_step),
        sets=pulled if not cases else pushed,
    )


class County:
    """One live hub (a fresh copy of a template hub folder), stations enrolled in villages of their own."""

    def __init__(self, root: Path, template: Path) -> None:
        self.root = root
        self.hub_dir = root / "hub"
        shutil.copytree(template, self.hub_dir)
        with HubStore.open_existing(self.hub_dir) as store:
            self.villages = [v.code for v in store.divisions().villages()]
        self.url = ""
        self.enrolled = 0

    @contextlib.contextmanager
    def serving(self) -> Iterator[County]:
        with live_server(create_app(Settings(data_dir=self.hub_dir))) as url:
            self.url = url
            yield self

    @property
    def target(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").split(":")
        return host, int(port)

    def enrol(self, *, caught_up: bool = True) -> tuple[Path, KeyPair]:
        """A new station (in a village of its own); ``caught_up``: its first sync done, outside any proxy."""
        village = self.villages[self.enrolled % len(self.villages)]
        self.enrolled += 1
        with HubStore.open_existing(self.hub_dir) as store:
            code = issue_code(store, village).code
        data_dir = self.root / f"station-{self.enrolled}"
        enroll(data_dir, hub_url=self.url, code=code, passphrase=PASSPHRASE, key_work=2**10)
        keys = load_keypair(data_dir, PASSPHRASE)
        if caught_up:
            assert sync_once(data_dir, hub_url=self.url, keys=keys).in_step
        return data_dir, keys


# -- the naive baseline ------------------------------------------------------------------------------


_CASE = (
    "case_no",
    "intake_id",
    "item_code",
    "bundle_code",
    "status",
    "outcome",
    "applicant_name",
    "id_number",
    "phone",
    "sex",
    "birth_date",
    "village_code",
    "received_at",
    "received_date",
    "due_date",
    "catalog_version",
)
_INTAKE = ("intake_id", "received_at", "received_date", "agent", "catalog_version")


def _rows(station: Station, sql: str, args: list[Any]) -> list[dict[str, Any]]:
    cursor = station.db.execute(sql, args)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def naive_documents(data_dir: Path) -> list[dict[str, Any]]:
    """One JSON document per case, as a form-submission system posts it: the case's fields, its
    intake, materials and 容缺 commitments, and its history."""
    station = Station.open(data_dir)
    try:
        documents = []
        for case in _rows(station, f"SELECT {', '.join(_CASE)} FROM cases ORDER BY case_no", []):
            intake_id = case["intake_id"]
            documents.append(
                {
                    **case,
                    "intake": _rows(
                        station, f"SELECT {', '.join(_INTAKE)} FROM intakes WHERE intake_id = ?", [intake_id]
                    )[0],
                    "materials": _rows(
                        station, "SELECT name_zh, state FROM intake_materials WHERE intake_id = ?", [intake_id]
                    ),
                    "commitments": _rows(
                        station,
                        "SELECT material, signer_name, signed_at, due_days, due_date "
                        "FROM commitments WHERE intake_id = ?",
                        [intake_id],
                    ),
                    "history": _rows(
                        station,
                        "SELECT from_status, to_status, actor, by, at FROM case_events WHERE case_no = ? ORDER BY hlc",
                        [case["case_no"]],
                    ),
                }
            )
        return documents
    finally:
        station.close()


class _Ack(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as any production server
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart
    received: ClassVar[list[Any]] = []

    def do_POST(self) -> None:  # http.server's name
        length = int(self.headers.get("Content-Length") or 0)
        document = json.loads(self.rfile.read(length))
        self.received.append(document)
        body = json.dumps({"ok": True, "id": len(self.received)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def naive_server() -> Iterator[tuple[str, int]]:
    """A minimal form-submission endpoint: ``POST /api/records`` one JSON document, answered ``{"ok", "id"}``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ack)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[0], server.server_address[1]  # type: ignore[misc]
    finally:
        server.shutdown()
        server.server_close()


def naive_upload(documents: list[dict[str, Any]], proxy: FaultProxy, *, timeout: float = 60.0) -> Measure:
    """Post each document with an ordinary httpx client (its default headers, keep-alive) through ``proxy``."""
    proxy.reset_stats()
    started = time.perf_counter()
    ok = True
    with httpx.Client(timeout=timeout) as client:
        for document in documents:
            response = client.post(f"{proxy.url}/api/records", json=document)
            ok &= response.status_code == 200
    seconds = time.perf_counter() - started
    stats = proxy.stats
    return Measure(
        cases=len(documents),
        bytes_up=stats.bytes_up,
        bytes_down=stats.bytes_down,
        round_trips=stats.round_trips,
        seconds=seconds,
        ok=ok,
    )


# -- the run -----------------------------------------------------------------------------------------


@dataclass
class Row:
    profile: str
    scenario: str
    ours: Measure
    naive: Measure | None = None


def _scenarios(full: bool, profile: str, day_sizes: tuple[int, ...]) -> list[tuple[str, int | None]]:
    scenarios: list[tuple[str, int | None]] = [("first sync", None)]
    scenarios += [(f"day of {n}" if n > 1 else "one intake alone", n) for n in day_sizes]
    if full or profile != "gprs":
        scenarios.append((f"{BACKLOG_DAYS}-day backlog", 0))
    return scenarios


def run(
    profiles: list[str],
    *,
    full: bool,
    seed: int,
    root: Path,
    day_sizes: tuple[int, ...] = DAY_SIZES,
    progress: Callable[[str], None] = log,
) -> list[Row]:
    rng = random.Random(seed)
    template = root / "template"
    progress("initialising a hub (catalogue, calendar, 395 villages) ...")
    init_hub(template)
    rows: list[Row] = []
    county = County(root / "county", template)
    with county.serving(), naive_server() as naive_target:
        for name in profiles:
            profile: LinkProfile = PROFILES[name]
            with (
                FaultProxy(county.target, profile, seed=seed) as proxy,
                FaultProxy(naive_target, profile, seed=seed) as naive_proxy,
            ):
                for scenario, size in _scenarios(full, name, day_sizes):
                    progress(f"{name}: {scenario} ...")
                    if size is None:
                        data_dir, keys = county.enrol(caught_up=False)
                        rows.append(Row(name, scenario, sync_until_in_step(data_dir, keys, proxy)))
                        rows.append(Row(name, "idle round", sync_until_in_step(data_dir, keys, proxy)))
                        continue
                    data_dir, keys = county.enrol()
                    workload = Workload(random.Random(rng.random()))
                    cases = record_day(data_dir, workload, size) if size else record_backlog(data_dir, workload)
                    documents = naive_documents(data_dir)
                    ours = sync_until_in_step(data_dir, keys, proxy, cases=cases)
                    naive = naive_upload(documents, naive_proxy)
                    rows.append(Row(name, scenario, ours, naive))
                    progress(
                        f"    ours {ours.bytes:,} B in {ours.round_trips} round trips, {ours.seconds:.1f} s; "
                        f"naive {naive.bytes:,} B in {naive.round_trips}, {naive.seconds:.1f} s"
                    )
    return rows


SPREAD_SIZES = (3, 4, 5, 10, 20)


def spread(
    county: County,
    proxy: FaultProxy,
    days: int,
    seed: int,
    sizes: tuple[int, ...] = SPREAD_SIZES,
    progress: Callable[[str], None] = log,
) -> dict[int, list[float]]:
    """Bytes per intake over ``days`` sampled days of each size (one station each), through ``proxy``."""
    rng = random.Random(seed + 1)
    figures: dict[int, list[float]] = {}
    for size in sizes:
        progress(f"spread: {days} days of {size} ...")
        figures[size] = []
        for _ in range(days):
            data_dir, keys = county.enrol()
            record_day(data_dir, Workload(random.Random(rng.random())), size)
            measure = sync_until_in_step(data_dir, keys, proxy, cases=size)
            assert measure.ok and measure.round_trips == 1
            figures[size].append(measure.per_case)
    return figures


def spread_table(figures: dict[int, list[float]], budget: int = 250) -> str:
    lines = [
        "| intakes synced together | days sampled | bytes per intake: min | median | max | days within 250 B |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for size, values in figures.items():
        ordered = sorted(values)
        median = ordered[len(ordered) // 2]
        within = sum(v <= budget for v in ordered)
        lines.append(
            f"| {size} | {len(ordered)} | {ordered[0]:.0f} | {median:.0f} | {ordered[-1]:.0f} "
            f"| {within}/{len(ordered)} |"
        )
    return "\n".join(lines)


def table(rows: list[Row]) -> str:
    """The figures as a Markdown table."""
    lines = [
        (
            "| profile | what | cases | bytes up / down | bytes per case | round trips | time s "
            "| naive bytes | naive round trips | naive time s | fewer bytes | less time |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ours, naive = row.ours, row.naive
        what = row.scenario + ("" if ours.ok else " (NOT in step)")
        if naive is None:
            sets = f" ({ours.sets} feed sets)" if ours.sets else ""
            lines.append(
                f"| {row.profile} | {what}{sets} | — | {ours.bytes_up:,} / {ours.bytes_down:,} "
                f"| — | {ours.round_trips} | {ours.seconds:.1f} | — | — | — | — | — |"
            )
            continue
        lines.append(
            f"| {row.profile} | {what} | {ours.cases} | {ours.bytes_up:,} / {ours.bytes_down:,} | {ours.per_case:,.0f} "
            f"| {ours.round_trips} | {ours.seconds:.1f} | {naive.bytes:,} | {naive.round_trips} | {naive.seconds:.1f} "
            f"| {naive.bytes / ours.bytes:.1f}x | {naive.seconds / max(ours.seconds, 1e-9):.1f}x |"
        )
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{dt.date.today().isoformat()}  {os.cpu_count()} CPUs  Python {platform.python_version()}  "
        f"{platform.platform()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_sync", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--profiles",
        default=",".join(DEFAULT_PROFILES),
        help=f"link profiles, comma-separated (default {','.join(DEFAULT_PROFILES)}; known: {','.join(PROFILES)})",
    )
    parser.add_argument("--full", action="store_true", help="also the 90-day backlog over GPRS (about 15 minutes more)")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    parser.add_argument(
        "--spread",
        type=int,
        default=20,
        metavar="DAYS",
        help="also sample this many days of 5, 10 and 20 intakes over loopback, for the spread "
        "of bytes per intake (default 20; 0 to skip)",
    )
    parser.add_argument("--out", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    unknown = [p for p in profiles if p not in PROFILES]
    if unknown or not profiles:
        parser.error(f"unknown profile(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(PROFILES)}")
    started = time.perf_counter()
    figures: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        rows = run(profiles, full=args.full, seed=args.seed, root=Path(tmp))
        if args.spread > 0:
            county = County(Path(tmp) / "spread", Path(tmp) / "template")
            with county.serving(), FaultProxy(county.target) as proxy:
                figures = spread(county, proxy, args.spread, args.seed)
    print(machine())
    print(f"run took {time.perf_counter() - started:.0f} s\n")
    print(table(rows))
    if figures:
        print(f"\nBytes per intake over sampled days (loopback; same workload, {args.spread} days each):\n")
        print(spread_table(figures))
    if args.out:
        args.out.write_text(
            json.dumps({"rows": [asdict(r) for r in rows], "spread": figures}, ensure_ascii=False, indent=2) + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
