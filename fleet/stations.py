"""One simulated village PC: its real data folder and keys, its clock, and its way to the hub (HTTP, GPRS, USB)."""

from __future__ import annotations

import datetime as dt
import random
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fleet.profiles import Slot
from fleet.workload import Activity, station_day
from hub.enroll import issue_code
from hub.keys import HubIdentity
from hub.store import HubStore
from hub.transfer import export_file as hub_export
from hub.transfer import import_file as hub_import
from netsim.proxy import PROFILES as LINKS
from netsim.proxy import FaultProxy
from station.enrolment import enroll
from station.identity import load_keypair
from station.link import SyncReport, sync_once
from station.rekey import pending, stale_keys
from station.store import Station
from station.transfer import export_file, import_file
from sync.crypto import KeyPair
from sync.errors import ProxyAppError

__all__ = ("PASSPHRASE", "SimStation")

PASSPHRASE = "fleet-passphrase-1"


@dataclass(eq=False)  # identity: a station is itself, whatever its counters say
class SimStation:
    """A station of the fleet. All of its work runs in one thread at a time (the pool's task)."""

    slot: Slot
    data_dir: Path
    clock: Callable[[], dt.datetime]
    rng: random.Random
    station_id: str = ""
    keys: KeyPair | None = None
    proxy: FaultProxy | None = None
    usb: bool = False
    last_sync_day: int = -1
    stopped: str | None = None
    """Why it no longer syncs: "revoked_key" or "fork" (a person must act)."""
    created: list[str] = field(default_factory=list)
    serial: int = 0
    syncs: int = 0
    syncs_ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    activity: Counter[str] = field(default_factory=Counter)
    sync_seconds: float = 0.0

    @property
    def profile(self) -> str:
        return self.slot.profile

    def open(self) -> Station:
        return Station.open(self.data_dir, now=self.clock)

    def enrol(self, hub_dir: Path, hub_url: str, lock: threading.Lock) -> None:
        """Issue a one-time code at the hub (serialised: codes and letters are the hub's) and enrol for real."""
        with lock, HubStore.open_existing(hub_dir) as store:
            code = issue_code(store, self.slot.village, now=self.clock).code
        result = enroll(
            self.data_dir, hub_url=hub_url, code=code, passphrase=PASSPHRASE, key_work=2**10, now=self.clock
        )
        self.station_id = result.station_id
        self.keys = load_keypair(self.data_dir, PASSPHRASE)

    def attach_gprs(self, hub_url: str, seed: int) -> None:
        host, port = hub_url.removeprefix("http://").split(":")
        self.proxy = FaultProxy((host, int(port)), LINKS["gprs"], seed=seed).start()

    def work(self, mean_cases: float) -> Activity:
        """One working day at the counter."""
        with self.open() as station:
            activity = station_day(station, self.rng, mean_cases=mean_cases, serial_base=self.serial)
        self.serial += 1000
        self.created += activity.created
        self.activity.update(
            created=len(activity.created),
            delivered=activity.delivered,
            supplied=activity.supplied,
            corrected=activity.corrected,
            withdrawn=activity.withdrawn,
            rated=activity.rated,
        )
        for code, n in activity.refused_locally.items():
            self.activity[f"refused_locally:{code}"] += n
        return activity

    def sync(self, hub_url: str, hub_dir: Path, identity: HubIdentity, stick: Path) -> SyncReport | None:
        """One sync by this station's way; None for a USB round trip (which has no SyncReport)."""
        started = time.monotonic()
        self.syncs += 1
        try:
            if self.usb:
                self._usb_round_trip(hub_dir, identity, stick)
                return None
            url = self.proxy.url if self.proxy else hub_url
            with self.open() as station:
                if self.keys is not None and stale_keys(station, self.keys, pending(station)) is not None:
                    # The station changed its key in a round (a fork resolved): unlocked again, as an agent would.
                    self.keys = load_keypair(self.data_dir, PASSPHRASE)
                report = sync_once(
                    station,
                    hub_url=url,
                    keys=self.keys,
                    timeout=90.0 if self.proxy else 20.0,
                    sleep=lambda s: time.sleep(min(s, 0.2)),
                    rng=self.rng.random,
                )
            self.errors.update(e.code for e in report.errors)
            self.syncs_ok += report.in_step
            if report.fatal:
                self.stopped = next((e.code for e in report.errors), "fatal")
            return report
        finally:
            self.sync_seconds += time.monotonic() - started

    def _usb_round_trip(self, hub_dir: Path, identity: HubIdentity, stick: Path) -> None:
        """The agent carries a stick to the county office and back with the answer."""
        up, down = stick / f"{self.station_id}-up.bin", stick / f"{self.station_id}-down.bin"
        try:
            with self.open() as station:
                export_file(station, up, keys=self.keys)
            with HubStore.open_existing(hub_dir) as store:
                _, answer = hub_import(store, identity, up, now=self.clock)
                hub_export(store, identity, self.station_id, down, now=self.clock)
            with self.open() as station:
                import_file(station, down, keys=self.keys)
        except ProxyAppError as exc:
            self.errors[getattr(exc, "code", None) or type(exc).__name__] += 1
            return
        failed = [r.code or r.status for r in answer.results if r.status not in ("accepted", "duplicate")]
        self.errors.update(failed)
        self.syncs_ok += not failed
        return

    def backup(self, to: Path) -> None:
        """A copy of the whole data folder (what an agent's "backup to the stick" does)."""
        shutil.copytree(self.data_dir, to)

    def restore(self, backup: Path) -> None:
        shutil.rmtree(self.data_dir)
        shutil.copytree(backup, self.data_dir)

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
