"""Backup archives, hub's and station's alike: a tar stream of owner-only members, compressed with zstd.

``hub backup`` writes the archive to a file, ``station backup`` through its encrypting writer; both take
their members here (names, mode 0600, one modification time) with the bytes counted for a progress line.
"""

from __future__ import annotations

import contextlib
import io
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, cast

import zstandard

__all__ = ("Counting", "Progress", "add_bytes", "add_file", "zstd_tar")

Progress = Callable[[str, int, int], None]
"""Called with a stage name (``"write"``, ``"verify"``, ``"read"`` …), the bytes done and the total."""


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
