"""Nothing cut while there is room: the key line, today's table and the case list (issue 12, item 8)."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest
from rich.cells import cell_len

from station import cases as ops
from sync.lifecycle import Actor, Status
from tests.station.conftest import pension_benefit_deferred, pension_enrolment
from tests.support.decisions import decide, seal
from tests.tui.conftest import FakeAdapter, make_app, open_station, run, screen_text, settle
from tui.fmt import fit_widths
from tui.widgets.fit_table import FitTable
from tui.widgets.key_bar import KeyBar
from tui.widgets.status_bar import StatusBar, status_parts

REASON = "一次性告知，请补正以下材料：户口簿本人页复印件、照片"  # 52 cells
ITEM = "城乡居民基本养老保险参保登记"
SIZES = [(80, 24), (120, 40)]


def seed(station_dir, clock) -> list[str]:
    with open_station(station_dir, clock) as station:
        numbers = [
            ops.new_intake(station, pension_enrolment(applicant_name="欧阳小明")).number,
            ops.new_intake(station, pension_benefit_deferred()).number,
        ]
        seal(station)
        decide(station, numbers[0], Status.AWAITING_CORRECTION, actor=Actor.TOWNSHIP, reason=REASON, by="永兴街道")
    return numbers


def lines(app) -> list[str]:
    return screen_text(app).splitlines()


def test_fit_widths_cuts_the_widest_first_and_only_when_needed():
    assert fit_widths([6, 13, 8, 28, 40], 200, [6, 13, 8, 10, 10]) == [6, 13, 8, 28, 40]  # room: all whole
    widths = fit_widths([6, 13, 8, 28, 40], 90, [6, 13, 8, 10, 10])
    assert sum(widths) == 90 and widths[:3] == [6, 13, 8]  # fixed columns whole
    assert widths[3] == 28 and widths[4] == 35  # the widest is cut first, the next one not below its width
    widths = fit_widths([6, 13, 8, 28, 40], 60, [6, 13, 8, 10, 10])
    assert sum(widths) == 60 and abs(widths[3] - widths[4]) <= 1  # then both, to one cap
    assert fit_widths([6, 13, 8, 28, 40], 30, [6, 13, 8, 10, 10]) == [6, 13, 8, 10, 10]  # never below the minimum


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("screen", ["new", "list", "detail", "home", "sync"])
def test_the_key_line_keeps_every_key_at_80_columns(station_dir, clock, lang, screen):
    """F4, F5 and Ctrl+Q were cut off on the new-case, list and detail screens: the line wraps instead."""
    numbers = seed(station_dir, clock)
    app = make_app(station_dir, clock, lang=lang)

    async def scenario():
        async with app.run_test(size=SIZES[0]) as pilot:
            await settle(pilot)
            keys = {"new": ["f3"], "list": ["f4"], "sync": ["f5"], "home": []}.get(screen)
            if keys is None:
                app.open_case(numbers[1])
            else:
                await pilot.press(*keys)
            await settle(pilot)
            bar = app.screen.query_one(KeyBar)
            shown = "\n".join(lines(app)[-bar.size.height :])
            for entry in bar.entries():  # every key with its label, none cut
                assert entry.plain in shown.replace("\n", " "), entry.plain
            for key in ("F1", "F2", "F3", "F4", "F5", "F9", "Ctrl+Q"):
                assert f" {key} " in shown
            assert shown.rstrip().endswith("Ctrl+Q 退出" if lang == "zh" else "Ctrl+Q Quit")  # in its place, last
            assert all(cell_len(line) <= 80 for line in lines(app))

    run(scenario)


def test_the_key_line_is_one_line_when_it_fits(station_dir, clock):
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZES[1]) as pilot:
            await settle(pilot)
            await pilot.press("f3")
            await settle(pilot)
            assert app.screen.query_one(KeyBar).size.height == 1
            assert lines(app)[-1].startswith(" F1 帮助") and "Ctrl+Q 退出" in lines(app)[-1]

    run(scenario)


@pytest.mark.parametrize("size", SIZES)
def test_today_shows_the_correction_reason_whole_while_there_is_room(station_dir, clock, size):
    seed(station_dir, clock)
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            row = next(line for line in lines(app) if "待补正" in line and "20260928" in line)
            assert "欧阳小明" in row  # a four-character name, whole
            if size[0] >= 120:
                assert REASON in row and ITEM in row  # room enough: nothing cut
            else:
                # 80 columns: cut, with "..", and only because the line is full (no room left to its right)
                assert row.endswith("..") and "一次性告知，请补正" in row
                assert cell_len(row) >= size[0] - 3
            table = app.screen.query_one(FitTable)
            assert sum(table.widths) + 2 * len(table.widths) <= size[0]  # no sideways scrolling on today

    run(scenario)


@pytest.mark.parametrize("size", SIZES)
def test_the_case_list_sizes_columns_to_their_content(station_dir, clock, size):
    seed(station_dir, clock)
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press("f4")
            await settle(pilot)
            text = screen_text(app)
            assert "欧阳小明" in text and "待补正" in text and "张桂英" in text
            if size[0] >= 120:
                assert ITEM in text and "349921********0234" in text and "138****8000" in text
                assert ".." not in text
            else:
                # 80 columns hold not every column: the item is cut; the masked ID and phone are left
                # whole to the right, to scroll to, rather than cut to no use.
                table = app.screen.query_one(FitTable)
                widths = dict(zip([c.key for c in table.spec], table.widths, strict=True))
                assert widths["id"] == 18 and widths["phone"] == 11 and widths["item"] < cell_len(ITEM)
                assert "城乡居民基本养老" in text

    run(scenario)


def test_columns_fit_again_when_the_terminal_is_resized(station_dir, clock):
    seed(station_dir, clock)
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZES[0]) as pilot:
            await settle(pilot)
            assert REASON not in screen_text(app)
            await pilot.resize_terminal(140, 40)
            await settle(pilot)
            assert REASON in screen_text(app)

    run(scenario)


class TroubledAdapter(FakeAdapter):
    """Everything the status line can say at once: refused cases, a stopped sync, a skewed clock."""

    def status(self, data_dir):
        return msgspec.structs.replace(
            super().status(data_dir), refused_cases=2, revoked="k1", clock_offset_ms=-720_000, clock_warning=True
        )


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", SIZES)
def test_the_status_line_wraps_between_its_parts_rather_than_losing_the_last(station_dir, clock, size, lang):
    """Found walking the screens: with several warnings the clock's was cropped off at 80 columns."""
    app = make_app(station_dir, clock, lang=lang, adapter=TroubledAdapter())

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            app.sync_view = dataclasses.replace(app.sync_view, locked=True)
            await settle(pilot)
            bar = app.screen.query_one(StatusBar)
            shown = " ".join(lines(app)[-bar.size.height - app.screen.query_one(KeyBar).size.height :])
            for separator, part in status_parts(app.sync_view, lang):
                assert part.plain in shown, part.plain
            assert ("时钟偏差12分钟" if lang == "zh" else "clock off 12 min") in shown
            assert all(cell_len(line) <= size[0] for line in lines(app))

    run(scenario)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_label_of_the_case_list_is_whole(station_dir, clock, lang):
    """Found walking the screens: page 2's label (第2页  101-200  ] 下一页) was cut in its 24 cells."""
    with open_station(station_dir, clock) as station:
        for _ in range(205):
            ops.new_intake(station, pension_enrolment())
    app = make_app(station_dir, clock, lang=lang)

    async def scenario():
        async with app.run_test(size=SIZES[0]) as pilot:
            await settle(pilot)
            await pilot.press("f4")
            await pilot.pause()
            app.screen.query_one("#cases").focus()
            await pilot.press("right_square_bracket")
            await pilot.pause()
            want = "第2页  101-200  ] 下一页" if lang == "zh" else "page 2  101-200  ] next"
            assert want in screen_text(app)

    run(scenario)
