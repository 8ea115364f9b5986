"""Personal data at rest: the whole station database encrypted, owner-only files, older databases encrypted in place."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from station import cases as ops
from station.cli import main
from station.errors import PassphraseError
from station.identity import KEY_FILE, load_keypair
from station.privacy import LOOKUP_KEY_FILE, id_lookup_hash, stored_lookup_key
from station.queries import CaseFilter, list_cases
from station.store import DB_FILE, Station, datakey
from station.store import db as station_db
from station.store.db import PLAIN_OLD_SUFFIX, connect, is_plain
from sync.errors import StoreError
from tests.station.conftest import PASSPHRASE, VILLAGE, WANG, ZHANG, pension_benefit_deferred, pension_enrolment

FIXTURES = Path(__file__).parent / "fixtures"
V04 = json.loads((FIXTURES / "station-0.4.0.keys.json").read_text(encoding="utf-8"))
POSIX = sys.platform != "win32"
REAL_REPLACE, REAL_WIPE = station_db._replace, station_db.wipe

PERSONAL = ["王小明", WANG, "13800138000", "张桂英", ZHANG, "13912345678"]
"""Names, ID numbers and phones of the tests' applicants and of the 0.4 fixture's."""


def leaks(folder: Path, secrets: list[str] = PERSONAL) -> list[str]:
    """Every file under ``folder`` that holds one of ``secrets`` in plain bytes (UTF-8 or UTF-16)."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        for text in secrets:
            if any(form in raw for form in (text.encode(), text.encode("utf-16-le"), text.encode("utf-16-be"))):
                found.append(f"{path.name}: {text[:2]}…")
    return found


def restore_plain(dump: str, folder: Path) -> Path:
    """A data folder as an older release left it: plain database in WAL mode, 0644 in a 0755 folder."""
    folder.mkdir()
    conn = sqlite3.connect(folder / DB_FILE)
    conn.executescript((FIXTURES / dump).read_text(encoding="utf-8"))
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    if POSIX:
        folder.chmod(0o755)
        (folder / DB_FILE).chmod(0o644)
    return folder


def restore_04(folder: Path) -> Path:
    """The 0.4 fixture: made by release 0.4's own code (see its keys.json), enrolled, county lookup key."""
    restore_plain("station-0.4.0.sql", folder)
    (folder / LOOKUP_KEY_FILE).write_bytes(bytes.fromhex(V04["lookup.key"]))
    (folder / KEY_FILE).write_bytes(bytes.fromhex(V04["station.key"]))
    if POSIX:
        (folder / LOOKUP_KEY_FILE).chmod(0o644)
    return folder


def rows(path: Path, key: bytes | None, *, tables: dict[str, list[str]] | None = None) -> dict[str, list[Any]]:
    """Every row of every table, sorted; with ``tables``, only those tables and columns."""
    conn = connect(path, key)
    try:
        if tables is None:
            names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            tables = {n: [c[1] for c in conn.execute(f'PRAGMA table_info("{n}")')] for n in names}
        return {
            name: sorted(conn.execute(f'SELECT {", ".join(columns)} FROM "{name}"').fetchall(), key=repr)
            for name, columns in tables.items()
        }
    finally:
        conn.close()


def columns_of(path: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(path)
    try:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: [c[1] for c in conn.execute(f'PRAGMA table_info("{n}")')] for n in names}
    finally:
        conn.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- a station of this release ------------------------------------------------------------------


def test_an_intake_leaves_no_name_id_number_or_phone_in_plain_bytes(station, station_dir):
    ops.new_intake(station, pension_enrolment(note="电话 13800138000 本人"))
    ops.new_intake(station, pension_benefit_deferred())
    # The connection stays open: the last commits are in the -wal, which is checked too.
    assert (station_dir / f"{DB_FILE}-wal").stat().st_size > 0
    assert leaks(station_dir) == []
    assert not is_plain(station_dir / DB_FILE)
    assert [c.case_no for c in list_cases(station, CaseFilter(text=WANG))]  # search by ID number still works


@pytest.mark.skipif(not POSIX, reason="POSIX modes; on Windows the profile folder's access list applies")
def test_the_data_folder_is_0700_and_its_files_0600(station, station_dir):
    ops.new_intake(station, pension_enrolment())
    assert mode(station_dir) == 0o700
    files = [p for p in station_dir.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", datakey.DATA_KEY_FILE}
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}


