"""Opening the hub database: pragmas and the immediate write transaction (HubStore.open runs the migrations)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlite_utils import Database

from sync.errors import StoreError

__all__ = ("open_db", "write_txn")


def open_db(path: Path | str, *, check_same_thread: bool = True) -> Database:
    """Open (creating if needed) the hub database with the pragmas every connection needs.

    WAL lets the feed be read while a push is written. ``synchronous=NORMAL`` is safe in WAL
    (a power cut may lose the last commits, never corrupt the file) and the hub runs on a
    server with a UPS, unlike a village PC. Foreign keys are per connection, so set here.

    Args:
        path: the database file.
        check_same_thread: False for a connection opened on the event loop and used by a
            worker thread (Litestar's per-request dependency); one owner at a time still.

    Raises:
        StoreError: the file cannot be opened.
    """
    try:
        conn = sqlite3.connect(str(path), timeout=10.0, check_same_thread=check_same_thread)
    except sqlite3.OperationalError as exc:
        raise StoreError(
            zh=f"无法打开县平台数据库 {path}：{exc}；请检查数据目录是否存在且可写",
            en=f"cannot open the hub database {path}: {exc}; check the data folder exists and is writable",
            field="data_dir",
        ) from exc
    db = Database(conn)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = NORMAL")
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.enable_wal()
    return db


@contextlib.contextmanager
def write_txn(db: Database) -> Iterator[Database]:
    """A transaction that takes the write lock up front (``BEGIN IMMEDIATE``).

    Every hub transaction reads before it writes (the chain head before a set, the case before
    a move); a deferred BEGIN would fail at once with "database is locked" when two pushes race,
    an immediate one waits on the busy timeout. Nested use joins the outer transaction.
    """
    if db.conn.in_transaction:
        yield db
        return
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise StoreError(
            zh=f"县平台数据库正忙（{exc}）；请稍后重试",
            en=f"the hub database is busy ({exc}); try again",
            code="store.busy",
        ) from exc
    try:
        yield db
    except BaseException:
        db.conn.rollback()
        raise
    else:
        db.conn.commit()
