"""SQLite writers of one process queue on one lock of the process, handed on as a transaction ends (hub.store.db)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hub.store.db import open_db, write_txn
from sync.errors import StoreError


def _free_elsewhere(lock: threading.RLock) -> bool:
    """Whether another thread could take ``lock`` now."""
    got: list[bool] = []

    def take() -> None:
        taken = lock.acquire(blocking=False)
        if taken:
            lock.release()
        got.append(taken)

    thread = threading.Thread(target=take)
    thread.start()
    thread.join()
    return got[0]


def test_a_write_transaction_holds_the_lock_every_connection_to_the_file_shares(tmp_path: Path) -> None:
    first, second = open_db(tmp_path / "hub.db"), open_db(tmp_path / "hub.db")
    lock = first.hub_write_lock  # type: ignore[attr-defined]
    assert lock is second.hub_write_lock  # type: ignore[attr-defined]
    assert lock is not open_db(tmp_path / "other.db").hub_write_lock  # type: ignore[attr-defined]
    with write_txn(first):
        first.execute("CREATE TABLE t (v TEXT)")
        assert not _free_elsewhere(lock)
        with write_txn(first):  # nested use joins, in the same thread
            first.execute("INSERT INTO t VALUES ('a')")
    assert _free_elsewhere(lock)
    with pytest.raises(ZeroDivisionError), write_txn(second):
        second.execute("INSERT INTO t VALUES ('b')")
        raise ZeroDivisionError
    assert _free_elsewhere(lock)  # given back on a rollback too
    assert second.execute("SELECT v FROM t").fetchall() == [("a",)]


def test_a_writer_that_waits_too_long_for_the_lock_is_told_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.store import db as db_module

    monkeypatch.setattr(db_module, "BUSY_SECONDS", 0.05)
    first, second = open_db(tmp_path / "hub.db"), open_db(tmp_path / "hub.db", check_same_thread=False)
    failed: list[str] = []

    def write() -> None:
        try:
            with write_txn(second):
                pass
        except StoreError as exc:
            failed.append(exc.code)

    with write_txn(first):
        thread = threading.Thread(target=write)
        thread.start()
        thread.join()
    assert failed == ["store.busy"]
