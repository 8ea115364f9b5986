"""HubStore's part for the replicated case tables: rows with field versions, case history, case lists."""

from __future__ import annotations

import functools
from typing import Any

from hub.store.base import StoreBase
from sync.tables import BY_NAME

__all__ = ("CaseStoreMixin",)

_WRITABLE = {name: table.replicated | table.hub_local for name, table in BY_NAME.items()}


def _check_columns(table: str, names: Any) -> None:
    # Column names are interpolated into SQL, so they must come from the schema, never the wire.
    stray = set(names) - _WRITABLE[table]
    if stray:
        raise ValueError(f"{table} has no writable column(s) {sorted(stray)}")


@functools.lru_cache(maxsize=256)
def _insert_new_sql(table: str, columns: tuple[str, ...], returning: str, rows: int = 1) -> str:
    """The statement inserting ``rows`` rows of these columns, each unless its key is held, giving back
    ``returning`` (nothing when empty): made and checked once per shape, the ingest inserting thousands
    of rows of a few shapes."""
    _check_columns(table, columns)
    marks = "(" + ", ".join("?" for _ in columns) + ")"
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join(marks for _ in range(rows))} "
        f"ON CONFLICT ({BY_NAME[table].pk}) DO NOTHING"
    )
    return f"{sql} RETURNING {returning}" if returning else sql


