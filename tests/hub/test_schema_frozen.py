"""Migrations are literal history, and the queries still spell the expressions the migrated indexes use."""

from __future__ import annotations

import inspect
from pathlib import Path
from types import CodeType, FunctionType

import hub.store.schema
import station.store.schema
from hub.store import HubStore
from hub.store.schema import DEPARTMENT_SQL, OPEN_STATUSES_SQL, TOWNSHIP_SQL


def _names_read(code: CodeType) -> set[str]:
    """Global and attribute names a function's code reads, nested code (comprehensions) included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _names_read(const)
    return names


def _migrations() -> dict[str, FunctionType]:
    found = {}
    for module in (hub.store.schema, station.store.schema):
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name[:1] == "m" and name[1:4].isdigit() or name in ("_count_trigger_sql", "_counter_sql"):
                found[f"{module.__name__}.{name}"] = function
    return found


def test_migrations_read_no_live_constant():
    migrations = _migrations()
    assert {"hub.store.schema.m002_accounts_dashboard", "station.store.schema.m002_sync"} <= migrations.keys()
    for name, function in migrations.items():
        module = inspect.getmodule(function)
        # Any module-level value other than a function (a helper frozen with its migration) is live.
        live = sorted(
            n
            for n in _names_read(function.__code__)
            if hasattr(module, n)
            and not inspect.isfunction(getattr(module, n))
            and not inspect.ismodule(getattr(module, n))
            and not isinstance(getattr(module, n), type)
        )
        assert live == [], f"{name} reads {live}: spell the values it had when it was written"


def test_the_dashboard_expressions_match_the_migrated_indexes(tmp_path: Path):
    (tmp_path / "hub").mkdir()
    with HubStore.open(tmp_path / "hub") as store:
        db = store.db
        index_sql = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'").fetchall())
        trigger_sql = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall())
        assert f"cases({DEPARTMENT_SQL}, received_at)" in index_sql["cases_department"]
        assert index_sql["cases_open_due"].endswith(f"WHERE {OPEN_STATUSES_SQL}")
        assert TOWNSHIP_SQL.replace("village_code", "NEW.village_code") in trigger_sql["case_counts_insert"]
        # SQLite matches expression and partial indexes only when the query spells them alike.
        plan = " ".join(
            row[3]
            for row in db.execute(
                f"EXPLAIN QUERY PLAN SELECT case_no FROM cases WHERE {DEPARTMENT_SQL} = ? ORDER BY received_at DESC",
                ["MZ"],
            )
        )
        assert "cases_department" in plan
        plan = " ".join(
            row[3]
            for row in db.execute(
                f"EXPLAIN QUERY PLAN SELECT {DEPARTMENT_SQL}, {TOWNSHIP_SQL}, COUNT(*) FROM cases INDEXED BY cases_open_due "
                f"WHERE {OPEN_STATUSES_SQL} AND due_date < ? GROUP BY 1, 2",
                ["2026-12-01"],
            )
        )
        assert "cases_open_due" in plan
