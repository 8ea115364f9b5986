"""Tests for hybrid logical clock stamps (sync.hlc): packing, monotonic ticks, merging remote stamps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.hlc import COUNTER_BITS, HybridClock, pack, unpack

MAX_COUNTER = (1 << COUNTER_BITS) - 1
T0 = 1_795_000_000_000  # 2026-11-18 in ms since the epoch

# ---- packing ---------------------------------------------------------------------------------


def test_pack_layout() -> None:
    assert COUNTER_BITS == 16
    assert pack(1, 0) == 1 << 16
    assert pack(T0, 5) == T0 * 65536 + 5
    assert unpack(pack(T0, 5)) == (T0, 5)


@given(st.integers(min_value=0, max_value=2**47), st.integers(min_value=0, max_value=MAX_COUNTER))
def test_pack_unpack_round_trip(ms: int, counter: int) -> None:
    assert unpack(pack(ms, counter)) == (ms, counter)


@given(
    st.tuples(st.integers(0, 2**47), st.integers(0, MAX_COUNTER)),
    st.tuples(st.integers(0, 2**47), st.integers(0, MAX_COUNTER)),
)
def test_packed_order_is_lexicographic(a: tuple[int, int], b: tuple[int, int]) -> None:
    assert (pack(*a) < pack(*b)) == (a < b)


@pytest.mark.parametrize("counter", [-1, MAX_COUNTER + 1])
def test_pack_counter_out_of_range(counter: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        pack(T0, counter)


# ---- tick ------------------------------------------------------------------------------------


def test_tick_follows_wall_clock() -> None:
    clock = HybridClock()
    assert clock.tick(T0) == pack(T0, 0)
    assert clock.tick(T0 + 5) == pack(T0 + 5, 0)
    assert clock.last == pack(T0 + 5, 0)


def test_tick_counts_within_one_millisecond() -> None:
    clock = HybridClock()
    stamps = [clock.tick(T0) for _ in range(3)]
    assert stamps == [pack(T0, 0), pack(T0, 1), pack(T0, 2)]


def test_tick_monotonic_when_wall_clock_goes_back() -> None:
    clock = HybridClock()
    first = clock.tick(T0)
    second = clock.tick(T0 - 60_000)  # the PC clock was set back a minute
    third = clock.tick(T0 - 120_000)
    assert first < second < third
    assert unpack(second) == (T0, 1)
    assert unpack(third) == (T0, 2)
    # Once the wall clock passes the kept time, it takes over again with counter 0.
    assert clock.tick(T0 + 1) == pack(T0 + 1, 0)


def test_clock_resumes_from_persisted_stamp() -> None:
    clock = HybridClock(last=pack(T0, 7))
    assert clock.tick(T0 - 1) == pack(T0, 8)


def test_counter_overflow_borrows_next_millisecond() -> None:
    clock = HybridClock(last=pack(T0, MAX_COUNTER))
    stamp = clock.tick(T0)
    assert unpack(stamp) == (T0 + 1, 0)
    assert stamp > pack(T0, MAX_COUNTER)
    # The next tick in the same (real) millisecond keeps counting from the borrowed one.
    assert unpack(clock.tick(T0)) == (T0 + 1, 1)


def test_counter_overflow_on_observe() -> None:
    clock = HybridClock(last=pack(T0, 3))
    stamp = clock.observe(pack(T0, MAX_COUNTER), T0)
    assert unpack(stamp) == (T0 + 1, 0)


# ---- observe ---------------------------------------------------------------------------------


def test_observe_remote_ahead() -> None:
    clock = HybridClock()
    local = clock.tick(T0)
    remote = pack(T0 + 10_000, 4)  # another device's clock runs 10 s ahead
    merged = clock.observe(remote, T0 + 1)
    assert merged > remote and merged > local
    assert unpack(merged) == (T0 + 10_000, 5)
    # Later local ticks stay ahead of the remote stamp even with the slow wall clock.
    assert clock.tick(T0 + 2) > merged


def test_observe_remote_behind_keeps_local() -> None:
    clock = HybridClock(last=pack(T0, 2))
    merged = clock.observe(pack(T0 - 500, 9), T0 - 1000)
    assert unpack(merged) == (T0, 3)


def test_observe_same_millisecond_takes_larger_counter() -> None:
    clock = HybridClock(last=pack(T0, 2))
    assert unpack(clock.observe(pack(T0, 9), T0)) == (T0, 10)
    clock = HybridClock(last=pack(T0, 9))
    assert unpack(clock.observe(pack(T0, 2), T0)) == (T0, 10)


def test_observe_wall_clock_ahead_of_both() -> None:
    clock = HybridClock(last=pack(T0, 2))
    assert clock.observe(pack(T0 + 1, 9), T0 + 50) == pack(T0 + 50, 0)


# ---- property: stamps strictly increase ------------------------------------------------------

WALL = st.integers(min_value=T0 - 10_000, max_value=T0 + 10_000)
REMOTE = st.builds(pack, WALL, st.sampled_from([0, 1, 2, MAX_COUNTER - 1, MAX_COUNTER]) | st.integers(0, MAX_COUNTER))
OPERATION = st.one_of(
    st.tuples(st.just("tick"), WALL),
    st.tuples(st.just("observe"), WALL, REMOTE),
)


@given(
    st.builds(pack, WALL, st.integers(0, MAX_COUNTER)) | st.just(0),
    st.lists(OPERATION, min_size=1, max_size=60),
)
def test_stamps_strictly_increase(start: int, operations: list[tuple[object, ...]]) -> None:
    clock = HybridClock(last=start)
    previous = start
    for operation in operations:
        if operation[0] == "tick":
            (_, wall) = operation
            stamp = clock.tick(wall)  # type: ignore[arg-type]
            assert unpack(stamp)[0] >= wall  # type: ignore[operator]
        else:
            (_, wall, remote) = operation
            stamp = clock.observe(remote, wall)  # type: ignore[arg-type]
            assert stamp > remote  # type: ignore[operator]
            assert unpack(stamp)[0] >= wall  # type: ignore[operator]
        assert stamp > previous
        assert clock.last == stamp
        previous = stamp
