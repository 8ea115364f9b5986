"""Shared test configuration: hypothesis profiles and small named fixtures."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support import postgres

settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.getenv("HYPOTHESIS_PROFILE", "dev"))


def require_tool(*tools: str, install: str) -> None:
    """Skip the calling test when a system tool it drives (a command name or an absolute path) is
    missing; with ``CI=true`` fail instead, so that CI never goes green by skipping the tests that
    need tmux or Chromium (.ci/run installs them). ``install`` says how to get them."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed ({install})"
    if os.getenv("CI", "").strip().lower() in {"true", "1", "yes"}:
        pytest.fail(f"CI=true and a test needs {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def requires_tmux() -> None:
    """For tests that drive a real terminal: ``pytestmark = pytest.mark.usefixtures("requires_tmux")``."""
    require_tool("tmux", install="apt-get install tmux")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[postgres.Cluster]:
    """One throwaway PostgreSQL cluster on loopback for the whole run (tests/support/postgres.py). Skips the
    test without the server binaries; with ``CI=true`` that fails instead (.ci/run installs them)."""
    require_tool(*postgres.tools_needed(), install=postgres.INSTALL)
    with postgres.running_cluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster: postgres.Cluster) -> Iterator[str]:
    """A fresh, empty database of the session's cluster for this test: its ``postgresql://…`` URL."""
    with postgres_cluster.database() as url:
        yield url


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--hub-backend",
        dest="hub_backend",
        choices=postgres.BACKENDS,
        default="sqlite",
        help="The engine of the hub's store in tests that do not choose it (BOTH_BACKENDS modules run on both): "
        "postgresql runs every hub test built on hub_dir against the throwaway cluster.",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long fuzzing runs (marker ``fuzz_long``) only when asked for: ``-m fuzz_long`` (or any -m
    expression naming it); every other run skips them, so CI keeps the short, bounded fuzz runs."""
    if "fuzz_long" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="long fuzzing run: select it with -m fuzz_long")
    for item in items:
        if "fuzz_long" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def hub_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[postgres.HubBackend]:
    """The engine of this test's hub store: SQLite (or ``--hub-backend``) unless the module runs on both
    (``pytestmark = BOTH_BACKENDS``, tests/support/postgres.py); the PostgreSQL case sets
    ``HUB_DATABASE_URL`` to a fresh database of the session's cluster (skipped without the server
    binaries, failed with ``CI=true``, as ``postgres_cluster``)."""
    from hub.store import pg
    from hub.store.location import DATABASE_URL_ENV

    name = getattr(request, "param", request.config.getoption("hub_backend"))
    if name == "sqlite":
        monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
        yield postgres.HubBackend("sqlite")
        return
    cluster: postgres.Cluster = request.getfixturevalue("postgres_cluster")
    with cluster.database() as url:
        backend = postgres.HubBackend("postgresql", cluster, url.rsplit("/", 1)[1])
        monkeypatch.setenv(DATABASE_URL_ENV, url)
        try:
            yield backend
        finally:
            while pg.pool_for(url) is not None:  # an app the test left open: its pool goes with the database
                pg.close_pool(url)


@pytest.fixture(scope="session")
def postgres_hub_template(
    postgres_cluster: postgres.Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, str]]:
    """One ``hub init`` on PostgreSQL per session: (data folder, template database) that tests copy."""
    folder = tmp_path_factory.mktemp("pg-template") / "hub"
    with postgres.hub_template(postgres_cluster, folder) as dbname:
        yield folder, dbname
