"""Small named fixtures for the hub tests: an initialised hub, its store, enrolled stations, accounts, an app."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hub.accounts import add_user, create_token, hasher_for
from hub.bootstrap import HubInit, init_hub
from hub.keys import HubIdentity, load_identity
from hub.settings import Settings
from hub.store import HubStore
from hub.web.app import create_app
from tests.hub.builders import OTHER_VILLAGE, PASSWORDS, Clock, TestStation, enrol
from tests.support.postgres import HubBackend


@pytest.fixture(scope="session")
def hub_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, HubInit]:
    """One `hub init` per session (keys, catalogue, calendars, 395 villages); tests copy it."""
    path = tmp_path_factory.mktemp("template") / "hub"
    return path, init_hub(path)


@pytest.fixture
def hub_dir(
    tmp_path: Path, hub_template: tuple[Path, HubInit], hub_backend: HubBackend, request: pytest.FixtureRequest
) -> Path:
    """A fresh copy of an initialised hub data folder (and, on PostgreSQL, of its database)."""
    target = tmp_path / "hub"
    if hub_backend.postgres:
        folder, template_db = request.getfixturevalue("postgres_hub_template")
        hub_backend.copy_hub(folder, template_db, target)
    else:
        shutil.copytree(hub_template[0], target)
    return target


@pytest.fixture
def fresh_hub(
    hub_template: tuple[Path, HubInit], hub_backend: HubBackend, request: pytest.FixtureRequest
) -> Callable[[Path], Path]:
    """Makes a fresh initialised hub at a path, on the test's engine, as often as asked (hypothesis examples:
    on PostgreSQL each one replaces the test's database with a new copy)."""

    def make(target: Path) -> Path:
        if hub_backend.postgres:
            folder, template_db = request.getfixturevalue("postgres_hub_template")
            hub_backend.copy_hub(folder, template_db, target)
        else:
            shutil.copytree(hub_template[0], target)
        return target

    return make


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
    # Cheap Argon2 parameters: the tests check behaviour, not the cost (the defaults take ~90 ms a hash).
    return Settings(data_dir=hub_dir, argon2_time_cost=1, argon2_memory_kib=1024)


@pytest.fixture
def users(store: HubStore, settings: Settings, clock: Clock) -> dict[str, str]:
    """Accounts: "admin" (administrator), "rs" (department RS, pensions) and "yb" (department YB); name → password."""
    for name, role, department in (("admin", "admin", None), ("rs", "department", "RS"), ("yb", "department", "YB")):
        add_user(store, name, role, PASSWORDS[name], department=department, hasher=hasher_for(settings), now=clock())
    return dict(PASSWORDS)


@pytest.fixture
def admin_token(store: HubStore, users: dict[str, str], clock: Clock) -> str:
    """An API token of the administrator account."""
    return create_token(store, "admin", expires_days=30, now=clock()).token


@pytest.fixture
def rs_token(store: HubStore, users: dict[str, str], clock: Clock) -> str:
    """An API token of the RS (pensions) department account."""
    return create_token(store, "rs", expires_days=30, now=clock()).token


@pytest.fixture
def yb_token(store: HubStore, users: dict[str, str], clock: Clock) -> str:
    """An API token of the YB (medical insurance) department account."""
    return create_token(store, "yb", expires_days=30, now=clock()).token


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Litestar:
    return create_app(settings, now=clock)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=app) as test_client:
        yield test_client
