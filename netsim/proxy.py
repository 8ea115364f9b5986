"""A TCP proxy that makes a loopback link behave like a village link: slow, late, cut, corrupt.

Runs its own asyncio loop in a background thread, so synchronous code (the station's httpx
client, tests) can sit behind it. Faults are decided per connection from a seeded random
generator, so a failing run can be replayed with the same seed.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

__all__ = ("PROFILES", "FaultProxy", "LinkProfile", "ProxyStats")


@dataclass(frozen=True)
class LinkProfile:
    """What the link does. Rates in bytes per second (0 = unlimited), times in seconds."""

    name: str = "loopback"
    up_rate: int = 0
    """Station → hub bandwidth."""
    down_rate: int = 0
    """Hub → station bandwidth."""
    latency: float = 0.0
    """One-way delay added to every chunk."""
    jitter: float = 0.0
    """Extra random delay, uniform in [0, jitter]."""
    cut_up_after: int | None = None
    """Close the connection after this many bytes went up (per connection)."""
    cut_down_after: int | None = None
    """Close the connection after this many bytes came down (0 = drop every response)."""
    cut_probability: float = 1.0
    """Share of connections the cuts above apply to."""
    corrupt_probability: float = 0.0
    """Chance per chunk that one byte of it is flipped."""
    chunk: int = 1024
    """Bytes forwarded at a time (small chunks make rates and cuts precise)."""
    handshake: bool = False
    """Model the TCP handshake: a new connection moves nothing for one round trip (2 x latency,
    plus jitter), as SYN and SYN-ACK cross the link. (TLS, which would add another, is not modelled.)"""

    def with_(self, **changes: object) -> LinkProfile:
        return replace(self, **changes)  # type: ignore[arg-type]


def _kbit(kbit_per_s: float) -> int:
    return int(kbit_per_s * 1000 / 8)


PROFILES: dict[str, LinkProfile] = {
    "loopback": LinkProfile(),
    "gprs": LinkProfile(
        name="gprs", up_rate=_kbit(9.6), down_rate=_kbit(9.6), latency=0.6, jitter=0.3, chunk=256, handshake=True
    ),
    "edge": LinkProfile(
        name="edge", up_rate=_kbit(64), down_rate=_kbit(64), latency=0.3, jitter=0.1, chunk=512, handshake=True
    ),
    "3g": LinkProfile(name="3g", up_rate=_kbit(384), down_rate=_kbit(384), latency=0.1, jitter=0.05, handshake=True),
    "lossy-3g": LinkProfile(
        name="lossy-3g",
        up_rate=_kbit(384),
        down_rate=_kbit(384),
        latency=0.1,
        jitter=0.05,
        cut_down_after=0,
        cut_probability=0.3,
        handshake=True,
    ),
}
"""Named profiles: GPRS 9.6 kbit/s, EDGE 64 kbit/s, 3G 384 kbit/s, and 3G that drops a third of responses."""


@dataclass
class ProxyStats:
    """What crossed the proxy; counts only bytes actually delivered."""

    connections: int = 0
    refused: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    cuts: int = 0
    corrupted: int = 0
    events: list[str] = field(default_factory=list)
    round_trips: int = 0
    """Turns of the conversation: bytes going up after nothing or after bytes came down, on one
    connection. For HTTP/1.1 without pipelining, the number of requests that reached the server."""


class FaultProxy:
    """``with FaultProxy(("127.0.0.1", hub_port), PROFILES["edge"], seed=7) as proxy: proxy.url``.

    The profile can be changed while running (:meth:`set_profile`), connections refused for a
    while (:meth:`refuse_for`) or held (:meth:`stall_for`), to play a link that comes and goes.
    """

    def __init__(self, target: tuple[str, int], profile: LinkProfile | None = None, *, seed: int = 0) -> None:
        self.target = target
        self.profile = profile or PROFILES["loopback"]
        self.random = random.Random(seed)
        self.stats = ProxyStats()
        self._refuse_until = 0.0
        self._stall_until = 0.0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._lock = threading.Lock()
        self.port = 0

    # -- control -----------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def _stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                task.cancel()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_profile(self, profile: LinkProfile) -> None:
        with self._lock:
            self.profile = profile

    def reset_stats(self) -> ProxyStats:
        """Start counting afresh; returns what was counted so far."""
        old, self.stats = self.stats, ProxyStats()
        return old

    def refuse_for(self, seconds: float) -> None:
        """Refuse new connections (close them at once) for a while: the link is down."""
        self._refuse_until = time.monotonic() + seconds

    def stall_for(self, seconds: float) -> None:
        """Hold every byte for a while: the link is up but nothing moves."""
        self._stall_until = time.monotonic() + seconds

    # -- the proxy ---------------------------------------------------------------------------

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if time.monotonic() < self._refuse_until:
            self.stats.refused += 1
            client_writer.close()
            return
        with self._lock:
            profile = self.profile
            cut = self.random.random() < profile.cut_probability
            seed = self.random.getrandbits(32)
        self.stats.connections += 1
        rng = random.Random(seed)
        try:
            hub_reader, hub_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        if profile.handshake and (profile.latency or profile.jitter):
            # The kernel accepted at once on loopback; a village link would not have.
            await asyncio.sleep(2 * profile.latency + (rng.uniform(0, profile.jitter) if profile.jitter else 0.0))
        done = asyncio.Event()
        turn = [""]

        def counted(direction: str, n: int) -> None:
            setattr(self.stats, f"bytes_{direction}", getattr(self.stats, f"bytes_{direction}") + n)

        def read(direction: str) -> None:
            # Counted when the bytes are read, not delivered: a client cannot send its next request
            # before the proxy read the answer to the last one, whatever the delays.
            if direction == "up" and turn[0] != "up":
                self.stats.round_trips += 1
            turn[0] = direction

        def on_cut(direction: str) -> None:
            self.stats.cuts += 1
            self.stats.events.append(f"cut {direction}")
            done.set()

        up = asyncio.ensure_future(
            self._pump(
                client_reader,
                hub_writer,
                profile.up_rate,
                profile.cut_up_after if cut else None,
                profile,
                rng,
                lambda n: counted("up", n),
                lambda: on_cut("up"),
                lambda: read("up"),
            )
        )
        down = asyncio.ensure_future(
            self._pump(
                hub_reader,
                client_writer,
                profile.down_rate,
                profile.cut_down_after if cut else None,
                profile,
                rng,
                lambda n: counted("down", n),
                lambda: on_cut("down"),
                lambda: read("down"),
            )
        )
        waiter = asyncio.ensure_future(done.wait())
        try:
            await asyncio.wait([down, waiter], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # the proxy is stopping: close both ends quietly
        finally:
            for task in (up, down, waiter):
                task.cancel()
            for writer in (client_writer, hub_writer):
                writer.close()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        rate: int,
        cut_after: int | None,
        profile: LinkProfile,
        rng: random.Random,
        count: Callable[[int], None],
        on_cut: Callable[[], None],
        on_read: Callable[[], None] | None = None,
    ) -> None:
        """Forward one direction. Latency is a pipeline delay (each chunk arrives ``latency``
        after it was serialised), bandwidth serialises chunks one after another."""
        queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
                count(len(data))

        delivery = asyncio.ensure_future(deliver())
        sent = 0
        line_free = time.monotonic()
        last_due = 0.0
        try:
            while True:
                data = await reader.read(profile.chunk)
                while time.monotonic() < self._stall_until:
                    await asyncio.sleep(0.05)
                now = time.monotonic()
                if not data:
                    await queue.put((max(last_due, now), None))
                    await delivery
                    return
                if on_read is not None:
                    on_read()
                cut_here = cut_after is not None and sent + len(data) > cut_after
                if cut_here:
                    data = data[: max(cut_after - sent, 0)]  # type: ignore[operator]
                if data and profile.corrupt_probability and rng.random() < profile.corrupt_probability:
                    position = rng.randrange(len(data))
                    data = data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :]
                    self.stats.corrupted += 1
                line_free = max(line_free, now) + (len(data) / rate if rate else 0.0)
                due = line_free + profile.latency + (rng.uniform(0, profile.jitter) if profile.jitter else 0.0)
                last_due = max(last_due, due)  # jitter never reorders bytes
                if data:
                    await queue.put((last_due, data))
                    sent += len(data)
                if cut_here:
                    await queue.put((last_due, b""))
                    while not queue.empty():
                        await asyncio.sleep(0.01)
                    await asyncio.sleep(max(last_due - time.monotonic(), 0) + 0.01)
                    on_cut()
                    return
        finally:
            delivery.cancel()
