"""``hub backup`` and ``hub restore``: a consistent copy while the hub writes, verified, compressed; a restore
that refuses what it must and keeps what it replaces."""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile
import threading
from pathlib import Path

import pytest
import zstandard
from click.testing import CliRunner

from hub.backup import make_backup, read_manifest, restore_backup, serving
from hub.cli import main
from hub.ingest import ingest_sets
from hub.store import HubStore
from sync.errors import InputError, StoreError

ENV = {"LANG": "en_US.UTF-8", "LC_ALL": ""}


def run(hub_dir: Path, *args: str):
    return CliRunner().invoke(main, ["--data-dir", str(hub_dir), "--lang", "en", *args], env=ENV)


def rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def file_cases(hub_dir: Path, station, identity, count: int) -> list[str]:
    numbers = []
    with HubStore.open_existing(hub_dir) as store:
        for _ in range(count):
            case_no, changes = station.new_case()
            result = ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id)
            assert result.results[0].status == "accepted"
            numbers.append(case_no)
    return numbers


def members(file: Path) -> dict[str, bytes]:
    with (
        open(file, "rb") as raw,
        zstandard.ZstdDecompressor().stream_reader(raw) as reader,
        tarfile.open(fileobj=reader, mode="r|") as tar,
    ):
        return {info.name: tar.extractfile(info).read() for info in tar}  # type: ignore[union-attr]


def test_a_backup_taken_while_sets_arrive_is_one_consistent_moment(hub_dir, station, identity, tmp_path):
    file_cases(hub_dir, station, identity, 3)
    stop = threading.Event()
    written: list[str] = []

    def keep_writing() -> None:
        # Another connection commits sets all through the backup, as a busy hub does.
        while not stop.is_set():
            written.extend(file_cases(hub_dir, station, identity, 1))

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        result = make_backup(hub_dir, tmp_path / "hub.tar.zst", level=1)
    finally:
        stop.set()
        writer.join()
    assert written, "the writer never got in: the backup blocked it"
    archive = members(result.path)
    assert list(archive) == ["manifest.json", "hub.db", "hub.key"]
    manifest = json.loads(archive["manifest.json"])
    assert manifest["format"] == "proxyapp-hub-backup" and manifest["database"]["integrity"] == "ok"
    assert archive["hub.key"] == (hub_dir / "hub.key").read_bytes()
    copy = tmp_path / "copy.db"
    copy.write_bytes(archive["hub.db"])
    assert rows(copy, "PRAGMA integrity_check") == [("ok",)]
    # One moment: every set it holds was applied with its cases, none half-way.
    (sets,) = rows(copy, "SELECT COUNT(*) FROM sets_in")[0]
    (applied,) = rows(copy, "SELECT applied_seq FROM stations")[0]
    (cases,) = rows(copy, "SELECT COUNT(*) FROM cases")[0]
    assert sets == applied == cases == manifest["database"]["counts"]["cases"] >= 3
    assert (result.path.stat().st_mode & 0o777) == 0o600
    assert not list(hub_dir.glob(".backup-*")) and not list(tmp_path.glob("*.partial"))
    assert read_manifest(result.path).hub_id == identity.hub_id


def test_restore_puts_the_hub_back_and_keeps_what_it_replaced(hub_dir, station, identity, tmp_path):
    before = file_cases(hub_dir, station, identity, 2)
    backup = tmp_path / "b.tar.zst"
    assert run(hub_dir, "backup", str(backup)).exit_code == 0
    after = file_cases(hub_dir, station, identity, 2)

    refused = run(hub_dir, "restore", str(backup))
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert len(rows(hub_dir / "hub.db", "SELECT case_no FROM cases")) == 4  # nothing changed

    result = run(hub_dir, "restore", "--force", str(backup))
    assert result.exit_code == 0, result.output
    assert "kept as" in result.stdout
    assert sorted(r[0] for r in rows(hub_dir / "hub.db", "SELECT case_no FROM cases")) == sorted(before)
    (aside,) = hub_dir.glob("hub.db.before-restore-*")
    assert sorted(r[0] for r in rows(aside, "SELECT case_no FROM cases")) == sorted(before + after)
    with HubStore.open_existing(hub_dir) as store:
        assert store.get_meta("restored_from") == read_manifest(backup).created_at
        assert store.station(station.station_id).applied_seq == 2


def test_restore_into_an_empty_folder_needs_no_force_and_brings_the_key(hub_dir, station, identity, tmp_path):
    file_cases(hub_dir, station, identity, 1)
    backup = make_backup(hub_dir, tmp_path / "b.tar.zst").path
    target = tmp_path / "new-server"
    restore_backup(target, backup)
    assert (target / "hub.key").read_bytes() == (hub_dir / "hub.key").read_bytes()
    assert rows(target / "hub.db", "SELECT COUNT(*) FROM cases") == [(1,)]


