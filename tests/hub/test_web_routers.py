"""The hub's surfaces as Litestar routers: each page guarded by its role, OPTIONS still open, the clock injected."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from tests.hub.builders import Clock

GUARDED = {"/dashboard": "requires_admin", "/desk": "requires_department"}
OPEN = (
    "/healthz",
    "/metrics",
    "/api/v1/enroll",
    "/api/v1/sync",
    "/api/v1/scans",
    "/api/v1/sync/push",
    "/api/v1/sync/feed",
    "/api/v1/q",  # a resident's progress query: the query code is the proof (hub.web.progress)
    "/api/v1/upstream/enroll",  # a county hub: its enrolment code is the proof (hub.web.upstream_api)
    "/api/v1/upstream/sync",  # a county hub: every set in it is signed
)


def _handlers(app: Litestar) -> list[tuple[str, set[str], list[str], list[dict[str, list[str]]]]]:
    return [
        (
            route.path,
            set(handler.http_methods),
            [g.__name__ for g in handler.resolve_guards()],
            handler.resolve_security(),
        )
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if handler.http_methods != {"OPTIONS"}
    ]


def test_every_page_of_a_surface_needs_its_role(app: Litestar) -> None:
    handlers = _handlers(app)
    for prefix, guard in GUARDED.items():
        under = [(path, guards) for path, _, guards, _ in handlers if path == prefix or path.startswith(prefix + "/")]
        assert len(under) >= 3
        assert all(guards == [guard] for _, guards in under), under


def test_every_json_api_operation_needs_an_account_and_the_protocol_none(app: Litestar) -> None:
    for path, _, guards, security in _handlers(app):
        if path in OPEN:
            assert (guards, security) == ([], [{}]), path
        elif path.startswith("/api/v1/"):
            assert len(guards) == 1 and guards[0].startswith("requires_") and security == [], path


def test_options_answers_allow_without_a_login(client: TestClient[Litestar]) -> None:
    # The guards sit on the routers now; Litestar's own OPTIONS answer stays as it was (204, Allow, no data).
    for path in ("/dashboard", "/dashboard/audit", "/desk", "/desk/cases/X/decision", "/api/v1/status"):
        answer = client.options(path)
        assert answer.status_code == 204, path
        assert answer.content == b""
    assert client.options("/desk/cases/X/decision").headers["allow"] == "OPTIONS, POST"
    assert client.get("/dashboard", follow_redirects=False).headers["location"] == "/login?next=/dashboard"


def test_the_clock_is_read_per_request(client: TestClient[Litestar], clock: Clock, admin_token: str) -> None:
    bearer = {"Authorization": f"Bearer {admin_token}"}
    before = client.get("/api/v1/status", headers=bearer).json()["generated_at"]
    clock.advance(days=1)
    after = client.get("/api/v1/status", headers=bearer).json()["generated_at"]
    assert before < after
