"""Fixtures for TUI tests: a fixed clock, a station on disk, a double of the station link, screen text."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from station.store import Station, datakey
from station.syncstate import Refusal, SyncStatus, blank_status
from tests.station.conftest import FakeClock
from tui.app import StationApp
from tui.prefs import save_prefs
from tui.sync_adapter import EnrollOutcome, StationLink, SyncOutcome, TransferOutcome

VILLAGE = "349921001001"
WANG = "349921195803120234"  # fictional, valid: born 1958-03-12, male
ZHANG = "11010519491231002X"  # the standard's own sample: born 1949-12-31, female
SIZE = (80, 24)
PASSPHRASE = "village-key-1"  # as test_idle_lock types: one passphrase for data and key


@pytest.fixture(autouse=True)
def station_passphrase(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The station's data is encrypted: its passphrase comes from the environment (as ``./run demo``
    sets it); scrypt's cost is lowered for speed; no key is left unlocked from another test."""
    monkeypatch.setenv("STATION_PASSPHRASE", PASSPHRASE)
    monkeypatch.setattr(datakey, "KEY_WORK", 2**10)
    datakey.forget()
    yield PASSPHRASE
    datakey.forget()


@pytest.fixture(autouse=True)
def steady_query_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Query codes come from a PC's random key (sync.ratings); screens that show one must look the same on
    every run."""
    from station import ratings

    monkeypatch.setattr(ratings, "new_query_key", lambda: bytes(range(16)))


@pytest.fixture(autouse=True)
def china_local_time() -> Iterator[None]:
    """Show local times as a village PC does (UTC+8), whatever the test machine's zone."""
    if not hasattr(time, "tzset"):  # Windows: no tzset; times show in the machine's zone
        yield
        return
    old = os.environ.get("TZ")
    os.environ["TZ"] = "CST-8"  # POSIX rule string: needs no tz database
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
def clock() -> FakeClock:
    # 10:00 in China on Monday 2026-09-28 (the brief's worked example for working days).
    return FakeClock(dt.datetime(2026, 9, 28, 2, 0, tzinfo=dt.UTC))


@pytest.fixture
def station_dir(tmp_path: Path, clock: FakeClock) -> Path:
    """An initialised station whose agent chose to work offline (no enrolment screen)."""
    folder = tmp_path / "station"
    Station.init(folder, village_code=VILLAGE, agent_name="李代办", now=clock).close()
    save_prefs(folder, offline_chosen=True)
    return folder


def open_station(folder: Path, clock: FakeClock) -> Station:
    return Station.open(folder, now=clock)


class FakeAdapter:
    """A double of the station link (tui.sync_adapter.StationLink): records calls, fails on request.

    Its station has no key of its own, so the passphrase is never asked for sync (subclasses change that).
    """

    def __init__(
        self, *, fail_with: BaseException | None = None, enrolled: bool = True, available: bool = True
    ) -> None:
        self.fail_with = fail_with
        self.enrolled = enrolled
        self.available = available
        self.calls: list[tuple[str, Any]] = []
        self.synced = False
        self.last_refused: Sequence[Refusal] = ()

    def status(self, data_dir: Path) -> SyncStatus:
        return msgspec.structs.replace(
            blank_status(f"{VILLAGE}-A-1"),
            enrolled=self.enrolled,
            unacknowledged=0 if self.synced else 2,
            unsealed=0 if self.synced else 5,
            last_success="2026-09-28T01:30:00.000Z" if self.synced else None,
        )

    def sync_now(self, data_dir: Path, progress: Callable[[str], None] | None = None) -> SyncOutcome:
        self.calls.append(("sync_now", data_dir))
        if self.fail_with is not None:
            raise self.fail_with
        if progress is not None:
            progress("pushing 2 sets")
        self.synced = True
        return SyncOutcome(ok=True, pushed=2, acknowledged=2, pulled=1)

    def export(self, data_dir: Path, path: Path) -> TransferOutcome:
        self.calls.append(("export", path))
        Path(path).write_bytes(b"fake")
        return TransferOutcome(Path(path), 2)

    def import_(self, data_dir: Path, path: Path) -> TransferOutcome:
        self.calls.append(("import", path))
        return TransferOutcome(Path(path), 1)

    def enroll(
        self, data_dir: Path, hub_url: str, code: str, passphrase: str | None = None, agent_name: str = ""
    ) -> EnrollOutcome:
        self.calls.append(("enroll", (hub_url, code, {"passphrase": passphrase, "agent_name": agent_name})))
        if self.fail_with is not None:
            raise self.fail_with
        station = Station.init(data_dir, village_code=VILLAGE)
        station.db.execute("INSERT INTO meta (key, value) VALUES ('hub_id', 'abcdef0123456789')")
        station.db.commit()
        station.close()
        return EnrollOutcome("3F2A 9C01 77B4 E0D2 5A6B", f"{VILLAGE}-A-1", VILLAGE)

    def needs_passphrase(self, data_dir: Path) -> bool:
        return False

    def set_passphrase(self, text: str) -> None:
        pass

    def has_station_key(self, data_dir: Path) -> bool:
        return False

    def check_passphrase(self, data_dir: Path, text: str) -> bool:
        return False


_: type[StationLink] = FakeAdapter  # the double keeps to the link's protocol (checked by the type checker)


def make_app(folder: Path, clock: FakeClock, *, lang: str = "zh", adapter: StationLink | None = None) -> StationApp:
    return StationApp(folder, lang, adapter or FakeAdapter(), now=clock, auto_sync=False)


def run(test: Callable[[], Awaitable[None]]) -> None:
    """Run an async Pilot scenario from a plain test (pytest-asyncio is not installed)."""
    asyncio.run(test())


async def settle(pilot: Any) -> None:
    """Wait for the app's workers to finish (a failed one included: that is what some tests check)."""
    for worker in list(pilot.app.workers):
        try:
            await worker.wait()
        except Exception:  # WorkerFailed / WorkerCancelled: the app handles them, the test inspects
            pass
    await pilot.pause()


def screen_text(app: StationApp) -> str:
    """The screen as plain text, line by line (what the agent sees)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip).rstrip() for strip in strips)
