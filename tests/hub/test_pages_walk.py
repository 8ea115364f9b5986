"""What a clerk or administrator stumbled on when walking every page (issue 12's closing walk): words for an
error's number, who is logged in on a refusal, the hub's page for a mistyped address, a word for every empty
list, links back and out of a filter."""

from __future__ import annotations

import re
import sqlite3

import pytest

from tests.hub.builders import log_in
from tests.hub.test_app import do_sync


@pytest.fixture
def case_no(client, station, users):
    number, changes = station.new_case()
    assert do_sync(client, station, [station.seal(changes)]).status_code == 200
    return number


def test_a_mistyped_address_in_a_browser_is_the_hubs_page_with_a_way_home(client, users):
    log_in(client, "admin")
    page = client.get("/dashbord", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert '<h1 id="error-title">404 · 找不到</h1>' in page.text and "/dashbord" in page.text
    assert 'href="/" id="home"' in page.text
    assert "content-security-policy" in page.headers  # the page's style sheet is allowed, nothing else
    # A station, a script and the API keep the JSON body of docs/protocol.md.
    assert client.get("/dashbord").json()["error"] == "not_found"
    assert client.get("/api/v1/nothing", headers={"Accept": "text/html"}).json()["error"] == "not_found"
    english = client.get("/dashbord?lang=en", headers={"Accept": "text/html"})
    assert "404 · Not found" in english.text and "找不到" not in english.text


def test_a_refusal_names_who_is_logged_in_and_how_to_switch(client, users):
    log_in(client, "admin")
    refused = client.get("/desk")
    assert refused.status_code == 403
    assert "403 · 无权访问" in refused.text and "需要部门账号" in refused.text
    assert "admin（管理员）" in refused.text and 'action="/logout"' in refused.text  # the way out, top right
    assert "请先点右上角“退出”再登录" in refused.text
    assert 'href="/dashboard"' in refused.text  # the administrator's own pages stay one click away


def test_a_filter_without_stations_says_so(client, station, case_no, users):
    log_in(client, "admin")
    empty = client.get("/dashboard?state=revoked")
    assert 'id="no-stations"' in empty.text and "没有符合筛选条件的代办点" in empty.text
    whole = client.get("/dashboard").text
    assert 'id="no-stations"' not in whole
    assert 'id="province-link"' not in whole  # a hub that forwards to no province shows no such box


def test_an_empty_audit_log_says_why_and_a_filter_can_be_cleared(client, users):
    log_in(client, "admin")
    empty = client.get("/dashboard/audit")
    assert "还没有记录" in empty.text and "清除" not in empty.text
    filtered = client.get("/dashboard/audit?user=nobody")
    assert "没有符合筛选条件的记录" in filtered.text and 'href="/dashboard/audit">清除' in filtered.text


def test_pages_link_back_to_their_list(client, station, case_no, users):
    log_in(client, "admin")
    station_page = client.get(f"/dashboard/stations/{station.station_id}")
    assert '<a href="/dashboard" id="back">← 返回同步状态</a>' in station_page.text
    client.post("/logout", data={"csrf": re.search(r'name="csrf" value="([^"]*)"', station_page.text)[1]})
    log_in(client, "rs")
    case_page = client.get(f"/desk/cases/{case_no}")
    assert '<a href="/desk" id="back">← 返回本部门办件</a>' in case_page.text


def test_the_desk_list_can_be_cleared_and_explains_its_star(client, case_no, users, hub_dir):
    log_in(client, "rs")
    listing = client.get("/desk")
    assert 'id="clear"' not in listing.text and 'id="provisional-note"' not in listing.text
    assert "永兴街道 店庄社区" in listing.text  # township and village apart: a narrow column breaks between them
    filtered = client.get("/desk?status=ACCEPTED")
    assert 'id="clear"' in filtered.text and 'id="no-cases"' in filtered.text
    # A due date counted through a year whose holidays are not yet published: the * is explained.
    db = sqlite3.connect(hub_dir / "hub.db")
    with db:
        db.execute("UPDATE cases SET due_provisional = 1 WHERE case_no = ?", [case_no])
    db.close()
    starred = client.get("/desk")
    assert re.search(r"\d{4}-\d\d-\d\d\*", starred.text) and 'id="provisional-note"' in starred.text
    assert "节假日安排尚未公布" in starred.text
