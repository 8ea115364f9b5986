"""The idle lock: idle time or Ctrl+L covers the screen; the station passphrase (or Enter, without a key) unlocks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from click.testing import CliRunner
from textual.widgets import Input

from station import cases as ops
from station.identity import save_keypair
from sync.crypto import KeyPair
from tests.station.conftest import pension_enrolment
from tests.tui.conftest import SIZE, WANG, FakeAdapter, open_station, run, screen_text, settle
from tui.app import StationApp
from tui.screens.case_detail import CaseDetailScreen
from tui.screens.dialogs import ConfirmScreen
from tui.screens.home import HomeScreen
from tui.screens.lock import LockScreen
from tui.screens.new_case import NewCaseScreen
from tui.sync_adapter import SyncAdapter, SyncOutcome

PASSPHRASE = "village-key-1"


class IdleClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


class KeyAdapter(FakeAdapter):
    """A station with a key: only PASSPHRASE unlocks it; each check may be held back by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.checked_in: list[str] = []  # thread names, never the passphrase
        self.release = threading.Event()
        self.release.set()

    def has_station_key(self, data_dir: Path) -> bool:
        return True

    def check_passphrase(self, data_dir: Path, text: str) -> bool:
        self.checked_in.append(threading.current_thread().name)
        assert self.release.wait(5)
        return text == PASSPHRASE


def lock_app(folder: Path, clock, adapter=None, **options) -> StationApp:
    options.setdefault("wrong_passphrase_delay", 0.0)
    return StationApp(folder, "zh", adapter or FakeAdapter(), now=clock, auto_sync=False, **options)


def test_idle_time_locks_and_the_lock_hides_the_case(station_dir, clock):
    with open_station(station_dir, clock) as station:
        number = ops.new_intake(station, pension_enrolment()).number
    idle = IdleClock()
    app = lock_app(station_dir, clock, idle_clock=idle)  # 5 minutes, the default

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.open_case(number)
            await pilot.pause()
            assert "王小明" in screen_text(app) and WANG in screen_text(app)  # the full detail
            idle.seconds += 200
            await pilot.press("down")  # someone is working: the idle time starts again
            idle.seconds += 200
            app.lock_if_idle()
            assert not app.locked
            idle.seconds += 101
            app.lock_if_idle()
            await pilot.pause()
            assert isinstance(app.screen, LockScreen)
            # Textual draws the screens below only through a translucent screen (a modal): not this one.
            assert not app.screen.is_modal and app.screen.styles.background.a == 1
            text = screen_text(app)
            assert "王小明" not in text and WANG not in text and number[-4:] not in text
            assert "本机已锁定" in text and "锁定时间 2026-09-28 10:00" in text
            assert app.station.station_id in text and "店庄社区" in text
            assert "输入本站密钥口令" in text  # no station key, but the data's passphrase (every station has one)
            await pilot.press("f2", "f4", "f5", "f1")  # nothing switches the screen out from under the lock
            assert isinstance(app.screen, LockScreen)
            await pilot.press("f9")
            await pilot.pause()
            assert "This PC is locked" in screen_text(app) and "Enter to unlock" in screen_text(app)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, LockScreen)  # Enter alone does not unlock
            app.screen.query_one("#lock_input", Input).value = PASSPHRASE
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, CaseDetailScreen) and "王小明" in screen_text(app)

    run(scenario)


def test_the_idle_timer_locks_by_itself(station_dir, clock):
    app = lock_app(station_dir, clock, lock_after=0.2)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.5)
            assert isinstance(app.screen, LockScreen)

    run(scenario)


def test_wrong_passphrase_keeps_it_locked_and_the_right_one_returns_to_the_form(station_dir, clock):
    adapter = KeyAdapter()
    app = lock_app(station_dir, clock, adapter, wrong_passphrase_delay=0.3)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            await pilot.pause()
            name = app.screen.query_one("#name", Input)
            name.focus()
            await pilot.press(*"王小")
            await pilot.press("ctrl+l")  # at once, from inside a field
            await pilot.pause()
            assert isinstance(app.screen, LockScreen)
            assert "王小" not in screen_text(app) and "输入本站密钥口令" in screen_text(app)

            adapter.release.clear()  # hold the check: scrypt is slow, the screen must stay live
            await pilot.press(*"wrong", "enter")
            assert app.screen.query_one("#lock_input", Input).value == ""  # cleared at once
            await pilot.pause()
            assert "正在核对口令" in screen_text(app)
            await pilot.press("f9")  # answered while the check runs
            await pilot.pause()
            assert "Checking the passphrase" in screen_text(app)
            started = time.monotonic()
            adapter.release.set()
            await settle(pilot)
            assert time.monotonic() - started >= 0.3  # the pause after a wrong try
            assert isinstance(app.screen, LockScreen)
            assert "! Wrong passphrase, try again" in screen_text(app)
            assert app.screen.query_one("#lock_input", Input).value == ""
            await pilot.press("f9")
            await pilot.pause()
            assert "! 口令错误，请重新输入" in screen_text(app)  # the message follows the language

            app.screen.query_one("#lock_input", Input).value = PASSPHRASE  # typing it is shown above
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, NewCaseScreen)
            assert app.screen.focused is name and name.value == "王小"
            await pilot.press(*"明")  # typing carries on where it was
            assert name.value == "王小明"

    run(scenario)
    assert len(adapter.checked_in) == 2
    assert all(thread != threading.main_thread().name for thread in adapter.checked_in)  # never on the UI thread


