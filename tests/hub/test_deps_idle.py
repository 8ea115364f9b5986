"""On SQLite a request's store is kept open for the next request (hub.web.deps): connected once, never stale."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from litestar.datastructures import State
from litestar.testing import TestClient

from hub.settings import Settings
from hub.store import DB_FILE, HubStore
from hub.web import deps
from tests.hub.builders import bearer

# SQLite's connections only (on PostgreSQL a request borrows from psycopg's pool): under --hub-backend too.
pytestmark = [pytest.mark.usefixtures("hub_backend"), pytest.mark.parametrize("hub_backend", ["sqlite"], indirect=True)]


@pytest.fixture(autouse=True)
def _no_idle_stores() -> Any:
    deps.close_idle()
    yield
    deps.close_idle()


def _counting_opens(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    opened: list[int] = []
    real_open = HubStore.open.__func__  # type: ignore[attr-defined]

    def open_(cls: type[HubStore], *args: Any, **kwargs: Any) -> HubStore:
        if kwargs.get("check_same_thread") is False:  # the request's store (the guards open their own)
            opened.append(1)
        return real_open(cls, *args, **kwargs)

    monkeypatch.setattr(HubStore, "open", classmethod(open_))
    return opened


def test_requests_one_after_another_share_one_connection(
    client: TestClient[Any], admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _counting_opens(monkeypatch)
    for _ in range(5):
        assert client.get("/api/v1/status", headers=bearer(admin_token)).status_code == 200
    assert len(opened) == 1


def test_a_database_file_put_in_place_of_the_one_open_is_read_anew(hub_dir: Path, tmp_path: Path) -> None:
    state = State({"settings": Settings(data_dir=hub_dir)})
    store = deps._open(state)
    assert store.get_meta("idle-test") is None
    deps._close(store)
    # What hub restore does: another file in the database's place.
    copy = tmp_path / "copy.db"
    with sqlite3.connect(hub_dir / DB_FILE) as source, sqlite3.connect(copy) as target:
        source.backup(target)
        target.execute("INSERT INTO meta (key, value) VALUES ('idle-test', 'restored')")
    target.close()
    for suffix in ("", "-wal", "-shm"):  # the database put aside with its WAL, as hub restore does
        if (hub_dir / (DB_FILE + suffix)).exists():
            (hub_dir / (DB_FILE + suffix)).replace(tmp_path / ("aside.db" + suffix))
    copy.replace(hub_dir / DB_FILE)
    again = deps._open(state)
    try:
        assert again is not store
        assert again.get_meta("idle-test") == "restored"
        again.set_meta("idle-test", "written after")
    finally:
        deps._close(again)
    deps.close_idle()  # the store of the file put aside is left open (its close would checkpoint by name)
    with sqlite3.connect(hub_dir / DB_FILE) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'idle-test'").fetchone() == ("written after",)


def test_a_store_left_in_a_transaction_is_closed_not_kept(hub_dir: Path) -> None:
    state = State({"settings": Settings(data_dir=hub_dir)})
    store = deps._open(state)
    store.db.execute("BEGIN IMMEDIATE")
    deps._close(store)
    again = deps._open(state)
    try:
        assert again is not store
        assert not again.db.conn.in_transaction
    finally:
        deps._close(again)


def test_a_kept_store_is_handed_over_and_back_on_the_loop_without_a_thread(
    client: TestClient[Any], admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_threads: list[str] = []
    real_open, real_close = deps._open, deps._close
    monkeypatch.setattr(deps, "_open", lambda state: in_threads.append("open") or real_open(state))
    monkeypatch.setattr(deps, "_close", lambda store: in_threads.append("close") or real_close(store))
    assert client.get("/api/v1/status", headers=bearer(admin_token)).status_code == 200
    assert in_threads == ["open"]  # the first store is connected in a thread, then kept
    for _ in range(4):
        assert client.get("/api/v1/status", headers=bearer(admin_token)).status_code == 200
    assert in_threads == ["open"]


def test_a_kept_store_of_a_file_put_aside_is_not_handed_over_on_the_loop(hub_dir: Path, tmp_path: Path) -> None:
    state = State({"settings": Settings(data_dir=hub_dir)})
    deps._close(deps._open(state))
    assert deps._take_idle(hub_dir) is not None  # kept, and handed over
    deps.close_idle()
    deps._close(deps._open(state))
    (hub_dir / DB_FILE).replace(tmp_path / "aside.db")  # hub restore puts another file in its place
    with sqlite3.connect(tmp_path / "aside.db") as source, sqlite3.connect(hub_dir / DB_FILE) as target:
        source.backup(target)
    assert deps._take_idle(hub_dir) is None  # left for _open, in a thread, to retire
    fresh = deps._open(state)
    try:
        assert fresh.get_meta("nothing") is None
    finally:
        deps._close(fresh)
