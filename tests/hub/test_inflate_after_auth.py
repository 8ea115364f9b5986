"""Authenticate first, inflate after: a gzip body is inflated only once its signature checks, a few at a time."""

from __future__ import annotations

import dataclasses
import gzip
import tracemalloc

import pytest
from litestar.testing import TestClient

from hub.web.app import create_app
from sync.protocol import MEDIA_TYPE

PUSH = "/api/v1/sync/push"
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


def test_an_unsigned_gzip_bomb_gets_401_without_being_inflated(client, station):
    assert len(BOMB) < 20_000
    headers = gzip_headers(station.headers("POST", PUSH, BOMB))
    headers["X-Signature"] = headers["X-Signature"][:-4] + "AAA="  # the signature no longer checks
    response, peak = peak_while(lambda: client.post(PUSH, content=BOMB, headers=headers))
    assert response.status_code == 401 and response.json()["error"] == "unauthenticated"
    assert peak < 4 * 1024 * 1024, peak  # 0.4 inflated the 16 MiB before answering 401


def test_a_body_without_signature_headers_is_not_inflated_either(client):
    response, peak = peak_while(lambda: client.post(PUSH, content=BOMB, headers=gzip_headers()))
    assert response.status_code == 401 and peak < 4 * 1024 * 1024


def test_a_signed_bomb_stops_at_the_inflation_cap_and_is_recorded(client, store, station):
    response = client.post(PUSH, content=BOMB, headers=gzip_headers(station.headers("POST", PUSH, BOMB)))
    assert (response.status_code, response.json()["error"]) == (400, "malformed")  # within the cap, not a push
    body = gzip.compress(b"\0" * (17 * 1024 * 1024))
    response = client.post(PUSH, content=body, headers=gzip_headers(station.headers("POST", PUSH, body)))
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert store.contacts(station.station_id)[0].code == "too_large"


@pytest.mark.timeout(20)
def test_inflation_waits_for_its_turn_and_gets_503_when_the_gate_stays_shut(settings, clock, station):
    narrow = dataclasses.replace(settings, max_concurrent_inflations=1, inflate_wait_seconds=0.2)
    app = create_app(narrow, now=clock)
    body = gzip.compress(station.push_body([station.seal(station.new_case()[1])]))
    with TestClient(app=app) as http:
        gate = app.state["inflating"]
        assert gate.acquire(timeout=1)  # another body is being inflated
        try:
            busy = http.post(PUSH, content=body, headers=gzip_headers(station.headers("POST", PUSH, body)))
        finally:
            gate.release()
        assert busy.status_code == 503 and busy.json()["error"] == "busy" and busy.json()["detail_zh"]
        ok = http.post(PUSH, content=body, headers=gzip_headers(station.headers("POST", PUSH, body)))
        assert ok.status_code == 200, ok.text
