"""The scan inbox: new files listed with their arrival, offered once settled, moved out once dealt with."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from station.scans.inbox import INBOX_ENV, KEPT_FOLDER, REFUSED_FOLDER, Inbox, inbox_dir
from sync.errors import StoreError

START = dt.datetime(2026, 9, 28, 2, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.moment = START

    def __call__(self) -> dt.datetime:
        return self.moment


def _write(folder: Path, name: str, data: bytes = b"\xff\xd8 a jpeg", *, at: dt.datetime = START) -> Path:
    path = folder / name
    path.write_bytes(data)
    stamp = at.timestamp()
    os.utime(path, (stamp, stamp))
    return path


def test_the_inbox_is_in_the_data_folder_unless_the_environment_says_otherwise(tmp_path: Path):
    assert inbox_dir(tmp_path, {}) == tmp_path / "scans-inbox"
    assert inbox_dir(tmp_path, {INBOX_ENV: str(tmp_path / "camera")}) == tmp_path / "camera"
    inbox = Inbox.for_station(tmp_path, {})
    assert inbox.poll() == [] and (tmp_path / "scans-inbox").is_dir()  # made on first look


def test_files_are_listed_oldest_first_with_their_arrival_and_only_scans(tmp_path: Path):
    clock = Clock()
    inbox = Inbox(tmp_path / "in", now=clock)
    inbox.poll()
    folder = inbox.folder
    _write(folder, "IMG_0002.JPG", at=START + dt.timedelta(seconds=5))
    _write(folder, "IMG_0001.jpg", at=START)
    _write(folder, "scan.pdf", b"%PDF-", at=START + dt.timedelta(seconds=9))
    _write(folder, "camera.ini", b"[settings]")
    _write(folder, ".~lock.tmp", b"x")
    (folder / "sub.jpg").mkdir()
    clock.moment = START + dt.timedelta(seconds=60)
    files = inbox.poll()
    assert [f.name for f in files] == ["IMG_0001.jpg", "IMG_0002.JPG", "scan.pdf"]
    assert files[0].arrived == START and files[1].arrived == START + dt.timedelta(seconds=5)
    assert all(f.stable for f in files)


def test_a_file_being_written_is_not_offered_until_it_settles(tmp_path: Path):
    clock = Clock()
    inbox = Inbox(tmp_path, settle_seconds=3, now=clock)
    path = _write(tmp_path, "slow.tif", b"II*\x00 part", at=START)
    clock.moment = START + dt.timedelta(seconds=1)
    assert [f.stable for f in inbox.poll()] == [False]  # written a second ago
    assert inbox.ready() == []
    # The vendor software writes on: bigger, touched later.
    path.write_bytes(b"II*\x00 part and more")
    os.utime(path, (START.timestamp() + 2, START.timestamp() + 2))
    clock.moment = START + dt.timedelta(seconds=6)
    assert [f.stable for f in inbox.poll()] == [False]  # changed since the last look, though old enough
    clock.moment = START + dt.timedelta(seconds=8)
    [ready] = inbox.ready()
    assert ready.name == "slow.tif" and ready.size == len(b"II*\x00 part and more")


def test_an_empty_file_is_never_ready(tmp_path: Path):
    clock = Clock()
    inbox = Inbox(tmp_path, now=clock)
    _write(tmp_path, "zero.jpg", b"")
    clock.moment = START + dt.timedelta(minutes=5)
    inbox.poll()
    assert inbox.ready() == []


def test_done_wipes_the_original_or_keeps_it_when_asked(tmp_path: Path):
    clock = Clock()
    inbox = Inbox(tmp_path / "in", data_dir=tmp_path, now=clock)
    inbox.poll()
    _write(inbox.folder, "a.jpg")
    _write(inbox.folder, "b.jpg")
    clock.moment = START + dt.timedelta(minutes=1)
    first, second = inbox.ready()
    assert inbox.done(first) is None
    kept = inbox.done(second, keep=True)
    assert kept == tmp_path / KEPT_FOLDER / "b.jpg" and kept.read_bytes() == b"\xff\xd8 a jpeg"
    assert inbox.poll() == []
    assert not (inbox.folder / "a.jpg").exists()


def test_refused_and_dropped_files_leave_the_list(tmp_path: Path):
    clock = Clock()
    inbox = Inbox(tmp_path, now=clock)
    _write(tmp_path, "bad.jpg", b"not a jpeg")
    _write(tmp_path, "again.jpg", b"not a jpeg")
    _write(tmp_path, "dropped.png")
    clock.moment = START + dt.timedelta(minutes=1)
    files = {f.name: f for f in inbox.ready()}
    assert inbox.refuse(files["bad.jpg"]) == tmp_path / REFUSED_FOLDER / "bad.jpg"
    # A second file of the same name refused later does not overwrite the first.
    (tmp_path / "bad.jpg").write_bytes(b"another")
    assert inbox.refuse(tmp_path / "bad.jpg") == tmp_path / REFUSED_FOLDER / "bad-2.jpg"
    inbox.discard(files["dropped.png"])
    assert [f.name for f in inbox.poll()] == ["again.jpg"]


def test_an_unreadable_inbox_is_a_store_error_naming_the_setting(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(StoreError, match=INBOX_ENV):
        Inbox(blocker / "in").poll()
