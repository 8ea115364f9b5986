"""The PostgreSQL store's statements of many rows are split around their parameters once, not at every call
(hub.store.pg raises psycopg's limits on the queries it keeps)."""

from __future__ import annotations

import pytest
from psycopg import _queries

from hub.store import HubStore

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
