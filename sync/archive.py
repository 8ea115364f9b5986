"""Backup archives, hub's and station's alike: a tar stream of owner-only members, compressed with zstd.

``hub backup`` writes the archive to a file, ``station backup`` through its encrypting writer; both take
their members here (names, mode 0600, one modification time) with the bytes counted for a progress line.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, cast

import zstandard

from sync.errors import StoreError

__all__ = ("Counting", "Progress", "add_bytes", "add_file", "backup_file", "zstd_tar")

Progress = Callable[[str, int, int], None]
"""Called as work moves: (stage, done, total); stages ``copy`` (database pages), ``write`` and ``read`` (bytes)."""


class Counting(io.RawIOBase):
    """A file read through, calling ``progress`` with the bytes read so far."""

    def __init__(self, handle: IO[bytes], total: int, stage: str, progress: Progress | None) -> None:
        self.handle, self.total, self.stage, self.progress, self.done = handle, total, stage, progress, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.handle.readinto(buffer) or 0  # type: ignore[attr-defined]
        self.done += count
        if self.progress is not None:
            self.progress(self.stage, self.done, self.total)
        return count


@contextlib.contextmanager
def zstd_tar(out: IO[bytes], *, level: int, threads: int = 0) -> Iterator[tarfile.TarFile]:
    """A tar stream (PAX) written through zstd (with its checksum) to ``out``, which stays open; the frame is
    ended when the block ends, so ``tar --zstd -tf`` lists what was written."""
    compressor = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
    with compressor.stream_writer(out, closefd=False) as zst:
        with tarfile.open(fileobj=cast(IO[bytes], zst), mode="w|", format=tarfile.PAX_FORMAT) as tar:
            yield tar
        zst.flush(zstandard.FLUSH_FRAME)


def _info(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600  # every member holds personal data or a key
    info.mtime = int(mtime)
    return info


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    """One member holding ``data``."""
    tar.addfile(_info(name, len(data), mtime), io.BytesIO(data))


def add_file(
    tar: tarfile.TarFile,
    name: str,
    path: Path,
    mtime: float,
    progress: Progress | None = None,
    *,
    size: int | None = None,
) -> None:
    """One member holding the file at ``path`` (``size`` bytes of it, its whole size by default), counted for
    ``progress`` as stage ``"write"``."""
    size = path.stat().st_size if size is None else size
    with open(path, "rb") as handle:
        reader = cast(IO[bytes], Counting(handle, size, "write", progress)) if progress else handle
        tar.addfile(_info(name, size, mtime), reader)


@contextlib.contextmanager
def backup_file(
    file: Path,
    *,
    fix_zh: str,
    fix_en: str,
    scratch: Path | None = None,
    settle: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """``FILE.partial`` to write the backup to, renamed to ``file`` only when the block ends without an error:
    an interrupted backup never looks like a finished one. The partial file and ``scratch`` (a copy made on
    the way) are removed either way; ``settle`` runs on the folder after the rename (to make it durable). An
    OSError becomes a StoreError naming the file and ``fix_zh``/``fix_en`` (what to check)."""
    partial = file.with_name(file.name + ".partial")
    try:
        yield partial
        os.replace(partial, file)
        if settle is not None:
            settle(file.parent)
    except OSError as exc:
        raise StoreError(
            zh=f"无法写入备份文件 {file}：{exc.strerror or exc}；{fix_zh}",
            en=f"cannot write the backup file {file}: {exc.strerror or exc}; {fix_en}",
            field="file",
        ) from exc
    finally:
        if scratch is not None:
            scratch.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
