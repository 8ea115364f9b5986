"""Ratings at the hub: what a station's rating must be, the follow-up a bad one opens (once, on its department's
desk, due after the county's limit), satisfaction counts, and the rate limit of the public progress query."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from hub.cli import main as hub_main
from hub.ingest import ingest_sets
from hub.ratings import followup_days, satisfaction
from hub.settings import Settings
from hub.store import HubStore
from hub.throttle import Rule
from hub.web.app import create_app
from sync.protocol import RejectedItem
from sync.ratings import query_code
from tests.hub.builders import Clock, TestStation
from tests.hub.test_ingest import queued
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS


def _rating(station: TestStation, number: str, grade: object, **fields: object):
    values = {
        "rating_id": f"{number}/{number}",
        "intake_id": number,
        "case_no": number,
        "level": grade,
        "comment": None,
        "channel": "onsite",
        "rated_at": "2026-11-26T02:00:00.000Z",
        "agent": "李代办",
    }
    return station.insert("ratings", f"{number}/{number}", {**values, **fields})


def test_a_bad_rating_opens_one_follow_up_on_its_department_desk(store, identity, station, clock):
    case_no, changes = station.new_case("RS-001")
    other_no, more = station.new_case("YB-001")
    sets = [station.seal(changes + more)]
    sets.append(station.seal([_rating(station, case_no, 1, comment="三趟"), _rating(station, other_no, 4)]))
    ingest_sets(store, identity, sets, station_id=station.station_id, now=clock)
    follow = store.followup(f"{case_no}/{case_no}")
    assert follow is not None and (follow["department"], follow["level"], follow["comment"]) == ("RS", 1, "三趟")
    assert follow["due_date"] == "2026-12-17"  # 15 working days after Thu 2026-11-26
    assert store.followup(f"{other_no}/{other_no}") is None
    assert [f["rating_id"] for f in store.department_followups("RS")] == [f"{case_no}/{case_no}"]
    assert store.department_followups("YB") == []
    # The same rating changed again (a later level) opens nothing twice.
    again = station.seal([station.update("ratings", f"{case_no}/{case_no}", {"level": 2})])
    ingest_sets(store, identity, [again], station_id=station.station_id, now=clock)
    assert len(store.department_followups("RS")) == 1
    figures = satisfaction(store, today=clock().date())
    assert figures["total"]["n"] == 2 and figures["total"]["bad"] == 1
    rs = next(line for line in figures["by_department"] if line["department"] == "RS")
    assert (rs["n"], rs["levels"][2], rs["followups_open"], rs["satisfaction_rate"]) == (1, 1, 1, 0.0)
    assert "三趟" not in str(figures) and case_no not in str(figures)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"level": 6}, "level must be 1 to 5"),
        ({"level": True}, "level must be 1 to 5"),
        ({"channel": "fax"}, "channel must be one of"),
        ({"case_no": None}, "case_no differs from the key"),
    ],
)
def test_a_rating_that_breaks_a_rule_is_kept_as_rejected(store, identity, station, clock, fields, why):
    case_no, changes = station.new_case("RS-001")
    sets = [station.seal(changes), station.seal([_rating(station, case_no, 3, **fields)])]
    ingest_sets(store, identity, sets, station_id=station.station_id, now=clock)
    assert store.row("ratings", f"{case_no}/{case_no}") is None
    (rejected,) = queued(store, station.station_id, RejectedItem)
    assert rejected.code == "malformed" and why in rejected.reason_en


def test_a_rating_of_another_villages_case_is_refused(store, identity, station, other_station, clock):
    theirs, changes = other_station.new_case("RS-001")
    ingest_sets(store, identity, [other_station.seal(changes)], station_id=other_station.station_id, now=clock)
    ingest_sets(
        store, identity, [station.seal([_rating(station, theirs, 1)])], station_id=station.station_id, now=clock
    )
    assert store.row("ratings", f"{theirs}/{theirs}") is None and store.followup(f"{theirs}/{theirs}") is None
    (rejected,) = queued(store, station.station_id, RejectedItem)
    assert rejected.code == "other_village"


def test_ratings_go_only_to_the_village_pcs_that_read_them(store, identity, station, station_b, clock):
    case_no, changes = station.new_case("RS-001")
    store.set_features(station_b.station_id, 1 | 8)  # a PC of 0.6: no ratings
    ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=clock)
    before = len(store.pending_items(station_b.station_id))
    ingest_sets(
        store, identity, [station.seal([_rating(station, case_no, 5)])], station_id=station.station_id, now=clock
    )
    assert store.row("ratings", f"{case_no}/{case_no}") is not None
    assert len(store.pending_items(station_b.station_id)) == before


def test_hub_ratings_followup_days_sets_the_limit(hub_dir):
    runner = CliRunner()
    base = ["--data-dir", str(hub_dir), "--lang", "en"]
    assert "15 working days" in runner.invoke(hub_main, [*base, "ratings", "followup-days"]).output
    assert runner.invoke(hub_main, [*base, "ratings", "followup-days", "99"]).exit_code == 2
    assert "10 working days" in runner.invoke(hub_main, [*base, "ratings", "followup-days", "10"]).output
    with HubStore.open_existing(hub_dir) as store:
        assert followup_days(store) == 10


def test_the_progress_query_is_rate_limited_per_address_before_any_lookup(store, hub_dir, station, clock):
    case_no, _ = station.new_case("RS-001")
    settings = Settings(data_dir=hub_dir, query_per_address=Rule(burst=3, per_minute=1))
    with TestClient(create_app(settings, now=Clock())) as client:
        answers = [client.get("/api/v1/q", params={"case": f"{case_no[:-1]}{i}", "code": "ZZZZZZZZ"}) for i in range(5)]
        assert [a.status_code for a in answers] == [404, 404, 404, 429, 429]
        assert answers[3].json()["error"] == "rate_limited" and int(answers[3].headers["retry-after"]) >= 1
        page = client.get("/q", params={"case": case_no, "code": "ZZZZZZZZ"})
        assert page.status_code == 429 and page.headers["retry-after"]
    assert len(store.query_log(limit=100)) == 3  # the throttled ones never reached the lookup


def _query_key(station: TestStation, key: bytes, key_id: str | None = None):
    key_id = key_id or station.station_id
    values = {"key_id": key_id, "query_key": key.hex(), "created_at": "2026-11-26T02:00:00.000Z"}
    return station.insert("query_keys", key_id, values)


KEY = bytes(range(16))


def test_the_query_code_is_derived_from_the_key_the_pc_sent_once(store, hub_dir, station, identity, clock):
    case_no, changes = station.new_case("RS-001")
    intake_id = changes[0].pk
    ingest_sets(
        store, identity, [station.seal([_query_key(station, KEY), *changes])], station_id=station.station_id, now=clock
    )
    code = query_code(KEY, intake_id)
    typed = f"{code[:4]}-{code[4:]}".lower()  # as typed from the paper
    wrong = code[:-1] + ("1" if code[-1] != "1" else "2")
    unknown = case_no[:-1] + ("9" if case_no[-1] != "9" else "8")
    with TestClient(create_app(Settings(data_dir=hub_dir), now=Clock())) as client:
        found = client.get("/api/v1/q", params={"case": case_no, "code": typed})
        assert found.status_code == 200 and found.json()["holder"] == "county"
        assert "applicant_name" not in found.json() and "王" not in found.text
        # A wrong code and an unknown case: the very same answer.
        misses = [
            client.get("/api/v1/q", params={"case": c, "code": k}) for c, k in ((case_no, wrong), (unknown, code))
        ]
        assert [m.status_code for m in misses] == [404, 404] and misses[0].content == misses[1].content
    log = store.query_log(case_no=case_no)
    assert [(e["matched"], e["channel"]) for e in log] == [(0, "api"), (1, "api")]
    assert code not in str(log) and code[:4] not in str(store.query_log())


def test_a_pc_sends_only_its_own_query_key_and_never_changes_it(store, identity, station, station_b, clock):
    ingest_sets(store, identity, [station.seal([_query_key(station, KEY)])], station_id=station.station_id, now=clock)
    # PC B may not send a key under PC A's id (its codes would stop matching A's receipts) ...
    forged = station_b.seal([_query_key(station_b, bytes(16), key_id=station.station_id)])
    ingest_sets(store, identity, [forged], station_id=station_b.station_id, now=clock)
    (refused,) = queued(store, station_b.station_id, RejectedItem)
    assert refused.code == "foreign_id"
    # ... and PC A may not change its own: codes printed on paper are derived from it.
    changed = station.seal([station.update("query_keys", station.station_id, {"query_key": bytes(16).hex()})])
    ingest_sets(store, identity, [changed], station_id=station.station_id, now=clock)
    (refused,) = queued(store, station.station_id, RejectedItem)
    assert refused.code == "foreign_id"
    assert store.query_key(station.station_id) == KEY.hex()


def test_any_pc_of_the_village_rates_and_the_first_rating_stands(store, identity, station, station_b, clock):
    case_no, changes = station.new_case("RS-001")
    ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=clock)
    # PC B rates a case PC A took in (not refused as another PC's number), then PC A rates it offline too.
    ingest_sets(
        store, identity, [station_b.seal([_rating(station_b, case_no, 4)])], station_id=station_b.station_id, now=clock
    )
    ingest_sets(
        store, identity, [station.seal([_rating(station, case_no, 1)])], station_id=station.station_id, now=clock
    )
    assert store.row("ratings", f"{case_no}/{case_no}")["level"] == 4 and store.followup(f"{case_no}/{case_no}") is None
    (rejected,) = queued(store, station.station_id, RejectedItem)
    # PC A is told, with the hub's values, which it takes (station.feed): one rating everywhere (一次一评).
    assert rejected.code == "duplicate_row" and rejected.current["level"] == 4
