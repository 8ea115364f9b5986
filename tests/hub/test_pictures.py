"""The dashboard's county picture and the figures page's charts over HTTP: a link per station, a symbol per
status, and the store's real numbers in the bars."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest

from hub.county_grid import KINDS, cell_kind
from hub.dashboard import Thresholds
from hub.decisions import decide
from hub.enroll import revoke_station
from hub.figures import county_figures, sync_lag, weekly_cases
from hub.ingest import ingest_sets
from hub.store import Contact
from sync.timeutil import business_date, iso_utc
from tests.hub.builders import enrol, log_in

SVG = "{http://www.w3.org/2000/svg}"
NAME = "王小明"
"""The test applicant: administrators never see it, not even in a tooltip."""


def push(store, identity, station, changes):
    return ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=station.clock)


def contact(store, station, clock, **fields):
    with store.transaction():
        store.record_contact(station.station_id, Contact(at=iso_utc(clock()), kind="pull", ok=True, **fields))


def element(html: str, tag: str, ident: str) -> ET.Element:
    """The element ``<tag id=ident>`` of a page, parsed as XML: the picture must be well-formed."""
    match = re.search(rf'<{tag}\b[^>]*\bid="{ident}".*?</{tag}>', html, re.DOTALL)
    assert match, f"no <{tag} id={ident}> on the page"
    return ET.fromstring(match.group(0))


@pytest.fixture
def county(store, identity, clock):
    """Six stations in six states: stale, ok, clock skewed, never seen, forked, revoked; name → station."""
    villages = [v.code for v in store.divisions().township("349921001000").villages]
    made = {}
    made["stale"] = enrol(store, identity, clock, village=villages[0])
    case_no, changes = made["stale"].new_case()
    push(store, identity, made["stale"], changes)
    contact(store, made["stale"], clock)
    clock.advance(days=5)
    made["ok"] = enrol(store, identity, clock, village=villages[1])
    contact(store, made["ok"], clock)
    made["clock"] = enrol(store, identity, clock, village=villages[2])
    contact(store, made["clock"], clock, clock_offset_ms=2 * 3600 * 1000)
    made["never"] = enrol(store, identity, clock, village="349921002001")
    forked = made["fork"] = enrol(store, identity, clock, village=villages[3])
    number, changes = forked.new_case()
    push(store, identity, forked, changes)
    ingest_sets(
        store,
        identity,
        [forked.seal([forked.move(number, "RECEIVED", "WITHDRAWN")], seq=1)],
        station_id=forked.station_id,
        now=clock,
    )  # a second set 1: a fork
    contact(store, forked, clock)
    made["revoked"] = enrol(store, identity, clock, village=villages[4])
    revoke_station(store, made["revoked"].station_id, now=clock)
    return made


EXPECTED_KIND = {
    "stale": "stale",
    "ok": "ok",
    "clock": "attention",
    "never": "never",
    "fork": "fault",
    "revoked": "revoked",
}


def test_the_dashboard_draws_every_village_with_one_link_per_station(client, users, county):
    log_in(client, "admin")
    page = client.get("/dashboard")
    assert page.text.count('id="county-grid"') == 1
    grid = element(page.text, "section", "county-grid")
    blocks = grid.findall(f".//{SVG}svg[@class='block']")
    assert len(blocks) == 28  # one block per township, its name a link to the table of its villages
    names = [block.find(f"{SVG}a") for block in blocks]
    assert names[0].get("href") == "/dashboard?township=349921001000" and names[0].find(f"{SVG}text").text
    links = grid.findall(f".//{SVG}a[@data-station]")
    assert sorted(a.get("href") for a in links) == sorted(
        f"/dashboard/stations/{s.station_id}" for s in county.values()
    )
    cells = [c for block in blocks for c in block if c.get("data-kind")]
    assert len(cells) == 395  # every village once: here no village has two stations
    by_station = {a.get("data-station"): a for a in links}
    for name, station in county.items():
        cell = by_station[station.station_id]
        kind = EXPECTED_KIND[name]
        assert cell.get("data-kind") == kind, name
        assert cell.find(f"{SVG}text").text == KINDS[kind][0], name  # the symbol, readable without colour
        title = cell.find(f"{SVG}title").text
        assert title.startswith(station.station_id) and NAME not in title
    assert "时钟偏差" in by_station[county["clock"].station_id].find(f"{SVG}title").text
    unenrolled = [c for c in cells if c.tag == f"{SVG}g"]
    assert len(unenrolled) == 395 - 6 and {c.get("data-kind") for c in unenrolled} == {"none"}
    assert {c.find(f"{SVG}text").text for c in unenrolled} == {"·"}
    # The legend: every symbol with its meaning and its count.
    legend = {k.get("data-kind"): "".join(k.itertext()) for k in grid.iter("span") if k.get("data-kind")}
    assert legend["fault"].split() == ["×", "分叉、落后或出错", "1"]
    assert legend["none"].split() == ["·", "未注册", "389"]
    assert all(KINDS[kind][0] in text for kind, text in legend.items())
    assert NAME not in page.text


def test_the_picture_shows_the_county_whatever_the_filter_and_speaks_english(client, users, county):
    log_in(client, "admin")
    filtered = client.get("/dashboard?township=349921002000")
    assert len(element(filtered.text, "section", "county-grid").findall(f".//{SVG}a[@data-station]")) == 6
    english = element(client.get("/dashboard?lang=en").text, "section", "county-grid")
    assert english.find("h2").text == "County at a glance"
    titles = [a.find(f"{SVG}title").text for a in english.findall(f".//{SVG}a[@data-station]")]
    assert any(t.endswith(": never contacted") for t in titles), titles


def test_a_cell_kind_is_the_worst_reason():
    row = {"state": "danger", "attention": ["stale", "fork"], "contact_state": "danger"}
    assert cell_kind(row) == "fault"
    assert cell_kind({**row, "attention": ["stale", "clock"]}) == "stale"
    assert cell_kind({**row, "attention": ["never"], "contact_state": "never"}) == "never"
    assert cell_kind({"state": "warning", "attention": ["waiting"], "contact_state": "ok"}) == "attention"
    assert cell_kind({"state": "ok", "attention": []}) == "ok"


@pytest.fixture
def weeks_of_cases(store, identity, clock, station, station_b):
    """Two cases received Thu 26 Nov, one completed Mon 30 Nov 01:00 China time (still Sunday in UTC), a
    third received Thu 3 Dec; station A last seen now, station B never."""
    first, changes = station.new_case("RS-001")
    push(store, identity, station, changes)
    spot, changes = station.new_case("YB-001")  # an on-the-spot item: due the day it is received
    push(store, identity, station, changes)
    decide(store, first, "accept", now=clock)
    clock.moment = dt.datetime(2026, 11, 29, 17, 0, tzinfo=dt.UTC)
    decide(store, first, "complete", outcome="approved", now=clock)
    clock.moment = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.UTC)
    _, changes = station.new_case("RS-001")
    push(store, identity, station, changes)
    contact(store, station, clock)
    return clock


def test_weekly_cases_count_by_china_week(store, weeks_of_cases):
    weeks = weekly_cases(store, today=business_date(weeks_of_cases()))
    assert len(weeks) == 12 and weeks[-1]["week_start"] == "2026-11-30" and weeks[0]["week_start"] == "2026-09-14"
    assert weeks[-2:] == [
        {"week_start": "2026-11-23", "received": 2, "completed": 0},
        {"week_start": "2026-11-30", "received": 1, "completed": 1},
    ]
    assert all(w["received"] == w["completed"] == 0 for w in weeks[:-2])


def test_sync_lag_bins_follow_the_thresholds(store, weeks_of_cases, settings):
    bins = sync_lag(store, now=weeks_of_cases(), limits=Thresholds.from_settings(settings))
    assert [(b["zh"], b["count"], b["state"]) for b in bins] == [
        ("<1小时", 1, "ok"),
        ("1小时–6小时", 0, "ok"),
        ("6小时–1天", 0, "ok"),
        ("1天–3天", 0, "ok"),
        ("3天–7天", 0, "warning"),
        (">7天", 0, "danger"),
        ("从未联系", 1, "never"),
    ]


def bar_values(svg: ET.Element) -> dict[tuple[str | None, str | None], int]:
    return {
        (g.get("data-series"), g.get("data-label")): int(g.get("data-value"))
        for g in svg.iter(f"{SVG}g")
        if g.get("data-value") is not None
    }


def test_the_figures_page_charts_the_stores_numbers(client, users, store, weeks_of_cases):
    log_in(client, "admin")
    page = client.get("/dashboard/figures")
    weeks = bar_values(element(page.text, "svg", "chart-weeks"))
    assert weeks[("收件", "11-23")] == 2 and weeks[("办结", "11-23")] == 0
    assert weeks[("收件", "11-30")] == 1 and weeks[("办结", "11-30")] == 1
    assert len(weeks) == 24 and sum(weeks.values()) == 4
    figures = county_figures(store, today=business_date(weeks_of_cases()))
    overdue = bar_values(element(page.text, "svg", "chart-overdue"))
    assert overdue == {(None, line["name_zh"]): line["overdue"] for line in figures["by_department"]}
    assert overdue[(None, "县医疗保障局")] == 1 and sum(overdue.values()) == figures["total"]["overdue"]
    lag = bar_values(element(page.text, "svg", "chart-lag"))
    assert lag[(None, "<1小时")] == 1 and lag[(None, "从未联系")] == 1 and sum(lag.values()) == 2
    chart = element(page.text, "svg", "chart-weeks")
    assert chart.get("aria-labelledby") == "chart-weeks-title chart-weeks-desc"
    assert "共收件 3 件，办结 1 件" in chart.find(f"{SVG}desc").text
    english = element(client.get("/dashboard/figures?lang=en").text, "svg", "chart-weeks")
    assert bar_values(english)[("received", "11-23")] == 2
    assert NAME not in page.text
