"""Every field of a station's request headers is signed (FEATURE_SIGNED_HEADERS), and kept only in its shape."""

from __future__ import annotations

import msgspec
import pytest

from sync.protocol import (
    FEATURE_SIGNED_HEADERS,
    HEADER_SYNC,
    HUB_FEATURES,
    PROTOCOL_VERSION,
    STATION_FEATURES,
    SyncRequest,
    SyncResponse,
    compact_auth,
    sign_request,
)
from tests.hub.builders import TestStation

SYNC = "/api/v1/sync"
PULL = msgspec.msgpack.encode(SyncRequest(PROTOCOL_VERSION, [], 0, 0, STATION_FEATURES))


def x_sync(
    station: TestStation,
    body: bytes = PULL,
    *,
    cover: bool = True,
    head_seq: int = 7,
    outbox: int = 3,
    software: str = "0.5.0",
) -> str:
    station.counter += 1
    headers = sign_request(
        sign_private=station.keys.sign_private,
        sign_public=station.keys.sign_public,
        method="POST",
        path_qs=SYNC,
        station_id=station.station_id,
        counter=station.counter,
        station_ms=station.clock.ms,
        body=body,
        head_seq=head_seq,
        outbox_length=outbox,
        software=software,
        cover=cover,
    )
    return compact_auth(headers)


def altered(value: str, index: int, new: str) -> str:
    """An X-Sync value with one field changed on the way (KEY COUNTER MS HEAD OUTBOX SOFTWARE SIGNATURE)."""
    parts = value.split(" ")
    parts[index] = new
    return " ".join(parts)


def last_contact(store, station):
    return (store.contacts(station.station_id) or [None])[0]


@pytest.fixture
def signing_station(store, station):
    """A station of this release: it has said it signs every header field."""
    store.set_features(station.station_id, STATION_FEATURES)
    return station


def test_the_hub_says_it_checks_every_header_field(client, signing_station):
    answer = client.post(SYNC, content=PULL, headers={HEADER_SYNC: x_sync(signing_station)})
    assert answer.status_code == 200
    assert msgspec.msgpack.decode(answer.content, type=SyncResponse).features & FEATURE_SIGNED_HEADERS
    assert HUB_FEATURES & FEATURE_SIGNED_HEADERS and STATION_FEATURES & FEATURE_SIGNED_HEADERS


def test_signed_fields_are_kept(client, store, signing_station):
    answer = client.post(SYNC, content=PULL, headers={HEADER_SYNC: x_sync(signing_station)})
    assert answer.status_code == 200
    contact = last_contact(store, signing_station)
    assert (contact.head_seq, contact.outbox_length, contact.software) == (7, 3, "0.5.0")


@pytest.mark.parametrize(("index", "value"), [(3, "999999"), (4, "0"), (5, "0.3.0"), (5, "[/x]"), (5, "=HYPERLINK(x)")])
def test_a_field_changed_on_the_way_gets_401_and_nothing_is_kept(client, store, signing_station, index, value):
    header = altered(x_sync(signing_station), index, value)
    answer = client.post(SYNC, content=PULL, headers={HEADER_SYNC: header})
    assert answer.status_code == 401 and answer.json()["error"] == "unauthenticated"
    assert last_contact(store, signing_station) is None
    assert store.station(signing_station.station_id).software != value


@pytest.mark.parametrize("software", ["[/x]", "=HYPERLINK(x)", "+1", "@x", "a" * 65, "v1;rm", "<b>"])
def test_a_signed_field_of_the_wrong_shape_is_refused(client, store, signing_station, software):
    answer = client.post(SYNC, content=PULL, headers={HEADER_SYNC: x_sync(signing_station, software=software)})
    assert answer.status_code == 400 and answer.json()["error"] == "malformed" and answer.json()["detail_zh"]
    assert store.station(signing_station.station_id).software != software


def test_a_station_that_signs_them_has_unsigned_fields_dropped(client, store, signing_station):
    # The older form, from a station that has said it signs them all: the request stands, the fields do not.
    answer = client.post(SYNC, content=PULL, headers={HEADER_SYNC: x_sync(signing_station, cover=False)})
    assert answer.status_code == 200
    contact = last_contact(store, signing_station)
    assert (contact.head_seq, contact.outbox_length, contact.software) == (None, None, None)


def test_a_station_of_0_4_keeps_working_and_its_fields_are_kept_only_in_their_shape(client, store, station):
    body = msgspec.msgpack.encode(SyncRequest(PROTOCOL_VERSION, [], 0, 0, 11))  # 0.4's features
    answer = client.post(SYNC, content=body, headers={HEADER_SYNC: x_sync(station, body, cover=False)})
    assert answer.status_code == 200
    assert (last_contact(store, station).head_seq, last_contact(store, station).software) == (7, "0.5.0")
    bad = altered(x_sync(station, body, cover=False), 5, "[/x]")
    answer = client.post(SYNC, content=body, headers={HEADER_SYNC: bad})
    assert answer.status_code == 400 and store.station(station.station_id).software == "0.5.0"


@pytest.mark.parametrize("features", [-1, 2**40])
def test_features_out_of_range_are_malformed(client, store, station, features):
    body = msgspec.msgpack.encode(SyncRequest(PROTOCOL_VERSION, [], 0, 0, features))
    answer = client.post(SYNC, content=body, headers={HEADER_SYNC: x_sync(station, body)})
    assert answer.status_code == 400 and answer.json()["error"] == "malformed"
    assert store.station(station.station_id).features != features


def test_the_long_headers_are_checked_the_same_way(client, store, signing_station):
    signing_station.counter += 1
    headers = sign_request(
        sign_private=signing_station.keys.sign_private,
        sign_public=signing_station.keys.sign_public,
        method="POST",
        path_qs=SYNC,
        station_id=signing_station.station_id,
        counter=signing_station.counter,
        station_ms=signing_station.clock.ms,
        body=PULL,
        head_seq=4,
        outbox_length=0,
        software="0.5.0",
        cover=True,
    )
    assert client.post(SYNC, content=PULL, headers={**headers, "X-Head-Seq": "5"}).status_code == 401
    assert client.post(SYNC, content=PULL, headers=headers).status_code == 200
    assert last_contact(store, signing_station).head_seq == 4
