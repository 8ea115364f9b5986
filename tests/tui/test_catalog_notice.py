"""The home screen says in one line what a new catalogue version changed, and that open cases keep theirs."""

from __future__ import annotations

import msgspec

from station import cases as ops
from station.store.db import write_txn
from sync.timeutil import iso_utc
from tests.station.conftest import pension_benefit_deferred
from tests.tui.conftest import SIZE, make_app, open_station, run, screen_text


def _publish_version_2(station) -> None:
    """Version 2 as the feed installs it: RS-002 promised in 7 working days, MZ-004 withdrawn."""
    items = []
    for item in station.catalog.items:
        if item.code == "RS-002":
            item = msgspec.structs.replace(item, promised_days=7)
        if item.code == "MZ-004":
            item = msgspec.structs.replace(item, withdrawn=True)
        items.append(item)
    new = msgspec.structs.replace(station.catalog, version=2, items=tuple(items))
    with write_txn(station.db):
        station.db.execute(
            "INSERT INTO catalogs (version, body, received_at) VALUES (2, ?, ?)",
            [msgspec.json.encode(new).decode(), iso_utc(station.now())],
        )


def test_the_notice_names_what_changed_and_the_open_cases_that_keep_their_version(station_dir, clock):
    def shown(lang: str) -> list[str]:
        app = make_app(station_dir, clock, lang=lang)
        lines: list[str] = []

        async def scenario() -> None:
            async with app.run_test(size=SIZE) as pilot:
                await pilot.pause()
                lines.extend(screen_text(app).splitlines())

        run(scenario)
        return lines

    assert not any("事项目录" in line for line in shown("zh"))  # one version only: nothing to tell
    with open_station(station_dir, clock) as station:
        ops.new_intake(station, pension_benefit_deferred())
        _publish_version_2(station)
    for lang, expected in (
        ("zh", "事项目录已更新为第2版：停办1项，变更1项；本村1件在办件按原版本办理。"),
        ("en", "Catalogue v2: 1 withdrawn, 1 changed; 1 open case(s) keep their old version."),
    ):
        lines = shown(lang)
        assert any(expected in line for line in lines), "\n".join(lines)
    clock.advance(days=15)
    assert not any("事项目录" in line for line in shown("zh"))  # told for two weeks
