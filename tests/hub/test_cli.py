"""The ``hub`` command: init, stations, cases and decisions, files, errors, --help everywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.enroll import CROCKFORD
from hub.ingest import ingest_sets
from tests.hub.builders import ID_NUMBER, PHONE, VILLAGE

ENV: dict[str, str | None] = {"LANG": "", "LC_ALL": "", "HUB_USER_PASSWORD": None, "HUB_TOKEN": None, "HUB_URL": None}
"""English or Chinese is chosen per test; the developer's own hub variables must not leak in."""


def run(hub_dir: Path, *args: str, env: dict[str, str] | None = None, input_text: str | None = None):
    return CliRunner().invoke(main, ["--data-dir", str(hub_dir), *args], env={**ENV, **(env or {})}, input=input_text)


def walk(group: click.Group, prefix: tuple[str, ...] = ()):
    yield prefix
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from walk(command, (*prefix, name))
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("path", list(walk(main)), ids=lambda p: " ".join(p) or "hub")
def test_every_command_has_help(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout and len(result.stdout.splitlines()) > 3


def test_init_prints_hub_id_and_fingerprint_and_points_to_user_add(tmp_path):
    result = run(tmp_path / "hub", "--lang", "en", "init")
    assert result.exit_code == 0, result.output
    assert re.search(r"Hub id: [0-9a-f]{16}", result.stdout)
    assert re.search(r"Key fingerprint: ([0-9A-F]{4} ){4}[0-9A-F]{4}", result.stdout)
    assert "hub user add NAME --role admin" in result.stdout.splitlines()[-1]
    assert "token" not in result.stdout.lower()
    assert ((tmp_path / "hub" / "hub.key").stat().st_mode & 0o777) == 0o600
    again = run(tmp_path / "hub", "init")
    assert again.exit_code == 2 and "已有县平台数据" in again.stderr


def test_station_add_prints_the_code_alone_on_the_last_line(hub_dir):
    result = run(hub_dir, "station", "add", "--village", VILLAGE, "--expires-hours", "24")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert re.fullmatch(rf"[{CROCKFORD}]{{4}}(-[{CROCKFORD}]{{4}}){{3}}", lines[-1])
    assert "设备代号 A" in result.stdout
    from hub.keys import load_identity

    assert load_identity(hub_dir).fingerprint in result.stdout


def test_station_add_refuses_an_unknown_village_with_exit_2(hub_dir):
    result = run(hub_dir, "station", "add", "--village", "349921001999")
    assert result.exit_code == 2 and "349921001999" in result.stderr and result.stdout == ""
    english = run(hub_dir, "station", "add", "--village", "12", env={"LANG": "en_US.UTF-8"})
    assert english.exit_code == 2 and english.stderr.startswith("Error: ")


def test_commands_need_an_initialised_hub(tmp_path):
    result = run(tmp_path / "none", "--lang", "en", "station", "list")
    assert result.exit_code == 1 and "hub init" in result.stderr


def test_station_list_and_revoke(hub_dir, station, station_b):
    listed = run(hub_dir, "station", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["station_id"], r["village_code"], r["device"], r["state"]) for r in rows] == [
        (station.station_id, VILLAGE, "A", "enrolled"),
        (station_b.station_id, VILLAGE, "B", "enrolled"),
    ]
    assert {"last_contact", "head_seq", "applied_seq"} <= set(rows[0])
    revoked = run(hub_dir, "station", "revoke", station.station_id, "--reason", "stolen")
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(run(hub_dir, "station", "list", "--json").stdout)[0]["state"] == "revoked"
    assert run(hub_dir, "station", "revoke", station.station_id).exit_code == 2
    assert "已吊销" in run(hub_dir, "station", "list").stdout


