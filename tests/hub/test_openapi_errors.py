"""The OpenAPI schema at /schema/openapi.json declares the errors the JSON API answers, and the decision's body."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from tests.hub.builders import bearer
from tests.hub.test_app import case_no  # noqa: F401 (a fixture: one case of department RS, pushed by a station)

SCHEMA = "/schema/openapi.json"
PROTOCOL = (
    "/api/v1/sync",
    "/api/v1/scans",
    "/api/v1/enroll",
    "/api/v1/upstream",
)  # msgpack: hub/web/app.py, sync_api.py, upstream_api.py
PUBLIC = ("/api/v1/q",)  # a resident's progress query: no account, the query code is the proof
ERROR_REF = "#/components/schemas/ErrorBody"


def _json_operations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/") and not path.startswith(PROTOCOL) and path not in PUBLIC
        for method, operation in item.items()
    }


def _error_schema(response: dict[str, Any]) -> Any:
    return response["content"]["application/json"]["schema"]


def test_every_error_of_the_json_api_is_declared_as_the_hubs_shape(client):
    schema = client.get(SCHEMA).json()
    operations = _json_operations(schema)
    assert len(operations) == 12, sorted(operations)  # 11, and GET /api/v1/province (hub/web/upstream_api.py)
    for label, operation in operations.items():
        errors = {int(status): response for status, response in operation["responses"].items() if int(status) >= 400}
        assert {401, 503} <= set(errors), label  # the guards: no token, and they read the database
        if operation.get("parameters") or "requestBody" in operation:
            assert 400 in errors, label
        for status, response in errors.items():
            assert _error_schema(response) == {"$ref": ERROR_REF}, (label, status)
            assert response["description"].startswith("`"), (label, status)  # names its error codes
        # Litestar's own 400 shape, {status_code, detail, extra}, which the hub never answers, is gone.
        assert b'"status_code"' not in msgspec.json.encode(operation), label
    body = schema["components"]["schemas"]["ErrorBody"]
    assert sorted(body["required"]) == ["detail", "detail_zh", "error"]
    assert {"field", "reason", "from_status", "to_status", "retry_after"} <= set(body["properties"])
    decision = operations["POST /api/v1/cases/{case_no}/decision"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "503"} <= set(decision)
    assert set(operations["GET /api/v1/me"]["responses"]) == {"200", "401", "503"}  # any role: never 403


def test_the_station_protocol_declares_its_errors_as_the_hubs_shape(client):
    paths = client.get(SCHEMA).json()["paths"]
    operations = {
        "POST /api/v1/sync": paths["/api/v1/sync"]["post"],
        "POST /api/v1/scans": paths["/api/v1/scans"]["post"],
        "POST /api/v1/sync/push": paths["/api/v1/sync/push"]["post"],
        "GET /api/v1/sync/feed": paths["/api/v1/sync/feed"]["get"],
        "POST /api/v1/enroll": paths["/api/v1/enroll"]["post"],
    }
    for label, operation in operations.items():
        errors = {int(status): response for status, response in operation["responses"].items() if int(status) >= 400}
        # 0.3's push and feed answer only 410 now (docs/protocol.md, Support window).
        assert {400, 403} <= set(errors) if "/sync/" not in label else set(errors) == {410}, label
        for status, response in errors.items():
            assert _error_schema(response) == {"$ref": ERROR_REF}, (label, status)
        assert b'"status_code"' not in msgspec.json.encode(operation), label
    assert "replay" in operations["POST /api/v1/sync"]["responses"]["409"]["description"]
    assert "peer_too_old" in operations["POST /api/v1/sync/push"]["responses"]["410"]["description"]
    assert operations["GET /api/v1/sync/feed"]["deprecated"] is True
    assert "429" in operations["POST /api/v1/enroll"]["responses"]


def test_the_decision_body_is_declared(client):
    schema = client.get(SCHEMA).json()
    body = schema["paths"]["/api/v1/cases/{case_no}/decision"]["post"]["requestBody"]
    assert body["required"] is True
    (ref,) = body["content"]["application/json"]["schema"]["allOf"]
    declared = schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    assert set(declared["properties"]) == {"status", "reason", "outcome", "missing"}
    assert declared["required"] == ["status"] and declared["additionalProperties"] is False
    assert declared["properties"]["missing"] == {"items": {"type": "string"}, "type": "array"}


def _decide(client, token: str, case: str, content: bytes, media: str = "application/json"):
    return client.post(
        f"/api/v1/cases/{case}/decision", content=content, headers={**bearer(token), "content-type": media}
    )


@pytest.mark.parametrize(
    ("content", "media", "reason"),
    [
        (b'{"status": "accept", "actor": "township"}', "application/json", "Object contains unknown field `actor`"),
        (b'{"status": 1}', "application/json", "Expected `str`, got `int` - at `$.status`"),
        (b'{"status": "accept", "missing": [1]}', "application/json", "Expected `str`, got `int` - at `$.missing[0]`"),
        (b"{", "application/json", "Input data was truncated"),
        (b'{"status": "accept", "reason": ' + b"[" * 100_000, "application/json", "Expected `str | null`, got `array`"),
        (b"[" * 100_000, "application/json", "Expected `object`, got `array`"),
        # JSON whatever the content type says: msgpack is not read here.
        (msgspec.msgpack.encode({"status": "accept"}), "application/x-msgpack", "JSON is malformed"),
    ],
)
def test_a_decision_body_is_refused_as_before(client, rs_token, case_no, content, media, reason):  # noqa: F811
    response = _decide(client, rs_token, case_no, content, media)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "malformed" and reason in body["detail"] and reason in body["detail_zh"]
    assert body["detail"].startswith("the body is not of the expected shape (")


def test_a_decision_body_is_read_as_before(client, rs_token, case_no):  # noqa: F811
    empty = _decide(client, rs_token, case_no, b"")
    assert empty.status_code == 400 and empty.json()["error"] == "malformed", empty.text
    assert "JSON" in empty.json()["detail"] and "JSON" in empty.json()["detail_zh"]
    accepted = _decide(client, rs_token, case_no, b'{"status": "accept", "reason": null}', "text/plain")
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["status"], accepted.json()["from_status"]) == ("ACCEPTED", "RECEIVED")


def test_a_wrong_parameter_is_named_in_both_languages_without_echoing_the_request(client, admin_token):
    response = client.get("/api/v1/cases?limit=many&village=349921001001", headers=bearer(admin_token))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "malformed"
    assert "query parameter limit: Expected `int`, got `str`" in body["detail"]
    assert "查询参数 limit：" in body["detail_zh"]
    assert "many" not in response.text and "349921001001" not in response.text


def test_the_public_progress_query_declares_its_errors_as_the_hubs_shape(client):
    operation = client.get(SCHEMA).json()["paths"]["/api/v1/q"]["get"]
    errors = {int(status): response for status, response in operation["responses"].items() if int(status) >= 400}
    assert {404, 429} <= set(errors) and 401 not in errors and operation["security"] == [{}]
    for status, response in errors.items():
        assert _error_schema(response) == {"$ref": ERROR_REF}, status
