"""Fixtures for end-to-end tests: one hub template per session, a live county per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.bootstrap import HubInit, init_hub
from tests.integration.county import County, county


@pytest.fixture(scope="session")
def hub_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, HubInit]:
    path = tmp_path_factory.mktemp("hub-template") / "hub"
    return path, init_hub(path)


@pytest.fixture
def live_county(tmp_path: Path, hub_template: tuple[Path, HubInit]) -> Iterator[County]:
    with county(tmp_path, hub_template[0]) as c:
        yield c
