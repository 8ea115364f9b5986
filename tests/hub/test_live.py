"""One real uvicorn server on a loopback port: health and a signed exchange over a real socket."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from hub.testing import live_server
from hub.web.app import create_app
from sync.protocol import SyncResponse


@pytest.mark.timeout(30)
def test_live_hub_answers_health_and_a_signed_exchange(settings, clock, station, identity):
    case_no, changes = station.new_case()
    with live_server(create_app(settings, now=clock)) as base_url, httpx.Client(base_url=base_url, timeout=5) as http:
        health = http.get("/healthz")
        assert health.json() == {"status": "ok", "hub_id": identity.hub_id, "protocol": 1}
        response = station.sync(http, [station.seal(changes)])
        assert response.status_code == 200, response.text
        answer = msgspec.msgpack.decode(response.content, type=SyncResponse)
        assert [r.status for r in answer.results] == ["accepted"] and answer.feed
        gone = http.get("/api/v1/sync/feed?after=0&limit=50")
        assert gone.status_code == 410 and gone.json()["error"] == "peer_too_old"
