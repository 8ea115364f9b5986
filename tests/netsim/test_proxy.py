"""The fault proxy does to bytes what each profile says: caps, delays, cuts, corrupts, refuses."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from netsim.proxy import PROFILES, FaultProxy, LinkProfile


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address  # type: ignore[misc]
    server.shutdown()
    server.server_close()


def roundtrip(port: int, payload: bytes, timeout: float = 10) -> bytes:
    """Send payload, half-close, read everything echoed back until the proxy closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        try:
            conn.sendall(payload)
            conn.shutdown(socket.SHUT_WR)
        except OSError:  # the proxy refused: it closed the connection at once
            return b""
        chunks = []
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


def test_loopback_passes_bytes_unchanged_and_counts_them(echo_server):
    with FaultProxy(echo_server) as proxy:
        payload = bytes(range(256)) * 40
        assert roundtrip(proxy.port, payload) == payload
        assert proxy.stats.bytes_up == proxy.stats.bytes_down == len(payload)


def test_bandwidth_cap_slows_transfer(echo_server):
    profile = LinkProfile(name="slow", up_rate=100_000, down_rate=100_000)
    with FaultProxy(echo_server, profile) as proxy:
        started = time.monotonic()
        assert roundtrip(proxy.port, b"x" * 50_000) == b"x" * 50_000
        # 50 kB each way at 100 kB/s, pipelined: at least half a second.
        assert time.monotonic() - started >= 0.45


def test_latency_is_a_pipeline_delay_not_per_chunk(echo_server):
    profile = LinkProfile(name="far", latency=0.2, chunk=256)
    with FaultProxy(echo_server, profile) as proxy:
        started = time.monotonic()
        roundtrip(proxy.port, b"y" * 20_000)  # ~80 chunks each way
        elapsed = time.monotonic() - started
        assert 0.4 <= elapsed < 3.0


def test_cut_after_n_bytes_down(echo_server):
    with FaultProxy(echo_server, LinkProfile(name="cut", cut_down_after=1000)) as proxy:
        assert roundtrip(proxy.port, b"z" * 5000) == b"z" * 1000
        assert proxy.stats.cuts == 1


def test_drop_every_response(echo_server):
    with FaultProxy(echo_server, LinkProfile(name="drop", cut_down_after=0)) as proxy:
        assert roundtrip(proxy.port, b"hello") == b""
        assert proxy.stats.bytes_up == 5  # the request got through: the classic duplicate maker


def test_corruption_flips_bytes_reproducibly(echo_server):
    profile = LinkProfile(name="noisy", corrupt_probability=1.0, chunk=100)
    results = []
    for _ in range(2):
        with FaultProxy(echo_server, profile, seed=42) as proxy:
            results.append(roundtrip(proxy.port, b"\x00" * 1000))
    assert results[0] == results[1] != b"\x00" * 1000


def test_refuse_then_recover(echo_server):
    with FaultProxy(echo_server) as proxy:
        proxy.refuse_for(0.3)
        assert roundtrip(proxy.port, b"a") == b""
        time.sleep(0.35)
        assert roundtrip(proxy.port, b"a") == b"a"
        assert proxy.stats.refused == 1


def test_named_profiles_exist():
    assert {"gprs", "edge", "3g"} <= PROFILES.keys()
    assert PROFILES["gprs"].up_rate == 1200  # 9.6 kbit/s


def test_round_trips_count_the_turns_of_each_conversation(echo_server):
    with FaultProxy(echo_server, PROFILES["loopback"].with_(latency=0.02)) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as conn:
            for message in (b"first request", b"second", b"third"):
                conn.sendall(message)
                received = b""
                while len(received) < len(message):
                    received += conn.recv(65536)
        assert roundtrip(proxy.port, b"x" * 5000) == b"x" * 5000  # one request in many chunks: one turn
        deadline = time.monotonic() + 5
        while proxy.stats.round_trips < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proxy.stats.round_trips == 4 and proxy.stats.connections == 2
        old = proxy.reset_stats()
        assert (old.round_trips, old.bytes_up) == (4, len(b"first requestsecondthird") + 5000)
        assert (proxy.stats.round_trips, proxy.stats.bytes_up, proxy.stats.bytes_down) == (0, 0, 0)


def test_a_modelled_handshake_costs_a_new_connection_one_round_trip(echo_server):
    link = PROFILES["loopback"].with_(latency=0.1)
    timings = {}
    for handshake in (False, True):
        with FaultProxy(echo_server, link.with_(handshake=handshake)) as proxy:
            started = time.monotonic()
            assert roundtrip(proxy.port, b"ping") == b"ping"
            timings[handshake] = time.monotonic() - started
    # Delays are lower bounds (asyncio sleeps at least as long): one round trip for the request
    # itself, and with the handshake one more for SYN and SYN-ACK.
    assert timings[False] >= 0.2 - 0.01
    assert timings[True] >= 0.4 - 0.01
    assert PROFILES["edge"].handshake and PROFILES["gprs"].handshake
