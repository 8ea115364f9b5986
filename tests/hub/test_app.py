"""The HTTP API: push and feed per the protocol, hostile bodies answered with 4xx, the admin API."""

from __future__ import annotations

import gzip
import os
import sqlite3

import msgspec
import pytest

from hub.enroll import issue_code
from hub.settings import Settings
from hub.store import HubStore
from hub.web.app import create_app
from sync.protocol import MEDIA_TYPE, EnrollResponse, FeedResponse, PushResponse
from tests.hub.builders import ID_NUMBER, PHONE, VILLAGE, bearer, enroll_request

PUSH = "/api/v1/sync/push"
MSGPACK = {"content-type": MEDIA_TYPE}


def do_push(client, station, body: bytes, *, headers: dict[str, str] | None = None, signed_body: bytes | None = None):
    signed = station.headers("POST", PUSH, body if signed_body is None else signed_body)
    return client.post(PUSH, content=body, headers={**MSGPACK, **signed, **(headers or {})})


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and body["detail"] and body["detail_zh"]


def test_healthz(client, identity):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "hub_id": identity.hub_id, "protocol": 1}


def test_push_answers_with_results_and_records_the_contact(client, store, station, clock):
    case_no, changes = station.new_case()
    body = station.push_body([station.seal(changes)])
    response = do_push(client, station, body)
    assert response.status_code == 200 and response.headers["content-type"].startswith(MEDIA_TYPE)
    result = msgspec.msgpack.decode(response.content, type=PushResponse)
    assert [r.status for r in result.results] == ["accepted"] and result.next_seq == 2
    assert store.row("cases", case_no)["status"] == "RECEIVED"
    row = store.station(station.station_id)
    assert (row.head_seq, row.applied_seq, row.software, row.clock_offset_ms) == (1, 1, "test/1", 0)
    assert row.last_contact == row.last_push == "2026-11-26T02:00:00.000Z"
    (contact,) = store.contacts(station.station_id)
    assert (contact.kind, contact.ok, contact.sets) == ("push", True, 1)


def test_gzip_push_is_inflated(client, station):
    body = gzip.compress(station.push_body([station.seal(station.new_case()[1])]))
    response = do_push(client, station, body, headers={"content-encoding": "gzip"})
    assert msgspec.msgpack.decode(response.content, type=PushResponse).results[0].status == "accepted"


def test_feed_returns_the_signers_sets(client, station, clock):
    path = "/api/v1/sync/feed?after=0&limit=5"
    response = client.get(path, headers=station.headers("GET", path))
    assert response.status_code == 200
    feed = msgspec.msgpack.decode(response.content, type=FeedResponse)
    assert feed.last_seq == len(feed.sets) == 2  # catalogue and calendar; division tree
    signed, items = station.read_feed_set(bytes(feed.sets[0]))
    assert signed.origin == f"hub>{station.station_id}" and items
    path = "/api/v1/sync/feed?after=2"
    feed = msgspec.msgpack.decode(client.get(path, headers=station.headers("GET", path)).content, type=FeedResponse)
    assert feed.sets == [] and feed.last_seq == 2
    with HubStore.open_existing(client.app.state["settings"].data_dir) as store:
        assert store.station(station.station_id).feed_acked == 2


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sync/feed?after=-1",
        "/api/v1/sync/feed?limit=0",
        "/api/v1/sync/feed?after=x",
        f"/api/v1/sync/feed?after={10**30}",
    ],
)
def test_bad_feed_queries_are_malformed(client, station, path):
    response = client.get(path, headers=station.headers("GET", path))
    assert response.status_code == 400 and response.json()["error"] in ("malformed", "bad_input")


def test_enrol_over_http(client, store, clock):
    from sync.crypto import KeyPair

    issued = issue_code(store, VILLAGE, now=clock)
    request, _ = enroll_request(issued.code, KeyPair.generate())
    response = client.post("/api/v1/enroll", content=msgspec.msgpack.encode(request), headers=MSGPACK)
    assert response.status_code == 200
    assert msgspec.msgpack.decode(response.content, type=EnrollResponse).station_id == f"{VILLAGE}-A-1"
    again = client.post("/api/v1/enroll", content=msgspec.msgpack.encode(request), headers=MSGPACK)
    assert_error(again, 403, "enroll_code")


# -- hostile and broken bodies: each a 4xx, and the hub keeps serving ------------------------------


def _bomb() -> bytes:
    return gzip.compress(b"\x00" * (20 * 1024 * 1024), compresslevel=9)


BAD_BODIES = {
    "garbage": (b"\xc1\xff not msgpack at all", {}, 400, "malformed"),
    "truncated": (None, {}, 400, "malformed"),
    "wrong shape": (msgspec.msgpack.encode({"protocol": 1}), {}, 400, "malformed"),
    "not utf-8": (b"\x83\xa8protocol\x01\xaastation_id\xa2\xff\xfe\xa4sets\x90", {}, 400, "malformed"),
    "oversized": (os.urandom(9 * 1024 * 1024), {}, 413, "too_large"),
    "bomb": (_bomb(), {"content-encoding": "gzip"}, 413, "too_large"),
    "damaged gzip": (b"\x1f\x8b\x08\x00garbage", {"content-encoding": "gzip"}, 400, "malformed"),
    "truncated gzip": (gzip.compress(b"x" * 1000)[:-12], {"content-encoding": "gzip"}, 400, "malformed"),
    "wrong media type": (b"{}", {"content-type": "application/json"}, 415, "unsupported_media_type"),
    "unknown encoding": (b"xx", {"content-encoding": "br"}, 415, "unsupported_media_type"),
}


