"""Small named fixtures for the hub tests: an initialised hub, its store, enrolled stations, an app."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hub.app import create_app
from hub.bootstrap import HubInit, init_hub
from hub.keys import HubIdentity, load_identity
from hub.settings import Settings
from hub.store import HubStore
from tests.hub.builders import OTHER_VILLAGE, Clock, TestStation, enrol


@pytest.fixture(scope="session")
def hub_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, HubInit]:
    """One `hub init` per session (keys, catalogue, calendars, 395 villages); tests copy it."""
    path = tmp_path_factory.mktemp("template") / "hub"
    return path, init_hub(path)


@pytest.fixture
def hub_dir(tmp_path: Path, hub_template: tuple[Path, HubInit]) -> Path:
    """A fresh copy of an initialised hub data folder."""
    target = tmp_path / "hub"
    shutil.copytree(hub_template[0], target)
    return target


@pytest.fixture
def admin_token(hub_template: tuple[Path, HubInit]) -> str:
    return hub_template[1].admin_token


@pytest.fixture
def identity(hub_dir: Path) -> HubIdentity:
    return load_identity(hub_dir)


@pytest.fixture
def store(hub_dir: Path) -> Iterator[HubStore]:
    with HubStore.open_existing(hub_dir) as opened:
        yield opened


@pytest.fixture
def clock() -> Clock:
    """2026-11-26 10:00 in China (a Thursday, a working day)."""
    return Clock()


@pytest.fixture
def station(store: HubStore, identity: HubIdentity, clock: Clock) -> TestStation:
    """Station A of village 349921001001, enrolled."""
    return enrol(store, identity, clock)


@pytest.fixture
def station_b(store: HubStore, identity: HubIdentity, clock: Clock, station: TestStation) -> TestStation:
    """A second PC (device B) in the same village."""
    return enrol(store, identity, clock)


@pytest.fixture
def other_station(store: HubStore, identity: HubIdentity, clock: Clock) -> TestStation:
    """A station of another village."""
    return enrol(store, identity, clock, village=OTHER_VILLAGE)


@pytest.fixture
def settings(hub_dir: Path) -> Settings:
    return Settings(data_dir=hub_dir)


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Litestar:
    return create_app(settings, now=clock)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=app) as test_client:
        yield test_client
