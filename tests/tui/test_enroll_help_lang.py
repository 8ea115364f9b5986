"""First start (enrolment or offline), the help screen generated from the bindings, the language switch."""

from __future__ import annotations

from textual.widgets import Input

from station.store import Station
from tests.tui.conftest import SIZE, VILLAGE, FakeAdapter, make_app, run, screen_text, settle
from tui.app import StationApp
from tui.i18n import STRINGS, action_label
from tui.prefs import load_prefs
from tui.screens.dialogs import ConfirmScreen
from tui.screens.enroll import EnrollScreen
from tui.screens.help import HELP_SECTIONS, HelpScreen, help_rows
from tui.screens.home import HomeScreen
from tui.widgets.key_bar import key_display


def test_first_start_without_a_station_can_start_offline_for_a_village(tmp_path, clock):
    folder = tmp_path / "new"
    app = make_app(folder, clock, adapter=FakeAdapter(enrolled=False))

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, EnrollScreen)
            await pilot.press("f2")  # nothing to go to yet
            assert isinstance(app.screen, EnrollScreen)
            app.screen.query_one("#village", Input).value = "349921001999"
            await pilot.pause()
            assert "349921001999" in screen_text(app)  # unknown village: said at once
            app.screen.query_one("#village", Input).value = VILLAGE
            app.screen.query_one("#agent", Input).value = "李代办"
            await pilot.pause()
            assert "永兴街道 店庄社区" in screen_text(app)
            app.screen.query_one("#device", Input).focus()
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)
            assert "店庄社区 A | 李代办" in screen_text(app)

    run(scenario)
    with Station.open(folder) as station:
        assert station.village_code == VILLAGE
    assert load_prefs(folder)["offline_chosen"] is True


def test_enrolment_shows_the_fingerprint_to_compare(tmp_path, clock):
    folder = tmp_path / "new"
    adapter = FakeAdapter()
    app = make_app(folder, clock, adapter=adapter)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            screen.query_one("#agent", Input).value = " 李  代办 "
            screen.query_one("#hub", Input).value = "http://hub.example:8000"
            screen.query_one("#code", Input).value = "abcd-efgh-jkmn-pqrs"
            screen.query_one("#passphrase", Input).value = "short"
            await pilot.click("#enroll")
            assert "8" in screen_text(app)  # the passphrase is too short: said before any network
            screen.query_one("#passphrase", Input).value = "village-key-1"
            screen.query_one("#passphrase2", Input).value = "village-key-1"
            screen.query_one("#passphrase2", Input).focus()
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen), screen_text(app)
            assert "3F2A 9C01 77B4 E0D2 5A6B" in screen_text(app)
            await pilot.press("y")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)

    run(scenario)
    assert adapter.calls[0] == (
        "enroll",
        ("http://hub.example:8000", "ABCD-EFGH-JKMN-PQRS", {"passphrase": "village-key-1", "agent_name": "李 代办"}),
    )


def test_help_lists_every_key_binding(station_dir, clock):
    app = make_app(station_dir, clock)
    rows = help_rows(StationApp, "zh")
    for node_class in (StationApp, HelpScreen, *(cls for _, cls in HELP_SECTIONS)):
        for binding in node_class.BINDINGS:
            label = action_label(binding.action, "zh", binding.description)
            assert any(key == key_display(binding) and what == label for _, key, what in rows), binding
            assert f"action.{binding.action}" in STRINGS, binding.action  # labelled in both languages

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f1")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            text = screen_text(app)
            assert "F5" in text and "同步" in text and "Ctrl+S" in text
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)

    run(scenario)


def test_language_switch_relabels_every_screen_and_keeps_the_form(station_dir, clock):
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            await pilot.pause()
            app.screen.query_one("#name", Input).value = "王小明"
            assert "新收件" in screen_text(app) and "姓名*" in screen_text(app)
            await pilot.press("f9")
            await pilot.pause()
            text = screen_text(app)
            assert "New case" in text and "Name*" in text and "[OFFLINE]" in text and "F9 中文" in text
            assert app.screen.query_one("#name", Input).value == "王小明"  # nothing typed is lost
            await pilot.press("f2")
            await pilot.pause()
            assert "Nothing needs you today" in screen_text(app)
            await pilot.press("f4")
            await pilot.pause()
            assert "any status" in screen_text(app)
            await pilot.press("f9")  # back to Chinese on the list: filters relabelled, still usable
            await pilot.pause()
            assert "全部状态" in screen_text(app)
            await pilot.press("f5", "f1")
            await pilot.pause()
            assert "帮助：全部按键" in screen_text(app)
            await pilot.press("f9")
            await pilot.pause()
            assert "Sync and USB" in screen_text(app) or "Help" in screen_text(app)

    run(scenario)


def test_an_enrolled_station_syncs_by_itself_at_start(station_dir, clock):
    with Station.open(station_dir) as station:
        station.db.execute("INSERT INTO meta (key, value) VALUES ('hub_id', 'abcdef0123456789')")
        station.db.commit()
    adapter = FakeAdapter()
    app = StationApp(station_dir, "zh", adapter, now=clock, auto_sync=True)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await settle(pilot)
            assert isinstance(app.screen, HomeScreen)  # no enrolment screen: it is enrolled
            assert "[在线]" in screen_text(app)

    run(scenario)
    assert adapter.calls == [("sync_now", station_dir)]


def test_lang_comes_from_the_argument_or_the_environment(station_dir, clock, monkeypatch):
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    assert StationApp(station_dir, None).lang == "en"
    assert StationApp(station_dir, "zh").lang == "zh"


def test_docs_name_every_key():
    """docs/tui.md is for trainers: every key of every screen must be in it (like docs/cli.md)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "tui.md").read_text(encoding="utf-8")
    for node_class in (StationApp, HelpScreen, *(cls for _, cls in HELP_SECTIONS)):
        for binding in node_class.BINDINGS:
            for key in key_display(binding).split("/"):
                assert f"{key} " in text or f"{key} |" in text or f"/ {key}" in text, (node_class.__name__, key)
