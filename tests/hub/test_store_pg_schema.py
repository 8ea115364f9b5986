"""The hub's migrations applied to empty SQLite and PostgreSQL databases make the same tables (hub.store.pg)."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.store import pg
from hub.store.db import open_db
from hub.store.dialect import ORD
from hub.store.schema import migrate as migrate_sqlite
from hub.store.schema import migrations

_TYPE_CLASS = {"INTEGER": "int", "TEXT": "text", "BLOB": "bytes", "bigint": "int", "text": "text", "bytea": "bytes"}


def _default(value: Any) -> str | None:
    # SQLite keeps the default as written; PostgreSQL adds the type (''::text).
    return None if value is None else re.sub(r"::[\w ]+$", "", str(value))


def _sqlite_schema(path: Path) -> dict[str, Any]:
    db = open_db(path)
    migrate_sqlite(db)
    tables: dict[str, Any] = {}
    names = [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name != '_sqlite_migrations'"
        )
    ]
    for table in names:
        info = db.execute(f"PRAGMA table_info({table})").fetchall()
        columns = {
            name: (_TYPE_CLASS[kind], bool(notnull or pk), _default(default))
            for _, name, kind, notnull, default, pk in info
        }
        nocase = {name for name in columns if re.search(rf"\b{name}\b[^,]*COLLATE NOCASE", _table_sql(db, table))}
        uniques = set()
        for _, index, unique, origin, _partial in db.execute(f"PRAGMA index_list({table})").fetchall():
            if unique:
                cols = tuple(r[2] for r in db.execute(f"PRAGMA index_info({index})"))
                uniques.add(tuple(f"lower({c})" if c in nocase else c for c in cols))
        primary = tuple(name for _, name, _, _, _, pk in sorted(info, key=lambda r: r[5]) if pk)
        foreign = {
            (r[3], r[2], r[4]) for r in db.execute(f"PRAGMA foreign_key_list({table})").fetchall()
        }  # (column, table, column)
        tables[table] = {
            "columns": columns,
            "primary": primary,
            "uniques": uniques | {primary},
            "foreign": foreign,
            "checks": _table_sql(db, table).upper().count("CHECK ("),
        }
    indexes = {
        name: bool(partial)
        for name, partial in db.execute(
            "SELECT name, sql LIKE '% WHERE %' FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name != '_sqlite_migrations'"
        )
    }
    triggers = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    applied = [m.name for m in migrations.applied(db)]
    db.close()
    return {"tables": tables, "indexes": indexes, "triggers": triggers, "applied": applied}


def _table_sql(db: Any, table: str) -> str:
    return str(db.execute("SELECT sql FROM sqlite_master WHERE name = ?", [table]).fetchone()[0])


def _pg_schema(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    names = [
        r[0]
        for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name != %s",
            [pg.MIGRATIONS_TABLE],
        )
    ]
    for table in names:
        columns = {
            name: (_TYPE_CLASS[kind], nullable == "NO", _default(default if identity == "NO" else None))
            for name, kind, nullable, default, identity in conn.execute(
                "SELECT column_name, data_type, is_nullable, column_default, is_identity FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = %s",
                [table],
            )
            if name != ORD
        }
        uniques, primary = set(), ()
        for keys, is_primary in conn.execute(
            "SELECT (SELECT array_agg(pg_get_indexdef(i.indexrelid, k, true) ORDER BY k) "
            "FROM generate_series(1, i.indnkeyatts) k), i.indisprimary "
            "FROM pg_index i WHERE i.indrelid = %s::regclass AND i.indisunique",
            [table],
        ):
            uniques.add(tuple(keys))
            if is_primary:
                primary = tuple(keys)
        foreign = {
            (column, ref_table, ref_column)
            for column, ref_table, ref_column in conn.execute(
                "SELECT a.attname, c.confrelid::regclass::text, r.attname FROM pg_constraint c "
                "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
                "JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = c.confkey[1] "
                "WHERE c.contype = 'f' AND c.conrelid = %s::regclass",
                [table],
            )
        }
        checks = conn.execute(
            "SELECT COUNT(*) FROM pg_constraint WHERE contype = 'c' AND conrelid = %s::regclass", [table]
        ).fetchone()
        tables[table] = {
            "columns": columns,
            "primary": primary,
            "uniques": uniques,
            "foreign": foreign,
            "checks": checks[0] if checks else 0,
        }
    indexes = {
        name: predicate
        for name, predicate in conn.execute(
            "SELECT c.relname, i.indpred IS NOT NULL FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
        )
    }
    triggers = {r[0] for r in conn.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
    return {"tables": tables, "indexes": indexes, "triggers": triggers, "applied": pg.applied(conn)}


def test_both_engines_hold_the_same_tables_columns_keys_and_indexes(tmp_path, postgres_url):
    sqlite = _sqlite_schema(tmp_path / "hub.db")
    with pg.connect(postgres_url) as conn:
        assert pg.pending(conn) == [m.name for m in migrations._migrations]
        assert pg.migrate(conn) == sqlite["applied"]
        postgres = _pg_schema(conn)
    assert postgres["applied"] == sqlite["applied"] and pg.MIGRATIONS_TABLE not in postgres["tables"]
    assert sorted(postgres["tables"]) == sorted(sqlite["tables"])
    for table, expected in sqlite["tables"].items():
        assert postgres["tables"][table] == expected, table
    # COLLATE NOCASE became an index on lower(name): every other index has its SQLite twin, partial alike.
    assert postgres["indexes"] == sqlite["indexes"] | {"users_name_lower": False}
    assert postgres["triggers"] == sqlite["triggers"]


def test_the_translated_triggers_keep_the_figures_as_sqlite_does(postgres_url):
    with pg.connect(postgres_url) as conn:
        pg.migrate(conn)
        conn.execute(
            "INSERT INTO intakes (intake_id, village_code, received_at, received_date, catalog_version) "
            "VALUES ('i1', '349921001001', 't', 'd', 1)"
        )
        case = (
            "INSERT INTO cases (case_no, intake_id, item_code, status, applicant_name, id_number, phone, sex, "
            "birth_date, village_code, received_at, received_date, catalog_version, updated_at, accepted_date) "
            "VALUES (%s, 'i1', 'RS-001', 'RECEIVED', 'n', 'i', 'p', 's', 'b', '349921001001', 't', 'd', 1, 'u', %s)"
        )
        conn.execute(case, ["c1", None])
        conn.execute(case, ["c2", "2026-11-26"])
        conn.execute("UPDATE cases SET status = 'ACCEPTED' WHERE case_no = 'c2'")
        counts = conn.execute(
            "SELECT department, township, status, n, accepted_n FROM case_counts WHERE n != 0 ORDER BY status"
        ).fetchall()
        assert counts == [("RS", "349921001000", "ACCEPTED", 1, 1), ("RS", "349921001000", "RECEIVED", 1, 0)]
        conn.execute(
            "INSERT INTO sets_in (origin, seq, hash, envelope, changes, rejected, via, received_at) "
            "VALUES ('s', 1, 'h', 'e', 3, 1, 'http', 't')"
        )
        assert dict(conn.execute("SELECT name, value FROM counters WHERE label = 'http'").fetchall()) == {
            "sets": 1,
            "changes": 3,
            "rejected": 1,
        }
        # m012 widened the role CHECK (SQLite's writable_schema recipe, a constraint swap here).
        conn.execute("INSERT INTO users (name, role, password_hash, created_at) VALUES ('t', 'township', 'h', 'now')")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO users (name, role, password_hash, created_at) VALUES ('x', 'king', 'h', 'now')")
        with pytest.raises(psycopg.errors.UniqueViolation):  # COLLATE NOCASE's uniqueness
            conn.execute("INSERT INTO users (name, role, password_hash, created_at) VALUES ('T', 'admin', 'h', 'now')")


def test_two_processes_starting_at_once_migrate_once(postgres_url):
    results: list[list[str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            with pg.connect(postgres_url) as conn:
                start.wait()
                results.append(pg.migrate(conn))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    every = [m.name for m in migrations._migrations]
    assert sorted(results, key=len) == [[], every]
    with pg.connect(postgres_url) as conn:
        assert pg.applied(conn) == every and pg.pending(conn) == []