@pytest.mark.skipif(not POSIX, reason="POSIX modes")
def test_opening_tightens_modes_left_loose(station, station_dir, clock):
    station.close()
    for path in (station_dir, station_dir / DB_FILE, station_dir / datakey.DATA_KEY_FILE):
        path.chmod(0o755 if path.is_dir() else 0o644)
    (station_dir / "receipts").mkdir(mode=0o755)
    (station_dir / "receipts" / "A001.txt").write_text("回执", encoding="utf-8")
    (station_dir / "receipts" / "A001.txt").chmod(0o644)
    (station_dir / "notes.txt").write_text("not the station's", encoding="utf-8")
    (station_dir / "notes.txt").chmod(0o644)
    Station.open(station_dir, now=clock).close()
    assert mode(station_dir) == 0o700 and mode(station_dir / DB_FILE) == 0o600
    assert mode(station_dir / datakey.DATA_KEY_FILE) == 0o600
    assert mode(station_dir / "receipts") == 0o700 and mode(station_dir / "receipts" / "A001.txt") == 0o600
    assert mode(station_dir / "notes.txt") == 0o644  # only the station's own files are touched


def test_a_wrong_passphrase_is_refused_and_changes_nothing(station, station_dir):
    ops.new_intake(station, pension_enrolment())
    station.close()
    before = {p.name: p.read_bytes() for p in station_dir.iterdir() if p.is_file()}
    datakey.forget()
    with pytest.raises(PassphraseError) as info:
        Station.open(station_dir, passphrase="not-the-passphrase")
    assert "wrong passphrase" in info.value.message("en") and "口令错误" in info.value.message("zh")
    assert {p.name: p.read_bytes() for p in station_dir.iterdir() if p.is_file()} == before


def test_a_key_unlocked_once_opens_again_but_a_wrong_passphrase_still_fails(station, station_dir, monkeypatch):
    # The TUI's worker threads open the station without the passphrase; a wrong one is never let through.
    monkeypatch.delenv("STATION_PASSPHRASE")
    Station.open(station_dir).close()
    with pytest.raises(PassphraseError):
        Station.open(station_dir, passphrase="not-the-passphrase")
    datakey.forget(station_dir)
    with pytest.raises(PassphraseError) as info:
        Station.open(station_dir)
    assert info.value.code == "passphrase.needed" and "STATION_PASSPHRASE" in info.value.message("en")


def test_a_key_file_from_another_station_is_a_clear_error(station, station_dir, tmp_path, clock):
    other = Station.init(tmp_path / "other", village_code=VILLAGE, now=clock)
    other.close()
    station.close()
    shutil.copy(tmp_path / "other" / datakey.DATA_KEY_FILE, station_dir / datakey.DATA_KEY_FILE)
    with pytest.raises(StoreError) as info:
        Station.open(station_dir)
    assert info.value.code == "store.wrong_key" and "same backup" in info.value.message("en")


def test_init_without_any_passphrase_says_how_to_give_one(tmp_path, monkeypatch):
    monkeypatch.delenv("STATION_PASSPHRASE")
    with pytest.raises(PassphraseError) as info:
        Station.init(tmp_path / "s", village_code=VILLAGE)
    assert info.value.code == "passphrase.new" and "STATION_PASSPHRASE" in info.value.message("en")
    assert not (tmp_path / "s" / DB_FILE).exists()
    with pytest.raises(PassphraseError):
        Station.init(tmp_path / "s", village_code=VILLAGE, passphrase="short")


# -- older databases, encrypted in place --------------------------------------------------------


def test_a_04_database_is_encrypted_in_place_with_every_row_intact(tmp_path):
    folder = restore_04(tmp_path / "v04")
    before = rows(folder / DB_FILE, None)
    assert len(before["cases"]) == 2 and leaks(folder) != []  # plain, as 0.4 left it
    station_key = (folder / KEY_FILE).read_bytes()

    with Station.open(folder, passphrase=V04["passphrase"]) as st:
        after = rows(folder / DB_FILE, datakey.unlock(folder, V04["passphrase"]))
        county_key = bytes.fromhex(V04["lookup.key"])
        assert stored_lookup_key(st.db) == county_key  # moved inside, hashes untouched
        assert [c.case_no for c in list_cases(st, CaseFilter(text=ZHANG))] == [
            r[0] for r in before["cases"] if r[8] == ZHANG
        ]
        assert st.id_hash(WANG) == id_lookup_hash(county_key, WANG)

    meta_after = [r for r in after.pop("meta") if r[0] not in ("lookup_key",)]
    assert meta_after == before.pop("meta")
    # Later migrations may add rows to the ledger and new (empty) tables; everything 0.4 held is unchanged.
    migrations_before = before.pop("_sqlite_migrations")
    assert after.pop("_sqlite_migrations")[: len(migrations_before)] == migrations_before
    assert all(not after[name] for name in after.keys() - before.keys())
    assert {name: after[name] for name in before} == before
    assert not is_plain(folder / DB_FILE) and leaks(folder) == []
    assert not (folder / LOOKUP_KEY_FILE).exists()
    assert (folder / KEY_FILE).read_bytes() == station_key
    assert load_keypair(folder, V04["passphrase"])  # one passphrase for the data and the station key
    assert sorted(p.name for p in folder.iterdir()) == sorted([DB_FILE, KEY_FILE, datakey.DATA_KEY_FILE])
    if POSIX:
        assert mode(folder) == 0o700 and all(mode(p) == 0o600 for p in folder.iterdir())


