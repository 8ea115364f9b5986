"""The station data folder: initialisation, opening, reference data, the write transaction."""

from __future__ import annotations

import threading

import pytest

from station.store import DB_FILE, Station, datakey, default_data_dir
from station.store.db import connect, open_db, write_txn
from sync.errors import DivisionCodeError, InputError, StoreError
from tests.station.conftest import VILLAGE


def test_init_records_identity_and_reference_data(station):
    assert station.village_code == VILLAGE and station.device == "A"
    assert station.station_id.startswith(f"{VILLAGE}-A-")
    assert len(station.catalog.items) == 31 and len(station.catalog.bundles) == 3
    assert {2004, 2026} <= station.calendar.years
    assert station.divisions.village(VILLAGE).name_zh == "店庄社区"


def test_database_uses_wal_and_foreign_keys(station):
    assert station.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert station.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_init_twice_refuses_and_keeps_data(station, station_dir, clock):
    with pytest.raises(InputError) as info:
        Station.init(station_dir, village_code="349921002001", now=clock)
    assert info.value.code == "store.exists"
    assert Station.open(station_dir).village_code == VILLAGE


@pytest.mark.parametrize(
    "code",
    ["349921001000", "349921000000", "34992100100", "349921001x01", "349921999001", "349921001999"],
)
def test_init_refuses_a_code_that_is_not_a_known_village(tmp_path, code):
    with pytest.raises(DivisionCodeError):
        Station.init(tmp_path / "s", village_code=code)
    assert not (tmp_path / "s" / DB_FILE).exists()


@pytest.mark.parametrize("device", ["", "AB", "1", "é"])
def test_init_refuses_a_bad_device_letter(tmp_path, device):
    with pytest.raises(InputError):
        Station.init(tmp_path / "s", village_code=VILLAGE, device=device)


def test_open_without_init_says_what_to_do(tmp_path):
    with pytest.raises(StoreError) as info:
        Station.open(tmp_path / "nothing")
    assert "station init" in info.value.message("en") and "station init" in info.value.message("zh")


def test_default_data_dir_follows_environment(tmp_path):
    assert default_data_dir({"STATION_DATA_DIR": str(tmp_path)}) == tmp_path
    assert default_data_dir({}).name == "proxyapp-station"


def test_lookup_hashes_agree_across_opens(station, station_dir):
    reopened = Station.open(station_dir)
    assert reopened.id_hash("349921195803120234") == station.id_hash("349921195803120234")
    reopened.close()


def test_write_txn_rolls_back_everything_on_error(station):
    with pytest.raises(RuntimeError), write_txn(station.db):
        station.db.execute("INSERT INTO meta (key, value) VALUES ('probe', '1')")
        raise RuntimeError("boom")
    assert station.db.execute("SELECT COUNT(*) FROM meta WHERE key = 'probe'").fetchone()[0] == 0


def test_two_writers_take_turns_instead_of_failing(station, station_dir):
    # The TUI and a sync worker write at once: BEGIN IMMEDIATE makes the second wait, not fail.
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        db = open_db(station_dir / DB_FILE, key=datakey.unlock(station_dir))
        try:
            for i in range(100):
                with write_txn(db):
                    (n,) = db.execute("SELECT COUNT(*) FROM meta").fetchone()
                    db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", [f"{tag}{i}", str(n)])
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=writer, args=(t,)) for t in "xyz"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert station.db.execute("SELECT COUNT(*) FROM meta WHERE key GLOB '[xyz]*'").fetchone()[0] == 300


def test_disk_full_is_reported_clearly_and_loses_nothing(station, monkeypatch):
    from station import cases as ops
    from tests.station.conftest import pension_enrolment

    ops.new_intake(station, pension_enrolment())
    # SQLite reports a full disk as an OperationalError from the statement that hits it.
    station.db.execute("PRAGMA max_page_count = " + str(station.db.execute("PRAGMA page_count").fetchone()[0]))
    with pytest.raises(StoreError) as info:
        for _ in range(200):
            ops.new_intake(station, pension_enrolment(applicant_name="王" * 50))
    assert "disk" in info.value.message("en")
    station.db.execute("PRAGMA max_page_count = 1073741823")
    assert station.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    (cases,) = station.db.execute("SELECT COUNT(*) FROM cases").fetchone()
    (intakes,) = station.db.execute("SELECT COUNT(*) FROM intakes").fetchone()
    assert cases == intakes >= 1  # whole intakes only: the failed one left nothing behind


def test_opening_a_locked_database_does_not_hang_forever(station, station_dir):
    key = datakey.unlock(station_dir)
    other = connect(station_dir / DB_FILE, key, timeout=0.1)
    other.execute("BEGIN IMMEDIATE")
    try:
        db = open_db(station_dir / DB_FILE, key=key)
        db.conn.execute("PRAGMA busy_timeout = 100")
        with pytest.raises(StoreError), write_txn(db):
            pass
        db.close()
    finally:
        other.rollback()
        other.close()
