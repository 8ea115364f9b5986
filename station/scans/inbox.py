"""The scan inbox: the folder the document camera's software saves into, polled for files that have settled.

Vendor software writes a file over seconds (a PDF of several pages longer), so a file is offered only
once it is *stable*: its size and modification time unchanged between two looks and not touched for
:data:`SETTLE_SECONDS`. Polling (``os.scandir``, cheap enough every second or two) needs no new
dependency and behaves the same on Windows, where the station PCs are, and on Linux.

A file leaves the inbox once it has been dealt with: :meth:`Inbox.done` after its pages are stored (the
original is wiped unless the agent asked to keep it, then moved to ``scans-originals/`` in the data
folder), :meth:`Inbox.refuse` for a file normalisation refused (moved to the inbox's ``refused/``
folder, where the agent can look at it), :meth:`Inbox.discard` for a page the agent dropped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from station import fsutil
from sync.errors import StoreError
from sync.timeutil import utc_now

__all__ = (
    "INBOX_ENV",
    "INBOX_FOLDER",
    "KEPT_FOLDER",
    "REFUSED_FOLDER",
    "SCAN_SUFFIXES",
    "SETTLE_SECONDS",
    "Inbox",
    "InboxFile",
    "inbox_dir",
)

INBOX_ENV = "STATION_SCAN_INBOX"
INBOX_FOLDER = "scans-inbox"
"""The inbox's default name, inside the station's data folder."""
REFUSED_FOLDER = "refused"
"""Inside the inbox: files that could not be made into pages, kept for the agent to look at."""
KEPT_FOLDER = "scans-originals"
"""Inside the data folder: originals the agent asked to keep after their pages were stored."""
SETTLE_SECONDS = 3.0
"""A file untouched this long (and the same size at two looks) is taken as completely written."""
SCAN_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".pdf", ".bmp", ".webp"})
"""What the document cameras' software saves; anything else in the folder (its settings, thumbnails,
half-written ``.tmp`` files) is not a scan and is left alone."""


def inbox_dir(data_dir: Path, environ: Mapping[str, str] | None = None) -> Path:
    """``STATION_SCAN_INBOX`` if set, else ``scans-inbox/`` in the station's data folder."""
    env = os.environ if environ is None else environ
    chosen = env.get(INBOX_ENV, "").strip()
    return Path(chosen).expanduser() if chosen else Path(data_dir) / INBOX_FOLDER


@dataclasses.dataclass(frozen=True)
class InboxFile:
    """A file in the inbox: where, how big, when it arrived (its last write, UTC), whether it has settled."""

    path: Path
    size: int
    arrived: dt.datetime
    stable: bool

    @property
    def name(self) -> str:
        return self.path.name


class Inbox:
    """The scan inbox folder, looked at by :meth:`poll` (created on first look if missing)."""

    def __init__(
        self,
        folder: Path,
        *,
        data_dir: Path | None = None,
        settle_seconds: float = SETTLE_SECONDS,
        now: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.folder = Path(folder)
        self.data_dir = Path(data_dir) if data_dir is not None else self.folder.parent
        self.settle = dt.timedelta(seconds=settle_seconds)
        self.now = now
        self._seen: dict[Path, tuple[int, int]] = {}

    @classmethod
    def for_station(cls, data_dir: Path, environ: Mapping[str, str] | None = None, **kwargs: object) -> Inbox:
        """The inbox of the station whose data folder is ``data_dir`` (``STATION_SCAN_INBOX`` overrides)."""
        return cls(inbox_dir(data_dir, environ), data_dir=data_dir, **kwargs)  # type: ignore[arg-type]

    def poll(self) -> list[InboxFile]:
        """Every scan file now in the inbox, oldest arrival first, each marked stable or still being written."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            entries = list(os.scandir(self.folder))
        except OSError as exc:
            raise StoreError(
                zh=f"无法读取扫描收件夹 {self.folder}；请检查该文件夹是否存在、是否有权限（或设置 {INBOX_ENV}）",
                en=f"cannot read the scan inbox {self.folder}; check that the folder exists and is readable "
                f"(or set {INBOX_ENV})",
                field=INBOX_ENV,
            ) from exc
        now = self.now()
        seen: dict[Path, tuple[int, int]] = {}
        files = []
        for entry in entries:
            path = Path(entry.path)
            if not _is_scan(entry.name):
                continue
            try:
                if not entry.is_file():
                    continue
                info = entry.stat()
            except OSError:
                continue  # gone between the listing and the look: the vendor software renamed it
            signature = (info.st_size, info.st_mtime_ns)
            seen[path] = signature
            arrived = dt.datetime.fromtimestamp(info.st_mtime_ns / 1e9, dt.UTC)
            settled = now - arrived >= self.settle
            unchanged = self._seen.get(path, signature) == signature
            files.append(InboxFile(path, info.st_size, arrived, info.st_size > 0 and settled and unchanged))
        self._seen = seen
        files.sort(key=lambda f: (f.arrived, f.name))
        return files

    def ready(self) -> list[InboxFile]:
        """The files that have settled, oldest first: these may be normalised."""
        return [f for f in self.poll() if f.stable]

    def done(self, file: InboxFile | Path, *, keep: bool = False) -> Path | None:
        """The file's pages are stored: wipe the original, or move it to ``scans-originals/`` if ``keep``.

        Returns where a kept original now is (None when wiped).
        """
        path = _path(file)
        if keep:
            kept = self.data_dir / KEPT_FOLDER
            fsutil.private_folder(kept)
            return _move(path, kept)
        fsutil.wipe(path)
        self._seen.pop(path, None)
        return None

    def refuse(self, file: InboxFile | Path) -> Path:
        """Normalisation refused the file: move it to the inbox's ``refused/`` folder (out of the list)."""
        path = _path(file)
        self._seen.pop(path, None)
        return _move(path, self.folder / REFUSED_FOLDER)

    def discard(self, file: InboxFile | Path) -> None:
        """The agent dropped this file: wipe it (a scan holds personal data)."""
        path = _path(file)
        self._seen.pop(path, None)
        fsutil.wipe(path)


def _is_scan(name: str) -> bool:
    if name.startswith((".", "~")):
        return False
    return Path(name).suffix.lower() in SCAN_SUFFIXES


def _path(file: InboxFile | Path) -> Path:
    return file.path if isinstance(file, InboxFile) else Path(file)


def _move(path: Path, folder: Path) -> Path:
    """``path`` moved into ``folder`` under a name not taken yet (``a.jpg``, ``a-2.jpg``, ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    counter = 2
    while target.exists():
        target = folder / f"{path.stem}-{counter}{path.suffix}"
        counter += 1
    os.replace(path, target)
    return target
