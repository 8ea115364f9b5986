"""schemathesis against the hub's own OpenAPI schema (/schema/openapi.json): the JSON API under /api/v1.

The station protocol (msgpack: the exchange, enrolment, 0.3's push and feed) is fuzzed by tests/hub/test_fuzz_protocol.py;
here every JSON operation is called with cases schemathesis generates from the schema, valid and
invalid, authenticated with real API tokens (an administrator's and a department's) on a hub that
holds a real station and its cases. Checks: never a server error; a 2xx conforms to its declared
schema; an error is the hub's JSON reason {"error", "detail", "detail_zh"}; and the schema declares
the error shape the hub really answers. A short run is part of every test run; ``-m fuzz_long``
runs 50 times as many cases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from hub.accounts import add_user, create_token, hasher_for
from hub.store import HubStore
from tests.hub.fuzzkit import ERROR_KEYS, RUNS, FuzzWorld, fuzz, world_fixture

SCHEMA_PATH = "/schema/openapi.json"

world = pytest.fixture(scope="module", name="world")(world_fixture)


class Api:
    """The loaded schema, the app behind it, and who calls it."""

    def __init__(self, world: FuzzWorld) -> None:
        now = dt.datetime.now(dt.UTC)
        with HubStore.open_existing(world.hub_dir) as store:
            hasher = hasher_for(world.settings)
            add_user(store, "admin", "admin", "admin-password-1", hasher=hasher, now=now)
            add_user(store, "rs", "department", "pension-desk-pw", department="RS", hasher=hasher, now=now)
            self.tokens = {
                "admin": create_token(store, "admin", expires_days=30, now=now).token,
                "department": create_token(store, "rs", expires_days=30, now=now).token,
            }
            self.case_nos = [r["case_no"] for r in store.list_cases(limit=10)]
        self.station_id = world.station_id
        self.app = world.app()
        self.schema = (
            schemathesis.openapi.from_asgi(SCHEMA_PATH, self.app)
            .include(path_regex="^/api/v1/")
            .exclude(path_regex="^/api/v1/(sync|enroll)")
        )

    def operations(self) -> list[Any]:
        return [result.ok() for result in self.schema.get_all_operations()]

    def token_for(self, path: str) -> str:
        """A department's token for a case's own pages, an administrator's for the rest."""
        return self.tokens["department" if path.startswith("/api/v1/cases/") else "admin"]

    def real_values(self, path: str) -> dict[str, str] | None:
        """Path parameters of things that exist (so the handler behind the 404 is reached too)."""
        if "{case_no}" in path and self.case_nos:
            return {"case_no": self.case_nos[0]}
        if "{station_id}" in path:
            return {"station_id": self.station_id}
        return None


@pytest.fixture(scope="module")
def api(world: FuzzWorld) -> Iterator[Api]:
    world.restore()
    yield Api(world)
    world.restore()


def _cases(api: Api, mode: schemathesis.GenerationMode) -> st.SearchStrategy[Any]:
    strategies = []
    for operation in api.operations():
        strategies.append(operation.as_strategy(generation_mode=mode))
        real = api.real_values(operation.path)
        if real:
            strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=real))
    return st.one_of(strategies)


def test_the_schema_covers_the_json_api(api: Api):
    labels = {op.label for op in api.operations()}
    assert {"GET /api/v1/cases", "POST /api/v1/cases/{case_no}/decision", "GET /api/v1/status"} <= labels, labels
    assert not any("/api/v1/sync" in label or "/api/v1/enroll" in label for label in labels)


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE], ids=["valid", "invalid"]
)
@pytest.mark.parametrize("run", RUNS)
def test_json_api_never_fails_and_answers_as_declared(api: Api, run: str, mode: schemathesis.GenerationMode):
    """Any generated call: not a server error; a 2xx as its schema says; an error with the hub's reason."""

    def check(case: Any) -> None:
        headers = {"Authorization": f"Bearer {api.token_for(case.path)}"}
        response = case.call(headers=headers)
        checks = [not_a_server_error] + ([response_schema_conformance] if response.status_code < 300 else [])
        case.validate_response(response, checks=checks, headers=headers)
        if response.status_code >= 400:
            body = response.json()
            assert isinstance(body, dict) and all(isinstance(body.get(k), str) and body[k] for k in ERROR_KEYS), (
                f"{case.method} {case.formatted_path}: {response.status_code} {body!r}"
            )

    fuzz(run, 30, _cases(api, mode), check)


@pytest.mark.parametrize("run", RUNS)
def test_the_schema_declares_the_errors_the_hub_answers(api: Api, run: str):
    """Every error the JSON API answers is of the shape its OpenAPI schema declares for it (clients
    generated from the schema read the hub's {"error", "detail", "detail_zh"})."""

    def check(case: Any) -> None:
        headers = {"Authorization": f"Bearer {api.token_for(case.path)}"}
        response = case.call(headers=headers)
        if response.status_code >= 400:
            case.validate_response(response, checks=[response_schema_conformance], headers=headers)

    fuzz(run, 10, _cases(api, schemathesis.GenerationMode.NEGATIVE), check)
