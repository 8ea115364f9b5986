"""The SQL of ``hub migrate``: a stopped SQLite hub's tables copied into an empty PostgreSQL store, and checked.

Kept here because hub/store is the only place that writes SQL; hub.migrate_store orders the work
(locks, checks, progress, what to tell the operator). The copy is table by table in the target's
one transaction: every column the two sides share, rows in SQLite's insertion (rowid) order so
that PostgreSQL's identity ``ord`` columns follow it, identity counters moved past the copied ids,
and the tables that triggers keep (``case_counts``, ``counters``) copied last from the source, the
triggers being off while each table's rows go in, so that they hold exactly the source's figures.
"""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = (
    "BATCH_ROWS",
    "Heads",
    "TablePlan",
    "chain_heads",
    "copy_table",
    "feed_heads",
    "open_source",
    "plan_tables",
    "row_count",
    "station_rows",
    "target_tables",
)

BATCH_ROWS = 5_000
"""Rows read from SQLite at a time (and between two progress calls)."""

Progress = Callable[[str, int, int], None]
"""Called with (table, rows copied so far, rows in the table)."""

Heads = dict[str, tuple[int, bytes]]
"""Per station: (seq, hash) of its newest set."""


@dataclasses.dataclass(frozen=True)
class TablePlan:
    """One table to copy: its name, the columns both sides have, and whether triggers write it."""

    name: str
    columns: tuple[str, ...]
    derived: bool
    order_by: str


# -- the source: the SQLite file, read-only ------------------------------------------------------------


def open_source(path: Path) -> sqlite3.Connection:
    """The SQLite hub database read-only, in one read transaction (one consistent moment for the copy)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    conn.execute("BEGIN")
    return conn


def _source_tables(src: sqlite3.Connection) -> list[str]:
    rows = src.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY name"
    ).fetchall()
    return [r[0] for r in rows]  # _sqlite_migrations is bookkeeping: each backend keeps its own


def _derived(src: sqlite3.Connection) -> set[str]:
    """Tables some trigger writes (kept from other tables' rows)."""
    found: set[str] = set()
    for (text,) in src.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger'"):
        found.update(m.lower() for m in re.findall(r"(?i)\b(?:INSERT\s+INTO|UPDATE)\s+(\w+)", text or ""))
    return found


def _dependency_order(src: sqlite3.Connection, tables: list[str]) -> list[str]:
    """Tables ordered so that every table comes after the tables its foreign keys name."""
    needs = {
        t: {r[2] for r in src.execute(f'PRAGMA foreign_key_list("{t}")') if r[2] in tables and r[2] != t}
        for t in tables
    }
    ordered: list[str] = []
    while needs:
        ready = sorted(t for t, deps in needs.items() if deps <= set(ordered))
        if not ready:  # a cycle: keep the rest in name order (PostgreSQL then reports the row that fails)
            ready = sorted(needs)
        ordered += ready
        for t in ready:
            del needs[t]
    return ordered


def plan_tables(src: sqlite3.Connection, target_columns: dict[str, list[str]]) -> list[TablePlan]:
    """What to copy: every source table, in foreign-key order, the tables triggers keep last.

    ``target_columns`` maps the target's tables to their columns; a table or column the target lacks is
    left out of the plan (a check of the row counts afterwards names a table that is missing).
    """
    tables = _source_tables(src)
    derived = _derived(src)
    plans = []
    for name in _dependency_order(src, tables):
        source_cols = [r[1] for r in src.execute(f'PRAGMA table_info("{name}")')]
        wanted = set(target_columns.get(name, []))
        columns = tuple(c for c in source_cols if c in wanted)
        without_rowid = bool(
            src.execute("SELECT 1 FROM sqlite_master WHERE name = ? AND sql LIKE '%WITHOUT ROWID%'", [name]).fetchone()
        )
        pk = [r[1] for r in sorted(src.execute(f'PRAGMA table_info("{name}")'), key=lambda r: r[5]) if r[5]]
        order_by = ", ".join(f'"{c}"' for c in pk) if without_rowid else "rowid"
        plans.append(TablePlan(name, columns, name in derived, order_by))
    return [p for p in plans if not p.derived] + [p for p in plans if p.derived]


def _rows(src: sqlite3.Connection, plan: TablePlan) -> Iterator[list[tuple[Any, ...]]]:
    cols = ", ".join(f'"{c}"' for c in plan.columns)
    cursor = src.execute(f'SELECT {cols} FROM "{plan.name}" ORDER BY {plan.order_by}')
    while batch := cursor.fetchmany(BATCH_ROWS):
        yield batch


# -- the target: PostgreSQL, one psycopg connection in one transaction -----------------------------------


def target_tables(conn: Any) -> dict[str, list[str]]:
    """The target's tables outside PostgreSQL's own schemas, each with its columns (in order)."""
    rows = conn.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg\\_%' "
        "ORDER BY table_schema, table_name, ordinal_position"
    ).fetchall()
    tables: dict[str, list[str]] = {}
    for schema, table, column in rows:
        key = table if schema == "public" else f"{schema}.{table}"
        tables.setdefault(key, []).append(column)
    return tables


