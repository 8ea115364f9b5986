"""Background sync: a failing sync never takes the app down; status bar; USB; passphrase; the adapter."""

from __future__ import annotations

import sys
import types
from pathlib import Path

from textual.widgets import Input

from station import cases as ops
from tests.station.conftest import pension_enrolment
from tests.tui.conftest import SIZE, FakeAdapter, make_app, open_station, run, screen_text, settle
from tui.screens.case_actions import ActionDialog
from tui.screens.dialogs import PassphraseScreen
from tui.screens.sync import SyncScreen
from tui.sync_adapter import SyncAdapter, SyncStatus
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
    (kind, path), = [call for call in adapter.calls if call[0] == "export"]
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


def test_adapter_without_the_engine_says_sync_is_not_available(station_dir, clock, monkeypatch):
    for name in ("station.client", "station.syncstate", "station.identity"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails: as in a build without the engine
    adapter = SyncAdapter(now=clock)
    outcome = adapter.sync_now(station_dir)
    assert not outcome.ok and not outcome.available and "不支持同步" in outcome.message("zh")
    status = adapter.status(station_dir)
    assert status == SyncStatus(available=False, enrolled=False, online=False, sets_waiting=0,
                                changes_waiting=0, last_success=None)
    app = make_app(station_dir, clock, adapter=adapter)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f5")
            await settle(pilot)
            assert "无同步模块" in status_text(app)

    run(scenario)


def test_adapter_calls_the_engine_as_documented(station_dir, clock, monkeypatch):
    """The contract with station/client.py, syncstate.py, transfer.py, identity.py (faked here)."""
    with open_station(station_dir, clock) as station:
        ops.new_intake(station, pension_enrolment())
    calls: list[tuple[str, object]] = []
    report = types.SimpleNamespace(pushed=3, acknowledged=3, pulled=1, in_step=False, fatal=False,
                                   errors=[types.SimpleNamespace(en="hub busy", zh="县平台繁忙")])
    client = types.ModuleType("station.client")
    client.sync_once = lambda station, *, keys=None, hub_url=None: calls.append(("sync_once", keys)) or report
    syncstate = types.ModuleType("station.syncstate")
    syncstate.sync_status = lambda station: types.SimpleNamespace(
        enrolled=True, unacknowledged=4, unsealed=6, last_success="2026-09-28T01:00:00.000Z", last_error=None,
        clock_offset_ms=-600_000, fork=None, revoked=None)
    identity = types.ModuleType("station.identity")
    identity.has_keypair = lambda data_dir: True
    identity.load_keypair = lambda data_dir, text: calls.append(("load_keypair", text)) or "KEYS"
    transfer = types.ModuleType("station.transfer")
    transfer.export_file = lambda station, path, keys=None: calls.append(("export", keys)) or types.SimpleNamespace(
        path=str(path), sets=4)
    transfer.import_file = lambda station, path, keys=None: types.SimpleNamespace(path=str(path), applied=2)
    for module in (client, syncstate, identity, transfer):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.delenv("STATION_PASSPHRASE", raising=False)

    adapter = SyncAdapter(now=clock)
    assert adapter.needs_passphrase(station_dir)
    assert adapter.sync_now(station_dir).needs_passphrase  # never left to the engine's getpass prompt
    adapter.set_passphrase("secret-8")
    outcome = adapter.sync_now(station_dir)
    assert (outcome.ok, outcome.pushed, outcome.in_step, outcome.message("zh")) == (False, 3, False, "县平台繁忙")
    assert calls == [("load_keypair", "secret-8"), ("sync_once", "KEYS")]
    status = adapter.status(station_dir)
    assert (status.enrolled, status.online, status.sets_waiting, status.changes_waiting) == (True, True, 4, 6)
    assert status.clock_skew_seconds == 600 and status.clock_warning  # our clock 10 minutes ahead of the hub
    assert adapter.export(station_dir, Path("/tmp/x.sync")).sets == 4 and calls[-1] == ("export", "KEYS")
    assert adapter.import_(station_dir, Path("/tmp/y.sync")).sets == 2
