"""The hub's handlers get their dependencies one after another, never through a task group per request."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar._kwargs import kwargs_model
from litestar._kwargs.kwargs_model import KwargsModel
from litestar.testing import TestClient

from hub.web import deps, sequential_deps
from tests.hub.builders import bearer

# The kept store is SQLite's (on PostgreSQL a request borrows from psycopg's pool): under --hub-backend too.
pytestmark = [pytest.mark.usefixtures("hub_backend"), pytest.mark.parametrize("hub_backend", ["sqlite"], indirect=True)]


def test_the_hub_app_installs_the_resolution_in_order(app: Litestar) -> None:
    assert KwargsModel.resolve_dependencies is sequential_deps._resolve_in_order


def test_a_handler_with_several_dependencies_gets_them_all_and_its_store_back_without_a_task_group(
    client: TestClient[Any], admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_task_group() -> Any:
        raise AssertionError("a task group was made to resolve dependencies")

    monkeypatch.setattr(kwargs_model, "create_task_group", no_task_group)
    deps.close_idle()
    # /api/v1/status names the store, the settings and the clock: all given, the store given back after.
    answer = client.get("/api/v1/status", headers=bearer(admin_token))
    assert answer.status_code == 200 and "summary" in answer.json()
    assert len(deps._IDLE) == 1  # the store's clean-up ran: kept for the next request
