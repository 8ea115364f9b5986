"""``hub backup`` and ``hub restore`` of a hub whose store is PostgreSQL: the key and the database's address in
the file, the database left to pg_dump and pg_restore, and a restore that would put a SQLite hub in its place
refused (docs/postgresql.md, "Backup")."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import zstandard
from click.testing import CliRunner

from hub.cli import main
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

    # Restoring it over the PostgreSQL hub, or as a SQLite hub elsewhere: refused, with what to do instead.
    over = run(hub_dir, "restore", str(tmp_path / "key.tar.zst"))
    assert over.exit_code == 2 and "hub restore puts back a SQLite hub" in over.stderr and "pg_restore" in over.stderr
    elsewhere = run(tmp_path / "sqlite-hub", "restore", str(tmp_path / "key.tar.zst"), env={DATABASE_URL_ENV: ""})
    assert elsewhere.exit_code == 2, elsewhere.output
    assert "holds the key of a hub whose store is PostgreSQL" in elsewhere.stderr
    assert not (tmp_path / "sqlite-hub" / "hub.db").exists()