@pytest.mark.parametrize("name", BAD_BODIES)
def test_bad_bodies_get_a_4xx_and_the_hub_keeps_serving(client, station, name):
    body, headers, status, code = BAD_BODIES[name]
    if body is None:
        body = station.push_body([station.seal(station.new_case()[1])])[:-40]
    assert_error(do_push(client, station, body, headers=headers), status, code)
    assert client.get("/healthz").status_code == 200
    good = station.push_body([station.seal(station.new_case()[1])])
    assert do_push(client, station, good).status_code == 200


def test_a_push_for_another_station_or_protocol_is_refused(client, station, station_b):
    assert_error(do_push(client, station, station.push_body([], station_id=station_b.station_id)), 403, "wrong_origin")
    other = msgspec.msgpack.encode({"protocol": 2, "station_id": station.station_id, "sets": []})
    assert_error(do_push(client, station, other), 400, "protocol_version")


def test_unknown_routes_and_methods_are_json(client):
    assert_error(client.get("/nope"), 404, "not_found")
    assert client.get(PUSH).status_code == 405


def test_a_database_fault_is_a_json_500_and_the_hub_keeps_serving(client, hub_dir, station):
    with sqlite3.connect(hub_dir / "hub.db") as db:
        db.execute("DROP TABLE contacts")
    path = "/api/v1/sync/feed"
    assert_error(client.get(path, headers=station.headers("GET", path)), 500, "internal")
    assert client.get("/healthz").status_code == 200


def test_create_app_needs_an_initialised_hub(tmp_path):
    from sync.errors import StoreError

    with pytest.raises(StoreError):
        create_app(Settings(data_dir=tmp_path))


# -- the admin API ---------------------------------------------------------------------------------


@pytest.fixture
def case_no(client, station):
    number, changes = station.new_case()
    do_push(client, station, station.push_body([station.seal(changes)]))
    return number


def test_case_list_needs_a_token_and_shows_an_admin_no_personal_data(client, admin_token, case_no):
    assert_error(client.get("/api/v1/cases"), 401, "unauthenticated")
    assert_error(client.get("/api/v1/cases", headers=bearer("wrong")), 401, "unauthenticated")
    response = client.get(f"/api/v1/cases?village={VILLAGE}&status=received", headers=bearer(admin_token))
    assert response.status_code == 200
    (case,) = response.json()
    assert (case["case_no"], case["status"]) == (case_no, "RECEIVED")
    assert ID_NUMBER not in response.text and PHONE not in response.text and "王小明" not in response.text
    assert not {"applicant_name", "id_number_masked", "phone_masked"} & set(case)


def test_a_department_lists_its_cases_masked(client, rs_token, yb_token, case_no):
    response = client.get("/api/v1/cases?status=received", headers=bearer(rs_token))
    (case,) = response.json()
    assert (case["case_no"], case["applicant_name"]) == (case_no, "王小明")
    assert case["id_number_masked"] == "349921********0234" and case["phone_masked"] == "138****8000"
    assert ID_NUMBER not in response.text and PHONE not in response.text
    assert client.get("/api/v1/cases", headers=bearer(yb_token)).json() == []  # RS-001 is not YB's


def test_decision_over_the_api(client, rs_token, admin_token, yb_token, case_no):
    path = f"/api/v1/cases/{case_no}/decision"
    assert_error(client.post(path, json={"status": "accept"}), 401, "unauthenticated")
    assert_error(client.post(path, json={"status": "accept"}, headers=bearer(admin_token)), 403, "forbidden")
    assert_error(client.post(path, json={"status": "accept"}, headers=bearer(yb_token)), 404, "not_found")
    response = client.post(path, json={"status": "accept"}, headers=bearer(rs_token))
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["from_status"]) == ("ACCEPTED", "RECEIVED")
    with HubStore.open_existing(client.app.state["settings"].data_dir) as store:
        assert store.case_events(case_no)[-1]["by"] == "rs"  # the account that decided
    illegal = client.post(path, json={"status": "RECEIVED"}, headers=bearer(rs_token))
    assert_error(illegal, 409, "illegal_transition")
    assert illegal.json()["from_status"] == "ACCEPTED" and illegal.json()["to_status"] == "RECEIVED"
    missing = client.post(path, json={"status": "correct"}, headers=bearer(rs_token))
    assert_error(missing, 400, "bad_input")
    correct = client.post(path, json={"status": "correct", "missing": ["居民户口簿"]}, headers=bearer(rs_token))
    assert correct.json()["status"] == "AWAITING_CORRECTION" and "居民户口簿" in correct.json()["reason"]
    assert_error(
        client.post(path, content=b"{", headers={**bearer(rs_token), "content-type": "application/json"}),
        400,
        "malformed",
    )
    assert_error(
        client.post(path, json={"status": "accept", "actor": "township"}, headers=bearer(rs_token)), 400, "malformed"
    )
    assert_error(
        client.post("/api/v1/cases/nope/decision", json={"status": "accept"}, headers=bearer(rs_token)),
        404,
        "not_found",
    )


def test_station_list_over_the_api(client, admin_token, station, case_no):
    response = client.get("/api/v1/stations", headers=bearer(admin_token))
    (row,) = response.json()
    assert (row["station_id"], row["state"], row["applied_seq"], row["clock_skewed"]) == (
        station.station_id,
        "enrolled",
        1,
        False,
    )
