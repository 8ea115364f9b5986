"""Fixtures for end-to-end tests: one hub template per session, a live county per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.bootstrap import HubInit, init_hub
from station.store import datakey
from tests.integration.county import County, county, hub
from tests.support.postgres import HubBackend


@pytest.fixture(autouse=True)
def cheap_data_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A station enrolled in this process wraps its data key with a lower scrypt cost (tests only);
    its later opens here need no passphrase (the key stays unlocked in the process)."""
    monkeypatch.setattr(datakey, "KEY_WORK", 2**10)


@pytest.fixture(scope="session")
def hub_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, HubInit]:
    path = tmp_path_factory.mktemp("hub-template") / "hub"
    return path, init_hub(path)


@pytest.fixture
def live_county(
    tmp_path: Path, hub_template: tuple[Path, HubInit], hub_backend: HubBackend, request: pytest.FixtureRequest
) -> Iterator[County]:
    template = hub_template[0]
    if hub_backend.postgres:  # a test parametrised over hub_backend: the hub's store in PostgreSQL
        folder, template_db = request.getfixturevalue("postgres_hub_template")
        template = tmp_path / "pg-hub"
        hub_backend.copy_hub(folder, template_db, template)
    with county(tmp_path, template) as c:
        yield c


@pytest.fixture
def province_dir(tmp_path: Path) -> Path:
    """A province hub's folder (``hub init --role province``), on SQLite."""
    path = tmp_path / "province"
    code, out, err = hub(path, "init", "--role", "province")
    assert code == 0 and "Province hub created" in out, out + err
    return path
