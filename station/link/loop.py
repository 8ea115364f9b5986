"""The watch loop: sync rounds while the link comes and goes, knocking cheaply at the hub while it is away."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from station.hubhttp import DEFAULT_TIMEOUT, HEALTH_PATH, make_client, url
from station.identity import require_pins
from station.link.report import SyncReport
from station.link.round import opened, sync_once, unlocked_keys
from station.link.session import Sleep
from station.sealing import unsealed_count
from station.store import Station
from sync.crypto import KeyPair

__all__ = ("PROBE_MAX_SECONDS", "PROBE_SECONDS", "watch")

PROBE_SECONDS, PROBE_MAX_SECONDS = 2.0, 12.0
"""While the hub cannot be reached, ``watch`` knocks (GET /healthz) after 2 s, doubling to at most 12 s, jittered."""


def watch(
    target: Path | str | Station,
    *,
    hub_url: str | None = None,
    transport: httpx.BaseTransport | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    keys: KeyPair | None = None,
    on_report: Callable[[SyncReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    idle_seconds: float = 60.0,
    idle_max_seconds: float = 900.0,
    busy_seconds: float = 5.0,
    max_backoff: float = 900.0,
    probe_seconds: float = PROBE_SECONDS,
    probe_max_seconds: float = PROBE_MAX_SECONDS,
    sleep: Sleep | None = None,
    rng: Callable[[], float] = random.random,
) -> SyncReport | None:
    """Keep syncing while the link comes and goes, until stopped; returns the last report.

    When the hub cannot be reached, it knocks cheaply (``GET /healthz``, a few hundred bytes)
    after ``probe_seconds``, then at doubling intervals capped at ``probe_max_seconds``, each
    jittered (between half and all of it, so 395 stations coming back together do not knock in
    step), and syncs as soon as the hub answers: a link that comes back is noticed within
    seconds. After any other failure (the hub busy or refusing) it waits a random time up to an
    exponentially growing cap (``max_backoff``). With work pending it comes back after
    ``busy_seconds``. In step, it asks the hub again after ``idle_seconds``, doubling after each
    round that brought nothing up to ``idle_max_seconds`` (a poll costs ~280 bytes: every minute
    that is ~130 kB a working day, far more than the day's cases); new changes wake it at once,
    and a round that moved anything starts again from ``idle_seconds``. Stops on Ctrl-C, when
    ``should_stop()`` says so (a TUI worker being cancelled), or after a fatal report (fork,
    revoked key).
    """
    last: SyncReport | None = None
    sleep = sleep or time.sleep
    with opened(target) as station:
        try:
            keys = unlocked_keys(station, keys)
            failures = 0
            idle = idle_seconds
            while True:
                last = sync_once(
                    station, hub_url=hub_url, transport=transport, timeout=timeout, keys=keys, sleep=sleep, rng=rng
                )
                if on_report is not None:
                    on_report(last)
                if last.fatal or (should_stop is not None and should_stop()):
                    return last
                if last.errors and all(e.code == "unreachable" for e in last.errors):
                    failures = 0
                    address = (hub_url or require_pins(station.db).url).strip()
                    if _await_link(
                        address,
                        transport,
                        min(timeout, 10.0),
                        probe_seconds,
                        probe_max_seconds,
                        sleep,
                        rng,
                        should_stop,
                    ):
                        return last
                    continue
                if last.errors:
                    failures += 1
                    delay = rng() * min(max_backoff, busy_seconds * 2**failures)
                elif not last.in_step or (last.scans_pages and last.scan_bytes_sent):
                    # Records behind, or pages still going up and moving: come back soon (records first again).
                    failures, idle = 0, idle_seconds
                    delay = busy_seconds
                elif last.pushed or last.pulled or last.sealed:
                    failures, idle = 0, idle_seconds
                    delay = idle
                else:  # in step and nothing moved: ask less often, up to idle_max_seconds
                    failures = 0
                    delay, idle = idle, min(idle_max_seconds, idle * 2)
                if _wait(station, delay, busy_seconds, sleep, should_stop, failures == 0):
                    return last
        except KeyboardInterrupt:
            return last


def _await_link(
    address: str,
    transport: httpx.BaseTransport | None,
    timeout: float,
    first: float,
    cap: float,
    sleep: Sleep,
    rng: Callable[[], float],
    should_stop: Callable[[], bool] | None,
) -> bool:
    """Knock at the hub until it answers; True when asked to stop meanwhile."""
    delay = first
    with make_client(transport, timeout) as client:
        while True:
            if _sleep_for(delay * (0.5 + 0.5 * rng()), sleep, should_stop):
                return True
            if _reachable(client, address):
                return False
            delay = min(cap, delay * 2)


def _reachable(client: httpx.Client, address: str) -> bool:
    """The hub answered ``GET /healthz`` (anything but a gateway's 502-504 counts: the link is up)."""
    try:
        response = client.get(url(address, HEALTH_PATH))
    except httpx.HTTPError:
        return False
    return response.status_code not in (502, 503, 504)


def _sleep_for(seconds: float, sleep: Sleep, should_stop: Callable[[], bool] | None) -> bool:
    """Sleep in slices of at most a second; True when asked to stop meanwhile."""
    waited = 0.0
    while waited < seconds:
        step = min(1.0, seconds - waited)
        sleep(step)
        waited += step
        if should_stop is not None and should_stop():
            return True
    return False


def _wait(
    station: Station,
    delay: float,
    busy: float,
    sleep: Sleep,
    should_stop: Callable[[], bool] | None,
    wake_on_changes: bool,
) -> bool:
    """Sleep ``delay`` seconds in short slices; True when asked to stop meanwhile."""
    waited = 0.0
    while waited < delay:
        step = min(1.0, delay - waited)
        sleep(step)
        waited += step
        if should_stop is not None and should_stop():
            return True
        if wake_on_changes and waited >= busy and unsealed_count(station) > 0:
            return False
    return False
