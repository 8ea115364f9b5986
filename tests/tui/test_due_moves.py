"""The case screen's history says why a due date moved: the county published the year's calendar."""

from __future__ import annotations

import datetime as dt

from station import cases as ops
from sync.workdays import YearTable
from tests.station.conftest import pension_benefit_deferred
from tests.tui.conftest import SIZE, make_app, open_station, run
from tui.screens.case_detail import CaseDetailScreen

_OFF = ("2027-01-01", "2027-01-02", "2027-01-03", *(f"2027-02-{d:02d}" for d in range(5, 14)))
TABLE = YearTable(year=2027, holidays=_OFF, workdays=("2027-02-14",), source="hub", version=1)


def test_the_history_shows_the_move_and_its_reason_in_both_languages(station_dir, clock):
    clock.set_china_date(dt.date(2027, 1, 27))
    with open_station(station_dir, clock) as station:
        case_no = ops.new_intake(station, pension_benefit_deferred(defer_days=8)).number
        station.install_calendar_year(TABLE)

    for lang, lines in (
        (
            "zh",
            [
                "应办结日期由 2027-02-12 改为 2027-02-17：2027 年工作日历已发布",
                "容缺补交期限（社会保障卡或本人银行账户）由 2027-02-10 改为 2027-02-15：2027 年工作日历已发布",
            ],
        ),
        (
            "en",
            [
                "due date moved from 2027-02-12 to 2027-02-17: 2027 calendar published",
                "容缺 commitment (社会保障卡或本人银行账户): due date moved from 2027-02-10 to 2027-02-15: "
                "2027 calendar published",
            ],
        ),
    ):
        app = make_app(station_dir, clock, lang=lang)

        async def scenario(app=app, lines=lines):
            async with app.run_test(size=SIZE) as pilot:
                await pilot.pause()
                app.open_case(case_no)
                await pilot.pause()
                assert isinstance(app.screen, CaseDetailScreen)
                text = app.screen.render_text().plain
                for line in lines:
                    assert line in text

        run(scenario)
