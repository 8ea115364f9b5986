"""Case detail: parallel review's departments and their opinions, the one not yet answering named as holding it."""

from __future__ import annotations

from station import cases as ops
from tests.station.conftest import pension_enrolment
from tests.tui.conftest import SIZE, make_app, open_station, run, settle
from tui.screens.case_detail import CaseDetailScreen


def test_case_detail_shows_each_departments_opinion_and_who_holds_the_case(station_dir, clock):
    with open_station(station_dir, clock) as station:
        case_no = ops.new_intake(station, pension_enrolment()).number
        # As the hub's case state leaves them (station.feed): one answered, one deemed, one still to answer.
        for department, name, opinion, at in (
            ("YB", "县医疗保障局", "consent", "2026-09-29T03:00:00.000Z"),
            ("MZ", "县民政局", "deemed_consent", "2026-10-10T01:00:00.000Z"),
            ("NY", "县农业农村局", None, None),
        ):
            station.db.execute(
                "INSERT INTO joint_opinions (case_no, department, name_zh, name_en, opinion, requested_at, due_date, "
                "answered_at) VALUES (?, ?, ?, ?, ?, '2026-09-28T03:00:00.000Z', '2026-10-09', ?)",
                [case_no, department, name, f"{department} bureau", opinion, at],
            )
        station.db.commit()
    for lang, words in (
        (
            "zh",
            [
                "并联审批（各部门意见）",
                "县医疗保障局：同意",
                "县民政局：缺席默认（系统，视为同意）",
                "县农业农村局：待答复（2026-10-09 前）",
            ],
        ),
        (
            "en",
            [
                "Parallel review (departments' opinions)",
                "YB bureau: consent",
                "NY bureau: awaiting its answer (by 2026-10-09)",
            ],
        ),
    ):
        app = make_app(station_dir, clock, lang=lang)

        async def scenario(app=app, words=words):
            async with app.run_test(size=SIZE) as pilot:
                await settle(pilot)
                app.open_case(case_no)
                await pilot.pause()
                assert isinstance(app.screen, CaseDetailScreen)
                text = app.screen.render_text().plain
                for word in words:
                    assert word in text, (word, text)

        run(scenario)
