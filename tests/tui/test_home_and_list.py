"""Home ("today") and the case list: what they select, masking, paging, opening a case."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Select

from station import cases as ops
from sync.lifecycle import Actor, Status
from tests.station.conftest import WANG, ZHANG, pension_benefit_deferred, pension_enrolment
from tests.support.decisions import decide, seal
from tests.tui.conftest import SIZE, make_app, open_station, run, screen_text
from tui.screens.case_detail import CaseDetailScreen
from tui.screens.case_list import PAGE_SIZE, CaseListScreen
from tui.screens.home import HomeScreen


def seed_today(station_dir, clock) -> dict[str, str]:
    """One case of each kind the home screen lists, as of 2026-10-09 (China time)."""
    with open_station(station_dir, clock) as station:
        overdue = ops.new_intake(station, pension_enrolment()).number  # RS-001: due 2026-10-08
        deferred = ops.new_intake(station, pension_benefit_deferred()).number  # 容缺 due 2026-10-10
        soon = ops.new_intake(
            station,
            pension_enrolment(applicant_name="钱七", item="RS-007", materials=["居民身份证", "近期1寸免冠彩色照片"]),
        ).number  # due 10-10
        correction = ops.new_intake(station, pension_enrolment(applicant_name="李四")).number
        seal(station)  # the county asks for a correction of an intake it has received
        decide(station, correction, Status.AWAITING_CORRECTION, actor=Actor.TOWNSHIP, reason="登记表缺少签字")
        ready = ops.new_intake(station, pension_enrolment(applicant_name="赵六")).number
        decide(station, ready, Status.ACCEPTED)
        decide(station, ready, Status.COMPLETED, outcome="approved")
        station.db.execute(
            "INSERT INTO rejections (seq, idx, entity, entity_id, code, reason_en, reason_zh, received_at) "
            "VALUES (1, 0, 'cases', ?, 'other_village', 'not a case of this village', '不是本村的办件', "
            "'2026-09-28T03:00:00.000Z')",
            [deferred],
        )
        station.db.commit()
    clock.moment = clock.moment.replace(month=10, day=9)
    return {"overdue": overdue, "deferred": deferred, "soon": soon, "correction": correction, "ready": ready}


def test_home_lists_today_and_each_line_opens_its_case(station_dir, clock):
    cases = seed_today(station_dir, clock)
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, HomeScreen)
            kinds = {item.kind: item.case_no for item in screen.items}
            assert kinds == {
                "overdue": cases["overdue"],
                "due_soon": cases["soon"],
                "correction": cases["correction"],
                "commitment": cases["deferred"],
                "ready": cases["ready"],
                "rejected": cases["deferred"],
            }
            text = screen_text(app)
            assert "!超期1天" in text and "待补正" in text and "待送达" in text and "!被退回" in text
            assert "登记表缺少签字" in text and "不是本村的办件" in text
            assert "超期 1 | 将到期 1 | 待补正 1 | 容缺 1 | 待送达 1 | 被退回 1" in text
            table = screen.query_one(DataTable)
            table.move_cursor(row=[i.kind for i in screen.items].index("ready"))
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, CaseDetailScreen) and app.screen.case_no == cases["ready"]
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)

    run(scenario)


def seed_many(station_dir, clock, count: int) -> None:
    with open_station(station_dir, clock) as station:
        for n in range(count):
            ops.new_intake(station, pension_enrolment(applicant_name=f"王{n:03d}", id_number=WANG if n % 2 else ZHANG))


def test_case_list_pages_filters_and_masks(station_dir, clock):
    seed_many(station_dir, clock, PAGE_SIZE + 5)
    with open_station(station_dir, clock) as station:
        ops.withdraw(station, f"{station.village_code}-20260928-A001", reason="不办了")
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f4")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, CaseListScreen)
            assert len(screen.rows) == PAGE_SIZE and screen.has_more
            text = screen_text(app)
            assert "20260928-A105" in text and "王104" in text  # newest first, village prefix left out
            assert "349921********0234" not in text or WANG not in text
            assert WANG not in text and ZHANG not in text  # IDs masked in the list
            screen.query_one(DataTable).focus()
            await pilot.press("right_square_bracket")
            await pilot.pause()
            assert len(screen.rows) == 5 and not screen.has_more and "第2页  101-105" in screen_text(app)
            await pilot.press("left_square_bracket")
            screen.query_one("#status", Select).value = Status.WITHDRAWN.value
            await pilot.pause()
            assert [r.applicant_name for r in screen.rows] == ["王000"]
            screen.query_one("#status", Select).clear()
            screen.query_one("#search", Input).value = WANG  # a whole ID: matched exactly
            await pilot.pause(0.4)
            assert len(screen.rows) == 52 and all(r.id_number_masked == "349921********0234" for r in screen.rows)
            screen.query_one("#search", Input).value = "王10"  # a name fragment
            await pilot.pause(0.4)
            assert {r.applicant_name for r in screen.rows} == {f"王{n}" for n in range(100, 105)}
            screen.query_one(DataTable).focus()
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, CaseDetailScreen)

    run(scenario)


def test_case_list_due_filter(station_dir, clock):
    seed_today(station_dir, clock)
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f4")
            await pilot.pause()
            screen = app.screen
            screen.query_one("#due", Select).value = "overdue"
            await pilot.pause()
            assert [r.applicant_name for r in screen.rows] == ["王小明"]
            assert "!超1天" in screen_text(app)

    run(scenario)
