"""The status bar shows scanned pages apart from the records: they go after them and never hold one up."""

from __future__ import annotations

from pathlib import Path

import msgspec

from station.syncstate import SyncStatus
from tests.tui.conftest import FakeAdapter, make_app, run, settle
from tests.tui.test_small_edges import SIZES
from tui.widgets.status_bar import StatusBar


class ScansWaitingAdapter(FakeAdapter):
    """A station with 1.2 MB of pages waiting, a third of them at the hub already."""

    def status(self, data_dir: Path) -> SyncStatus:
        return msgspec.structs.replace(
            super().status(data_dir), scans_pages=24, scans_total=1_800_000, scans_waiting=1_200_000
        )


def test_the_status_bar_shows_scans_apart_from_the_records(station_dir, clock):
    for lang, words in (("zh", "扫描件 1.1MB 待传 33%"), ("en", "scans 1.1MB waiting 33%")):
        app = make_app(station_dir, clock, lang=lang, adapter=ScansWaitingAdapter())

        async def scenario(app=app, words=words, lang=lang):
            async with app.run_test(size=SIZES[0]) as pilot:
                await settle(pilot)
                line = app.screen.query_one(StatusBar).line().plain
                assert words in line, line
                assert ("待上报 2批/5条" if lang == "zh" else "waiting 2 sets/5 changes") in line  # the records, apart

        run(scenario)
