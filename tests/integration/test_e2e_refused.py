"""Case-number squatting across villages, end to end (issue 10, item 3): a live hub, two real stations.

A station of one village records a case under the number another village's station will give its
next case. The hub refuses the squatter's rows; the squatter's ``station sync`` exits 3 naming the
case and the reason, its case list and the TUI flag the case; the rightful station later records
that number for real, and it is filed and converges.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner

from station import cases as ops
from station.cli import main
from station.cli_sync import EXIT_REFUSED
from sync.ids import case_number
from tests.integration import county as live
from tests.integration.county import PASSPHRASE, V1, V2, County, pension_enrolment
from tui.app import StationApp
from tui.screens.case_detail import CaseDetailScreen
from tui.screens.sync import SyncScreen
from tui.sync_adapter import SyncAdapter
from tui.widgets.status_bar import StatusBar


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATION_PASSPHRASE", PASSPHRASE)


def station_cli(handle: live.TestStationHandle, *args: str, lang: str = "en"):
    env = {"STATION_DATA_DIR": str(handle.data_dir), "STATION_PASSPHRASE": PASSPHRASE, "LANG": "", "LC_ALL": ""}
    return CliRunner().invoke(main, ["--lang", lang, *args], env=env, catch_exceptions=False)


def squat(squatter: live.TestStationHandle, village: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The squatter's PC, tampered with, records a case under the number ``village``'s PC A gives its first
    case today; its rows still name its own village (the attack a 0.4 hub let through)."""
    with monkeypatch.context() as tampered:
        tampered.setattr(ops, "_next_number", lambda station, day: case_number(village, day, "A", 1))
        with squatter.open() as station:
            return ops.new_intake(station, pension_enrolment("王小明", 1)).number


def test_a_squatted_number_is_refused_and_the_real_village_files_it(
    live_county: County, monkeypatch: pytest.MonkeyPatch
):
    victim = live_county.enrol(V1)
    squatter = live_county.enrol(V2)
    squatted = squat(squatter, V1, monkeypatch)
    assert squatted.startswith(V1 + "-") and squatted.endswith("-A001")  # what the victim's A gives first

    result = station_cli(squatter, "sync")
    assert result.exit_code == EXIT_REFUSED, result.output
    assert squatted in result.stderr and "other_village" in result.stderr and "not filed" in result.stderr
    assert "王小明" not in result.output  # names the case, never the person
    result = station_cli(squatter, "sync", lang="zh")  # still refused next time, and says so in Chinese
    assert result.exit_code == EXIT_REFUSED
    assert f"办件 {squatted} 未在县平台立案" in result.stderr and "请联系县管理员" in result.stderr
    with live_county.store() as store:
        assert store.row("cases", squatted) is None and store.row("intakes", squatted) is None
        assert {r["code"] for r in store.rejected(squatter.station_id)} == {"other_village"}

    listing = station_cli(squatter, "case", "list")
    assert "REFUSED by the county" in listing.stdout
    (summary,) = json.loads(station_cli(squatter, "case", "list", "--json").stdout)
    assert (summary["case_no"], summary["status"], summary["refused"]) == (squatted, "RECEIVED", True)
    shown = station_cli(squatter, "case", "show", squatted).stdout
    assert "Status: received [REFUSED by the county]" in shown and "is not filed at the county" in shown
    status = station_cli(squatter, "status", "--json")
    assert json.loads(status.stdout)["refused_cases"] == 1
    assert squatted in station_cli(squatter, "status").stdout

    # The village the number belongs to records its first case: the same number, filed and in step.
    assert victim.new_case("张桂英", 2) == squatted
    result = station_cli(victim, "sync")
    assert result.exit_code == 0, result.output + result.stderr
    assert "hold the same data" in result.stdout
    with live_county.store() as store:
        case = store.row("cases", squatted)
        assert (case["village_code"], case["status"], case["applicant_name"]) == (V1, "RECEIVED", "张桂英")
        assert store.rejected(victim.station_id) == []
    live_county.sync_all()
    assert victim.cases() == live_county.hub_cases(V1) and squatted in victim.cases()
    assert live_county.hub_cases(V2) == {}
    (summary,) = json.loads(station_cli(victim, "case", "list", "--json").stdout)
    assert summary["refused"] is False


def test_the_tui_says_the_county_refused_a_case(live_county: County, monkeypatch: pytest.MonkeyPatch):
    squatter = live_county.enrol(V2)
    squatted = squat(squatter, V1, monkeypatch)
    app = StationApp(squatter.data_dir, "en", SyncAdapter(hub_url=live_county.url), auto_sync=False)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f5")  # opens the sync screen and syncs with the live hub
            for worker in list(app.workers):
                await worker.wait()
            await pilot.pause()
            assert isinstance(app.screen, SyncScreen)
            bar = app.screen.query_one(StatusBar).line().plain
            assert "! 1 refused by county" in bar, bar
            state = str(app.screen.query_one("#sync_state").render())
            assert "change(s) of ours in this sync" in state
            assert "Cases the county refused to file" in state and squatted in state and "other_village" in state
            assert any("change(s) of ours in this sync" in line for line in app.sync_lines)
            assert any(squatted in line and "other_village" in line for line in app.sync_lines)
            app.open_case(squatted)
            await pilot.pause()
            assert isinstance(app.screen, CaseDetailScreen)
            text = app.screen.render_text().plain
            assert "[REFUSED by the county]" in text and "The county refused to file this case" in text
            assert "refused by the county, not filed" in text  # not "acknowledged by the hub"

    asyncio.run(scenario())


def test_a_refused_move_is_named_once_and_the_station_takes_the_countys_state(live_county: County):
    station = live_county.enrol(V1)
    case_no = station.new_case("张桂英", 3)
    assert station_cli(station, "sync").exit_code == 0
    live_county.decide(case_no, "NOT_ACCEPTED", reason="不符合参保条件")
    with station.open() as st:  # meanwhile, offline, the agent records the applicant's withdrawal
        ops.withdraw(st, case_no, reason="申请人改为下月办理")
    result = station_cli(station, "sync")
    assert result.exit_code == EXIT_REFUSED, result.output
    assert case_no in result.stderr and "illegal_transition" in result.stderr
    assert "the county refused a change" in result.stderr
    # The station took the county's state: in step again, nothing left to refuse.
    assert station.cases()[case_no]["status"] == "NOT_ACCEPTED"
    result = station_cli(station, "sync")
    assert result.exit_code == 0, result.output + result.stderr
    assert json.loads(station_cli(station, "status", "--json").stdout)["refused_cases"] == 0