def _types(conn: Any, table: str, columns: tuple[str, ...]) -> list[str]:
    found = dict(
        conn.execute(
            "SELECT column_name, udt_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            [table],
        ).fetchall()
    )
    return [found[c] for c in columns]


def copy_table(src: sqlite3.Connection, conn: Any, plan: TablePlan, progress: Progress | None = None) -> int:
    """Copy one table's rows (COPY … FROM STDIN, identity values as given); returns the rows copied."""
    from psycopg import sql

    total = row_count(src, plan.name)
    if plan.derived:  # filled by the triggers while the tables it is kept from went in: the source's instead
        conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(plan.name)))
    if not plan.columns:
        return 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(plan.name), sql.SQL(", ").join(sql.Identifier(c) for c in plan.columns)
    )
    done = 0
    if progress:
        progress(plan.name, 0, total)
    types = _types(conn, plan.name, plan.columns)  # before the COPY: it holds the connection until it ends
    # The counting triggers stay off while the rows go in: each would update the same few case_counts and
    # counters rows once per row, and a row updated a million times in one transaction leaves a million
    # dead versions to walk past (a hub of 1,000,000 cases took over half an hour in the cases table
    # alone). What they keep is copied from the source afterwards (plan.derived), so nothing is lost.
    # The migration owns the new tables; the ALTERs are part of its one transaction.
    table = sql.Identifier(plan.name)
    conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(table))
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(types)
        for batch in _rows(src, plan):
            for row in batch:
                copy.write_row(row)
            done += len(batch)
            if progress:
                progress(plan.name, done, total)
    conn.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(table))
    return done


# -- the checks, the same statements on both sides ------------------------------------------------------


def _query(conn: Any, statement: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """One statement on either side (``?`` placeholders, translated for psycopg)."""
    if isinstance(conn, sqlite3.Connection):
        return conn.execute(statement, args).fetchall()
    return [tuple(r) for r in conn.execute(statement.replace("?", "%s"), args).fetchall()]


def row_count(conn: Any, table: str) -> int:
    """Rows in ``table`` on either side (0 when the target lacks the table is NOT assumed: it raises)."""
    return int(_query(conn, f'SELECT COUNT(*) FROM "{table}"')[0][0])


def _heads(conn: Any, table: str, key: str) -> Heads:
    rows = _query(
        conn,
        f"SELECT t.{key}, t.seq, t.hash FROM {table} t JOIN "
        f"(SELECT {key} AS k, MAX(seq) AS top FROM {table} GROUP BY {key}) h ON h.k = t.{key} AND h.top = t.seq",
    )
    return {str(k): (int(seq), bytes(h)) for k, seq, h in rows}


def chain_heads(conn: Any) -> Heads:
    """Each station's chain head at the hub: its newest accepted set (``sets_in``) and that set's hash."""
    return _heads(conn, "sets_in", "origin")


def feed_heads(conn: Any) -> Heads:
    """Each station's feed head: the hub's newest sealed feed set for it (``feed_sets``) and its hash."""
    return _heads(conn, "feed_sets", "station_id")


def station_rows(conn: Any, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """The stations table's ``columns`` (its counters and heads among them), by station id."""
    cols = ", ".join(columns)
    rows = _query(conn, f"SELECT {cols} FROM stations")
    # Sorted here, not in SQL: the two engines need not collate alike.
    return sorted(tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows)
