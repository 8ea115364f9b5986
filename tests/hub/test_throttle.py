"""The in-process throttles: keyed token buckets (all or none, refill, bounded memory, thread-safe) and the work gate."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from hub.throttle import KeyedLimiter, Rule, WorkGate, address_key


def test_a_bucket_gives_its_burst_then_refills_at_its_rate():
    limiter = KeyedLimiter({"address": Rule(burst=3, per_minute=6)})
    assert [limiter.take(100.0, address="a")[1] for _ in range(3)] == [None, None, None]
    wait, rule = limiter.take(100.0, address="a")
    assert rule == "address" and wait == pytest.approx(10.0)  # one token every 10 s
    assert limiter.take(100.0, address="b") == (0.0, None)  # another key has its own bucket
    assert limiter.take(109.0, address="a")[1] == "address"
    assert limiter.take(110.0, address="a") == (0.0, None)
    assert limiter.take(10_000.0, address="a") == (0.0, None)  # refilled, but never past the burst
    assert [limiter.take(10_000.0, address="a")[1] for _ in range(3)] == [None, None, "address"]


def test_several_keys_are_taken_all_or_none():
    limiter = KeyedLimiter({"address": Rule(burst=5, per_minute=60), "name": Rule(burst=2, per_minute=1)})
    assert limiter.take(0.0, address="x", name="admin") == (0.0, None)
    assert limiter.take(0.0, address="x", name="admin") == (0.0, None)
    wait, rule = limiter.take(0.0, address="x", name="admin")
    assert rule == "name" and wait == pytest.approx(60.0)
    # The refused attempt took nothing from the address: three more tries of other names pass.
    assert [limiter.take(0.0, address="x", name=f"n{i}")[1] for i in range(3)] == [None, None, None]
    assert limiter.take(0.0, address="x", name="n9")[1] == "address"


def test_a_refund_gives_a_token_back_up_to_the_burst():
    limiter = KeyedLimiter({"address": Rule(burst=2, per_minute=1)})
    limiter.take(0.0, address="office")
    limiter.take(0.0, address="office")
    assert limiter.take(0.0, address="office")[1] == "address"
    limiter.refund(0.0, address="office")
    assert limiter.take(0.0, address="office") == (0.0, None)
    for _ in range(5):
        limiter.refund(0.0, address="office")
    assert [limiter.take(0.0, address="office")[1] for _ in range(3)] == [None, None, "address"]


def test_memory_is_bounded_by_forgetting_the_least_recently_used():
    limiter = KeyedLimiter({"name": Rule(burst=1, per_minute=1)}, max_keys=100)
    limiter.take(0.0, name="target")
    for i in range(99):
        limiter.take(0.0, name=f"spray-{i}")
    assert limiter.take(0.0, name="target")[1] == "name"  # touched: the most recently used now
    for i in range(10_000):
        limiter.take(1.0, name=f"more-{i}")
    assert len(limiter) == 100


def test_parallel_takes_never_pass_more_than_the_burst():
    limiter = KeyedLimiter({"address": Rule(burst=25, per_minute=0.001)})
    passed: list[bool] = []
    start = threading.Barrier(16)

    def hammer() -> None:
        start.wait()
        for _ in range(50):
            passed.append(limiter.take(0.0, address="one")[1] is None)

    threads = [threading.Thread(target=hammer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(passed) == 25 and len(passed) == 800


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),  # the same /64: one key
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("testclient", "testclient"),
    ],
)
def test_addresses_are_keyed_by_host_or_ipv6_64(ip, key):
    assert address_key(ip) == key


def test_the_gate_runs_at_most_its_share_and_refuses_past_its_queue():
    gate = WorkGate(2, 3)
    assert [gate.enter() for _ in range(6)] == [True] * 5 + [False]
    assert gate.refused == 1 and gate.inside == 5
    gate.leave()
    assert gate.enter()
    running = 0
    most = 0
    lock = threading.Lock()

    def job() -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return 7

    async def many() -> list[int]:
        results: list[int] = []

        async def one() -> None:
            results.append(await gate.run(job))

        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(one)
        return results

    assert anyio.run(many) == [7] * 8
    assert most == 2 and gate.done == 8
    assert gate.wait_hint() >= 1
