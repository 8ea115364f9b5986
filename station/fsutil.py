"""Files of the station's data folder: crash-safe writes, owner-only modes, and wiping what is replaced."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from sync.errors import StoreError

__all__ = (
    "atomic_write",
    "create_private",
    "file_lock",
    "fsync_file",
    "make_all_private",
    "make_private",
    "private_folder",
    "sync_folder",
    "wipe",
)

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700
POSIX = os.name != "nt"
"""Modes only mean something on POSIX. On Windows the data folder sits in the user's profile
(``%LOCALAPPDATA%``), whose access list already keeps other users out; ``os.chmod`` there only
sets the read-only flag, so it is not called."""


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old file or the new one, never half of one.

    ``os.replace`` is atomic on Windows and POSIX alike when both names are in one folder.
    """
    tmp = path.with_name(path.name + ".tmp")
    # 0o600 matters on POSIX (keys, lookup key); Windows ignores the mode.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), PRIVATE_FILE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable (POSIX); a no-op on Windows."""
    # The rename itself is durable only once the folder entry is on disk (POSIX); Windows has
    # no way to open a folder for fsync and makes the rename durable by itself.
    if not POSIX:
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file another library wrote (SQLite) to the disk."""
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_private(path: Path) -> None:
    """Create ``path`` empty and owner-only unless it exists, so that what is later written into
    it (SQLite copies the database file's mode to its -wal and -shm) is never readable by others."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), PRIVATE_FILE))


def private_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) if needed, and make it owner-only (0700 on POSIX)."""
    folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_FOLDER)
    make_private(folder)


def make_private(path: Path) -> None:
    """Take group and other permissions off a file (0600) or folder (0700); POSIX only, no symlinks."""
    if not POSIX:
        return
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode) or not stat.S_IMODE(mode) & 0o077:
        return
    wanted = PRIVATE_FOLDER if stat.S_ISDIR(mode) else PRIVATE_FILE
    with contextlib.suppress(PermissionError):  # a file of another user: left alone, not a crash
        os.chmod(path, wanted)


def make_all_private(folder: Path, names: Iterable[str], subfolders: Iterable[str]) -> None:
    """:func:`make_private` on ``folder``, on those of its files whose names start with one of
    ``names``, and on everything inside the named ``subfolders``.

    Only named files: ``STATION_DATA_DIR`` may point at a folder that holds other things too.
    """
    if not POSIX:
        return
    make_private(folder)
    prefixes = tuple(names)
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            if entry.name.startswith(prefixes) and entry.is_file(follow_symlinks=False):
                make_private(Path(entry.path))
    for name in subfolders:
        sub = folder / name
        if not sub.is_dir() or sub.is_symlink():
            continue
        make_private(sub)
        for root, dirs, files in os.walk(sub):
            for item in (*dirs, *files):
                make_private(Path(root) / item)


def wipe(path: Path) -> None:
    """Overwrite a file with zeros, flush it, then remove it (best effort).

    On a hard disk this erases what was in the file; an SSD or a copy-on-write file system may
    keep old blocks elsewhere, which only full-disk encryption covers (docs/security.md).
    """
    try:
        size = path.stat().st_size
        with open(path, "r+b") as handle:
            chunk = b"\0" * (1 << 20)
            left = size
            while left > 0:
                handle.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        pass
    with contextlib.suppress(OSError):
        path.unlink()


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float = 60.0) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created 0600): other programs, and other threads of this
    one, wait. The OS drops it when the program dies, so a crash never leaves it held.

    Raises:
        StoreError: still held by another program after ``timeout`` seconds.
    """
    create_private(path)
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise StoreError(
                    zh=f"{path} 一直被另一个程序锁定；请关闭其他代办点程序后重试",
                    en=f"{path} stays locked by another program; close the other station programs and try again",
                    field="data_dir",
                    code="store.busy",
                )
            time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock (flock and msvcrt alike)


def _try_lock(fd: int) -> bool:
    try:
        # POSIX is os.name != "nt", which is sys.platform != "win32"; spelled so because typeshed declares
        # msvcrt's functions only for win32 and mypy skips the branch of the platform it does not check.
        if sys.platform != "win32":
            import fcntl

            # flock, not fcntl's record locks: those belong to the process, so two threads would
            # both get one; a flock belongs to the open file.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True
