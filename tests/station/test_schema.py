"""Schema migrations: a database written by an earlier release opens, upgrades and keeps its cases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from station.queries import get_case
from station.store import DB_FILE, Station
from station.store.schema import migrations

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
