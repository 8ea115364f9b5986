"""Hybrid logical clock stamps: wall-clock milliseconds plus a counter, packed into one integer."""

from __future__ import annotations

__all__ = ("COUNTER_BITS", "HybridClock", "pack", "unpack")

COUNTER_BITS = 16
_COUNTER_MASK = (1 << COUNTER_BITS) - 1


def pack(physical_ms: int, counter: int) -> int:
    """One sortable integer from a wall-clock time in ms and a logical counter."""
    if not 0 <= counter <= _COUNTER_MASK:
        raise ValueError(f"HLC counter {counter} out of range 0..{_COUNTER_MASK}")
    return (physical_ms << COUNTER_BITS) | counter


def unpack(stamp: int) -> tuple[int, int]:
    """(physical_ms, counter) of a packed stamp."""
    return stamp >> COUNTER_BITS, stamp & _COUNTER_MASK


class HybridClock:
    """A hybrid logical clock (Kulkarni et al.): stamps never go backwards, even when the wall clock does.

    The clock is pure: callers pass the wall-clock time in, and persist :attr:`last` themselves
    (the station keeps it in its database, in the same transaction as the change it stamps).
    """

    def __init__(self, last: int = 0) -> None:
        self.last = last

    def tick(self, wall_ms: int) -> int:
        """A new stamp for a local event, greater than every stamp seen so far."""
        last_ms, last_counter = unpack(self.last)
        if wall_ms > last_ms:
            self.last = pack(wall_ms, 0)
        else:
            # The wall clock stalled or went back (a village PC with a bad CMOS battery):
            # keep the larger physical part and count.
            self.last = self._bump(last_ms, last_counter)
        return self.last

    def observe(self, remote: int, wall_ms: int) -> int:
        """Merge a stamp received from elsewhere; return the new local stamp."""
        last_ms, last_counter = unpack(self.last)
        remote_ms, remote_counter = unpack(remote)
        top = max(wall_ms, last_ms, remote_ms)
        if top == last_ms == remote_ms:
            counter = max(last_counter, remote_counter)
            self.last = self._bump(top, counter)
        elif top == last_ms:
            self.last = self._bump(top, last_counter)
        elif top == remote_ms:
            self.last = self._bump(top, remote_counter)
        else:
            self.last = pack(top, 0)
        return self.last

    @staticmethod
    def _bump(ms: int, counter: int) -> int:
        if counter >= _COUNTER_MASK:
            # 65,535 events within one millisecond: borrow the next millisecond rather than wrap.
            return pack(ms + 1, 0)
        return pack(ms, counter + 1)
