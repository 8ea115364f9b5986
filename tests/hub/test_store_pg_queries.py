"""The PostgreSQL store's statements: of many rows, split around their parameters once, not at every call
(hub.store.pg raises psycopg's limits on the queries it keeps); run a few times, prepared on the server (not
parsed and planned at each exchange), unless ``HUB_DATABASE_PREPARE=off``; values bound on the server."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg import _queries

from hub.store import HubStore, pg
from tests.hub.builders import TestStation

pytestmark = pytest.mark.parametrize("hub_backend", ["postgresql"], indirect=True)


def _intakes(first: int, count: int) -> list[dict[str, object]]:
    return [
        {
            "intake_id": f"349921001001-20261126-A{n:03d}",
            "bundle_code": None,
            "village_code": "349921001001",
            "received_at": "2026-11-26T02:00:00Z",
            "received_date": "2026-11-26",
            "agent": "agent",
            "catalog_version": 1,
            "versions": "{}",
        }
        for n in range(first, first + count)
    ]


def test_a_day_of_new_rows_in_one_statement_is_split_once(store: HubStore, monkeypatch: pytest.MonkeyPatch):
    splits: list[int] = []
    split = _queries._split_query

    def counting(query, *args, **kwargs):
        splits.append(len(query))
        return split(query, *args, **kwargs)

    monkeypatch.setattr(_queries, "_split_query", counting)
    rows = _intakes(1, 12)  # 96 parameters: past psycopg's own limit of 50 for the queries it keeps
    assert sum(len(row) for row in rows) > 50
    with store.transaction():
        assert store.insert_new_rows("intakes", rows) == 12
    first = len(splits)
    with store.transaction():
        assert store.insert_new_rows("intakes", _intakes(13, 12)) == 12  # the same statement, other values
    assert len(splits) == first
    count = store.db.execute("SELECT COUNT(*) FROM intakes WHERE intake_id LIKE ?", ["349921001001-20261126-A%"])
    assert count.fetchone()[0] == 24


def _prepared(store: HubStore, text: str) -> int:
    """Statements prepared on the store's connection whose text has ``text``."""
    found = store.db.execute("SELECT COUNT(*) FROM pg_prepared_statements WHERE statement LIKE ?", [f"%{text}%"])
    return int(found.fetchone()[0])


def test_a_statement_run_a_few_times_is_prepared_on_the_server(store: HubStore, station: TestStation):
    # pg_prepared_statements lists the connection's own: the store reads it on the connection it runs on.
    for _ in range(pg.PREPARE_AFTER + 1):
        row = store.station(station.station_id)
        assert row is not None and row.station_id == station.station_id
    assert _prepared(store, "FROM stations WHERE station_id") == 1
    assert store.station("no such station") is None  # the same prepared statement, another value
    assert _prepared(store, "FROM stations WHERE station_id") == 1


def test_prepared_statements_can_be_turned_off_for_a_pooler_that_cannot_keep_them(
    hub_dir: Path, monkeypatch: pytest.MonkeyPatch, station: TestStation
):
    monkeypatch.setenv(pg.PREPARE_ENV, "off")
    with HubStore.open_existing(hub_dir) as store:
        for _ in range(pg.PREPARE_AFTER + 1):
            assert store.station(station.station_id) is not None
        assert _prepared(store, "FROM stations WHERE station_id") == 0


def test_values_bound_on_the_server_keep_their_bytes_and_take_the_column_s_type(store: HubStore):
    blob = bytes(range(256)) * 4  # every byte value, NUL included: bytea goes as bytes, not as an escaped literal
    with store.transaction():
        store.db.execute("CREATE TEMP TABLE probe (n bigint, b bytea, t text)")
        store.db.execute("INSERT INTO probe (n, b, t) VALUES (?, ?, ?)", ["42", blob, 7])  # a text for a bigint
        assert store.db.execute("SELECT n, b, t FROM probe").fetchone() == (42, blob, "7")


def test_a_bool_goes_into_a_bigint_column_as_sqlite_keeps_it(store: HubStore):
    with store.transaction():
        store.db.execute("CREATE TEMP TABLE flags (ok bigint)")
        store.db.execute("INSERT INTO flags (ok) VALUES (?), (?)", [True, False])
        assert store.db.execute("SELECT ok FROM flags ORDER BY ok").fetchall() == [(0,), (1,)]
        assert store.db.execute("SELECT COUNT(*) FROM flags WHERE ok = ?", [True]).fetchone() == (1,)


def test_copy_by_type_dumps_a_bigint_as_itself_beside_the_bool_dumper(store: HubStore):
    """COPY with set_types picks a dumper by oid (hub migrate --to): int8's own, not the one for bool."""
    conn = store.db.conn
    with store.transaction():
        conn.execute("CREATE TEMP TABLE years (year bigint, ok bigint)")
        with conn.cursor() as cursor, cursor.copy("COPY years (year, ok) FROM STDIN") as copy:
            copy.set_types(["int8", "int8"])
            copy.write_row((2026, 1))
            copy.write_row((2027, 0))
        assert conn.execute("SELECT year, ok FROM years ORDER BY year").fetchall() == [(2026, 1), (2027, 0)]
