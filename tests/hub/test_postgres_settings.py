"""HUB_DATABASE_URL and ``hub init --database``: checked (exit 2, nothing written, the password never shown),
then the hub's store made there; ``hub serve --workers N`` only on PostgreSQL."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.keys import load_identity
from hub.settings import Settings, parse_database_url
from hub.store import HubStore
from hub.store.location import DATABASE_FILE
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
def test_init_on_a_reachable_server_makes_the_hub_there(tmp_path: Path, postgres_url: str, lang: str) -> None:
    """The store goes into the PostgreSQL database (no SQLite file is made); the folder keeps the keys and the
    URL, owner-only, so that later commands find the store without the variable."""
    result = run(tmp_path / "hub", "--lang", lang, "init", "--database", postgres_url)
    assert result.exit_code == 0, result.output
    redacted = postgres_url.replace(postgres_url.split(":")[2].split("@")[0], "***")
    assert (f"Store: PostgreSQL {redacted}" if lang == "en" else f"数据库：PostgreSQL {redacted}") in result.output
    assert postgres_url.split(":")[2].split("@")[0] not in result.output  # the password
    assert not (tmp_path / "hub" / "hub.db").exists() and (tmp_path / "hub" / "hub.key").exists()
    recorded = tmp_path / "hub" / DATABASE_FILE
    assert recorded.read_text().strip() == postgres_url and (recorded.stat().st_mode & 0o777) == 0o600
    listed = run(tmp_path / "hub", "--lang", "en", "station", "list")
    assert listed.exit_code == 0, listed.output
    with HubStore.open_existing(tmp_path / "hub") as store:
        assert store.dialect == "postgresql" and store.get_meta("hub_id") == load_identity(tmp_path / "hub").hub_id
    again = run(tmp_path / "other", "--lang", "en", "init", "--database", postgres_url)
    assert again.exit_code == 2 and "already holds a hub" in again.stderr and "nothing was changed" in again.stderr
    assert not (tmp_path / "other").exists()


def test_the_variable_is_used_by_init_and_every_other_command(tmp_path: Path, postgres_url: str) -> None:
    env = {"HUB_DATABASE_URL": postgres_url}
    result = run(tmp_path / "new", "--lang", "en", "init", env=env)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "new" / "hub.db").exists()
    for args in (["station", "add", "--village", "349921001001"], ["station", "list"]):
        result = run(tmp_path / "new", "--lang", "en", *args, env=env)
        assert result.exit_code == 0, (args, result.output)
    with HubStore.open_existing(tmp_path / "new", database=postgres_url) as store:
        assert len(store.open_enrolments("2000-01-01T00:00:00Z")) == 1
    bad = run(tmp_path / "new", "--lang", "en", "station", "list", env={"HUB_DATABASE_URL": "postgresql://h"})
    assert bad.exit_code == 2 and "HUB_DATABASE_URL: " in bad.stderr and "no database name" in bad.stderr
    gone = run(tmp_path / "new", "--lang", "en", "station", "list", env={"HUB_DATABASE_URL": ""})  # the recorded URL
    assert gone.exit_code == 0, gone.output


def test_serve_with_several_workers_needs_postgresql(hub_dir: Path) -> None:
    result = run(hub_dir, "--lang", "en", "serve", "--workers", "2", "--port", str(closed_port()))
    assert result.exit_code == 2, result.output
    assert "--workers 2: the built-in SQLite store takes one writer at a time" in result.stderr
    assert "hub migrate --to" in result.stderr


def test_without_a_url_init_makes_the_sqlite_hub_as_before(tmp_path: Path) -> None:
    result = run(tmp_path / "hub", "--lang", "en", "init", env={"HUB_DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hub" / "hub.db").exists()
