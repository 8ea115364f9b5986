"""Opening the hub database: pragmas and the immediate write transaction (HubStore.open runs the migrations)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlite_utils import Database

from sync.errors import StoreError

__all__ = ("open_db", "write_txn")

BUSY_SECONDS = 10.0
"""How long a write waits for the database (SQLite's busy timeout, and the process's write lock)."""

_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_LOCK = threading.Lock()


def _write_lock(path: Path | str) -> threading.RLock:
    """The process's lock for writing the database at ``path`` (one per file, shared by its connections)."""
    key = os.path.realpath(path)
    with _WRITE_LOCKS_LOCK:
        return _WRITE_LOCKS.setdefault(key, threading.RLock())


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
        conn = sqlite3.connect(str(path), timeout=BUSY_SECONDS, check_same_thread=check_same_thread)
    except sqlite3.OperationalError as exc:
        raise StoreError(
            zh=f"无法打开县平台数据库 {path}：{exc}；请检查数据目录是否存在且可写",
            en=f"cannot open the hub database {path}: {exc}; check the data folder exists and is writable",
            field="data_dir",
        ) from exc
    db = Database(conn)
    db.hub_write_lock = _write_lock(path)  # type: ignore[attr-defined]
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

    Writers of one process (hub serve's request threads) first queue on a lock of the process, handed
    on the moment a transaction ends: waiting in SQLite's busy handler instead, they sleep 1 to 100 ms
    between tries and the database often stands free while all of them sleep (40 threads of 10 short
    write transactions each: 1.1-1.4 s with the busy handler, 0.5 s with the lock, the same CPU). Other
    processes (the CLI) still meet at SQLite's own lock.
    """
    if db.conn.in_transaction:
        yield db
        return
    lock: threading.RLock | None = getattr(db, "hub_write_lock", None)
    if lock is not None and not lock.acquire(timeout=BUSY_SECONDS):
        raise StoreError(
            zh="县平台数据库正忙（本进程的写入排队超时）；请稍后重试",
            en="the hub database is busy (this process's writers queued too long); try again",
            code="store.busy",
        )
    try:
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
    finally:
        if lock is not None:
            lock.release()