def _rows_a_statement(columns: tuple[str, ...]) -> int:
    """How many rows of these columns go in one statement: well under PostgreSQL's 65,535 parameters."""
    return max(1, 30_000 // max(1, len(columns)))


def _runs_of_columns(rows: list[dict[str, Any]]) -> list[tuple[tuple[str, ...], list[dict[str, Any]]]]:
    """``rows`` in order, cut where their columns change: each run goes in with one statement."""
    runs: list[tuple[tuple[str, ...], list[dict[str, Any]]]] = []
    for row in rows:
        columns = tuple(row)
        if runs and runs[-1][0] == columns:
            runs[-1][1].append(row)
        else:
            runs.append((columns, [row]))
    return runs


class CaseStoreMixin(StoreBase):
    """Rows of the replicated tables, case events and the case list."""

    def row(self, table: str, pk: str) -> dict[str, Any] | None:
        """One row of a replicated table as a dict (``versions`` included), or None."""
        cursor = self.db.execute(f"SELECT * FROM {table} WHERE {BY_NAME[table].pk} = ?", [pk])
        row = cursor.fetchone()
        return None if row is None else dict(zip([d[0] for d in cursor.description], row))

    def insert_row(self, table: str, values: dict[str, Any]) -> None:
        """Insert a new row (column names checked against the schema)."""
        _check_columns(table, values)
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self.db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values()))

    def insert_new_row(self, table: str, values: dict[str, Any]) -> bool:
        """Insert a row unless one with its key is held already (then nothing is written: no trigger
        runs); whether it was inserted. For a row that is almost always new: no read before it, and
        nothing returned but the count (SQLite's RETURNING costs as much as the insert itself)."""
        cursor = self.db.execute(_insert_new_sql(table, tuple(values), ""), list(values.values()))
        return cursor.rowcount == 1

    def insert_new_rows(self, table: str, rows: list[dict[str, Any]]) -> int:
        """insert_new_row for many rows, in order, none read back: how many were inserted (a row whose key is
        held is left out). On SQLite each run of rows of the same columns with one ``executemany``; on
        PostgreSQL in statements of many rows, a round trip to the server for each."""
        inserted = 0
        for columns, run in _runs_of_columns(rows):
            if self.dialect == "postgresql":
                size = _rows_a_statement(columns)
                for first in range(0, len(run), size):
                    chunk = run[first : first + size]
                    sql = _insert_new_sql(table, columns, "", len(chunk))
                    inserted += self.db.execute(sql, [value for row in chunk for value in row.values()]).rowcount
            else:
                sql = _insert_new_sql(table, columns, "")
                inserted += self.db.conn.executemany(sql, [list(row.values()) for row in run]).rowcount
        return inserted

    def insert_new_case_moved(self, case: dict[str, Any], event: dict[str, Any]) -> dict[str, Any] | None:
        """A new case and the history line of its first move, the line only when the case went in: the case
        as inserted (every column, defaults filled in), or None when a case with its number was held (nothing
        written). For a case whose state is sent on (insert_new_cases_moved for the others).

        On PostgreSQL one statement (the line inserted from the case's insert, in a WITH): each statement is
        a round trip to the server. SQLite, in this process and without writing WITHs, runs the two.
        """
        if self.dialect != "postgresql":
            inserted = self._insert_new("cases", case, "*")
            if inserted is not None:
                self.add_event(event)
            return inserted
        # The line's columns are hub.apply.history_line's, never a station's field names (as add_event's).
        marks = ", ".join("?" for _ in event)
        sql = (
            f"WITH new_case AS ({_insert_new_sql('cases', tuple(case), '*')}), "
            f"line AS (INSERT INTO case_events ({', '.join(event)}) SELECT {marks} FROM new_case) "
            "SELECT * FROM new_case"
        )
        cursor = self.db.execute(sql, [*case.values(), *event.values()])
        row = cursor.fetchone()
        return None if row is None else dict(zip([d[0] for d in cursor.description], row))

    def insert_new_cases_moved(self, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> int:
        """New cases and the history lines of their first moves, in order, none read back: how many cases went
        in. When fewer than all did (one was held), the lines are not written: the caller rolls back.

        Each table's rows together (insert_new_rows): a backlog's statements run ~15 % faster on SQLite written
        table by table than interleaved with the other tables' rows.
        """
        inserted = self.insert_new_rows("cases", [case for case, _ in pairs])
        if inserted == len(pairs):
            for columns, rows in _runs_of_columns([event for _, event in pairs]):
                # The lines' columns are hub.apply.history_line's, never a station's field names.
                marks = "(" + ", ".join("?" for _ in columns) + ")"
                if self.dialect != "postgresql":
                    sql = f"INSERT INTO case_events ({', '.join(columns)}) VALUES {marks}"
                    self.db.conn.executemany(sql, [list(row.values()) for row in rows])
                    continue
                size = _rows_a_statement(columns)
                for first in range(0, len(rows), size):
                    chunk = rows[first : first + size]
                    self.db.execute(
                        f"INSERT INTO case_events ({', '.join(columns)}) VALUES {', '.join(marks for _ in chunk)}",
                        [value for row in chunk for value in row.values()],
                    )
        return inserted

    def _insert_new(self, table: str, values: dict[str, Any], returning: str) -> dict[str, Any] | None:
        cursor = self.db.execute(_insert_new_sql(table, tuple(values), returning), list(values.values()))
        row = cursor.fetchone()
        return None if row is None else dict(zip([d[0] for d in cursor.description], row))

    def update_row(self, table: str, pk: str, values: dict[str, Any]) -> None:
        """Set some columns of one row (column names checked against the schema)."""
        if not values:
            return
        _check_columns(table, values)
        assignments = ", ".join(f"{column} = ?" for column in values)
        self.db.execute(f"UPDATE {table} SET {assignments} WHERE {BY_NAME[table].pk} = ?", [*values.values(), pk])

    def village_of_intake(self, intake_id: str) -> str | None:
        """The village an intake belongs to, or None when there is no such intake."""
        row = self.db.execute("SELECT village_code FROM intakes WHERE intake_id = ?", [intake_id]).fetchone()
        return row[0] if row else None

    def village_of_case(self, case_no: str) -> str | None:
        """The village a case belongs to, or None when there is no such case."""
        row = self.db.execute("SELECT village_code FROM cases WHERE case_no = ?", [case_no]).fetchone()
        return row[0] if row else None

    # -- case history ----------------------------------------------------------------------------

    def has_event(self, event_id: str) -> bool:
        """Whether a lifecycle move with this event id was applied already."""
        return self.db.execute("SELECT 1 FROM case_events WHERE event_id = ?", [event_id]).fetchone() is not None

    def add_event(self, values: dict[str, Any]) -> None:
        """Append a lifecycle move to the case's history (the hub's order is insertion order)."""
        columns = ", ".join(values)
        self.db.execute(
            f"INSERT INTO case_events ({columns}) VALUES ({', '.join('?' for _ in values)})", list(values.values())
        )

    def case_events(self, case_no: str) -> list[dict[str, Any]]:
        """The case's moves in the order the hub applied them."""
        return self._dicts(
            "SELECT event_id, from_status, to_status, actor, by, at, hlc, reason, outcome, origin FROM case_events "
            "WHERE case_no = ? ORDER BY rowid",
            [case_no],
        )

    def intake_received_date(self, intake_id: str) -> str | None:
        """The receipt date of an intake (ISO), or None."""
        row = self.db.execute("SELECT received_date FROM intakes WHERE intake_id = ?", [intake_id]).fetchone()
        return row[0] if row else None

    # -- lists -------------------------------------------------------------------------------------

    def village_rows(self, table: str, village_code: str) -> list[dict[str, Any]]:
        """Every row of a replicated table that belongs to a village, oldest first (a new PC's catch-up)."""
        by_village = {
            "intakes": "village_code = ?",
            "cases": "village_code = ?",
            "intake_materials": "intake_id IN (SELECT intake_id FROM intakes WHERE village_code = ?)",
            "commitments": "intake_id IN (SELECT intake_id FROM intakes WHERE village_code = ?)",
            "case_notes": "case_no IN (SELECT case_no FROM cases WHERE village_code = ?)",
            "case_events": "case_no IN (SELECT case_no FROM cases WHERE village_code = ?)",
            "attachments": "case_no IN (SELECT case_no FROM cases WHERE village_code = ?)",
            "query_keys": "substr(key_id, 1, 12) = ?",  # keyed by station id VILLAGE-D-SERIAL
            "ratings": "intake_id IN (SELECT intake_id FROM intakes WHERE village_code = ?)",
        }
        return self._dicts(f"SELECT * FROM {table} WHERE {by_village[table]} ORDER BY rowid", [village_code])

    def list_cases(
        self, *, village_code: str | None = None, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Cases newest first, full rows (the caller masks personal data before showing them)."""
        sql, params = "SELECT * FROM cases WHERE 1 = 1", []
        if village_code is not None:
            sql += " AND village_code = ?"
            params.append(village_code)
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        sql += " ORDER BY received_at DESC, case_no LIMIT ? OFFSET ?"
        return self._dicts(sql, [*params, limit, offset])

    def count_rows(self, table: str) -> int:
        """Rows in a replicated table (for status pages and tests)."""
        if table not in BY_NAME and table not in ("case_events",):
            raise ValueError(f"not a replicated table: {table}")
        return int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
