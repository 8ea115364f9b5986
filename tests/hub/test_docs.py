"""docs/hub.md covers every ``hub`` command and every HTTP route; docs/dashboard.md every API route and metric."""

from __future__ import annotations

import re
from pathlib import Path

import click

from hub.cli import main
from hub.settings import Settings
from hub.web.app import create_app

DOCS = Path(__file__).resolve().parents[2] / "docs"
DOC = DOCS / "hub.md"


def commands(group: click.Group, prefix: str):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}"


def test_every_command_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for path in commands(main, "hub"):
        assert f"`{path}" in text, f"docs/hub.md does not document '{path}'"


def test_every_route_is_documented(hub_dir):
    text = DOC.read_text(encoding="utf-8")
    app = create_app(Settings(data_dir=hub_dir))
    for route in app.routes:
        if route.path == "/schema/{path:str}":
            continue  # the OpenAPI plugin's catch-all: 404 for anything but /schema and /schema/openapi.json
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        assert path in text, f"docs/hub.md does not document {path}"


def test_the_dashboard_guide_covers_the_api_and_the_metrics(hub_dir):
    guide = (DOCS / "dashboard.md").read_text(encoding="utf-8")
    app = create_app(Settings(data_dir=hub_dir))
    for route in app.routes:
        if route.path.startswith("/api/v1/") and not route.path.startswith(
            ("/api/v1/sync", "/api/v1/enroll", "/api/v1/upstream")
        ):
            assert re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path) in guide, route.path
    from prometheus_client.parser import text_string_to_metric_families

    names = {f.name for f in text_string_to_metric_families(app.state["metrics"].render().decode())}
    for name in names - {"hub_http_request_duration_seconds"}:
        assert f"`{name}" in guide, name
