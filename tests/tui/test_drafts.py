"""Nothing typed is lost: the new-case form is an encrypted draft file on every change, offered again at start."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest
from textual.widgets import Input

from tests.tui.conftest import SIZE, make_app, run, screen_text
from tui.drafts import NEW_CASE, DraftStore
from tui.screens.dialogs import DraftOfferScreen
from tui.screens.new_case import NewCaseScreen
from tui.widgets.materials import MaterialChecklist


def test_draft_store_writes_atomically_privately_and_encrypted(tmp_path):
    key = os.urandom(32)
    store = DraftStore(tmp_path, key)
    store.save(NEW_CASE, {"name": "王小明"})
    store.save(NEW_CASE, {"name": "王小明", "phone": "13800138000"})
    assert store.load(NEW_CASE) == {"name": "王小明", "phone": "13800138000"}
    assert [p.name for p in (tmp_path / "drafts").iterdir()] == ["new_case.draft"]  # no temp file left
    raw = store.path(NEW_CASE).read_bytes()
    assert "王小明".encode() not in raw and b"13800138000" not in raw  # encrypted, as the database is
    if sys.platform != "win32":
        assert stat.S_IMODE(os.stat(store.path(NEW_CASE)).st_mode) == 0o600  # personal data: owner only
        assert stat.S_IMODE(os.stat(tmp_path / "drafts").st_mode) == 0o700
    assert DraftStore(tmp_path, os.urandom(32)).load(NEW_CASE) is None  # another station's key opens nothing
    with pytest.raises(OSError):
        DraftStore(tmp_path / "locked").save(NEW_CASE, {"name": "王小明"})  # no key unlocked: nothing written
    assert not (tmp_path / "locked").exists()
    store.path(NEW_CASE).write_bytes(raw[:-3])
    assert store.load(NEW_CASE) is None  # a torn file (power cut) is ignored, never a crash
    store.delete(NEW_CASE)
    assert not store.exists(NEW_CASE)


def test_a_plain_draft_of_an_older_release_is_read_once_then_kept_encrypted(tmp_path):
    (tmp_path / "drafts").mkdir()
    legacy = tmp_path / "drafts" / "new_case.json"
    legacy.write_text(json.dumps({"name": "张桂英", "code": "RS-002"}, ensure_ascii=False), encoding="utf-8")
    store = DraftStore(tmp_path, os.urandom(32))
    assert store.exists(NEW_CASE)
    assert store.load(NEW_CASE) == {"name": "张桂英", "code": "RS-002"}
    assert not legacy.exists() and "张桂英".encode() not in store.path(NEW_CASE).read_bytes()
    assert store.load(NEW_CASE) == {"name": "张桂英", "code": "RS-002"}


def test_draft_is_restored_after_a_quit(station_dir, clock):
    first = make_app(station_dir, clock)

    async def type_and_quit():
        async with first.run_test(size=SIZE) as pilot:
            await pilot.press("f3", *"RS-002", "enter")
            await pilot.pause()
            first.screen.query_one("#name", Input).focus()
            await pilot.press(*"张桂英")
            first.screen.query_one("#phone", Input).value = "13912345678"
            first.screen.query_one("#mat-0").value = True
            await pilot.pause()
            await pilot.press("ctrl+q")  # quit in the middle of the form

    run(type_and_quit)
    raw = (station_dir / "drafts" / "new_case.draft").read_bytes()
    assert "张桂英".encode() not in raw and b"13912345678" not in raw
    saved = DraftStore(station_dir).load(NEW_CASE)
    assert saved is not None
    assert saved["name"] == "张桂英" and saved["code"] == "RS-002" and saved["materials"] == ["居民身份证"]

    second = make_app(station_dir, clock)

    async def restore():
        async with second.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(second.screen, DraftOfferScreen)
            offer = screen_text(second)
            assert "张**" in offer and "张桂英" not in offer  # masked: the next person in the queue may look
            await pilot.press("enter")  # restore
            await pilot.pause()
            screen = second.screen
            assert isinstance(screen, NewCaseScreen)
            assert screen.query_one("#name", Input).value == "张桂英"
            assert screen.query_one("#phone", Input).value == "13912345678"
            assert screen.entry is not None and screen.entry.code == "RS-002"
            assert screen.query_one(MaterialChecklist).state() == (["居民身份证"], [])

    run(restore)


def test_discarding_the_offered_draft_deletes_it(station_dir, clock):
    DraftStore(station_dir).save(NEW_CASE, {"name": "李四", "code": None})
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("d")
            await pilot.pause()

    run(scenario)
    assert not DraftStore(station_dir).exists(NEW_CASE)


def test_a_draft_put_off_comes_back_when_the_form_is_opened(station_dir, clock):
    DraftStore(station_dir).save(NEW_CASE, {"name": "李四", "code": "RS-001"})
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("escape")  # later
            await pilot.press("f3")
            await pilot.pause()
            assert app.screen.query_one("#name", Input).value == "李四"

    run(scenario)


def test_clearing_the_form_asks_first_and_then_deletes_the_draft(station_dir, clock):
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            app.screen.query_one("#name", Input).value = "李四"
            await pilot.pause()
            assert DraftStore(station_dir).exists(NEW_CASE)
            await pilot.press("f8", "escape")  # asked, and said no
            assert app.screen.query_one("#name", Input).value == "李四"
            await pilot.press("f8", "y")
            await pilot.pause()
            assert app.screen.query_one("#name", Input).value == ""
            assert not DraftStore(station_dir).exists(NEW_CASE)

    run(scenario)
