"""Smaller rough edges (issue 12, item 13): Enter on the only match, no PDF viewer, the problems
list as they are fixed, and the status line after a restart with the hub down."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import msgspec
import pytest
from textual.widgets import DataTable, Input, Static

from station import cases as ops
from station.syncstate import SyncStatus
from tests.station.conftest import pension_enrolment
from tests.tui.conftest import FakeAdapter, make_app, open_station, run, screen_text, settle
from tui.screens.case_detail import CaseDetailScreen
from tui.screens.intake_done import IntakeDoneScreen
from tui.screens.new_case import NewCaseScreen
from tui.widgets.checkbox import Check
from tui.widgets.materials import MaterialChecklist
from tui.widgets.status_bar import StatusBar

SIZES = [(80, 24), (120, 40)]


@pytest.mark.parametrize("size", SIZES)
def test_enter_in_the_item_search_takes_the_only_match_and_says_when_there_is_none(station_dir, clock, size):
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press("f3", *"zzqq")
            await pilot.pause()
            assert "! 没有匹配的事项" in screen_text(app)  # said at once, not after a silent Enter
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen.entry is None and "! 没有匹配的事项" in screen_text(app)
            app.screen.query_one("#item_search", Input).value = ""
            await pilot.press(*"rs001", "enter")
            await pilot.pause()
            assert app.screen.entry is not None and app.screen.entry.code == "RS-001"
            assert "没有匹配的事项" not in screen_text(app)
            assert app.focused is app.screen.query_one("#name", Input)  # on to the applicant

    run(scenario)


@pytest.mark.parametrize("size", SIZES)
def test_enter_in_the_case_search_opens_the_only_match(station_dir, clock, size):
    with open_station(station_dir, clock) as station:
        ops.new_intake(station, pension_enrolment())
        only = ops.new_intake(station, pension_enrolment(applicant_name="赵六")).number
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press("f4", *"2026", "enter")  # both match: the table, to choose from
            await pilot.pause()
            assert isinstance(app.focused, DataTable)
            await pilot.press("ctrl+f")
            app.screen.query_one("#search", Input).value = ""
            await pilot.press(*"赵六", "enter")
            await pilot.pause()
            assert isinstance(app.screen, CaseDetailScreen) and app.screen.case_no == only

    run(scenario)


async def _save(app, pilot) -> None:
    await pilot.press("f3", *"ylbx", "down", "enter")
    screen = app.screen
    screen.query_one("#name", Input).value = "张桂英"
    screen.query_one("#id_number", Input).value = "11010519491231002X"
    screen.query_one("#phone", Input).value = "13912345678"
    await pilot.pause()
    screen.query_one(MaterialChecklist).set_state(["居民身份证", "城乡居民基本养老保险参保登记表"], [])
    await pilot.press("ctrl+s")
    await pilot.pause()
    assert isinstance(app.screen, IntakeDoneScreen)


def note(app) -> str:
    return str(app.screen.query_one("#done_note", Static).render())


@pytest.mark.skipif(sys.platform == "win32", reason="the desktop opener of Linux")
@pytest.mark.parametrize("size", SIZES)
def test_open_pdf_without_a_viewer_says_so_and_where_the_file_is(station_dir, clock, size, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)  # a village PC's console: no desktop session
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await _save(app, pilot)
            pdf = app.screen.paths[1]
            await pilot.press("p")
            await settle(pilot)
            assert isinstance(app.screen, IntakeDoneScreen)  # still there, with the paths to print from
            said = note(app)
            assert "本机没有可以打开PDF的程序" in said and str(pdf) in said

    run(scenario)


def _opener(folder: Path, status: int) -> None:
    folder.mkdir(exist_ok=True)
    script = folder / "xdg-open"
    script.write_text(f"#!/bin/sh\nexit {status}\n", encoding="utf-8")
    script.chmod(0o755)


@pytest.mark.skipif(sys.platform == "win32", reason="the desktop opener of Linux")
def test_open_pdf_when_the_opener_finds_no_program_says_so_and_when_it_does_says_that(
    station_dir, clock, tmp_path, monkeypatch
):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    bin_dir = tmp_path / "bin"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    _opener(bin_dir, 3)  # xdg-open's "no method available for opening"
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZES[0]) as pilot:
            await settle(pilot)
            await _save(app, pilot)
            await pilot.press("p")
            await settle(pilot)
            assert "本机没有可以打开PDF的程序" in note(app) and str(app.screen.paths[1]) in note(app)
            _opener(bin_dir, 0)
            await pilot.press("p")
            await settle(pilot)
            assert "已交给PDF阅读器" in note(app) and "!" not in note(app)

    run(scenario)


@pytest.mark.parametrize("size", SIZES)
def test_the_list_of_problems_follows_the_fixes(station_dir, clock, size):
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press("f3", *"ylbx", "down", "enter")
            screen = app.screen
            assert isinstance(screen, NewCaseScreen)
            screen.query_one("#name", Input).value = "张桂英"
            screen.query_one("#id_number", Input).value = "1101051949123100"
            screen.query_one("#phone", Input).value = "1391234"
            await pilot.pause()
            await pilot.press("ctrl+s")
            await pilot.pause()
            problems = screen.query_one("#problems", Static)

            def shown() -> str:
                return str(problems.render()) if problems.display else ""

            assert "身份证号" in shown() and "手机号码" in shown() and "城乡居民基本养老保险参保登记表" in shown()
            screen.query_one("#id_number", Input).focus()
            await pilot.press("end", *"2X")  # the ID number made whole: its line goes at once
            await pilot.pause()
            assert "身份证号" not in shown() and "手机号码" in shown()
            screen.query_one("#phone", Input).value = "13912345678"
            await pilot.pause()
            assert "手机号码" not in shown() and "城乡居民基本养老保险参保登记表" in shown()
            screen.query_one(MaterialChecklist).set_state(["居民身份证", "城乡居民基本养老保险参保登记表"], [])
            screen.query_one(MaterialChecklist).post_message(MaterialChecklist.Changed())
            await pilot.pause()
            assert not problems.display and "不能保存" not in screen_text(app)  # nothing left: the list goes

    run(scenario)


class HubDownAdapter(FakeAdapter):
    """The station's stored status from the last session says the hub answered; today it does not."""

    def __init__(self) -> None:
        super().__init__(fail_with=ConnectionError("hub unreachable"))
        self.last_success: str | None = "2026-09-27T09:00:00.000Z"  # yesterday, before this start

    def status(self, data_dir: Path) -> SyncStatus:
        return msgspec.structs.replace(super().status(data_dir), last_success=self.last_success)