def test_the_01_fixture_is_encrypted_with_every_row_intact_and_found_by_id_number(tmp_path):
    folder = restore_plain("station-0.1.0.sql", tmp_path / "v01")
    old_columns = columns_of(folder / DB_FILE)
    before = rows(folder / DB_FILE, None, tables=old_columns)
    with Station.open(folder, passphrase=PASSPHRASE) as st:
        # 0.1 hashed ID numbers under a key file the dump does not carry: re-hashed under a new one.
        assert [c.case_no for c in list_cases(st, CaseFilter(text=ZHANG))] == ["349921001001-20261120-A001"]
    after = rows(folder / DB_FILE, datakey.unlock(folder, PASSPHRASE), tables=old_columns)
    id_hash = old_columns["cases"].index("id_hash")
    for table in (before, after):
        table["cases"] = [r[:id_hash] + r[id_hash + 1 :] for r in table["cases"]]
        table["meta"] = [r for r in table["meta"] if r[0] not in ("lookup_key", "lookup_key_id")]
        table["_sqlite_migrations"] = [r for r in table["_sqlite_migrations"] if r[2] == "m001_case_book"]
    assert after == before
    assert leaks(folder) == []


def test_a_04_database_with_a_wrong_passphrase_is_left_exactly_as_it_was(tmp_path):
    folder = restore_04(tmp_path / "v04")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["--lang", "en", "case", "list"],
        catch_exceptions=False,
        env={"STATION_DATA_DIR": str(folder), "STATION_PASSPHRASE": "another-passphrase"},
    )
    assert result.exit_code == 2
    assert "wrong passphrase" in result.stderr and "nothing was changed" in result.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # no key file made, still plain


def test_commits_still_in_the_04_wal_are_kept(tmp_path):
    source = restore_04(tmp_path / "v04")
    writer = sqlite3.connect(source / DB_FILE)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("UPDATE cases SET phone = '13700000000' WHERE id_number = ?", [WANG])
    writer.commit()
    # A copy taken while 0.4 still had it open (a power cut): the change is only in the -wal.
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    writer.close()
    assert (copy / f"{DB_FILE}-wal").stat().st_size > 0
    with Station.open(copy, passphrase=V04["passphrase"]) as st:
        assert st.db.execute("SELECT phone FROM cases WHERE id_number = ?", [WANG]).fetchone()[0] == "13700000000"
    assert leaks(copy, ["13700000000"]) == []


def test_a_failure_before_the_swap_keeps_the_plain_database_and_the_next_open_finishes(tmp_path, monkeypatch):
    folder = restore_04(tmp_path / "v04")
    before = rows(folder / DB_FILE, None)

    def power_cut(source: Path, target: Path) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(station_db, "_replace", power_cut)
    with pytest.raises(OSError):
        Station.open(folder, passphrase=V04["passphrase"])
    assert is_plain(folder / DB_FILE) and rows(folder / DB_FILE, None) == before
    assert not list(folder.glob(f"*{PLAIN_OLD_SUFFIX}"))  # the extra name for the plain bytes is gone
    monkeypatch.setattr(station_db, "_replace", REAL_REPLACE)
    with Station.open(folder, passphrase=V04["passphrase"]) as st:
        assert st.db.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 2
    assert leaks(folder) == [] and not list(folder.glob("*.encrypting*"))


def test_a_crash_after_the_swap_wipes_the_plain_original_on_the_next_open(tmp_path, monkeypatch):
    folder = restore_04(tmp_path / "v04")
    monkeypatch.setattr(station_db, "wipe", lambda path: None)  # the crash: the plain bytes stay behind
    Station.open(folder, passphrase=V04["passphrase"]).close()
    left = folder / (DB_FILE + PLAIN_OLD_SUFFIX)
    assert is_plain(left)
    monkeypatch.setattr(station_db, "wipe", REAL_WIPE)
    Station.open(folder, passphrase=V04["passphrase"]).close()
    assert not left.exists() and leaks(folder) == []


def test_two_programs_opening_a_04_database_at_once_encrypt_it_once(tmp_path):
    folder = restore_04(tmp_path / "v04")
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    counts: list[int] = []

    def opener() -> None:
        start.wait()
        try:
            with Station.open(folder, passphrase=V04["passphrase"]) as st:
                counts.append(st.db.execute("SELECT COUNT(*) FROM cases").fetchone()[0])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and counts == [2, 2]
    datakey.forget()
    with Station.open(folder, passphrase=V04["passphrase"]) as st:  # the key on disk is the one used
        assert st.db.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 2


