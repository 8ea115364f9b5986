"""The TUI on encrypted station data: the passphrase opens it at start when nothing else does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from textual.widgets import Input

from station import cases as ops
from station.store import DB_FILE, datakey
from station.store.db import is_plain
from tests.station.conftest import pension_enrolment
from tests.tui.conftest import SIZE, make_app, open_station, run, screen_text, settle
from tui.screens.enroll import EnrollScreen
from tui.screens.home import HomeScreen
from tui.screens.lock import LockScreen

FIXTURES = Path(__file__).parents[1] / "station" / "fixtures"


def test_the_tui_asks_for_the_passphrase_at_start_and_opens_the_data(
    station_dir, clock, monkeypatch, station_passphrase
):
    with open_station(station_dir, clock) as station:
        ops.new_intake(station, pension_enrolment())
    monkeypatch.delenv("STATION_PASSPHRASE")
    datakey.forget()  # a new program: nothing unlocked yet
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, LockScreen) and app.station is None
            text = screen_text(app)
            assert "本站数据已加密" in text and "输入本站密钥口令" in text and str(station_dir)[:20] in text
            await pilot.press("f2", "f3", "f4")  # nothing opens before the data does
            assert isinstance(app.screen, LockScreen)
            await pilot.press(*"wrong-passphrase", "enter")
            await settle(pilot)
            assert isinstance(app.screen, LockScreen) and "口令错误" in screen_text(app) and app.station is None
            await pilot.press(*station_passphrase, "enter")
            await settle(pilot)
            assert isinstance(app.screen, HomeScreen) and app.station is not None
            await pilot.press("f4")
            await pilot.pause()
            assert "王小明" in screen_text(app)
            await pilot.press("ctrl+l")  # the idle lock asks for the same passphrase
            await pilot.pause()
            assert isinstance(app.screen, LockScreen) and "本机已锁定" in screen_text(app)

    run(scenario)


def test_with_station_passphrase_set_the_tui_opens_at_once(station_dir, clock):
    datakey.forget()
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)

    run(scenario)


def test_an_older_plain_database_is_encrypted_under_a_passphrase_chosen_twice(tmp_path, clock, monkeypatch):
    folder = tmp_path / "v01"
    folder.mkdir()
    conn = sqlite3.connect(folder / DB_FILE)
    conn.executescript((FIXTURES / "station-0.1.0.sql").read_text(encoding="utf-8"))
    conn.close()
    monkeypatch.delenv("STATION_PASSPHRASE")
    app = make_app(folder, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert (
                isinstance(app.screen, LockScreen) and "输入两次" in screen_text(app) and "加密保存" in screen_text(app)
            )
            await pilot.press(*"first-passphrase", "enter", *"other-passphrase", "enter")
            await pilot.pause()
            assert "两次输入的口令不一致" in screen_text(app) and is_plain(folder / DB_FILE)
            await pilot.press(*"short", "enter", *"short", "enter")
            await settle(pilot)
            assert "至少需要 8 个字符" in screen_text(app) and is_plain(folder / DB_FILE)
            await pilot.press(*"chosen-passphrase", "enter", *"chosen-passphrase", "enter")
            await settle(pilot)
            assert app.station is not None and not isinstance(app.screen, LockScreen)

    run(scenario)
    assert not is_plain(folder / DB_FILE) and "张桂英".encode() not in (folder / DB_FILE).read_bytes()
    datakey.forget()
    assert datakey.open_data_key(folder, "chosen-passphrase")


def test_starting_offline_protects_the_new_station_with_the_passphrase_typed(tmp_path, clock, monkeypatch):
    monkeypatch.delenv("STATION_PASSPHRASE")
    folder = tmp_path / "new"
    app = make_app(folder, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, EnrollScreen)
            screen = app.screen
            screen.query_one("#village", Input).value = "349921001001"
            screen.query_one("#agent", Input).value = "李代办"
            screen.query_one("#passphrase", Input).value = "offline-passphrase"
            screen.query_one("#passphrase2", Input).value = "offline-passphrase"
            screen.action_offline()
            await pilot.pause()
            assert app.station is not None and isinstance(app.screen, HomeScreen)

    run(scenario)
    datakey.forget()
    assert datakey.open_data_key(folder, "offline-passphrase") and not is_plain(folder / DB_FILE)
