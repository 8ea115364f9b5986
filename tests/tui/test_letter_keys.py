"""Letter keys work in upper case too: Shift+V, or Caps Lock left on (issue 12, item 2)."""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import Input

from station import cases as ops
from tests.station.conftest import pension_enrolment
from tests.tui.conftest import FakeAdapter, make_app, open_station, run, settle
from tui.app import fold_letter_case
from tui.receipt import PRINT_DIR
from tui.screens.case_actions import ActionDialog
from tui.screens.case_detail import CaseDetailScreen
from tui.screens.dialogs import ConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.home import HomeScreen
from tui.screens.intake_done import IntakeDoneScreen
from tui.screens.new_case import NewCaseScreen
from tui.widgets.key_bar import KeyBar
from tui.widgets.materials import MaterialChecklist

SIZES = [(80, 24), (120, 40)]


def test_upper_case_letters_become_the_key_and_keep_their_character():
    for key, character, folded in (("V", "V", "v"), ("shift+v", None, "v"), ("v", "v", "v"), ("f5", None, "f5")):
        event = events.Key(key, character)
        fold_letter_case(event)
        assert event.key == folded
    event = events.Key("X", "X")
    fold_letter_case(event)
    assert event.character == "X"  # a field still gets the capital
    event = events.Key("shift+v", None)
    fold_letter_case(event)
    assert event.character == "V"


@pytest.mark.parametrize("size", SIZES)
def test_shift_v_after_saving_opens_the_case_and_caps_lock_typing_stays_upper_case(station_dir, clock, size):
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press("f3", *"YLBX", "down", "enter")  # Caps Lock on in the item search
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, NewCaseScreen) and screen.entry is not None
            screen.query_one("#name", Input).focus()
            await pilot.press(*"张桂英")
            screen.query_one("#id_number", Input).focus()
            await pilot.press(*"11010519491231002X")  # the X typed with Caps Lock: a capital in the field
            screen.query_one("#phone", Input).value = "13912345678"
            await pilot.pause()
            assert screen.query_one("#id_number", Input).value == "11010519491231002X"
            screen.query_one(MaterialChecklist).set_state(["居民身份证", "城乡居民基本养老保险参保登记表"], [])
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, IntakeDoneScreen)
            assert " V " in app.screen.query_one("#view").label.plain + " "  # the button shows V
            await pilot.press("V")  # Shift+V, or Caps Lock still on
            await pilot.pause()
            assert isinstance(app.screen, CaseDetailScreen)

    run(scenario)


@pytest.mark.parametrize("size", SIZES)
def test_every_letter_key_of_a_case_works_in_upper_case(station_dir, clock, size):
    with open_station(station_dir, clock) as station:
        case_no = ops.new_intake(station, pension_enrolment()).number
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            app.open_case(case_no)
            await pilot.pause()
            footer = app.screen.query_one(KeyBar).line().plain
            for letter in "CWAP":
                assert f" {letter} " in footer  # shown in upper case...
            for letter in "CWA":  # ...and each opens its dialog when pressed so
                await pilot.press(letter)
                await pilot.pause()
                assert isinstance(app.screen, ActionDialog), letter
                await pilot.press("escape")
                await pilot.pause()
            assert not list((station_dir / PRINT_DIR).rglob(f"{case_no}.pdf"))
            await pilot.press("P")  # the receipt, written again to print
            await pilot.pause()
            assert list((station_dir / PRINT_DIR).rglob(f"{case_no}.pdf"))

    run(scenario)


def test_upper_case_on_the_sync_screen_dialogs_and_help(station_dir, clock):
    adapter = FakeAdapter()
    app = make_app(station_dir, clock, adapter=adapter)

    async def scenario():
        async with app.run_test(size=SIZES[0]) as pilot:
            await settle(pilot)
            await pilot.press("f5")
            await settle(pilot)
            adapter.calls.clear()
            await pilot.press("S")  # sync again
            await settle(pilot)
            assert adapter.calls and adapter.calls[0][0] == "sync_now"
            await pilot.press("E")
            await pilot.pause()
            assert isinstance(app.screen, ActionDialog)  # export: the path to write to
            await pilot.press("escape", "f1")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("Q")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)
            await pilot.press("f3")
            app.screen.query_one("#name", Input).value = "王"
            await pilot.press("f8")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("Y")
            await pilot.pause()
            assert isinstance(app.screen, NewCaseScreen) and app.screen.query_one("#name", Input).value == ""
            await pilot.press("f2", "R")  # refresh today: nothing to see change, but no error either
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)

    run(scenario)


def test_upper_case_d_discards_the_draft_offered_at_start(station_dir, clock):
    app = make_app(station_dir, clock)
    app.drafts.save(
        "new_case", {"name": "王小明", "code": "RS-001", "kind": "item", "saved_at": "2026-09-28T01:00:00.000Z"}
    )

    async def scenario():
        async with app.run_test(size=SIZES[0]) as pilot:
            await settle(pilot)
            await pilot.press("D")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)

    run(scenario)
    assert not app.drafts.exists("new_case")
