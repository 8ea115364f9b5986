"""Names, notes and reasons that look like Rich markup or hold escape characters show literally in the TUI.

Textual reads a str cell of a DataTable (and a str option of a Select) as markup: ``[/x]`` in a name
crashed the list, ``[b]`` turned it bold. What is stored may predate the intake rule or come from
the hub, so the screens must show it as plain text (issue 10, item 10).
"""

from __future__ import annotations

from textual.widgets import DataTable, Select

from station import cases as ops
from station.store import Station
from station.store.db import write_txn
from sync.lifecycle import Actor, Status
from sync.samples import sample_catalog_json
from tests.station.conftest import pension_enrolment
from tests.support.decisions import decide, seal
from tests.tui.conftest import SIZE, VILLAGE, make_app, open_station, run, screen_text
from tui.prefs import save_prefs
from tui.screens.case_detail import CaseDetailScreen
from tui.screens.case_list import CaseListScreen
from tui.screens.home import HomeScreen

MARKUP_NAME = "[/x]王"
"""A closing tag with nothing open: Text.from_markup raises MarkupError on it."""
BOLD_NAME = "[b]赵[/b]"
NOT_SHOWN = ("\x1b", "\x07", "\u202e", "\x9b")


def seed(station_dir, clock) -> tuple[str, str]:
    """Two cases whose stored text looks like markup or holds escapes, as older data or the hub's could."""
    with open_station(station_dir, clock) as station:
        first = ops.new_intake(station, pension_enrolment()).number
        second = ops.new_intake(station, pension_enrolment(applicant_name="李四")).number
        # The county asks for corrections with a reason that looks like markup (the hub's data).
        seal(station)  # the county asks for a correction of an intake it has received
        decide(station, second, Status.AWAITING_CORRECTION, actor=Actor.TOWNSHIP, reason="[/red]缺[b]签字")
        with write_txn(station.db):
            station.db.execute("UPDATE cases SET applicant_name = ? WHERE case_no = ?", [MARKUP_NAME, first])
            station.db.execute("UPDATE cases SET applicant_name = ? WHERE case_no = ?", [BOLD_NAME + "\x1b[2J", second])
            station.db.execute(
                "INSERT INTO case_notes (note_id, case_no, at, author, text) VALUES (?, ?, ?, ?, ?)",
                ["hub:9", first, "2026-09-28T03:00:00.000Z", "县\u202e[i]", "看[/]这里\x1b]0;x\x07\n第二行[/b]"],
            )
    return first, second


def test_markup_looking_names_show_literally_in_home_list_and_detail(station_dir, clock):
    first, second = seed(station_dir, clock)
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)
            home = screen_text(app)
            assert "[/red]缺[b]签字" in home  # the correction reason, brackets and all
            assert not any(ch in home for ch in NOT_SHOWN)

            await pilot.press("f4")
            await pilot.pause()
            assert isinstance(app.screen, CaseListScreen)
            listed = screen_text(app)
            assert MARKUP_NAME in listed
            assert "[b]赵[/b][2J" in listed  # room for it whole: the tag is shown, not obeyed
            assert not any(ch in listed for ch in NOT_SHOWN)
            table = app.screen.query_one(DataTable)
            shown = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
            assert MARKUP_NAME in shown

            app.open_case(first)
            await pilot.pause()
            assert isinstance(app.screen, CaseDetailScreen)
            detail = screen_text(app)
            assert MARKUP_NAME in detail
            await pilot.press("end")  # the notes, at the end of the case
            await pilot.pause()
            detail += screen_text(app)
            assert "县[i]：看[/]这里]0;x" in detail
            assert not any(ch in detail for ch in NOT_SHOWN)
            plain = app.screen.render_text().plain  # the whole case (the screen shows its top)
            assert "看[/]这里]0;x\n    第二行[/b]" in plain  # the note's second line, indented under the first
            assert not any(ch in plain for ch in NOT_SHOWN)

            app.open_case(second)
            await pilot.pause()
            detail = screen_text(app)
            assert "[b]赵[/b][2J" in detail and "[/red]缺[b]签字" in detail
            assert not any(ch in detail for ch in NOT_SHOWN)

    run(scenario)


def test_a_markup_looking_item_name_from_the_hub_does_not_break_the_item_filter(tmp_path, clock):
    # As if the hub's catalogue feed had named an item with markup: the filter's options show it literally.
    data = sample_catalog_json()
    data["items"][0]["name_zh"] = "[/x]养老"
    folder = tmp_path / "odd"
    Station.init(folder, village_code=VILLAGE, agent_name="李代办", catalog_data=data, now=clock).close()
    save_prefs(folder, offline_chosen=True)
    app = make_app(folder, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f4")
            await pilot.pause()
            assert isinstance(app.screen, CaseListScreen)
            prompts = [str(prompt) for prompt, _ in app.screen._item_options()]
            assert any("[/x]养老" in p for p in prompts)
            app.screen.query_one("#item", Select).action_show_overlay()
            await pilot.pause()
            assert "[/x]养老" in screen_text(app)

    run(scenario)
