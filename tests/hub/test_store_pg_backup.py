"""``hub backup`` and ``hub restore`` of a hub whose store is PostgreSQL: the key and the database's address in
the file, the database left to pg_dump and pg_restore, and a restore that would put a SQLite hub in its place
refused (docs/postgresql.md, "Backup")."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import psycopg
import pytest
import zstandard
from click.testing import CliRunner

from hub.cli import main
from hub.feed import RESTORED_META, held_feed
from hub.store import HubStore
from hub.store.location import DATABASE_FILE, DATABASE_URL_ENV

pytestmark = pytest.mark.parametrize("hub_backend", ["postgresql"], indirect=True)


def run(hub_dir: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(
        main, ["--data-dir", str(hub_dir), "--lang", "en", *args], env={"LANG": "", **(env or {})}
    )


def members(file: Path) -> dict[str, bytes]:
    with (
        open(file, "rb") as raw,
        zstandard.ZstdDecompressor().stream_reader(raw) as zst,
        tarfile.open(fileobj=zst, mode="r|") as tar,
    ):
        return {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]


def test_backup_keeps_the_key_and_says_to_dump_the_database(hub_dir, hub_backend, tmp_path):
    password = hub_backend.url.split(":")[2].split("@")[0]
    result = run(hub_dir, "backup", str(tmp_path / "key.tar.zst"))
    assert result.exit_code == 0, result.output
    assert "the hub's key and its database address" in result.output and "pg_dump" in result.output
    assert password not in result.output
    held = members(tmp_path / "key.tar.zst")
    assert sorted(held) == sorted(["manifest.json", "hub.key", DATABASE_FILE])
    assert held["hub.key"] == (hub_dir / "hub.key").read_bytes()
    manifest = json.loads(held["manifest.json"])
    assert manifest["database"]["engine"] == "postgresql" and password not in manifest["database"]["where"]

    # As a SQLite hub elsewhere: refused, with what to do instead.
    elsewhere = run(tmp_path / "sqlite-hub", "restore", str(tmp_path / "key.tar.zst"), env={DATABASE_URL_ENV: ""})
    assert elsewhere.exit_code == 2, elsewhere.output
    assert "holds the key of a hub whose store is PostgreSQL" in elsewhere.stderr
    assert not (tmp_path / "sqlite-hub" / "hub.db").exists()


def test_restore_after_pg_restore_holds_the_feeds_and_puts_the_key_back(hub_dir, hub_backend, tmp_path, station):
    assert run(hub_dir, "backup", str(tmp_path / "key.tar.zst")).exit_code == 0
    key = (hub_dir / "hub.key").read_bytes()
    (hub_dir / "hub.key").unlink()  # the folder lost with the server, the database back by pg_restore
    result = run(hub_dir, "restore", str(tmp_path / "key.tar.zst"))
    assert result.exit_code == 0, result.output
    assert "now knows it was restored from a backup" in result.output
    assert (hub_dir / "hub.key").read_bytes() == key and ((hub_dir / "hub.key").stat().st_mode & 0o777) == 0o600
    with HubStore.open_existing(hub_dir) as store:
        assert store.get_meta(RESTORED_META) and held_feed(store, station.station_id)


def test_restore_before_pg_restore_says_to_run_it_first(hub_dir, hub_backend, tmp_path):
    assert run(hub_dir, "backup", str(tmp_path / "key.tar.zst")).exit_code == 0
    with psycopg.connect(hub_backend.cluster.url(), autocommit=True) as admin:  # the server lost the database
        admin.execute(f'DROP DATABASE "{hub_backend.dbname}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{hub_backend.dbname}" TEMPLATE template0')
    result = run(hub_dir, "restore", str(tmp_path / "key.tar.zst"))
    assert result.exit_code == 2 and "restore the database with pg_restore from its pg_dump file first" in result.stderr
    not_a_key_file = tmp_path / "other.tar.zst"
    not_a_key_file.write_bytes(b"not a backup")
    result = run(hub_dir, "restore", str(not_a_key_file))
    assert result.exit_code == 2 and "pg_restore" in result.stderr
