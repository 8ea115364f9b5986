"""``station backup`` and ``station restore``: the whole station, encrypted under the passphrase; a restore
that checks everything first, keeps what it replaces, and writes nothing new until the hub confirms."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from station import cases as ops
from station.backup import MAGIC, BackupHeader, make_backup, read_header, restore_backup
from station.cli import main
from station.errors import PassphraseError
from station.identity import save_keypair
from station.queries import get_case
from station.store import Station, datakey
from sync.errors import InputError, NotFoundError, StoreError
from tests.station.conftest import PASSPHRASE, pension_enrolment


def backup_of(station: Station, tmp_path: Path) -> Path:
    (tmp_path / "usb").mkdir(exist_ok=True)
    return make_backup(station, tmp_path / "usb" / "station.pxb").path


def test_the_backup_holds_nothing_readable_without_the_passphrase(station, tmp_path):
    number = ops.new_intake(station, pension_enrolment()).number
    data = backup_of(station, tmp_path).read_bytes()
    assert data.startswith(MAGIC)
    for secret in ("王小明", "349921195803120234", "13800138000", "居民身份证"):
        assert secret.encode() not in data
    header = read_header(tmp_path / "usb" / "station.pxb")
    assert header.station_id == station.station_id and header.village_code == station.village_code
    assert number.encode() not in data  # case numbers are inside too


def test_restore_brings_back_every_case_into_a_new_folder(station, tmp_path):
    numbers = [ops.new_intake(station, pension_enrolment(phone=f"1380013800{i}")).number for i in range(3)]
    file = backup_of(station, tmp_path)
    datakey.forget()
    result = restore_backup(tmp_path / "new-pc", file, PASSPHRASE)
    assert result.aside == [] and not result.enrolled
    with Station.open(tmp_path / "new-pc", passphrase=PASSPHRASE) as restored:
        assert [get_case(restored, n).summary.case_no for n in numbers] == numbers
        assert restored.meta.restored is None  # never enrolled: no chain for the hub to confirm
        # The database is still encrypted under the same data key, unwrapped by the same passphrase.
        assert (tmp_path / "new-pc" / "station.dbkey").read_bytes() == (station.data_dir / "station.dbkey").read_bytes()


def test_a_wrong_passphrase_or_an_altered_byte_restores_nothing(station, tmp_path):
    ops.new_intake(station, pension_enrolment())
    file = backup_of(station, tmp_path)
    with pytest.raises(PassphraseError):
        restore_backup(tmp_path / "a", file, "not-the-passphrase")
    assert not (tmp_path / "a" / "station.db").exists()
    data = bytearray(file.read_bytes())
    for where in (len(data) - 5, len(data) // 2):
        altered = bytearray(data)
        altered[where] ^= 0x01
        bad = tmp_path / f"bad-{where}.pxb"
        bad.write_bytes(bytes(altered))
        with pytest.raises(StoreError, match="damaged or was altered"):
            restore_backup(tmp_path / "b", bad, PASSPHRASE)
        assert not (tmp_path / "b" / "station.db").exists() and not list((tmp_path / "b").glob(".restore-*"))
    cut = tmp_path / "cut.pxb"
    cut.write_bytes(bytes(data[:-20]))
    with pytest.raises(StoreError):
        restore_backup(tmp_path / "c", cut, PASSPHRASE)


def test_a_header_changed_on_the_stick_does_not_authenticate(station, tmp_path):
    file = backup_of(station, tmp_path)
    data = file.read_bytes()
    (size,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    header = msgspec.msgpack.decode(data[start : start + size], type=BackupHeader)
    forged = msgspec.msgpack.encode(msgspec.structs.replace(header, head_seq=header.head_seq + 5))
    other = tmp_path / "forged.pxb"
    other.write_bytes(MAGIC + struct.pack(">I", len(forged)) + forged + data[start + size :])
    with pytest.raises(StoreError, match="altered"):
        restore_backup(tmp_path / "d", other, PASSPHRASE)


def test_restore_over_a_station_needs_force_and_keeps_the_old_one_aside(station, tmp_path):
    first = ops.new_intake(station, pension_enrolment()).number
    file = backup_of(station, tmp_path)
    later = ops.new_intake(station, pension_enrolment(phone="13900000000")).number
    station.close()
    with pytest.raises(InputError, match="--force"):
        restore_backup(station.data_dir, file, PASSPHRASE)
    result = restore_backup(station.data_dir, file, PASSPHRASE, force=True)
    assert {p.name.split(".before-restore-")[0] for p in result.aside} >= {"station.db", "station.dbkey"}
    with Station.open(station.data_dir, passphrase=PASSPHRASE) as restored:
        assert get_case(restored, first).summary.case_no == first
        with pytest.raises(NotFoundError):
            get_case(restored, later)


def test_restore_refuses_while_another_program_has_the_station_open(station, tmp_path):
    file = backup_of(station, tmp_path)
    with pytest.raises(StoreError, match="another program"):
        restore_backup(station.data_dir, file, PASSPHRASE, force=True)  # `station` is still open here
    assert not list(station.data_dir.glob("*.before-restore-*"))


def test_an_enrolled_station_is_marked_restored_and_writes_nothing_until_confirmed(station, keys, tmp_path):
    save_keypair(station.data_dir, keys, PASSPHRASE, work=2**10)
    file = backup_of(station, tmp_path)
    station.close()
    result = restore_backup(station.data_dir, file, PASSPHRASE, force=True)
    assert result.enrolled
    with Station.open(station.data_dir, passphrase=PASSPHRASE) as restored:
        assert restored.meta.restored["backup_at"] == result.header.created_at
        with pytest.raises(StoreError, match="restored from a backup") as refused:
            ops.new_intake(restored, pension_enrolment())
        assert refused.value.code == "store.restored_unconfirmed"
        assert restored.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    status = CliRunner().invoke(main, ["--data-dir", str(station.data_dir), "--lang", "en", "status", "--json"])
    assert json.loads(status.stdout)["restored"] == result.header.created_at
    text = CliRunner().invoke(main, ["--data-dir", str(station.data_dir), "--lang", "en", "status"])
    assert "has not confirmed this station's chain" in text.stdout


def test_the_commands_say_what_they_did(station, keys, tmp_path):
    save_keypair(station.data_dir, keys, PASSPHRASE, work=2**10)
    station.close()
    runner = CliRunner()
    base = ["--data-dir", str(station.data_dir), "--lang", "en"]
    (tmp_path / "usb").mkdir()
    made = runner.invoke(main, [*base, "backup", str(tmp_path / "usb" / "s.pxb")])
    assert made.exit_code == 0, made.output
    assert "read back and checked" in made.stdout and "passphrase" in made.stdout
    into_itself = runner.invoke(main, [*base, "backup", str(station.data_dir / "s.pxb")])
    assert into_itself.exit_code == 2 and "USB stick" in into_itself.stderr
    refused = runner.invoke(main, [*base, "restore", str(tmp_path / "usb" / "s.pxb")])
    assert refused.exit_code == 2 and "--force" in refused.stderr
    offline = runner.invoke(main, [*base, "restore", "--force", "--no-sync", str(tmp_path / "usb" / "s.pxb")])
    assert offline.exit_code == 3, offline.output  # restored, not yet confirmed by the hub
    assert "has not confirmed" in offline.stdout


def test_a_backup_file_of_another_kind_is_named_as_such(tmp_path):
    other = tmp_path / "x.pxb"
    other.write_bytes(b"proxyapp-transfer" + bytes(40))
    with pytest.raises(InputError, match="not a station backup"):
        read_header(other)


def test_the_commands_give_china_time_in_chinese_brackets(station, keys, tmp_path):
    save_keypair(station.data_dir, keys, PASSPHRASE, work=2**10)
    station.close()
    runner = CliRunner()
    base = ["--data-dir", str(station.data_dir), "--lang", "zh"]
    (tmp_path / "usb").mkdir()
    made = runner.invoke(main, [*base, "backup", str(tmp_path / "usb" / "s.pxb")])
    assert made.exit_code == 0, made.output
    restored = runner.invoke(main, [*base, "restore", "--force", "--no-sync", str(tmp_path / "usb" / "s.pxb")])
    for output in (made.stdout, restored.stdout):
        assert "（UTC+8），已封装至数据集" in output and "(UTC+8)" not in output