def test_a_04_key_file_from_another_backup_is_refused(tmp_path):
    folder = restore_04(tmp_path / "v04")
    (folder / LOOKUP_KEY_FILE).write_bytes(os.urandom(32))
    with pytest.raises(StoreError) as info:
        Station.open(folder, passphrase=V04["passphrase"])
    assert "does not belong to this database" in info.value.message("en")


def test_an_unenrolled_04_database_takes_the_first_passphrase_given(tmp_path, monkeypatch):
    folder = restore_04(tmp_path / "v04")
    (folder / KEY_FILE).unlink()  # never enrolled: no passphrase existed yet
    monkeypatch.delenv("STATION_PASSPHRASE")
    with pytest.raises(PassphraseError) as info:
        Station.open(folder)
    assert info.value.code == "passphrase.new" and is_plain(folder / DB_FILE)
    Station.open(folder, passphrase="a-new-passphrase").close()
    datakey.forget()
    Station.open(folder, passphrase="a-new-passphrase").close()
    assert leaks(folder) == []


# -- the OS keyring, the agent's choice ---------------------------------------------------------


class MemoryKeyring:
    """A keyring backend that keeps its entries in memory (this PC has no real one)."""

    def __init__(self) -> None:
        from keyring.backend import KeyringBackend

        class Backend(KeyringBackend):
            priority = 1  # type: ignore[assignment]
            items: dict[tuple[str, str], str] = {}

            def get_password(self, service: str, username: str) -> str | None:
                return self.items.get((service, username))

            def set_password(self, service: str, username: str, password: str) -> None:
                self.items[(service, username)] = password

            def delete_password(self, service: str, username: str) -> None:
                from keyring.errors import PasswordDeleteError

                if self.items.pop((service, username), None) is None:
                    raise PasswordDeleteError("not there")

        self.backend = Backend()


@pytest.fixture
def keyring_backend():
    import keyring

    previous = keyring.get_keyring()
    memory = MemoryKeyring().backend
    memory.items.clear()
    keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(previous)


def test_unlock_remember_keeps_the_data_key_in_the_keyring_until_lock(station, station_dir, keyring_backend):
    station.close()
    runner = CliRunner()

    def run(*args: str, passphrase: str | None = None):
        datakey.forget()  # each command is a new process
        env = {"STATION_DATA_DIR": str(station_dir), "STATION_PASSPHRASE": passphrase, "LANG": "en_US.UTF-8"}
        return runner.invoke(main, ["--lang", "en", *args], env=env, catch_exceptions=False)

    assert run("case", "list").exit_code == 2
    remembered = run("unlock", "--remember", passphrase=PASSPHRASE)
    assert remembered.exit_code == 0 and "keyring" in remembered.stdout
    assert all(PASSPHRASE not in value for value in keyring_backend.items.values())
    assert run("case", "list").exit_code == 0  # no passphrase: the keyring opens the data
    assert run("lock").exit_code == 0
    needed = run("case", "list")
    assert needed.exit_code == 2 and "STATION_PASSPHRASE" in needed.stderr


def test_unlock_remember_without_a_keyring_is_a_clear_error(station, station_dir):
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # as on a PC with no keyring service
    station.close()
    result = CliRunner().invoke(
        main,
        ["--lang", "en", "unlock", "--remember"],
        catch_exceptions=False,
        env={"STATION_DATA_DIR": str(station_dir), "STATION_PASSPHRASE": PASSPHRASE},
    )
    keyring.set_keyring(previous)
    assert result.exit_code == 1 and "no usable keyring" in result.stderr


# -- asked for at a terminal --------------------------------------------------------------------


@pytest.mark.skipif(not POSIX, reason="a pseudo-terminal")
def test_a_command_at_a_terminal_asks_for_the_passphrase_once(station, station_dir):
    import pty
    import subprocess
    import time

    ops.new_intake(station, pension_enrolment())
    station.close()
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "STATION_PASSPHRASE"}
    env.update(STATION_DATA_DIR=str(station_dir), LANG="en_US.UTF-8", COLUMNS="200")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "station"), "--lang", "en", "case", "list"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        start_new_session=True,
    )
    os.close(terminal)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while b"passphrase" not in seen.lower() and time.monotonic() < deadline:
            seen += os.read(controller, 4096)
        assert "Station passphrase / 本站密钥口令".encode() in seen
        os.write(controller, PASSPHRASE.encode() + b"\n")
        while process.poll() is None and time.monotonic() < deadline:
            try:
                seen += os.read(controller, 4096)
            except OSError:  # the terminal closed with the program
                break
        assert process.wait(10) == 0, seen.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    text = seen.decode(errors="replace")
    assert "王小明" in text and PASSPHRASE not in text  # the list, and the passphrase never echoed
    assert text.lower().count("passphrase") == 1  # asked once
