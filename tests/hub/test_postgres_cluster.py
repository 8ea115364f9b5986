"""The throwaway PostgreSQL cluster of the tests: it starts, a test connects with psycopg, it stops and is gone."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.conftest import require_tool
from tests.support import postgres


def test_a_test_gets_its_own_database_and_runs_a_query(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://postgres:")
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT current_database(), current_setting('listen_addresses'), 6 * 7").fetchone()
        assert row is not None
        database, listening, answer = row
        conn.execute("CREATE TABLE t (id bigint PRIMARY KEY)")
        conn.execute("INSERT INTO t VALUES (1)")
    assert database == postgres_url.rsplit("/", 1)[1] and database.startswith("t_")
    assert listening == "127.0.0.1"  # loopback only
    assert answer == 42


def test_each_test_starts_from_an_empty_database(postgres_url: str) -> None:
    """The table the previous test made is not here: a fresh database per test, from template0."""
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert tables == (0,)


def test_a_database_is_dropped_after_its_test(postgres_cluster: postgres.Cluster) -> None:
    with postgres_cluster.database() as url:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(url) as conn:  # left open: the drop closes it (WITH FORCE)
            conn.execute("SELECT 1")
            with psycopg.connect(postgres_cluster.url()) as admin:
                assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() == (1,)
    with psycopg.connect(postgres_cluster.url()) as admin:
        assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None


def test_the_password_is_required(postgres_cluster: postgres.Cluster) -> None:
    wrong = postgres_cluster.url().replace(postgres_cluster.password, "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=10)


def test_a_cluster_starts_and_stops_and_its_folder_is_gone() -> None:
    """A second, short-lived cluster: started, reachable, then stopped and deleted when the block ends."""
    require_tool(*postgres.tools_needed(), install=postgres.INSTALL)
    with postgres.running_cluster() as cluster:
        assert cluster.running()
        with psycopg.connect(cluster.url()) as conn:
            assert conn.execute("SHOW server_version_num").fetchone() is not None
        root, url = cluster.root, cluster.url()
    assert not root.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5)


def test_without_the_server_the_tests_skip_and_under_ci_they_fail(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(postgres, "find_bindir", lambda: None)  # no /usr/lib/postgresql/N/bin
    monkeypatch.setenv("PATH", str(tmp_path))  # and no initdb or pg_ctl on PATH
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"initdb, pg_ctl.* not installed \(apt-get install postgresql\)"):
        require_tool(*postgres.tools_needed(), install=postgres.INSTALL)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and a test needs initdb, pg_ctl"):
        require_tool(*postgres.tools_needed(), install=postgres.INSTALL)
