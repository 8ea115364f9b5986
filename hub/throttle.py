"""In-process throttles: keyed token buckets (thread-safe, bounded memory) and a bounded gate for costly work."""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread

__all__ = ("KeyedLimiter", "Rule", "Throttled", "WorkGate", "address_key", "shared")

T = TypeVar("T")

DEFAULT_MAX_KEYS = 10_000
"""Keys a limiter tracks at most; past it the least recently used is forgotten (a forgotten key starts full)."""


class Throttled(Exception):
    """Refused before any costly work: too many requests; try again after ``retry_after`` seconds (429)."""

    def __init__(self, retry_after: int, *, zh: str, en: str, code: str = "rate_limited") -> None:
        super().__init__(en)
        self.retry_after = max(1, int(retry_after))
        self.en, self.zh, self.code = en, zh, code


@dataclasses.dataclass(frozen=True)
class Rule:
    """A token bucket: ``burst`` requests at once, refilled at ``per_minute``."""

    burst: int
    per_minute: float

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_minute <= 0:
            raise ValueError("a rule needs burst >= 1 and per_minute > 0")


def address_key(ip: str) -> str:
    """The key a client address is throttled under: IPv4 as is, IPv6 by its /64 (one household or host
    holds a whole /64, so counting single IPv6 addresses would let it rotate through 2^64 of them)."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip()[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class KeyedLimiter:
    """Token buckets under named rules (e.g. ``address`` and ``name``), all behind one lock.

    :meth:`take` checks every key it is given and takes a token from each only if all have one, in
    one step under the lock: two threads can never both pass on the last token. Memory is bounded:
    at most ``max_keys`` buckets are kept, the least recently used forgotten first (a forgotten
    bucket is as good as a full one, so forgetting only ever errs towards letting a request in).
    Time is passed in (seconds, any epoch) so the hub's clock, and a test's, drives it.
    """

    def __init__(self, rules: Mapping[str, Rule], *, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.rules = dict(rules)
        self.max_keys = max_keys
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)

    def _level(self, rule: str, key: str, now: float) -> float:
        spec = self.rules[rule]
        tokens, stamp = self._buckets.get((rule, key), (float(spec.burst), now))
        return min(float(spec.burst), tokens + max(0.0, now - stamp) * spec.per_minute / 60.0)

    def take(self, now: float, **keys: str) -> tuple[float, str | None]:
        """Take one token under each ``rule=key``, all or none.

        Returns:
            ``(0.0, None)`` when taken; else the seconds until every bucket has a token and the
            rule that is shortest of them (nothing is taken).

        Raises:
            KeyError: a rule this limiter does not have.
        """
        with self._lock:
            levels = {rule: self._level(rule, key, now) for rule, key in keys.items()}
            waits = {
                rule: (1.0 - level) * 60.0 / self.rules[rule].per_minute
                for rule, level in levels.items()
                if level < 1.0
            }
            if waits:
                rule = max(waits, key=waits.__getitem__)
                return waits[rule], rule
            for rule, key in keys.items():
                self._put((rule, key), levels[rule] - 1.0, now)
            return 0.0, None

    def refund(self, now: float, **keys: str) -> None:
        """Give back a token under each ``rule=key`` (a request that proved itself, e.g. a right password)."""
        with self._lock:
            for rule, key in keys.items():
                if (rule, key) in self._buckets:
                    self._put((rule, key), min(float(self.rules[rule].burst), self._level(rule, key, now) + 1.0), now)

    def _put(self, slot: tuple[str, str], tokens: float, now: float) -> None:
        self._buckets[slot] = (tokens, now)
        self._buckets.move_to_end(slot)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)


class WorkGate:
    """At most ``at_once`` costly jobs run (each in a worker thread of the gate's own anyio limiter,
    never the threads the rest of the hub uses), at most ``queue`` more wait; past that, :meth:`enter`
    refuses at once, so a flood costs one counter check per request, not a thread and a queue slot.

    ``done`` counts the jobs run (tests and figures read it); ``seconds`` is a running average of a
    job's time, from which a refused caller learns how long to wait.
    """

    def __init__(self, at_once: int, queue: int, *, guess_seconds: float = 0.25) -> None:
        if at_once < 1 or queue < 0:
            raise ValueError("a gate runs at least one job and queues zero or more")
        self.at_once, self.queue = at_once, queue
        self.done = 0
        self.refused = 0
        self.seconds = guess_seconds
        self._inside = 0
        self._lock = threading.Lock()
        self._limiter: tuple[object, anyio.CapacityLimiter] | None = None

    @property
    def inside(self) -> int:
        """Callers admitted and not yet gone (running or waiting)."""
        return self._inside

    def wait_hint(self) -> int:
        """Whole seconds after which a refused caller is likely to get in."""
        return max(1, math.ceil((self._inside + 1) * self.seconds / self.at_once))

    def enter(self) -> bool:
        """Take a place (running or waiting); False, and counted as refused, when every place is taken."""
        with self._lock:
            if self._inside >= self.at_once + self.queue:
                self.refused += 1
                return False
            self._inside += 1
            return True

    def leave(self) -> None:
        """Give the place back (after :meth:`enter` returned True)."""
        with self._lock:
            self._inside -= 1

    def _capacity(self) -> anyio.CapacityLimiter:
        # An anyio limiter belongs to one event loop; a test may serve the same app from a second one.
        loop = anyio.lowlevel.current_token().native_token
        with self._lock:
            if self._limiter is None or self._limiter[0] is not loop:
                self._limiter = (loop, anyio.CapacityLimiter(self.at_once))
            return self._limiter[1]

    async def run(self, job: Callable[[], T]) -> T:
        """Run ``job`` in a worker thread once one of the ``at_once`` slots is free."""

        def timed() -> T:
            started = time.perf_counter()
            try:
                return job()
            finally:
                with self._lock:
                    self.done += 1
                    self.seconds = 0.8 * self.seconds + 0.2 * (time.perf_counter() - started)

        return await anyio.to_thread.run_sync(timed, limiter=self._capacity())


def shared(state: Any, key: str, factory: Callable[[], T]) -> T:
    """The app-wide object under ``state[key]``, made by ``factory`` on first use (from any thread, once)."""
    with _SHARED_LOCK:
        if key not in state:
            state[key] = factory()
        return state[key]


_SHARED_LOCK = threading.Lock()
