"""The one definition of the replicated tables matches what a fresh hub and a fresh station migrate to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.store import HubStore
from station.store import Station, datakey
from sync.tables import BY_NAME, TABLE_NAMES, TABLES, VERSIONS, ReplicatedTable

PASSPHRASE = "村代办点口令2026"


@pytest.fixture
def hub_db(tmp_path: Path) -> Iterator[Any]:
    (tmp_path / "hub").mkdir()
    with HubStore.open(tmp_path / "hub") as store:
        yield store.db


@pytest.fixture
def station_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # The station database is SQLCipher under a data key the passphrase wraps; scrypt's cost is
    # lowered for speed (the wrapped key records it), as in tests/station.
    monkeypatch.setattr(datakey, "KEY_WORK", 2**10)
    datakey.forget()
    now = dt.datetime(2026, 9, 28, 2, 0, tzinfo=dt.UTC)
    station = Station.init(tmp_path / "station", village_code="349921001001", passphrase=PASSPHRASE, now=lambda: now)
    try:
        yield station.db
    finally:
        station.close()
        datakey.forget()


def _table_info(db: Any, table: str) -> dict[str, tuple[str, int]]:
    """Column name -> (declared type, position in the primary key) from ``PRAGMA table_info``."""
    return {row[1]: (row[2], row[5]) for row in db.execute(f"PRAGMA table_info({table})")}


def _tables_with_versions(db: Any) -> set[str]:
    names = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {name for name in names if VERSIONS in _table_info(db, name)}


def _check(db: Any, table: ReplicatedTable, local: frozenset[str]) -> None:
    info = _table_info(db, table.name)
    assert info, f"{table.name} missing"
    # One TEXT primary key, the one the definition names.
    assert [name for name, (_, pk) in info.items() if pk] == [table.pk]
    assert info[table.pk][0] == "TEXT"
    assert table.pk in table.replicated
    assert sorted(table.replicated - info.keys()) == [], f"{table.name}: replicated columns missing"
    # Every column is either replicated or this side's own: nothing the definition leaves out.
    assert sorted(info.keys() - table.replicated - local) == [], f"{table.name}: columns the definition lacks"
    assert not table.replicated & local


def test_the_definition_names_each_table_once_in_order():
    assert TABLE_NAMES[:6] == ("intakes", "intake_materials", "commitments", "cases", "case_notes", "attachments")
    assert list(BY_NAME) == list(TABLE_NAMES)
    assert all(BY_NAME[table.name] is table for table in TABLES)


def test_a_fresh_hub_has_exactly_the_defined_columns(hub_db):
    for table in TABLES:
        _check(hub_db, table, table.hub_local)
    # Field versions are kept for the replicated tables and no other.
    assert _tables_with_versions(hub_db) == set(TABLE_NAMES)


def test_a_fresh_station_has_exactly_the_defined_columns(station_db):
    for table in TABLES:
        _check(station_db, table, table.station_local)
        assert not table.hub_derived & _table_info(station_db, table.name).keys()
    assert _tables_with_versions(station_db) == set(TABLE_NAMES)


def test_hub_and_station_replicate_the_same_columns(hub_db, station_db):
    # What one side sends the other can store: the replicated columns exist at both.
    for table in TABLES:
        hub_columns = _table_info(hub_db, table.name).keys()
        station_columns = _table_info(station_db, table.name).keys()
        assert table.replicated <= hub_columns & station_columns
        assert station_columns - table.station_local == hub_columns - table.hub_local == table.replicated