def test_restore_refuses_while_the_hub_serves(hub_dir, tmp_path):
    backup = make_backup(hub_dir, tmp_path / "b.tar.zst").path
    with serving(hub_dir), pytest.raises(StoreError, match="running"):
        restore_backup(hub_dir, backup, force=True)
    assert not list(hub_dir.glob("*.before-restore-*"))


def test_a_damaged_backup_is_refused_before_anything_changes(hub_dir, station, identity, tmp_path):
    file_cases(hub_dir, station, identity, 1)
    backup = make_backup(hub_dir, tmp_path / "b.tar.zst").path
    data = bytearray(backup.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.tar.zst"
    damaged.write_bytes(bytes(data))
    before = (hub_dir / "hub.db").read_bytes()
    with pytest.raises((InputError, StoreError)):
        restore_backup(hub_dir, damaged, force=True)
    assert (hub_dir / "hub.db").read_bytes() == before
    assert not list(hub_dir.glob("*.before-restore-*")) and not list(hub_dir.glob(".restore-*"))
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a backup")
    result = run(hub_dir, "restore", "--force", str(garbage))
    assert result.exit_code == 2 and "not a hub backup" in result.stderr


def test_a_database_that_does_not_match_its_manifest_is_refused(hub_dir, tmp_path):
    backup = make_backup(hub_dir, tmp_path / "b.tar.zst").path
    parts = members(backup)
    manifest = json.loads(parts["manifest.json"])
    manifest["database"]["sha256"] = "0" * 64
    parts["manifest.json"] = json.dumps(manifest).encode()
    forged = tmp_path / "forged.tar.zst"
    with (
        open(forged, "wb") as raw,
        zstandard.ZstdCompressor().stream_writer(raw) as zst,
        tarfile.open(fileobj=zst, mode="w|") as tar,
    ):
        for name, data in parts.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(StoreError, match="does not match its manifest"):
        restore_backup(tmp_path / "empty", forged)
    assert not (tmp_path / "empty" / "hub.db").exists()


def test_a_backup_of_another_hub_needs_force(hub_dir, tmp_path):
    other = tmp_path / "other"
    assert run(other, "init").exit_code == 0
    backup = make_backup(other, tmp_path / "other.tar.zst").path
    keyed = tmp_path / "keyed"  # this hub's key, its database lost
    keyed.mkdir()
    (keyed / "hub.key").write_bytes((hub_dir / "hub.key").read_bytes())
    with pytest.raises(InputError, match="pinned"):
        restore_backup(keyed, backup)
    assert not (keyed / "hub.db").exists()
    restore_backup(keyed, backup, force=True)
    assert (keyed / "hub.key").read_bytes() == (other / "hub.key").read_bytes()
    assert list(keyed.glob("hub.key.before-restore-*"))


def test_backup_output_names_the_file_and_the_integrity_check(hub_dir, tmp_path):
    result = run(hub_dir, "backup", str(tmp_path / "b.tar.zst"))
    assert result.exit_code == 0, result.output
    assert "integrity ok" in result.stdout and "keep it offline" in result.stdout
    assert run(hub_dir, "backup", str(tmp_path)).exit_code == 2  # a folder, not a file


def test_long_work_reports_its_progress_stage_by_stage(hub_dir, tmp_path):
    seen: dict[str, tuple[int, int]] = {}
    make_backup(
        hub_dir, tmp_path / "b.tar.zst", progress=lambda stage, done, total: seen.update({stage: (done, total)})
    )
    assert list(seen) == ["copy", "write", "read"]  # the copy in pages, then the file written and read back, in bytes
    assert all(done == total > 0 for done, total in (seen["copy"], seen["write"])), seen


def test_the_commands_give_china_time_in_chinese_brackets(hub_dir, station, identity, tmp_path):
    file_cases(hub_dir, station, identity, 1)
    backup = tmp_path / "b.tar.zst"
    zh = ["--data-dir", str(hub_dir), "--lang", "zh"]
    made = CliRunner().invoke(main, [*zh, "backup", str(backup)], env=ENV)
    assert made.exit_code == 0, made.output
    restored = CliRunner().invoke(main, [*zh, "restore", "--force", str(backup)], env=ENV)
    assert restored.exit_code == 0, restored.output
    assert "（UTC+8）；1 个代办点" in made.stdout and "（UTC+8）的备份" in restored.stdout
    assert "(UTC+8)" not in made.stdout + restored.stdout
