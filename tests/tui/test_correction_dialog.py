"""The C dialog on a case awaiting correction: the notice's materials to tick, and no empty hand-in."""

from __future__ import annotations

import pytest

from station import cases as ops
from station.queries import get_case
from sync.lifecycle import Actor, Status
from sync.notice import correction_notice
from tests.station.conftest import pension_enrolment
from tests.support.decisions import decide, seal
from tests.tui.conftest import make_app, open_station, run, screen_text
from tui.screens.case_actions import ActionDialog
from tui.screens.case_detail import CaseDetailScreen
from tui.widgets.checkbox import Check

SIZES = [(80, 24), (120, 40)]


def awaiting_case(station_dir, clock) -> str:
    """A pension enrolment (ID card and form received) whose notice asks for the ID card again and a statement."""
    with open_station(station_dir, clock) as station:
        case_no = ops.new_intake(station, pension_enrolment()).number
        seal(station)  # the county asks for a correction of an intake it has received
        notice = correction_notice(["居民身份证", "情况说明"], "身份证复印件不清晰")
        decide(station, case_no, Status.AWAITING_CORRECTION, actor=Actor.TOWNSHIP, reason=notice)
    return case_no


async def open_dialog(app, pilot, case_no: str) -> ActionDialog:
    await pilot.pause()
    app.open_case(case_no)
    await pilot.pause()
    assert isinstance(app.screen, CaseDetailScreen)
    await pilot.press("c")
    await pilot.pause()
    assert isinstance(app.screen, ActionDialog)
    return app.screen


def visible(widget, size: tuple[int, int]) -> bool:
    region = widget.region
    return region.width > 0 and region.height > 0 and region.right <= size[0] and region.bottom <= size[1]


@pytest.mark.parametrize("size", SIZES)
def test_the_dialog_lists_the_notices_materials_and_records_the_ticked_one(station_dir, clock, size):
    case_no = awaiting_case(station_dir, clock)
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            dialog = await open_dialog(app, pilot, case_no)
            text = screen_text(app)
            assert "补正通知要求补交" in text and "身份证复印件不清晰" in text
            checks = list(dialog.query(Check))
            # The ID card was received at intake and is asked for again; the statement only the notice names.
            assert [str(c.label) for c in checks] == ["居民身份证 (已收)", "情况说明"]
            assert app.focused is checks[0]  # ticking is what the agent came to do
            assert all(visible(w, size) for w in [*checks, dialog.query_one("#f-phone"), dialog.query_one("#ok")])
            await pilot.press("space", "ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, CaseDetailScreen)
            assert "已收件" in screen_text(app)

    run(scenario)
    with open_station(station_dir, clock) as station:
        detail = get_case(station, case_no)
        last = detail.history[-1]
        assert detail.summary.status == Status.RECEIVED
        assert (last.reason, last.by) == ("补正材料已提交：居民身份证；仍缺：情况说明", "李代办")


@pytest.mark.parametrize("size", SIZES)
def test_ctrl_s_with_nothing_ticked_or_changed_is_refused_and_the_case_keeps_waiting(station_dir, clock, size):
    case_no = awaiting_case(station_dir, clock)
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            dialog = await open_dialog(app, pilot, case_no)
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert app.screen is dialog  # still open, saying why
            error = dialog.query_one("#error")
            assert "未提交" in str(error.render()) and visible(error, size)
            app.lang = "en"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "nothing was handed in" in str(dialog.query_one("#error").render())

    run(scenario)
    with open_station(station_dir, clock) as station:
        detail = get_case(station, case_no)
        assert detail.summary.status == Status.AWAITING_CORRECTION
        assert detail.history[-1].to_status == Status.AWAITING_CORRECTION
