"""F2-F5 land on the screen they name, with fresh data, whatever was left open over it (issue 12, item 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from station import cases as ops
from station.store import Station
from tests.station.conftest import pension_enrolment
from tests.support.decisions import seal
from tests.tui.conftest import FakeAdapter, make_app, open_station, run, screen_text, settle
from tui.screens.case_detail import CaseDetailScreen
from tui.screens.case_list import CaseListScreen
from tui.screens.dialogs import DraftOfferScreen
from tui.screens.enroll import EnrollScreen
from tui.screens.help import HelpScreen
from tui.screens.home import HomeScreen
from tui.screens.intake_done import IntakeDoneScreen
from tui.screens.new_case import NewCaseScreen
from tui.screens.sync import SyncScreen
from tui.widgets.materials import MaterialChecklist

SIZES = [(80, 24), (120, 40)]


def one_case(station_dir: Path, clock) -> str:
    with open_station(station_dir, clock) as station:
        return ops.new_intake(station, pension_enrolment()).number


async def save_a_case(app, pilot) -> None:
    await pilot.press("f3", *"ylbx", "down", "enter")
    screen = app.screen
    screen.query_one("#name", Input).value = "张桂英"
    screen.query_one("#id_number", Input).value = "11010519491231002X"
    screen.query_one("#phone", Input).value = "13912345678"
    await pilot.pause()
    screen.query_one(MaterialChecklist).set_state(["居民身份证", "城乡居民基本养老保险参保登记表"], [])
    await pilot.pause()
    await pilot.press("ctrl+s")
    await pilot.pause()
    assert isinstance(app.screen, IntakeDoneScreen)


@pytest.mark.parametrize("size", SIZES)
def test_f3_after_viewing_a_saved_case_shows_an_empty_form(station_dir, clock, size):
    """F3, save, V (the case), F2, F3: the new-case form, empty; not the saved case's detail."""
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await save_a_case(app, pilot)
            await pilot.press("v")
            await pilot.pause()
            assert isinstance(app.screen, CaseDetailScreen)
            await pilot.press("f2")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)
            await pilot.press("f3")
            await pilot.pause()
            assert isinstance(app.screen, NewCaseScreen)
            assert app.screen.entry is None and app.screen.query_one("#name", Input).value == ""
            assert "办件详情" not in screen_text(app)

    run(scenario)


@pytest.mark.parametrize("size", SIZES)
def test_f3_while_the_saved_dialog_is_open_and_back_shows_the_form(station_dir, clock, size):
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await save_a_case(app, pilot)
            await pilot.press("f4")
            await pilot.pause()
            assert isinstance(app.screen, CaseListScreen)
            await pilot.press("f3")
            await pilot.pause()
            assert isinstance(app.screen, NewCaseScreen)  # the "saved" dialog is not brought back

    run(scenario)


@pytest.mark.parametrize("size", SIZES)
def test_f4_after_opening_a_case_from_the_list_shows_the_list(station_dir, clock, size):
    """A case opened from the list, F2, F4: the list again, not the old detail."""
    case_no = one_case(station_dir, clock)
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press("f4")
            await pilot.pause()
            await pilot.press(*case_no[-4:], "enter")  # the search finds it; Enter opens the only match
            await pilot.pause()
            assert isinstance(app.screen, CaseDetailScreen) and app.screen.case_no == case_no
            await pilot.press("f2")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)
            await pilot.press("f4")
            await pilot.pause()
            assert isinstance(app.screen, CaseListScreen)
            await pilot.press("f4")  # F4 on the list itself: still the list
            await pilot.pause()
            assert isinstance(app.screen, CaseListScreen)

    run(scenario)


@pytest.mark.parametrize("size", SIZES)
def test_the_key_of_the_screen_under_a_case_closes_the_case(station_dir, clock, size):
    """Help over a case opened from today, F4, F2: each key lands on its own screen."""
    case_no = one_case(station_dir, clock)
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            app.open_case(case_no)
            await pilot.pause()
            await pilot.press("f1")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("f4")  # from help over a case over today: the list
            await pilot.pause()
            assert isinstance(app.screen, CaseListScreen)
            await pilot.press("f2")  # and back: today itself, not the help or the case left over it
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen) and len(app.screen_stack) == 1

    run(scenario)


class SealingAdapter(FakeAdapter):
    """A sync that really changes the station: its outbox is sealed (the case is no longer "saved here only")."""

    def __init__(self, clock) -> None:
        super().__init__()
        self.clock = clock

    def sync_now(self, data_dir: Path, progress=None):
        outcome = super().sync_now(data_dir, progress)
        with Station.open(data_dir, now=self.clock) as station:  # the worker thread's own connection
            seal(station)
        return outcome


@pytest.mark.parametrize("size", SIZES)
def test_after_a_sync_the_case_and_today_show_what_it_changed(station_dir, clock, size):
    """F2 after a sync that sealed a case shows today, and a case left open shows the sync's result."""
    case_no = one_case(station_dir, clock)
    app = make_app(station_dir, clock, adapter=SealingAdapter(clock))

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            app.open_case(case_no)  # from today
            await pilot.pause()
            assert "仅保存在本站，尚未上报" in app.screen.render_text().plain
            await pilot.press("f1")  # help over the case while the sync runs in the background
            await pilot.pause()
            app.start_sync()
            await settle(pilot)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, CaseDetailScreen)
            text = app.screen.render_text().plain
            assert "已封装，等待县平台确认" in text and "仅保存在本站" not in text
            await pilot.press("f5")
            await settle(pilot)
            assert isinstance(app.screen, SyncScreen)
            await pilot.press("f2")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)  # not the case opened from today before F5

    run(scenario)


def test_f4_over_the_draft_offer_and_back_to_today(station_dir, clock):
    app = make_app(station_dir, clock)
    app.drafts.save(
        "new_case", {"name": "王小明", "code": "RS-001", "kind": "item", "saved_at": "2026-09-28T01:00:00.000Z"}
    )

    async def scenario():
        async with app.run_test(size=SIZES[0]) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, DraftOfferScreen)
            await pilot.press("f4")
            await pilot.pause()
            assert isinstance(app.screen, CaseListScreen)
            await pilot.press("f2")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)  # the offer is not waiting over today
            await pilot.press("f3")  # the draft is not lost: F3 brings it back
            await pilot.pause()
            assert app.screen.query_one("#name", Input).value == "王小明"

    run(scenario)


def test_function_keys_do_not_skip_the_enrolment_and_its_fingerprint(station_dir, clock):
    """F2-F5 now work over dialogs: not over enrolment, where they would skip comparing the fingerprint."""
    adapter = FakeAdapter(enrolled=False)
    app = make_app(station_dir, clock, adapter=adapter)

    async def scenario():
        async with app.run_test(size=SIZES[0]) as pilot:
            await settle(pilot)
            await pilot.press("f5")
            await settle(pilot)
            await pilot.press("r")  # enrol, from the sync screen
            await pilot.pause()
            assert isinstance(app.screen, EnrollScreen)
            for key in ("f2", "f3", "f4", "f5"):
                await pilot.press(key)
                await pilot.pause()
                assert isinstance(app.screen, EnrollScreen), key
            await pilot.press("escape")  # its own way out
            await pilot.pause()
            assert isinstance(app.screen, SyncScreen)
            await pilot.press("f2")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)

    run(scenario)
