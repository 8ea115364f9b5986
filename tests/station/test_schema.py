"""Schema migrations: a database written by an earlier release opens, upgrades and keeps its cases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from station.queries import get_case
from station.store import DB_FILE, Station
from station.store.db import write_txn
from station.store.schema import _NAMES, _up_to_date, migrate, migrations

FIXTURES = Path(__file__).parent / "fixtures"


def restore(dump: str, folder: Path) -> Path:
    """A data folder as an older release left it: its plain database restored from an SQL dump."""
    folder.mkdir()
    conn = sqlite3.connect(folder / DB_FILE)
    conn.executescript((FIXTURES / dump).read_text(encoding="utf-8"))
    conn.execute("PRAGMA journal_mode = WAL")  # as every release so far opened it
    conn.close()
    return folder


def test_release_0_1_0_database_opens_with_its_cases(tmp_path):
    # The dump leaves out the calendar tables to stay small: the station must still open,
    # and fall back to provisional (weekday) estimates until a calendar arrives.
    folder = restore("station-0.1.0.sql", tmp_path / "old")
    with Station.open(folder) as station:
        assert not migrations.pending(station.db)
        detail = get_case(station, "349921001001-20261120-A001")
        assert detail.summary.status == "RECEIVED"
        assert [c.material for c in detail.commitments] == ["社会保障卡或本人银行账户"]


def test_fresh_database_has_every_migration_applied(station):
    applied = [m.name for m in migrations.applied(station.db)]
    assert applied == [m.name for m in migrations._migrations]


def test_an_up_to_date_database_is_checked_in_one_statement_and_a_behind_one_is_not_passed(station):
    # Every open asks whether the schema is this release's: one statement (migrations.pending takes five).
    statements: list[str] = []
    station.db.conn.set_trace_callback(statements.append)
    migrate(station.db)
    station.db.conn.set_trace_callback(None)
    assert len(statements) == 1 and "_sqlite_migrations" in statements[0]
    assert _NAMES == [m.name for m in migrations._migrations]  # every migration is named where the check looks
    assert _up_to_date(station.db)
    last = _NAMES[-1]
    with write_txn(station.db):
        station.db.execute("DELETE FROM _sqlite_migrations WHERE name = ?", [last])
    assert not _up_to_date(station.db)
    assert [m.name for m in migrations.pending(station.db)] == [last]
