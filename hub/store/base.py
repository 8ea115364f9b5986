"""The connection and row helpers every part of HubStore shares."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from sync.errors import StoreError

__all__ = ("RowError", "StoreBase")


class RowError(StoreError):
    """A row could not be stored as given (a missing required column, a value of the wrong type).

    Raised instead of the database driver's own errors, so callers (the ingest) do not depend on
    SQLite: a PostgreSQL backend raises the same.
    """

    code = "malformed"


class StoreBase:
    """Holds the connection; the mixins of :class:`hub.store.HubStore` build on it."""

    def __init__(self, db: Database, path: Path) -> None:
        self.db = db
        self.path = path

    @contextlib.contextmanager
    def savepoint(self, name: str = "change") -> Iterator[None]:
        """A nested unit inside a transaction: on error, undo only what happened inside it.

        Driver errors about the row's values become :class:`RowError`.
        """
        self.db.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException as exc:
            self.db.execute(f"ROLLBACK TO {name}")
            self.db.execute(f"RELEASE {name}")
            if isinstance(
                exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError, OverflowError)
            ):
                raise RowError(zh=f"该行无法保存：{exc}", en=f"the row cannot be stored: {exc}") from exc
            raise
        else:
            self.db.execute(f"RELEASE {name}")

    def _one(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        return self.db.execute(sql, list(params)).fetchone()

    def _dicts(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        cursor = self.db.execute(sql, list(params))
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]
