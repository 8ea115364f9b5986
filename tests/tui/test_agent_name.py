"""The agent's name in the TUI: asked first at enrolment, shown in the title bar, changed with Ctrl+N."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from station import cases as ops
from station.queries import get_case
from station.store import Station
from tests.station.conftest import pension_enrolment
from tests.tui.conftest import VILLAGE, FakeAdapter, make_app, open_station, run, screen_text, settle
from tui.app import StationApp
from tui.screens.case_list import CaseListScreen
from tui.screens.dialogs import ConfirmScreen
from tui.screens.enroll import AgentNameDialog, EnrollScreen
from tui.screens.help import help_rows
from tui.screens.home import HomeScreen
from tui.sync_adapter import EnrollOutcome

SIZES = [(80, 24), (120, 40)]


class NamingAdapter(FakeAdapter):
    """Enrols as the real link does as far as the name goes: the station keeps the name typed."""

    def enroll(
        self, data_dir: Path, hub_url: str, code: str, passphrase: str | None = None, agent_name: str = ""
    ) -> EnrollOutcome:
        self.calls.append(("enroll", agent_name))
        Station.init(data_dir, village_code=VILLAGE, agent_name=agent_name).close()
        return EnrollOutcome("3F2A 9C01 77B4 E0D2 5A6B", f"{VILLAGE}-A-1", VILLAGE)


def title_line(app: StationApp) -> str:
    return screen_text(app).splitlines()[0]


@pytest.mark.parametrize("size", SIZES)
def test_online_enrolment_asks_for_the_name_first_and_the_title_bar_shows_it(tmp_path, clock, size):
    adapter = NamingAdapter()
    app = make_app(tmp_path / "new", clock, adapter=adapter)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, EnrollScreen)
            name = screen.query_one("#agent", Input)
            assert app.focused is name and "代办员姓名*" in screen_text(app)
            assert "Ctrl+N" in screen_text(app)  # the hint says how to change it later
            screen.query_one("#hub", Input).value = "http://hub.example:8000"
            screen.query_one("#code", Input).value = "ABCD-EFGH-JKMN-PQRS"
            screen.query_one("#passphrase", Input).value = "village-key-1"
            screen.query_one("#passphrase2", Input).value = "village-key-1"
            await pilot.click("#enroll")
            await settle(pilot)
            assert "代办员姓名不能为空" in screen_text(app) and adapter.calls == []  # nothing sent without it
            assert app.focused is name
            await pilot.press(*"李代办", "enter")  # Enter in the name goes on to the hub's address
            assert app.focused is screen.query_one("#hub", Input)
            await pilot.click("#enroll")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)
            assert title_line(app).rstrip().endswith("店庄社区 A | 李代办")

    run(scenario)
    assert adapter.calls == [("enroll", "李代办")]


@pytest.mark.parametrize("size", SIZES)
def test_ctrl_n_changes_the_name_everywhere_and_history_names_the_new_agent(station_dir, clock, size):
    with open_station(station_dir, clock) as station:
        case_no = ops.new_intake(station, pension_enrolment()).number
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen) and "| 李代办" in title_line(app)
            await pilot.press("ctrl+n")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, AgentNameDialog)
            field = dialog.query_one("#agent", Input)
            assert field.value == "李代办" and app.focused is field
            field.value = ""
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert app.screen is dialog and "代办员姓名不能为空" in screen_text(app)
            await pilot.press(*"王代办", "enter")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)
            assert "| 王代办" in title_line(app) and "李代办" not in title_line(app)
            await pilot.press("f4")
            await pilot.pause()
            assert isinstance(app.screen, CaseListScreen) and "| 王代办" in title_line(app)
            app.open_case(case_no)
            await pilot.pause()
            await pilot.press("w")
            await pilot.pause()
            app.screen.query_one("#f-reason", Input).value = "申请人改期"
            await pilot.press("ctrl+s")
            await pilot.pause()

    run(scenario)
    with open_station(station_dir, clock) as station:
        assert station.agent_name == "王代办"
        history = get_case(station, case_no).history
        assert [e.by for e in history] == ["李代办", "王代办"]  # the earlier line keeps its name


def test_without_a_name_the_title_bar_says_how_to_give_one(tmp_path, clock):
    folder = tmp_path / "station"
    Station.init(folder, village_code=VILLAGE, now=clock).close()
    from tui.prefs import save_prefs

    save_prefs(folder, offline_chosen=True)
    app = make_app(folder, clock)

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert "未填代办员姓名 Ctrl+N" in title_line(app)
            app.lang = "en"
            await pilot.pause()
            assert "no agent's name: Ctrl+N" in title_line(app)

    run(scenario)


def test_f1_help_lists_ctrl_n_in_both_languages():
    assert ("任何画面", "Ctrl+N", "代办员姓名") in help_rows(StationApp, "zh")
    assert ("Every screen", "Ctrl+N", "Agent's name") in help_rows(StationApp, "en")
