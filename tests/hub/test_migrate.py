"""``hub migrate --to postgresql://…``: the refusals (exit 2 for a bad URL, an unreachable server and a non-empty
target; exit 1 while hub serve runs or without a hub), each with nothing written to the target."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from hub.backup import serving
from hub.cli import main
from hub.store import DB_FILE

SECRET = "s3cr3t-pw"
ENV: dict[str, str | None] = {"LANG": "", "LC_ALL": "", "HUB_DATABASE_URL": None}


def run(hub_dir: Path, *args: str):
    return CliRunner().invoke(main, ["--data-dir", str(hub_dir), *args], env=ENV)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def digest(hub_dir: Path) -> str:
    return hashlib.sha256((hub_dir / DB_FILE).read_bytes()).hexdigest()


def tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name"
        ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"mysql://hub:{SECRET}@db/hub", "it must start with postgresql://"),
        (f"postgresql://hub:{SECRET}@db.county.example:5432", "no database name"),
        (f"postgresql://hub:{SECRET}@db:99999/hub", "port 99999"),
    ],
)
def test_a_bad_url_exits_2_naming_to_without_the_password(hub_dir: Path, url: str, reason: str) -> None:
    before = digest(hub_dir)
    result = run(hub_dir, "--lang", "en", "migrate", "--to", url)
    assert result.exit_code == 2, result.output
    assert "Error: --to: " in result.output and reason in result.output
    assert "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in result.output
    assert SECRET not in result.output
    assert digest(hub_dir) == before


def test_a_bad_url_is_told_in_chinese_by_default(hub_dir: Path) -> None:
    result = run(hub_dir, "migrate", "--to", "sqlite:///hub.db")
    assert result.exit_code == 2
    assert result.output.startswith("错误：--to：") and "须以 postgresql:// 开头" in result.output


def test_an_unreachable_server_exits_2_with_the_reason(hub_dir: Path) -> None:
    before = digest(hub_dir)
    url = f"postgresql://hub:{SECRET}@127.0.0.1:{closed_port()}/hub"
    result = run(hub_dir, "--lang", "en", "migrate", "--to", url)
    assert result.exit_code == 2, result.output
    assert "--to: cannot connect to the PostgreSQL server at 127.0.0.1:" in result.output
    assert SECRET not in result.output
    assert digest(hub_dir) == before


def test_a_target_with_tables_exits_2_and_is_left_as_it_was(hub_dir: Path, postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE payroll (id int primary key, name text)")
        conn.execute("INSERT INTO payroll VALUES (1, 'x')")
    result = run(hub_dir, "--lang", "en", "migrate", "--to", postgres_url)
    assert result.exit_code == 2, result.output
    assert "is not empty: it holds 1 table(s) (payroll)" in result.output
    assert "create one (createdb -O USER" in result.output
    password = postgres_url.split("@")[0].rsplit(":", 1)[1]
    assert password not in result.output
    assert tables(postgres_url) == ["payroll"]
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT id, name FROM payroll").fetchall() == [(1, "x")]


def test_a_running_hub_is_refused_and_nothing_is_written(hub_dir: Path, postgres_url: str) -> None:
    with serving(hub_dir):
        result = run(hub_dir, "--lang", "en", "migrate", "--to", postgres_url)
    assert result.exit_code == 1, result.output
    assert "the hub is running" in result.output and "stop it first" in result.output
    assert "then migrate" in result.output
    assert tables(postgres_url) == []


def test_a_folder_without_a_hub_is_refused(tmp_path: Path, postgres_url: str) -> None:
    result = run(tmp_path / "nothing", "--lang", "en", "migrate", "--to", postgres_url)
    assert result.exit_code == 1, result.output
    assert "no SQLite hub here" in result.output and "--data-dir" in result.output
    assert tables(postgres_url) == []
    assert not (tmp_path / "nothing" / DB_FILE).exists()
