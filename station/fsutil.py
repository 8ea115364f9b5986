"""Crash-safe file writes: a temp file beside the target, flushed to disk, then renamed over it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ("atomic_write",)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old file or the new one, never half of one.

    ``os.replace`` is atomic on Windows and POSIX alike when both names are in one folder.
    """
    tmp = path.with_name(path.name + ".tmp")
    # 0o600 matters on POSIX (keys, lookup key); Windows ignores the mode.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    # The rename itself is durable only once the folder entry is on disk (POSIX); Windows has
    # no way to open a folder for fsync and makes the rename durable by itself.
    if os.name == "nt":
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
