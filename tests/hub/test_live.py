"""One real uvicorn server on a loopback port: health and a signed push over a real socket."""

from __future__ import annotations

import gzip

import httpx
import msgspec
import pytest

from hub.testing import live_server
from hub.web.app import create_app
from sync.protocol import MEDIA_TYPE, PushResponse


@pytest.mark.timeout(30)
def test_live_hub_answers_health_and_a_signed_push(settings, clock, station, identity):
    case_no, changes = station.new_case()
    body = gzip.compress(station.push_body([station.seal(changes)]))
    with live_server(create_app(settings, now=clock)) as base_url, httpx.Client(base_url=base_url, timeout=5) as http:
        health = http.get("/healthz")
        assert health.json() == {"status": "ok", "hub_id": identity.hub_id, "protocol": 1}
        headers = {
            "content-type": MEDIA_TYPE,
            "content-encoding": "gzip",
            **station.headers("POST", "/api/v1/sync/push", body),
        }
        response = http.post("/api/v1/sync/push", content=body, headers=headers)
        assert response.status_code == 200, response.text
        result = msgspec.msgpack.decode(response.content, type=PushResponse)
        assert [r.status for r in result.results] == ["accepted"]
        path = "/api/v1/sync/feed?after=0&limit=50"
        feed = http.get(path, headers=station.headers("GET", path))
        assert feed.status_code == 200