def test_station_list_and_the_code_expiry_print_china_time(hub_dir, store, station, clock):
    """Issue 12, item 13: no UTC ``…Z`` stamps or raw ``+7200s`` in what a county clerk reads."""
    from hub.store import Contact
    from hub.views import china_time
    from sync.timeutil import iso_utc

    with store.transaction():
        store.record_contact(
            station.station_id, Contact(at=iso_utc(clock()), kind="pull", ok=True, clock_offset_ms=7_200_000)
        )
    listed = run(hub_dir, "station", "list").stdout
    assert "2026-11-26 10:00" in listed and "2026-11-26T02:00" not in listed  # 02:00 UTC in China time
    assert "快 2 小时 !" in listed and "+7200s" not in listed
    assert "2 h fast !" in run(hub_dir, "--lang", "en", "station", "list").stdout
    added = run(hub_dir, "station", "add", "--village", VILLAGE, "--device", "C", "--expires-hours", "24")
    assert added.exit_code == 0, added.output
    (code,) = [c for c in json.loads(run(hub_dir, "station", "codes", "--json").stdout)["codes"] if c["device"] == "C"]
    assert f"有效期至 {china_time(code['expires_at'])} (UTC+8)" in added.stdout
    assert code["expires_at"] not in added.stdout


@pytest.fixture
def case_no(store, identity, station):
    number, changes = station.new_case()
    ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=station.clock)
    return number


def test_case_list_json_has_number_and_status_and_no_full_id(hub_dir, case_no):
    result = run(hub_dir, "case", "list", "--json", "--village", VILLAGE, "--status", "received")
    (case,) = json.loads(result.stdout)
    assert (case["case_no"], case["status"], case["applicant_masked"]) == (case_no, "RECEIVED", "王**")
    assert ID_NUMBER not in result.stdout and PHONE not in result.stdout and "王小明" not in result.stdout
    table = run(hub_dir, "case", "list")
    assert case_no in table.stdout and ID_NUMBER not in table.stdout and "349921********0234" in table.stdout
    assert "王小明" not in table.stdout and "王**" in table.stdout
    assert "没有符合条件" in run(hub_dir, "case", "list", "--status", "COMPLETED").stdout


def test_case_decide_from_the_command_line(hub_dir, case_no):
    result = run(hub_dir, "case", "decide", case_no, "--status", "accept", "--by", "张科长")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"{case_no} ACCEPTED"
    result = run(
        hub_dir, "case", "decide", case_no, "--status", "correct", "--missing", "居民户口簿", "--missing", "照片"
    )
    assert result.exit_code == 0 and result.stdout.endswith("AWAITING_CORRECTION\n")
    result = run(hub_dir, "case", "decide", case_no, "--status", "RESUME", "--actor", "township")
    assert result.stdout.splitlines()[-1] == f"{case_no} IN_PROGRESS"
    result = run(hub_dir, "case", "decide", case_no, "--status", "complete", "--outcome", "denied")
    assert result.stdout.splitlines()[-1] == f"{case_no} COMPLETED"


def test_an_illegal_decision_exits_2_naming_both_states(hub_dir, case_no):
    result = run(hub_dir, "--lang", "en", "case", "decide", case_no, "--status", "suspend")
    assert result.exit_code == 2
    assert "RECEIVED" in result.stderr and "SUSPENDED" in result.stderr
    chinese = run(hub_dir, "case", "decide", case_no, "--status", "suspend")
    assert chinese.exit_code == 2 and "RECEIVED → SUSPENDED" in chinese.stderr
    assert run(hub_dir, "case", "decide", case_no, "--status", "refuse").exit_code == 2  # no --reason
    assert run(hub_dir, "case", "decide", "nope", "--status", "accept").exit_code == 2
    assert run(hub_dir, "case", "decide", case_no, "--status", "bogus").exit_code == 2


def test_forks_lists_none_then_json(hub_dir):
    assert "没有分叉" in run(hub_dir, "forks").stdout
    assert json.loads(run(hub_dir, "forks", "--json").stdout) == []


def test_serve_refuses_without_a_hub(tmp_path):
    result = run(tmp_path / "none", "serve", "--port", "9")
    assert result.exit_code == 1 and "hub init" in result.stderr
