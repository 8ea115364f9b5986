"""Background sync: a failing sync never takes the app down; status bar; USB; passphrase; the adapter."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
from textual.widgets import Input

from station import cases as ops
from station.client import SyncIssue, SyncReport
from station.syncstate import blank_status
from station.transfer import ExportResult, ImportResult
from tests.station.conftest import pension_enrolment
from tests.tui.conftest import (
    SIZE,
    FakeAdapter,
    make_app,
    open_station,
    run,
    screen_text,
    settle,
)
from tui.screens.case_actions import ActionDialog
from tui.screens.dialogs import PassphraseScreen
from tui.screens.sync import SyncScreen
from tui.sync_adapter import SyncAdapter, SyncOutcome
from tui.widgets.status_bar import StatusBar


def status_text(app) -> str:
    return app.screen.query_one(StatusBar).line().plain


def test_a_sync_that_fails_leaves_the_app_running_and_typing_works(station_dir, clock):
    adapter = FakeAdapter(fail_with=ConnectionError("hub unreachable"))
    app = make_app(station_dir, clock, adapter=adapter)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")  # an agent is typing a new case...
            await pilot.pause()
            app.screen.query_one("#name", Input).focus()
            await pilot.press(*"王")
            app.start_sync()  # ...when the background sync starts, and fails
            await settle(pilot)
            assert app.is_running
            assert not app.sync_view.running and app.sync_view.online is False
            assert "[离线]" in status_text(app)
            assert any("同步失败" in line for line in app.sync_lines)
            await pilot.press(*"小明")  # typing carries on
            assert app.screen.query_one("#name", Input).value == "王小明"

    run(scenario)
    assert adapter.calls == [("sync_now", station_dir)]


def test_f5_opens_the_progress_view_and_a_good_sync_updates_the_status_bar(station_dir, clock):
    adapter = FakeAdapter()
    app = make_app(station_dir, clock, adapter=adapter)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert "待上报 2批/5条" in status_text(app) and "从未同步" in status_text(app)
            await pilot.press("f5")
            await settle(pilot)
            assert isinstance(app.screen, SyncScreen)
            text = screen_text(app)
            assert "pushing 2 sets" in text and "同步完成：上报 2 批" in text
            assert "[在线]" in status_text(app) and "上次同步 2026-09-28 09:30" in status_text(app)

    run(scenario)


def test_usb_export_from_the_menu(station_dir, clock, tmp_path):
    adapter = FakeAdapter()
    app = make_app(station_dir, clock, adapter=adapter)
    stick = tmp_path / "usb"
    stick.mkdir()

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f5")
            await settle(pilot)
            await pilot.press("e")
            await pilot.pause()
            assert isinstance(app.screen, ActionDialog)
            app.screen.query_one("#f-path", Input).value = str(stick)  # only the drive: the file name is added
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert any("已导出" in line for line in app.sync_lines)

    run(scenario)
    ((kind, path),) = [call for call in adapter.calls if call[0] == "export"]
    assert path.parent == stick and path.name.startswith("349921001001-A-") and path.suffix == ".sync"


class LockedAdapter(FakeAdapter):
    """An adapter whose station key is locked until a passphrase is given."""

    def __init__(self) -> None:
        super().__init__()
        self.passphrase: str | None = None

    def needs_passphrase(self, data_dir: Path) -> bool:
        return self.passphrase is None

    def set_passphrase(self, text: str) -> None:
        self.passphrase = text


def test_sync_asks_for_the_passphrase_once(station_dir, clock):
    adapter = LockedAdapter()
    app = make_app(station_dir, clock, adapter=adapter)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f5")
            await pilot.pause()
            assert isinstance(app.screen, PassphraseScreen)
            await pilot.press(*"secret-8", "enter")
            await settle(pilot)
            assert adapter.passphrase == "secret-8" and adapter.calls == [("sync_now", station_dir)]
            assert isinstance(app.screen, SyncScreen)

    run(scenario)


class NoSyncAdapter(FakeAdapter):
    """A link in a build without sync: the station works offline."""

    def __init__(self) -> None:
        super().__init__(available=False, enrolled=False)

    def sync_now(self, data_dir: Path, progress=None) -> SyncOutcome:
        self.calls.append(("sync_now", data_dir))
        return SyncOutcome(ok=False, available=False, error="sync is not available", error_zh="不支持同步")


def test_a_link_without_sync_says_so_and_a_station_not_set_up_has_a_blank_status(station_dir, clock, tmp_path):
    assert SyncAdapter(now=clock).status(tmp_path / "nowhere") == blank_status()
    app = make_app(station_dir, clock, adapter=NoSyncAdapter())

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f5")
            await settle(pilot)
            assert "无同步模块" in status_text(app)

    run(scenario)


def test_adapter_calls_the_engine_as_documented(station_dir, clock, monkeypatch):
    """The contract with station/client.py, syncstate.py, transfer.py, identity.py (their calls faked here)."""
    with open_station(station_dir, clock) as station:
        ops.new_intake(station, pension_enrolment())
    calls: list[tuple[str, object]] = []
    report = SyncReport(
        started_at="2026-09-28T02:00:00.000Z",
        pushed=3,
        acknowledged=3,
        pulled=1,
        in_step=False,
        errors=[SyncIssue(code="busy", en="hub busy", zh="县平台繁忙")],
    )

    def sync_once(station, *, keys=None, hub_url=None):
        calls.append(("sync_once", keys))
        return report

    def export_file(station, path, keys=None):
        calls.append(("export", keys))
        return ExportResult(path=str(path), sets=4, first_seq=1, last_seq=4, feed_after=0)

    def load_keypair(data_dir, text):
        calls.append(("load_keypair", text))
        return "KEYS"

    link = sys.modules[SyncAdapter.__module__]
    monkeypatch.setattr(link, "sync_once", sync_once)
    monkeypatch.setattr(
        link,
        "sync_status",
        lambda station: msgspec.structs.replace(
            blank_status(),
            enrolled=True,
            unacknowledged=4,
            unsealed=6,
            last_success="2026-09-28T01:00:00.000Z",
            clock_offset_ms=-600_000,
            clock_warning=True,
        ),
    )
    monkeypatch.setattr(link, "has_keypair", lambda data_dir: True)
    monkeypatch.setattr(link, "load_keypair", load_keypair)
    monkeypatch.setattr(link, "export_file", export_file)
    monkeypatch.setattr(
        link,
        "import_file",
        lambda station, path, keys=None: ImportResult(path=str(path), applied=2, skipped=0, feed_seq=2),
    )
    monkeypatch.delenv("STATION_PASSPHRASE", raising=False)

    adapter = SyncAdapter(now=clock)
    assert adapter.needs_passphrase(station_dir)
    assert adapter.sync_now(station_dir).needs_passphrase  # never left to the engine's getpass prompt
    adapter.set_passphrase("secret-8")
    outcome = adapter.sync_now(station_dir)
    assert (outcome.ok, outcome.pushed, outcome.in_step, outcome.message("zh")) == (False, 3, False, "县平台繁忙")
    assert calls == [("load_keypair", "secret-8"), ("sync_once", "KEYS")]
    status = adapter.status(station_dir)
    assert (status.enrolled, status.online, status.unacknowledged, status.unsealed) == (True, True, 4, 6)
    assert status.clock_skew_seconds == 600 and status.clock_warning  # our clock 10 minutes ahead of the hub
    assert adapter.export(station_dir, Path("/tmp/x.sync")).sets == 4 and calls[-1] == ("export", "KEYS")
    assert adapter.import_(station_dir, Path("/tmp/y.sync")).sets == 2


def test_a_clock_set_back_is_judged_by_the_stations_own_stamps_before_any_hub_contact(station_dir, clock):
    """No hub offset known yet: the newest stamp written ahead of the clock by 10 minutes shows on the bar."""
    with open_station(station_dir, clock) as station:
        ops.new_intake(station, pension_enrolment())
    clock.advance(minutes=-10)  # someone set the PC's clock back
    status = SyncAdapter(now=clock).status(station_dir)
    assert status.clock_warning and round(status.clock_skew_seconds) == -600
    app = make_app(station_dir, clock, adapter=SyncAdapter(now=clock))

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert "时钟偏差10分钟" in status_text(app)

    run(scenario)
