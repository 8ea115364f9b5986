"""Fixtures for end-to-end tests: one hub template per session, a live county per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.bootstrap import HubInit, init_hub
from station.store import datakey
from tests.integration.county import County, county


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
def live_county(tmp_path: Path, hub_template: tuple[Path, HubInit]) -> Iterator[County]:
    with county(tmp_path, hub_template[0]) as c:
        yield c