def test_a_real_station_key_and_a_station_without_one(station_dir, clock, monkeypatch):
    monkeypatch.delenv("STATION_PASSPHRASE", raising=False)
    adapter = SyncAdapter(now=clock)
    assert not adapter.has_station_key(station_dir)  # not enrolled: no station key, the data key's passphrase
    app = lock_app(station_dir, clock, adapter)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("ctrl+l")
            await pilot.pause()
            assert isinstance(app.screen, LockScreen)
            assert "输入本站密钥口令" in screen_text(app) and app.screen.query_one("#lock_input", Input).display
            await pilot.press(*"wrong-pass", "enter")
            await settle(pilot)
            assert isinstance(app.screen, LockScreen) and "口令错误" in screen_text(app)
            await pilot.press(*PASSPHRASE, "enter")
            await settle(pilot)
            assert isinstance(app.screen, HomeScreen)

    run(scenario)

    save_keypair(station_dir, KeyPair.generate(), PASSPHRASE, work=2**10)  # as enrolment does, cheaper
    assert adapter.has_station_key(station_dir)
    assert adapter.check_passphrase(station_dir, PASSPHRASE)
    assert not adapter.check_passphrase(station_dir, "wrong-pass")
    assert adapter.needs_passphrase(station_dir)  # unlocking the screen does not unlock sync


def test_sync_keeps_running_while_locked_and_nothing_comes_up_over_the_lock(station_dir, clock):
    class SlowLockedAdapter(KeyAdapter):
        def __init__(self) -> None:
            super().__init__()
            self.sync_release = threading.Event()

        def sync_now(self, data_dir: Path, progress=None) -> SyncOutcome:
            assert self.sync_release.wait(5)
            return SyncOutcome(ok=False, error="enter the station passphrase", needs_passphrase=True)

    adapter = SlowLockedAdapter()
    app = lock_app(station_dir, clock, adapter)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.start_sync()
            await pilot.press("ctrl+l")
            await pilot.pause()
            assert app.sync_view.running and isinstance(app.screen, LockScreen)
            adapter.sync_release.set()
            await settle(pilot)
            # The sync finished under the lock; it needs the passphrase but does not ask over the lock.
            assert not app.sync_view.running and app.sync_view.locked
            assert isinstance(app.screen, LockScreen) and "F5输入口令后同步" in screen_text(app)
            app.push_screen(ConfirmScreen("?", "held"))  # as a worker finishing would
            await pilot.pause()
            assert isinstance(app.screen, LockScreen)
            app.screen.query_one("#lock_input", Input).value = PASSPHRASE
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)  # shown once unlocked
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)  # and no passphrase prompt: F5 asks when wanted

    run(scenario)


def test_lock_after_zero_never_locks(station_dir, clock, monkeypatch):
    idle = IdleClock()
    app = lock_app(station_dir, clock, lock_after=0, idle_clock=idle)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            idle.seconds += 86_400
            app.lock_if_idle()
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)
            await pilot.press("ctrl+l")  # the key still locks
            await pilot.pause()
            assert isinstance(app.screen, LockScreen)

    run(scenario)

    # `station tui --lock-after MINUTES`, $STATION_LOCK_MINUTES, and `python -m tui` all reach the app.
    import tui.__main__
    import tui.app
    from tui.cli import main

    made: list[float] = []
    monkeypatch.setattr(tui.app.StationApp, "run", lambda self: made.append(self.lock_after))
    monkeypatch.delenv("STATION_LOCK_MINUTES", raising=False)
    runner = CliRunner()
    for args, env in ((["tui", "--lock-after", "0"], {}), (["tui"], {"STATION_LOCK_MINUTES": "2"}), (["tui"], {})):
        result = runner.invoke(main, ["--data-dir", str(station_dir), *args], env=env)
        assert result.exit_code == 0, result.output
    assert runner.invoke(main, ["tui", "--lock-after", "-1"]).exit_code == 2
    tui.__main__.main(["--data-dir", str(station_dir), "--lock-after", "0"])
    assert made == [0, 120, 300, 0]
