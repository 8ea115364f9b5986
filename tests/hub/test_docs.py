"""docs/hub.md covers every ``hub`` command and every HTTP route of the hub."""

from __future__ import annotations

from pathlib import Path

import click

from hub.app import create_app
from hub.cli import main
from hub.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "hub.md"


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
        path = route.path.replace("{case_no:str}", "{case_no}")
        assert path in text, f"docs/hub.md does not document {path}"
