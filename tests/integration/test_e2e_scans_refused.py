"""A page whose case or record the county refused, end to end: kept at the station, not sent, not waiting."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from station import cases as ops
from station.cli import main
from station.scans.store import attach_pages, list_attachments
from sync.ids import case_number
from tests.integration import county as live
from tests.integration.county import PASSPHRASE, V1, V2, County, pension_enrolment
from tests.station.scans.pages import page

pytestmark = pytest.mark.timeout(600)


def station_cli(handle: live.TestStationHandle, *args: str):
    env = {"STATION_DATA_DIR": str(handle.data_dir), "STATION_PASSPHRASE": PASSPHRASE, "LANG": "", "LC_ALL": ""}
    return CliRunner().invoke(main, ["--lang", "en", *args], env=env, catch_exceptions=False)


def test_pages_of_a_case_the_county_refused_stay_here_and_stop_waiting(
    live_county: County, monkeypatch: pytest.MonkeyPatch
):
    squatter = live_county.enrol(V2)
    with monkeypatch.context() as tampered:  # a case under another village's number: the hub refuses it
        tampered.setattr(ops, "_next_number", lambda station, day: case_number(V1, day, "A", 1))
        with squatter.open() as station:
            refused = ops.new_intake(station, pension_enrolment("王小明", 1)).number
    filed = squatter.new_case("李四", 2)
    with squatter.open() as station:
        attach_pages(station, refused, "居民身份证", [page(1), page(2)])
        attach_pages(station, filed, "居民身份证", [page(3)])

    first = squatter.sync()
    second = squatter.sync()
    assert second.in_step, second
    assert second.scans_pages == 0 and second.scans_waiting == 0, second  # nothing left that will never go
    assert not second.scan_errors, second.scan_errors  # and no round tries to send it
    with live_county.store() as store:
        held = {r[0] for r in store.db.execute("SELECT sha256 FROM scans WHERE complete_at IS NOT NULL")}
    with squatter.open() as station:
        pages = list_attachments(station, refused)
        assert [p.refused.code for p in pages if p.refused] == ["other_village", "other_village"]
        assert all(p.stored and not p.acked for p in pages)  # kept here, never at the hub
        (good,) = list_attachments(station, filed)
        assert good.refused is None and good.acked
    assert held == {good.sha256}
    assert first.scan_pages_sent + second.scan_pages_sent == 1

    status = json.loads(station_cli(squatter, "status", "--json").stdout)
    assert status["scans_pages"] == 0 and status["scans_waiting"] == 0
    listed = json.loads(station_cli(squatter, "case", "attachments", refused, "--json").stdout)
    assert [row["refused"]["code"] for row in listed] == ["other_village", "other_village"]
    assert "refused by the county, kept here, not sent" in station_cli(squatter, "case", "attachments", refused).stdout
