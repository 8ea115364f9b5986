"""Calendar publication end to end: ``hub calendar publish`` beside a live hub, a real station syncing weeks later.

The hub (uvicorn on loopback) and the station share one clock, set to late January 2027: the county
has not published 2027 yet, so both count it by the provisional rule. Then the operator publishes
the notice, the station comes back after two weeks offline, a bad file is refused whole, and the
table is corrected by editing what ``show --json`` printed: each time the open case's due date and
its 容缺 commitment's move on both sides, and both histories say why.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from hub.accounts import add_user, create_token, hasher_for
from hub.cli import main as hub_main
from hub.enroll import issue_code
from hub.settings import Settings
from hub.store import HubStore
from hub.testing import live_server
from hub.web.app import create_app
from station import cases as ops
from station.enrolment import enroll
from station.identity import load_keypair
from station.link import sync_once
from station.store import Station
from tests.hub.builders import Clock
from tests.integration.county import PASSPHRASE, V1
from tests.station.conftest import pension_benefit_deferred
from tui.cli import main as station_main

pytestmark = pytest.mark.timeout(180)

# The documented example of a notice for 2027 (docs/hub.md).
NOTICE_2027 = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "examples" / "calendar-2027.json").read_text(encoding="utf-8")
)


class County:
    """The hub's folder and URL, one station folder, the clock they share."""

    def __init__(self, root: Path, url: str, hub_dir: Path, clock: Clock) -> None:
        self.root, self.url, self.hub_dir, self.clock = root, url, hub_dir, clock
        self.station_dir = root / "station"
        with HubStore.open_existing(hub_dir) as store:
            code = issue_code(store, V1, now=clock).code
        enrolled = enroll(self.station_dir, hub_url=url, code=code, passphrase=PASSPHRASE, key_work=2**10, now=clock)
        self.station_id = enrolled.station_id
        self.keys = load_keypair(self.station_dir, PASSPHRASE)

    def hub(self, *args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(
            hub_main, ["--data-dir", str(self.hub_dir), "--lang", "en", *args], env={"LANG": "", "LC_ALL": ""}
        )
        return result.exit_code, result.stdout, result.stderr

    def station_cli(self, *args: str) -> str:
        env = {"STATION_DATA_DIR": str(self.station_dir), "STATION_PASSPHRASE": PASSPHRASE, "LANG": "", "LC_ALL": ""}
        result = CliRunner().invoke(station_main, ["--lang", "en", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.stdout

    def sync(self) -> None:
        with Station.open(self.station_dir, now=self.clock) as station:
            report = sync_once(station, hub_url=self.url, keys=self.keys, timeout=10.0, sleep=lambda _: None)
        assert report.in_step and not report.errors, report

    def station_due(self, number: str) -> tuple[str, bool, str]:
        with Station.open(self.station_dir, now=self.clock) as station:
            case = station.db.execute(
                "SELECT due_date, due_provisional FROM cases WHERE case_no = ?", [number]
            ).fetchone()
            (commitment,) = station.db.execute(
                "SELECT due_date FROM commitments WHERE intake_id = ?", [number]
            ).fetchone()
        return case[0], bool(case[1]), commitment

    def hub_due(self, number: str) -> tuple[str, bool, str]:
        with HubStore.open_existing(self.hub_dir) as store:
            case = store.row("cases", number)
            (commitment,) = store.intake_commitments(number)
        assert case is not None
        return case["due_date"], bool(case["due_provisional"]), commitment["due_date"]


def test_publish_sync_correct_and_both_histories_say_why(tmp_path, hub_template):
    hub_dir = tmp_path / "hub"
    shutil.copytree(hub_template[0], hub_dir)
    clock = Clock(dt.datetime(2027, 1, 27, 2, 0, tzinfo=dt.UTC))  # Wednesday 10:00 in China
    settings = Settings(data_dir=hub_dir, argon2_time_cost=1, argon2_memory_kib=1024)
    with HubStore.open_existing(hub_dir) as store:
        add_user(
            store, "rs", "department", "pension-desk-pw", department="RS", hasher=hasher_for(settings), now=clock()
        )
        token = create_token(store, "rs", expires_days=365, now=clock()).token

    with live_server(create_app(settings, now=clock)) as url, httpx.Client(base_url=url, timeout=10) as http:
        county = County(tmp_path, url, hub_dir, clock)
        county.sync()
        with Station.open(county.station_dir, now=clock) as station:
            # RS-002, 10 working days; the bank account deferred under 容缺 for 8.
            number = ops.new_intake(station, pension_benefit_deferred(defer_days=8)).number
        county.sync()
        # Provisional on both sides: the four statutory Spring Festival days (5-8 Feb) off.
        assert county.hub_due(number) == ("2027-02-12", True, "2027-02-10")
        assert county.station_due(number) == ("2027-02-12", True, "2027-02-10")

        def hub_history() -> list[str]:
            detail = http.get(f"/api/v1/cases/{number}", headers={"authorization": f"Bearer {token}"})
            assert detail.status_code == 200, detail.text
            return [m["text_en"] for m in detail.json().get("due_moves", [])]

        # The operator publishes the notice: the hub moves its dates at once.
        notice = tmp_path / "calendar-2027.json"
        notice.write_text(json.dumps(NOTICE_2027, ensure_ascii=False), encoding="utf-8")
        code, out, err = county.hub("calendar", "publish", "--year", "2027", str(notice))
        assert code == 0, err
        assert "Published the 2027 calendar, version 1; queued to 1 station(s)" in out
        assert county.hub_due(number) == ("2027-02-17", False, "2027-02-15")
        assert hub_history() == [
            "due date moved from 2027-02-12 to 2027-02-17: 2027 calendar published",
            "容缺 commitment (社会保障卡或本人银行账户): due date moved from 2027-02-10 to 2027-02-15: "
            "2027 calendar published",
        ]

        # The station was offline for two weeks: the table arrives with its next sync.
        assert county.station_due(number) == ("2027-02-12", True, "2027-02-10")
        clock.advance(days=14)
        county.sync()
        assert county.station_due(number) == ("2027-02-17", False, "2027-02-15")
        shown = county.station_cli("case", "show", number)
        assert "due date moved from 2027-02-12 to 2027-02-17: 2027 calendar published" in shown

        # A bad file: exit 2, every problem listed, nothing published, nothing sent.
        bad = {**NOTICE_2027, "workdays": ["2027-02-08", "2027-02-21", "2027-02-21", "2026-10-10"]}
        notice.write_text(json.dumps(bad), encoding="utf-8")
        code, out, err = county.hub("calendar", "publish", "--year", "2027", str(notice))
        assert code == 2
        assert "4 problem(s); nothing was published" in err
        for where in ("workdays[0]: 2027-02-08 is a Monday", "workdays[0]: 2027-02-08 is inside the 春节 holiday"):
            assert where in err
        assert "workdays[2]: 2027-02-21 repeats workdays[1]" in err and "workdays[3]: 2026-10-10 is not in 2027" in err
        with HubStore.open_existing(hub_dir) as store:
            assert [v.version for v in store.calendar_versions(2027)] == [1]
            assert store.pending_count(county.station_id) == 0  # the station has had everything; nothing new

        # The correction: what show --json prints, edited (14 Feb is a day off after all), published back.
        code, shown_json, err = county.hub("calendar", "show", "--year", "2027", "--json")
        assert code == 0 and json.loads(shown_json) == NOTICE_2027
        edited = json.loads(shown_json)
        edited["workdays"].remove("2027-02-14")
        notice.write_text(json.dumps(edited, ensure_ascii=False), encoding="utf-8")
        code, out, err = county.hub("calendar", "publish", "--year", "2027", str(notice))
        assert code == 0 and "version 2" in out, err
        assert county.hub("calendar", "show", "--year", "2027")[1].startswith("2027 calendar, version 2 (source hub,")
        assert county.hub_due(number) == ("2027-02-18", False, "2027-02-16")
        county.sync()
        assert county.station_due(number) == ("2027-02-18", False, "2027-02-16")

        corrected = "due date moved from 2027-02-17 to 2027-02-18: 2027 calendar published (version 2)"
        assert hub_history()[2] == corrected
        shown = county.station_cli("case", "show", number)
        assert corrected in shown
        assert (
            "容缺 commitment (社会保障卡或本人银行账户): due date moved from 2027-02-15 to 2027-02-16: "
            "2027 calendar published (version 2)" in shown
        )
