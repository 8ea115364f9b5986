"""Authenticate first, inflate after: no station body is inflated before its signature checks, and few at a time.

Since 0.6 the only gzip body the hub inflates is an enrolment request (its proof is inside, at
most 64 KiB inflated); the exchange takes no content encoding (its sets are compressed inside),
and 0.3's push, where a bomb was once inflated before its signature was checked, answers 410
without reading what it carries.
"""

from __future__ import annotations

import dataclasses
import gzip
import tracemalloc

import msgspec
import pytest
from litestar.testing import TestClient

from hub.enroll import issue_code
from hub.web.app import create_app
from sync.crypto import KeyPair
from sync.protocol import MEDIA_TYPE
from tests.hub.builders import SYNC, VILLAGE, enroll_request

PUSH = "/api/v1/sync/push"
ENROLL = "/api/v1/enroll"
BOMB = gzip.compress(b"\0" * (16 * 1024 * 1024 - 1024), compresslevel=9)  # ~16 KB that inflate to ~16 MiB


def gzip_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"content-type": MEDIA_TYPE, "content-encoding": "gzip", **(extra or {})}


def peak_while(action):
    tracemalloc.start()
    try:
        result = action()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_gzip_bomb_to_the_exchange_is_refused_without_being_inflated(client, station):
    assert len(BOMB) < 20_000
    for headers in (gzip_headers(), gzip_headers(station.headers("POST", SYNC, BOMB))):
        response, peak = peak_while(lambda h=headers: client.post(SYNC, content=BOMB, headers=h))
        assert response.status_code == 415 and response.json()["error"] == "unsupported_media_type"
        assert peak < 4 * 1024 * 1024, peak


def test_a_gzip_bomb_to_the_old_push_gets_410_without_being_inflated(client, store, station):
    for headers in (gzip_headers(), gzip_headers(station.headers("POST", PUSH, BOMB))):
        response, peak = peak_while(lambda h=headers: client.post(PUSH, content=BOMB, headers=h))
        assert response.status_code == 410 and response.json()["error"] == "peer_too_old"
        assert peak < 4 * 1024 * 1024, peak  # 0.4 inflated the 16 MiB before answering 401
    assert store.contacts(station.station_id)[0].code == "peer_too_old"


def test_an_enrolment_bomb_stops_at_its_cap(client):
    response, peak = peak_while(lambda: client.post(ENROLL, content=BOMB, headers=gzip_headers()))
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert peak < 4 * 1024 * 1024, peak


@pytest.mark.timeout(20)
def test_inflation_waits_for_its_turn_and_gets_503_when_the_gate_stays_shut(settings, store, clock):
    narrow = dataclasses.replace(settings, max_concurrent_inflations=1, inflate_wait_seconds=0.2)
    app = create_app(narrow, now=clock)
    request, _ = enroll_request(issue_code(store, VILLAGE, now=clock).code, KeyPair.generate())
    body = gzip.compress(msgspec.msgpack.encode(request))
    with TestClient(app=app) as http:
        gate = app.state["inflating"]
        assert gate.acquire(timeout=1)  # another body is being inflated
        try:
            busy = http.post(ENROLL, content=body, headers=gzip_headers())
        finally:
            gate.release()
        assert busy.status_code == 503 and busy.json()["error"] == "busy" and busy.json()["detail_zh"]
        ok = http.post(ENROLL, content=body, headers=gzip_headers())
        assert ok.status_code == 200, ok.text
