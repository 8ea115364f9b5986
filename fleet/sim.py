"""The fleet simulation: a county's stations enrolled to one hub process, days of work, decisions, syncs."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from fleet.clock import CountyClock, day_start
from fleet.county import decide_day
from fleet.hub_server import ClockedHub
from fleet.profiles import Plan, Slot, plan_fleet
from fleet.stations import SimStation
from hub.bootstrap import init_hub
from hub.calendar import publish_calendar, read_notice
from hub.catalog import catalog_json, publish_catalog, read_catalog
from hub.enroll import revoke_station
from hub.forks import resolve_fork
from hub.keys import HubIdentity, load_identity
from hub.rotation import rotate_hub_key
from hub.store import HubStore
from sync.divisions import sample_divisions
from sync.workdays import default_calendar

__all__ = ("Fleet", "FleetConfig", "run_fleet")

T = TypeVar("T")

MIN_DAYS = 8
"""Shortest run in which every scripted event (backup, USB move, revocation, restore) happens."""

NOTICE_2027_FILE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "calendar-2027.json"
"""The next year's table the county publishes mid-run: the documented example of a notice for 2027, in the
shape `hub calendar publish` reads (docs/hub.md)."""


@dataclass(frozen=True)
class FleetConfig:
    """Everything a run depends on; the same config and seed replay the same county."""

    villages: int = 395
    days: int = 30
    seed: int = 1
    cases_per_day: float = 3.0
    long_gap: int = 90
    gprs: int = 3
    long_offline: int = 3
    skewed: int = 4
    usb: int = 2
    second_pcs: int = 5
    weekly_share: float = 0.15
    workers: int = 4
    start: dt.date = dt.date(2026, 3, 2)
    root: Path | None = None
    """Where the hub and station folders go (a temporary folder, removed afterwards, when None)."""

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days - 1)


@dataclass
class Fleet:
    """A running simulation: config, clock, hub process, stations and what happened."""

    config: FleetConfig
    root: Path
    clock: CountyClock
    hub: ClockedHub
    plan: Plan
    identity: HubIdentity
    stations: list[SimStation] = field(default_factory=list)
    decided: Counter[str] = field(default_factory=Counter)
    events: list[str] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    backup_dir: Path | None = None
    resolved_forks: list[int] = field(default_factory=list)
    catalog_change: dict[str, object] | None = None
    """The catalogue change the county published mid-run: old and new version, the item, its promised days."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def hub_dir(self) -> Path:
        return self.root / "hub"

    def log(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def by_profile(self, profile: str) -> list[SimStation]:
        return [s for s in self.stations if s.profile == profile]

    def note(self, day: int, text: str) -> None:
        self.events.append(f"day {day}: {text}")
        self.log(f"  {text}")


def _days(config: FleetConfig) -> dict[str, int]:
    """When the scripted events happen (day indices of the run)."""
    d = config.days
    return {
        "backup": max(1, d // 5),
        "usb": max(2, d // 4),
        "back": max(1, d // 3),
        "revoke": max(3, d // 2),
        "restore": max(4, (3 * d) // 5),
        "calendar": max(1, d // 4) + 1,
        "rotate": max(2, (2 * d) // 5),
        # After the restore, so the restored station must take it over the fork it is in (its copy predates it).
        "catalog": max(5, (7 * d) // 10),
    }


def _new_station(fleet: Fleet, slot: Slot, index: int) -> SimStation:
    clock = fleet.clock.skewed(slot.skew) if slot.skew else fleet.clock.now
    rng = random.Random(f"{fleet.config.seed}/{index}/{slot.village}/{slot.profile}")
    station = SimStation(
        slot=slot,
        data_dir=fleet.root / "stations" / f"{index:03d}-{slot.profile}",
        clock=clock,
        rng=rng,
        serial=index * 1_000_000,
    )
    fleet.stations.append(station)
    return station


def _enrol(fleet: Fleet, stations: Iterable[SimStation], pool: ThreadPoolExecutor) -> None:
    """Enrol for real (own keys, own code) and take the first feed (catalogue, calendar, division tree)."""

    def one(station: SimStation) -> None:
        station.enrol(fleet.hub_dir, fleet.hub.url, fleet.lock)
        if station.profile == "gprs":
            station.attach_gprs(fleet.hub.url, seed=station.rng.randrange(2**31))
        _sync(fleet, station)

    list(pool.map(one, list(stations)))


def _sync(fleet: Fleet, station: SimStation) -> None:
    station.sync(fleet.hub.url, fleet.hub_dir, fleet.identity, fleet.root / "stick")


def _syncs_today(station: SimStation, day: int, workday: bool, when: dict[str, int]) -> bool:
    if station.stopped or not workday:
        return False
    if station.profile == "weekly":
        return day - station.last_sync_day >= 7
    if station.profile == "long_offline":
        return day >= when["back"]
    if station.usb:
        return day - station.last_sync_day >= 3  # a trip to the county office twice a week or so
    return True


def _day(fleet: Fleet, pool: ThreadPoolExecutor, day: int, date: dt.date, when: dict[str, int]) -> tuple[int, int]:
    """One simulated day; returns (cases created, syncs)."""
    config = fleet.config
    fleet.clock.set(day_start(date))
    workday = default_calendar().is_workday(date)
    restored = fleet.by_profile("restored")
    _county_office(fleet, day, when)
    if day == when["restore"] and fleet.backup_dir is not None:
        restored[0].restore(fleet.backup_dir)
        fleet.note(day, f"{restored[0].station_id} restored from the backup of day {when['backup']}")
    if day == when["usb"]:
        for station in fleet.by_profile("usb"):
            station.usb = True
            fleet.note(day, f"{station.station_id} moves to USB transfer")
    if workday:
        with HubStore.open_existing(fleet.hub_dir) as store:
            decide_day(store, random.Random(f"{config.seed}/decisions/{day}"), fleet.clock.now, fleet.decided)
    revoked = fleet.by_profile("revoked")[0]
    if day == when["revoke"] and workday is False:
        when["revoke"] += 1  # revoke on a working day, after a day of work
    working = [s for s in fleet.stations if workday and s.stopped != "revoked_key"]
    if day == when["revoke"]:
        # The day the hub refuses needs work in it: a Poisson day can be empty (about 1 in 20 at 3 a day).
        for _ in range(5):
            if revoked.work(config.cases_per_day).created:
                break
        working.remove(revoked)
        with HubStore.open_existing(fleet.hub_dir) as store:
            revoke_station(store, revoked.station_id, reason="laptop reported stolen", now=fleet.clock.now)
        fleet.note(day, f"{revoked.station_id} revoked after a day of work it has not synced")
    created_before = sum(len(s.created) for s in fleet.stations)
    syncing = [s for s in fleet.stations if _syncs_today(s, day, workday, when)]

    def task(station: SimStation) -> None:
        if station in working:
            station.work(config.cases_per_day)
        if station in syncing:
            _sync(fleet, station)
            station.last_sync_day = day

    # The slow links first, so they overlap with everyone else's work.
    ordered = sorted(set(working) | set(syncing), key=lambda s: (s.proxy is None, s.data_dir.name))
    list(pool.map(task, ordered))
    if day == when["backup"]:
        fleet.backup_dir = fleet.root / "backup"
        restored[0].backup(fleet.backup_dir)
        fleet.note(day, f"{restored[0].station_id} data folder backed up")
    if day == when["revoke"] + 1 or (day == config.days - 1 and not fleet.by_profile("replacement")):
        slot = Slot(revoked.slot.village, "replacement")
        fresh = _new_station(fleet, slot, len(fleet.stations))
        _enrol(fleet, [fresh], pool)
        fleet.note(day, f"{fresh.station_id} enrolled to replace {revoked.station_id}")
    return sum(len(s.created) for s in fleet.stations) - created_before, len(syncing)


def _county_office(fleet: Fleet, day: int, when: dict[str, int]) -> None:
    """The county's routine operations, before the day's work: next year's calendar, a hub key rotation,
    and the restored station's fork resolved keeping the hub's chain once administrators see it."""
    now = fleet.clock.now()
    if day == when["calendar"]:
        with HubStore.open_existing(fleet.hub_dir) as store:
            published = publish_calendar(store, read_notice(NOTICE_2027_FILE.read_text(encoding="utf-8")), now=now)
        fleet.note(day, f"2027 calendar published (version {published.version}, to {published.stations} stations)")
    if day == when["rotate"]:
        with HubStore.open_existing(fleet.hub_dir) as store:
            rotation = rotate_hub_key(fleet.hub_dir, store, now=now)
        fleet.identity = load_identity(fleet.hub_dir)  # the USB office signs with it from now on
        fleet.note(day, f"hub key rotated to generation {rotation.gen} (handed over to {rotation.queued} stations)")
    if day > when["restore"]:
        _resolve_forks(fleet, day)
    if day == when["catalog"]:
        _publish_catalog(fleet, day)


def _publish_catalog(fleet: Fleet, day: int) -> None:
    """``hub catalog show --json``, one item's promised days shortened by a day, ``hub catalog publish``."""
    with HubStore.open_existing(fleet.hub_dir) as store:
        current = store.catalog()
        data = json.loads(catalog_json(current))
        item = next(i for i in data["items"] if (i.get("promised_days") or 0) > 1 and not i.get("withdrawn"))
        before = item["promised_days"]
        item["promised_days"] = before - 1
        published = publish_catalog(
            store,
            read_catalog(json.dumps(data, ensure_ascii=False), current=current),
            note="fleet: promised days shortened",
            now=fleet.clock.now(),
        )
    assert not published.unchanged and published.version == current.version + 1, published
    fleet.catalog_change = {
        "from": current.version,
        "to": published.version,
        "item": item["code"],
        "promised_days": [before, before - 1],
    }
    fleet.note(
        day,
        f"catalogue version {published.version} published (item {item['code']} promised days {before} → "
        f"{before - 1}, to {published.stations} stations)",
    )


def _resolve_forks(fleet: Fleet, day: int) -> None:
    """``hub forks resolve FORK --keep hub`` for each open fork; the station syncs on as any other."""
    with HubStore.open_existing(fleet.hub_dir) as store:
        for fork in store.forks():
            if fork.id in fleet.resolved_forks:
                continue  # resolved with an earlier fork of its station (one divergence, one choice)
            done = resolve_fork(store, fleet.identity, fork.id, keep="hub", by="fleet-admin", now=fleet.clock.now())
            fleet.resolved_forks += done.fork_ids
            for station in fleet.stations:
                if station.station_id == done.station_id and station.stopped == "fork":
                    station.stopped = None
            fleet.note(day, f"fork {fork.id} of {done.station_id} resolved keeping the hub's chain")


def _preroll(fleet: Fleet, pool: ThreadPoolExecutor, when: dict[str, int]) -> None:
    """The long-offline stations enrol ``long_gap`` days before they come back, and work offline until then."""
    config = fleet.config
    late = fleet.by_profile("long_offline")
    if not late:
        return
    first = config.start + dt.timedelta(days=when["back"] - config.long_gap)
    fleet.clock.set(day_start(first) - dt.timedelta(hours=1))
    _enrol(fleet, late, pool)
    fleet.log(f"pre-roll: {len(late)} long-offline stations enrolled on {first}, offline until day {when['back']}")
    date = first
    while date < config.start:
        fleet.clock.set(day_start(date))
        if default_calendar().is_workday(date):
            list(pool.map(lambda s: s.work(config.cases_per_day), late))
        date += dt.timedelta(days=1)


def _converge(fleet: Fleet, pool: ThreadPoolExecutor) -> int:
    """After the last day: every station that still may sync does, until the county holds still."""
    fleet.clock.set(day_start(fleet.config.end) + dt.timedelta(hours=9))
    _resolve_forks(fleet, fleet.config.days)  # a fork the last days showed is resolved before the end
    rounds = 0
    for rounds in range(1, 4):
        live = [s for s in fleet.stations if not s.stopped]
        before = sum(s.syncs_ok for s in live)
        list(pool.map(lambda s: _sync(fleet, s), sorted(live, key=lambda s: s.proxy is None)))
        if sum(s.syncs_ok for s in live) - before == len(live):
            break
    # The stopped ones try once more, as an agent would: the report shows what they are told.
    list(pool.map(lambda s: _sync(fleet, s), [s for s in fleet.stations if s.stopped]))
    return rounds


def run_fleet(config: FleetConfig, *, after: Callable[[Fleet], T]) -> T:
    """Run the whole simulation and hand the fleet (hub still up) to ``after``; returns what it returns."""
    if config.days < MIN_DAYS:
        raise ValueError(f"--days must be at least {MIN_DAYS}: the backup, revocation and restore need room")
    started = time.monotonic()
    root = config.root or Path(tempfile.mkdtemp(prefix="fleet-"))
    root.mkdir(parents=True, exist_ok=True)
    (root / "stick").mkdir(exist_ok=True)
    clock = CountyClock(root / "county-clock")
    clock.set(day_start(config.start) - dt.timedelta(days=config.long_gap + 30))
    init_hub(root / "hub")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    hub = ClockedHub(root / "hub", root / "county-clock", port).start()
    villages = [v.code for v in sample_divisions().villages()][: config.villages]
    plan = plan_fleet(
        villages,
        random.Random(f"{config.seed}/plan"),
        gprs=config.gprs,
        long_offline=config.long_offline,
        skewed=config.skewed,
        usb=config.usb,
        second_pcs=config.second_pcs,
        weekly_share=config.weekly_share,
    )
    fleet = Fleet(config=config, root=root, clock=clock, hub=hub, plan=plan, identity=load_identity(root / "hub"))
    when = _days(config)
    try:
        for index, slot in enumerate(plan.slots):
            _new_station(fleet, slot, index)
        with ThreadPoolExecutor(max_workers=config.workers) as pool:
            mark = time.monotonic()
            _preroll(fleet, pool, when)
            fleet.clock.set(day_start(config.start) - dt.timedelta(hours=1))
            _enrol(fleet, [s for s in fleet.stations if s.profile != "long_offline"], pool)
            fleet.phase_seconds["enrol"] = time.monotonic() - mark
            fleet.log(f"enrolled {len(fleet.stations)} stations in {time.monotonic() - mark:.0f} s")
            mark = time.monotonic()
            for day in range(config.days):
                date = config.start + dt.timedelta(days=day)
                t0 = time.monotonic()
                cases, syncs = _day(fleet, pool, day, date, when)
                fleet.log(
                    f"day {day + 1}/{config.days} {date} {'work' if cases or syncs else 'rest'}: "
                    f"{cases} cases, {syncs} syncs, {sum(fleet.decided.values())} decisions so far "
                    f"({time.monotonic() - t0:.1f} s, {time.monotonic() - started:.0f} s total)"
                )
            fleet.phase_seconds["days"] = time.monotonic() - mark
            mark = time.monotonic()
            rounds = _converge(fleet, pool)
            fleet.phase_seconds["converge"] = time.monotonic() - mark
            fleet.log(f"converged in {rounds} round(s), {time.monotonic() - mark:.0f} s")
        fleet.phase_seconds["total_before_checks"] = time.monotonic() - started
        return after(fleet)
    finally:
        for station in fleet.stations:
            station.close()
        hub.stop()
        if config.root is None:
            shutil.rmtree(root, ignore_errors=True)
