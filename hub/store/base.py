"""The connection and row helpers every part of HubStore shares, on either engine."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hub.store.db import write_txn
from sync.errors import StoreError

__all__ = ("RowError", "StoreBase", "TransactionConflict")


class RowError(StoreError):
    """A row could not be stored as given (a missing required column, a value of the wrong type).

    Raised instead of the database driver's own errors, so callers (the ingest) do not depend on
    the engine: the PostgreSQL backend raises the same.
    """

    code = "malformed"


class TransactionConflict(StoreError):
    """PostgreSQL broke a deadlock or a serialisation conflict by rolling this whole transaction back.

    Raised only by the outermost ``store.transaction()``, after the rollback: nothing of the
    transaction was kept, so the caller may run all of it again (hub.ingest does, a few times, before
    answering busy). Still ``store.busy`` (HTTP 503) when it reaches a request's answer.
    """


_SQLITE_ROW_ERRORS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError, OverflowError)


def _postgres_row_errors() -> tuple[type[BaseException], ...]:
    from hub.store import pg

    return pg.ROW_ERRORS


class StoreBase:
    """Holds the connection; the mixins of :class:`hub.store.HubStore` build on it.

    ``db`` is a ``sqlite_utils.Database`` (SQLite) or a :class:`hub.store.pg.PgDatabase` (PostgreSQL); both
    take the parts' SQL as written (``db.execute(sql, params)``) and give cursors of plain tuples.
    """

    def __init__(self, db: Any, path: Path, *, where: str | None = None) -> None:
        self.db = db
        self.path = path
        """The SQLite file; on PostgreSQL, the data folder's ``hub.db`` that is not used."""
        self.dialect: str = getattr(db, "dialect", "sqlite")
        """``sqlite`` or ``postgresql``: for the few statements the two engines spell differently."""
        self.where = where or str(path)
        """Which database this is (the file, or the URL without its password): process caches key on it."""

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work, write lock taken up front; nested use joins the outer one."""
        if self.dialect == "postgresql":
            with self.db.transaction():
                yield
        else:
            with write_txn(self.db):
                yield

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        """For one write statement that needs no other: its own transaction, as cheap as each engine allows.

        On PostgreSQL, outside a transaction, the statement commits by itself (the connection autocommits:
        no BEGIN and COMMIT round trips); on SQLite, whose connection would keep an implicit transaction
        open after it, and inside a transaction on either, :meth:`transaction`.
        """
        if self.dialect == "postgresql" and not self.db.in_transaction:
            yield
        else:
            with self.transaction():
                yield

    def lock(self, *keys: str) -> None:
        """Serialise the rest of this transaction with every other transaction that locks one of ``keys``
        (``station:<id>`` for a station's chain and feed), taking them in the order given: on PostgreSQL
        transaction-level advisory locks, in one round trip, none asked for twice in a transaction; on SQLite
        nothing to do, its one writer at a time already serialises everything."""
        if self.dialect == "postgresql":
            self.db.lock(*keys)

    @contextlib.contextmanager
    def savepoint(self, name: str = "change") -> Iterator[None]:
        """A nested unit inside a transaction: on error, undo only what happened inside it.

        Driver errors about the row's values become :class:`RowError`.
        """
        with self.transaction():
            self.db.execute(f"SAVEPOINT {name}")
            held = len(self.db.held_locks) if self.dialect == "postgresql" else 0
            try:
                yield
            except BaseException as exc:
                self.db.execute(f"ROLLBACK TO {name}")
                if self.dialect == "postgresql":
                    del self.db.held_locks[held:]  # PostgreSQL let go of the locks taken since the savepoint
                self.db.execute(f"RELEASE {name}")
                if isinstance(exc, self._row_errors()) or self._not_adapted(exc):
                    raise RowError(zh=f"该行无法保存：{exc}", en=f"the row cannot be stored: {exc}") from exc
                raise
            else:
                self.db.execute(f"RELEASE {name}")

    def is_row_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the driver refusing a row's values (what :meth:`savepoint` turns into RowError)."""
        return isinstance(exc, self._row_errors()) or self._not_adapted(exc)

    def _row_errors(self) -> tuple[type[BaseException], ...]:
        return _postgres_row_errors() if self.dialect == "postgresql" else _SQLITE_ROW_ERRORS

    def _not_adapted(self, exc: BaseException) -> bool:
        """psycopg's own "cannot adapt" (a value no column takes, refused before the server sees it)."""
        if self.dialect != "postgresql":
            return False
        import psycopg

        return isinstance(exc, psycopg.ProgrammingError) and exc.sqlstate is None

    def _one(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        row = self.db.execute(sql, list(params)).fetchone()
        return None if row is None else tuple(row)

    def _dicts(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        cursor = self.db.execute(sql, list(params))
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]
