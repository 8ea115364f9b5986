"""Case detail: pages the county refused are shown refused, with its reason, not as waiting to go."""

from __future__ import annotations

from station import cases as ops
from station.scans.store import attach_pages
from tests.station.conftest import pension_enrolment
from tests.station.scans.pages import page
from tests.tui.conftest import SIZE, make_app, open_station, run, settle
from tests.tui.test_scans import _open_scans
from tui.screens.case_detail import CaseDetailScreen
from tui.widgets.fit_table import FitTable

ID_CARD = "居民身份证"


def _a_case_with_its_first_page_refused(station_dir, clock) -> str:
    """A case with two ID-card pages, the county having refused the record that created the first."""
    with open_station(station_dir, clock) as station:
        case_no = ops.new_intake(station, pension_enrolment()).number
        bad, _ = attach_pages(station, case_no, ID_CARD, [page(1), page(2)])
        # The county's refusal of the record that created the page (as station.feed keeps it).
        station.db.execute(
            "INSERT INTO rejections (seq, idx, entity, entity_id, code, reason_en, reason_zh, received_at, created) "
            "VALUES (1, 5, 'attachments', ?, 'malformed', 'attachments: size must be 1 to 8 MB', "
            "'附件：页面大小无效', '2026-09-28T02:03:00.000Z', 1)",
            [bad.attachment_id],
        )
        station.db.commit()
    return case_no


def test_case_detail_says_which_pages_the_county_refused_and_why(station_dir, clock):
    case_no = _a_case_with_its_first_page_refused(station_dir, clock)
    for lang, words in (
        ("zh", "县平台拒收 1 页，本站保留、不再上传：附件：页面大小无效"),
        ("en", "1 page(s) refused by the county, kept here, not sent: attachments: size must be 1 to 8 MB"),
    ):
        app = make_app(station_dir, clock, lang=lang)

        async def scenario(app=app, words=words):
            async with app.run_test(size=SIZE) as pilot:
                await settle(pilot)
                app.open_case(case_no)
                await pilot.pause()
                assert isinstance(app.screen, CaseDetailScreen)
                text = app.screen.render_text().plain
                assert words in text, text

        run(scenario)


def test_the_scans_screen_lists_a_refused_page_as_refused_not_waiting(station_dir, clock):
    case_no = _a_case_with_its_first_page_refused(station_dir, clock)
    app = make_app(station_dir, clock, lang="en")

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            screen = await _open_scans(app, pilot, case_no)
            table = screen.query_one("#attached", FitTable)
            hub_column = [str(table.get_row(key)[-1]) for key in table.rows]
            assert hub_column == ["refused by the county, not sent", "waiting"], hub_column

    run(scenario)
