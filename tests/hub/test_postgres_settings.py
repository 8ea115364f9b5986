"""HUB_DATABASE_URL and ``hub init --database``: checked, reachable, and refused while this release has no
PostgreSQL store (exit 2, nothing written, the password never shown)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.settings import Settings, parse_database_url
from sync.errors import InputError

SECRET = "s3cr3t-pw"
ENV: dict[str, str | None] = {"LANG": "", "LC_ALL": "", "HUB_DATABASE_URL": None}


def run(hub_dir: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["--data-dir", str(hub_dir), *args], env={**ENV, **(env or {})})


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "dbname", "host", "port"),
    [
        (f"postgresql://hub:{SECRET}@db.county.example:5433/hub", "hub", "db.county.example", "5433"),
        ("postgres://hub@127.0.0.1/hub_349921", "hub_349921", "127.0.0.1", ""),
        ("postgresql:///hub?host=/var/run/postgresql", "hub", "/var/run/postgresql", ""),
        ("postgresql://a:5432,b:5433/hub?sslmode=require", "hub", "a,b", "5432,5433"),
    ],
)
def test_a_good_url_is_read(url: str, dbname: str, host: str, port: str) -> None:
    database = parse_database_url(url)
    assert (database.dbname, database.host, database.port) == (dbname, host, port)
    assert SECRET not in repr(database) and SECRET not in str(database)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"mysql://hub:{SECRET}@db/hub", "it must start with postgresql://"),
        (f"db.county.example:5432/hub?password={SECRET}", "it must start with postgresql://"),
        (f"postgresql://hub:{SECRET}@db.county.example:5432", "no database name"),
        (f"postgresql://hub:{SECRET}@db:99999/hub", "port 99999 is not a number from 1 to 65535"),
        (f"postgresql://hub:{SECRET}@db:pg/hub", "port pg is not a number"),
        (f"postgresql://hub:{SECRET}@db/hub?colour=blue", "libpq cannot parse it"),
        (f"postgresql://hub:{SECRET}@db/my hub", "white space"),
    ],
)
def test_a_bad_url_names_the_option_and_the_fix_without_the_password(url: str, reason: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_database_url(url, option="--database")
    error = caught.value
    assert error.code == "database_url" and error.field == "database"
    assert error.en.startswith("--database: ") and reason in error.en
    assert "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in error.en
    assert error.zh.startswith("--database：") and "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in error.zh
    assert SECRET not in error.en and SECRET not in error.zh


def test_settings_read_the_variable(tmp_path: Path) -> None:
    assert Settings.from_env({"HUB_DATA_DIR": str(tmp_path)}).database is None
    assert Settings.from_env({"HUB_DATA_DIR": str(tmp_path), "HUB_DATABASE_URL": "  "}).database is None
    settings = Settings.from_env({"HUB_DATA_DIR": str(tmp_path), "HUB_DATABASE_URL": "postgresql://h/hub"})
    assert settings.database is not None and settings.database.dbname == "hub"
    with pytest.raises(InputError, match="^HUB_DATABASE_URL: "):
        Settings.from_env({"HUB_DATA_DIR": str(tmp_path), "HUB_DATABASE_URL": "sqlite:///hub.db"})


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_init_with_a_bad_url_exits_2_and_writes_nothing(tmp_path: Path, lang: str) -> None:
    result = run(tmp_path / "hub", "--lang", lang, "init", "--database", f"mysql://hub:{SECRET}@db/hub")
    assert result.exit_code == 2, result.output
    expected = "--database: " if lang == "en" else "--database："
    assert expected in result.stderr and "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in result.stderr
    assert SECRET not in result.output
    assert not (tmp_path / "hub").exists()


def test_init_with_an_unreachable_server_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    url = f"postgresql://hub:{SECRET}@127.0.0.1:{closed_port()}/hub"
    result = run(tmp_path / "hub", "--lang", "en", "init", "--database", url)
    assert result.exit_code == 2, result.output
    assert "--database: cannot connect to the PostgreSQL server at 127.0.0.1:" in result.stderr
    assert "Connection refused" in result.stderr and "createdb hub" in result.stderr
    assert SECRET not in result.output
    assert not (tmp_path / "hub").exists()


def test_init_with_a_wrong_password_exits_2(tmp_path: Path, postgres_url: str) -> None:
    url = postgres_url.replace("postgres:", "postgres:wrong", 1)
    result = run(tmp_path / "hub", "--lang", "en", "init", "--database", url)
    assert result.exit_code == 2, result.output
    assert "password authentication failed" in result.stderr and "wrong" not in result.output
    assert not (tmp_path / "hub").exists()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_init_on_a_reachable_server_is_refused_not_faked(tmp_path: Path, postgres_url: str, lang: str) -> None:
    """The server answers, but this release has no PostgreSQL store: exit 2, no SQLite hub made instead."""
    result = run(tmp_path / "hub", "--lang", lang, "init", "--database", postgres_url)
    assert result.exit_code == 2, result.output
    if lang == "en":
        assert "PostgreSQL store: not yet available in this release (--database)" in result.stderr
        assert "HUB_DATABASE_URL" in result.stderr and "docs/postgresql.md" in result.stderr
    else:
        assert "PostgreSQL 存储：本版本尚未提供（--database）" in result.stderr
    assert not (tmp_path / "hub").exists()


def test_the_variable_is_refused_by_init_and_every_other_command(
    tmp_path: Path, hub_dir: Path, postgres_url: str
) -> None:
    env = {"HUB_DATABASE_URL": postgres_url}
    result = run(tmp_path / "new", "--lang", "en", "init", env=env)
    assert result.exit_code == 2 and "not yet available in this release (HUB_DATABASE_URL)" in result.stderr
    assert not (tmp_path / "new").exists()
    for args in (["station", "list"], ["serve", "--port", str(closed_port())]):
        result = run(hub_dir, "--lang", "en", *args, env=env)
        assert result.exit_code == 2, (args, result.output)
        assert "PostgreSQL store: not yet available in this release (HUB_DATABASE_URL)" in result.stderr
    bad = run(hub_dir, "--lang", "en", "station", "list", env={"HUB_DATABASE_URL": "postgresql://h"})
    assert bad.exit_code == 2 and "HUB_DATABASE_URL: " in bad.stderr and "no database name" in bad.stderr


def test_without_a_url_init_makes_the_sqlite_hub_as_before(tmp_path: Path) -> None:
    result = run(tmp_path / "hub", "--lang", "en", "init", env={"HUB_DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hub" / "hub.db").exists()