def test_after_a_restart_with_the_hub_down_the_status_line_does_not_claim_online(station_dir, clock):
    adapter = HubDownAdapter()
    app = make_app(station_dir, clock, adapter=adapter)

    def bar() -> str:
        return app.screen.query_one(StatusBar).line().plain

    async def scenario():
        async with app.run_test(size=SIZES[0]) as pilot:
            await settle(pilot)
            assert app.sync_view.status is not None and app.sync_view.status.online  # stored: it was
            assert "[在线]" not in bar() and "[离线]" in bar()  # but nothing was tried in this session
            app.start_sync()  # the hub is down
            await settle(pilot)
            assert "[离线]" in bar()
            adapter.fail_with = None
            app.start_sync()
            await settle(pilot)
            assert "[在线]" in bar()

    run(scenario)


def test_a_sync_by_another_program_since_the_start_shows_online(station_dir, clock):
    adapter = HubDownAdapter()
    app = make_app(station_dir, clock, adapter=adapter)

    async def scenario():
        async with app.run_test(size=SIZES[0]) as pilot:
            await settle(pilot)
            adapter.last_success = "2026-09-28T02:05:00.000Z"  # `station sync` ran after this start
            app.refresh_status()
            await settle(pilot)
            assert "[在线]" in app.screen.query_one(StatusBar).line().plain

    run(scenario)


@pytest.mark.parametrize("size", SIZES)
def test_a_focused_checkbox_keeps_its_one_line(station_dir, clock, size):
    """Found walking the screens: Tab onto a material drew a tall border of block characters
    (ambiguous width in Chinese terminals) and pushed the list two lines down."""
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press("f3", *"rs001", "enter")
            await pilot.pause()
            checks = list(app.screen.query(Check))
            below = app.screen.query_one("#lbl-days")
            top = below.region.y
            checks[0].focus()
            await pilot.pause()
            assert checks[0].region.height == 1 and below.region.y == top
            assert not any(ch in screen_text(app) for ch in "▔▁▊▎")

    run(scenario)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", SIZES)
def test_a_long_material_name_wraps_rather_than_losing_its_flags(station_dir, clock, size, lang):
    """Found walking the screens: at 80 columns in English, the newborn bundle's longest names were
    cut and lost their "(required)"; a checkbox label now wraps under itself."""
    app = make_app(station_dir, clock, lang=lang)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press("f3", *"xsecs", "enter")  # 新生儿出生一件事
            await pilot.pause()
            for check in app.screen.query(Check):
                check.scroll_visible(animate=False)
                await pilot.pause()
                label = str(check.label)
                shown = " ".join(line.strip() for line in screen_text(app).splitlines())
                assert label in shown, label

    run(scenario)
