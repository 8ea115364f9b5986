"""The county's simulated clock, shared by the simulation and the hub process through a small file."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

__all__ = ("CHINA", "CountyClock", "day_start")

CHINA = dt.timezone(dt.timedelta(hours=8))


def day_start(day: dt.date, hour: int = 9) -> dt.datetime:
    """Opening time of a village office on ``day``, China time, as an aware UTC datetime."""
    return dt.datetime.combine(day, dt.time(hour), tzinfo=CHINA).astimezone(dt.UTC)


class CountyClock:
    """Simulated wall time: the moment last set, plus the real time elapsed since.

    Time keeps flowing between two ``set`` calls (stamps stay strictly increasing, as on a
    real PC), and the simulation jumps it forward to each new working day. The hub runs in
    another process: it reads the same file, re-reading only when the file changed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime = -1
        self._base_ms = 0
        self._real_ms = 0.0

    def set(self, moment: dt.datetime) -> None:
        # Written beside and renamed: the hub never reads half a line.
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(f"{int(moment.timestamp() * 1000)} {time.time() * 1000:.3f}\n")
        os.replace(tmp, self.path)
        self._load(force=True)

    def _load(self, force: bool = False) -> None:
        mtime = os.stat(self.path).st_mtime_ns
        if force or mtime != self._mtime:
            base, real = self.path.read_text().split()
            self._base_ms, self._real_ms, self._mtime = int(base), float(real), mtime

    def now(self) -> dt.datetime:
        self._load()
        ms = self._base_ms + max(0.0, time.time() * 1000 - self._real_ms)
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)

    def skewed(self, offset: dt.timedelta):
        """A station's clock that runs ``offset`` off the county's."""
        return lambda: self.now() + offset
