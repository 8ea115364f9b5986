"""V rates a delivered case, T writes the month's ledger, Q answers a progress query; the ID card finds a
resident's cases in the list search."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from station import cases as ops
from station.queries import get_case
from station.ratings import query_code_of
from sync.lifecycle import Status
from sync.ratings import format_code
from tests.station.conftest import pension_enrolment
from tests.support.decisions import decide, seal
from tests.tui.conftest import PASSPHRASE, WANG, make_app, open_station, run, screen_text, settle
from tui.screens.case_actions import ActionDialog
from tui.screens.case_detail import CaseDetailScreen
from tui.screens.case_list import CaseListScreen
from tui.screens.dialogs import ConfirmScreen
from tui.screens.home import HomeScreen

SIZES = [(80, 24), (120, 40)]


def delivered_case(station_dir, clock) -> str:
    with open_station(station_dir, clock) as station:
        case_no = ops.new_intake(station, pension_enrolment()).number
        seal(station)
        decide(station, case_no, Status.ACCEPTED)
        decide(station, case_no, Status.COMPLETED, outcome="approved")
        ops.deliver(station, case_no)
    return case_no


async def _type(pilot, dialog: ActionDialog, key: str, text: str) -> None:
    field = dialog.query_one(f"#f-{key}", Input)
    field.value = text
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_v_records_a_bad_rating_with_its_channel_once(station_dir, clock, size):
    case_no = delivered_case(station_dir, clock)
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            app.open_case(case_no)
            await pilot.pause()
            assert isinstance(app.screen, CaseDetailScreen)
            assert "查询码" in screen_text(app)
            await pilot.press("v")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, ActionDialog) and "非常不满意" in screen_text(app)
            await _type(pilot, dialog, "level", "9")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert app.screen is dialog and "1 至 5" in str(dialog.query_one("#error").render())
            await _type(pilot, dialog, "level", "2")
            await _type(pilot, dialog, "comment", "跑了两趟")
            dialog.query_one("#f-c-phone").value = True
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, CaseDetailScreen)
            assert "2 不满意 · 电话回访 · 跑了两趟" in screen_text(app)
            # Rated once: V is gone from the screen and does nothing.
            assert not app.screen.check_action("rate", ())
            await pilot.press("v")
            await pilot.pause()
            assert isinstance(app.screen, CaseDetailScreen)

    run(scenario)
    with open_station(station_dir, clock) as station:
        ratings = get_case(station, case_no).ratings
    assert [(r.level, r.channel, r.comment, r.agent) for r in ratings] == [(2, "phone", "跑了两趟", "李代办")]


def test_v_is_not_offered_before_delivery(station_dir, clock):
    with open_station(station_dir, clock) as station:
        case_no = ops.new_intake(station, pension_enrolment()).number
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.open_case(case_no)
            await pilot.pause()
            await pilot.press("v")
            await pilot.pause()
            assert isinstance(app.screen, CaseDetailScreen)

    run(scenario)


def test_t_writes_the_months_ledger_masked(station_dir, clock):
    openpyxl = pytest.importorskip("openpyxl")
    case_no = delivered_case(station_dir, clock)
    app = make_app(station_dir, clock, lang="en")

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, HomeScreen)
            await pilot.press("t")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, ActionDialog)
            assert dialog.query_one("#f-month", Input).value == "2026-09"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)

    run(scenario)
    path = station_dir / "ledgers" / "ledger-2026-09.xlsx"
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    assert rows[2][:3] == ("No.", "Case no.", "Applicant") and rows[3][1] == case_no
    assert WANG not in str(rows)


@pytest.mark.parametrize("size", SIZES)
def test_q_answers_a_progress_query_and_a_wrong_code_like_an_unknown_case(station_dir, clock, size):
    with open_station(station_dir, clock) as station:
        case_no = ops.new_intake(station, pension_enrolment()).number
        code = query_code_of(station, case_no)
    assert code
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press("q")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, ActionDialog)
            await _type(pilot, dialog, "case", case_no)
            await _type(pilot, dialog, "code", "ZZZZ-ZZZZ")
            await pilot.press("ctrl+s")
            await pilot.pause()
            wrong = str(dialog.query_one("#error").render())
            assert app.screen is dialog and "没有查到" not in wrong  # unenrolled: the hub is needed, and said so
            assert "县平台" in wrong
            await _type(pilot, dialog, "code", format_code(code).lower())
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            text = screen_text(app)
            assert case_no in text and "已收件" in text and "本站办件" in text and "王" not in text

    run(scenario)


def test_the_list_search_finds_a_residents_cases_by_the_whole_id_number(station_dir, clock):
    with open_station(station_dir, clock) as station:
        case_no = ops.new_intake(station, pension_enrolment()).number
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("f4")
            await pilot.pause()
            assert isinstance(app.screen, CaseListScreen)
            search = app.screen.query_one("#search", Input)
            search.value = WANG
            await pilot.pause()
            await pilot.pause()
            text = screen_text(app)
            # Found, and in the list the number stays masked (the search field shows what was typed).
            assert case_no[-4:] in text and "349921********0234" in text and text.count(WANG) == 1

    run(scenario)


def test_t_writes_the_ledger_in_full_only_with_the_passphrase(station_dir, clock):
    openpyxl = pytest.importorskip("openpyxl")
    case_no = delivered_case(station_dir, clock)
    app = make_app(station_dir, clock, lang="en")
    full = station_dir / "ledgers" / "ledger-2026-09-full.xlsx"

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("t")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, ActionDialog)
            dialog.query_one("#f-full").value = True
            assert dialog.query_one("#f-passphrase", Input).password  # never shown on screen
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert app.screen is dialog and "passphrase" in str(dialog.query_one("#error").render())
            await _type(pilot, dialog, "passphrase", "not-the-passphrase")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert app.screen is dialog and "wrong passphrase" in str(dialog.query_one("#error").render())
            assert not full.exists()
            await _type(pilot, dialog, "passphrase", PASSPHRASE)
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)

    run(scenario)
    rows = list(openpyxl.load_workbook(full).active.iter_rows(values_only=True))
    assert rows[3][1] == case_no and WANG in str(rows)
