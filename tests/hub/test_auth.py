"""Signed station requests: missing, forged, replayed, revoked; the feed is chosen by the signer.

The exchange is signed with the long headers here (the hub checks them as it checks ``X-Sync``,
tests/hub/test_signed_headers.py and test_frugal for the compact form).
"""

from __future__ import annotations

import base64

import msgspec
import pytest

from hub.enroll import revoke_station
from hub.store import HubStore
from hub.web.auth import path_qs
from sync.crypto import KeyPair
from sync.protocol import HEADER_KEY, HEADER_SIGNATURE, HEADER_STATION, SyncResponse, sign_request
from tests.hub.builders import SYNC, open_feed_set


def error(response) -> str:
    return response.json()["error"]


def pull(station, **headers: str) -> tuple[bytes, dict[str, str]]:
    """A pull's body and its signed headers (``headers`` replace some)."""
    body = station.sync_body([])
    return body, {**station.headers("POST", SYNC, body), **headers}


def test_no_headers_is_401(client, station):
    response = client.post(SYNC, content=station.sync_body([]))
    assert (response.status_code, error(response)) == (401, "unauthenticated")


def test_a_bad_signature_is_401(client, station):
    body, headers = pull(station, **{HEADER_SIGNATURE: base64.b64encode(bytes(64)).decode()})
    response = client.post(SYNC, content=body, headers=headers)
    assert (response.status_code, error(response)) == (401, "unauthenticated")
    headers[HEADER_SIGNATURE] = "not base64!"
    assert client.post(SYNC, content=body, headers=headers).status_code == 401


def test_a_signature_over_another_path_or_body_is_401(client, station):
    body = station.sync_body([])
    headers = station.headers("POST", f"{SYNC}?after=5", body)
    assert client.post(SYNC, content=body, headers=headers).status_code == 401
    headers = station.headers("POST", SYNC, body)
    response = client.post(SYNC, content=station.sync_body([], feed_after=1), headers=headers)
    assert (response.status_code, error(response)) == (401, "unauthenticated")


@pytest.mark.parametrize("counter", ["-1", "1.5", str(10**30), ""])
def test_a_malformed_counter_is_401(client, station, counter):
    body, headers = pull(station, **{"X-Counter": counter})
    response = client.post(SYNC, content=body, headers=headers)
    assert (response.status_code, error(response)) == (401, "unauthenticated")


def test_an_unknown_key_is_401(client, station):
    stranger = KeyPair.generate()
    body = station.sync_body([])
    headers = sign_request(
        sign_private=stranger.sign_private,
        sign_public=stranger.sign_public,
        method="POST",
        path_qs=SYNC,
        station_id=station.station_id,
        counter=1,
        station_ms=0,
        body=body,
    )
    response = client.post(SYNC, content=body, headers=headers)
    assert (response.status_code, error(response)) == (401, "unknown_key")


def test_a_replayed_counter_is_409_with_the_last_counter(client, store, station):
    body, headers = pull(station)
    assert client.post(SYNC, content=body, headers=headers).status_code == 200
    replay = client.post(SYNC, content=body, headers=headers)
    assert (replay.status_code, error(replay), replay.json()["last_counter"]) == (409, "replay", 1)
    again = station.headers("POST", SYNC, body, counter=1)
    assert client.post(SYNC, content=body, headers=again).status_code == 409
    later = station.headers("POST", SYNC, body, counter=7)
    assert client.post(SYNC, content=body, headers=later).status_code == 200
    assert store.station(station.station_id).last_error == "replay"


def test_a_revoked_station_gets_403(client, store, station, clock):
    revoke_station(store, station.station_id, now=clock)
    response = station.sync(client, [])
    assert (response.status_code, error(response)) == (403, "revoked_key")
    assert store.station(station.station_id).last_error == "revoked_key"


def test_a_station_cannot_read_another_stations_feed(client, station, station_b):
    # Claiming to be B with A's key: the key is not B's.
    body, headers = pull(station, **{HEADER_STATION: station_b.station_id})
    assert client.post(SYNC, content=body, headers=headers).status_code == 401
    # Whatever it asks, A gets its own feed, sealed to its own key.
    feed = msgspec.msgpack.decode(station.sync(client, []).content, type=SyncResponse)
    signed, _ = open_feed_set(bytes(feed.feed[0]), station.response, station.keys)
    assert signed.origin == f"hub>{station.station_id}"


def test_the_contact_record_holds_no_personal_data(client, hub_dir, station):
    case_no, changes = station.new_case()
    assert station.sync(client, [station.seal(changes)]).status_code == 200
    with HubStore.open_existing(hub_dir) as store:
        for contact in store.contacts(station.station_id):
            assert "349921195803120234" not in repr(contact) and "13800138000" not in repr(contact)


def test_the_contact_log_is_bounded(store, station, clock):
    from hub.store import Contact
    from hub.store.stations import CONTACTS_KEPT, CONTACTS_TRIM_EVERY

    def at(n: int) -> str:
        return f"2026-11-26T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"

    with store.transaction():
        for n in range(130):
            store.record_contact(station.station_id, Contact(at=at(n), kind="pull", ok=True))
        for n in range(130, 400, 2):  # an exchange's push and pull go in together
            store.record_contacts(
                station.station_id,
                [Contact(at=at(n), kind="push", ok=True), Contact(at=at(n + 1), kind="pull", ok=True)],
            )
    listed = store.contacts(station.station_id)
    assert len(listed) == CONTACTS_KEPT
    assert [c.at for c in listed] == [at(n) for n in range(399, 399 - CONTACTS_KEPT, -1)]  # the newest, newest first
    (held,) = store.db.execute("SELECT COUNT(*) FROM contacts WHERE station_id = ?", [station.station_id]).fetchone()
    # Cut back only now and then: never more than a cut's worth over while this station is the only one.
    assert CONTACTS_KEPT <= held < CONTACTS_KEPT + CONTACTS_TRIM_EVERY


def test_path_qs_is_what_the_station_signed():
    assert path_qs({"path": "/a", "raw_path": b"/a", "query_string": b"after=1&limit=2"}) == "/a?after=1&limit=2"
    assert path_qs({"path": "/a", "raw_path": b"/a?x=1", "query_string": b"x=1"}) == "/a?x=1"
    assert path_qs({"path": "/a", "query_string": b""}) == "/a"
    assert HEADER_KEY == "X-Key-Id"
