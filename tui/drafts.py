"""Drafts of unsaved forms, kept in DATA_DIR/drafts so nothing typed is lost on a quit or crash."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ("DRAFT_DIR", "NEW_CASE", "DraftStore")

DRAFT_DIR = "drafts"
NEW_CASE = "new_case"
"""The draft of the new-case form: ``DATA_DIR/drafts/new_case.json``."""


class DraftStore:
    """Reads and writes form drafts as JSON files in the station's data folder.

    A draft holds personal data (name, ID and phone numbers), so it lives only beside the
    database, never in a temp folder, and is deleted as soon as its case is saved.
    """

    def __init__(self, data_dir: Path) -> None:
        self.folder = Path(data_dir) / DRAFT_DIR

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def save(self, name: str, fields: Mapping[str, Any]) -> None:
        """Write the draft atomically: a temp file in the same folder, then ``os.replace``.

        Readers see the old draft or the new one, never half a file. No fsync: this runs on
        every keystroke, and the OS keeps written data through a crash of the program itself.

        Raises:
            OSError: the data folder is not writable.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        data = json.dumps(dict(fields), ensure_ascii=False, indent=1).encode("utf-8")
        # mkstemp creates the file readable by its owner only (0600 on POSIX).
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            _replace(tmp, self.path(name))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def load(self, name: str) -> dict[str, Any] | None:
        """The draft, or None when there is none or it cannot be read."""
        try:
            data = json.loads(self.path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def delete(self, name: str) -> None:
        """Remove the draft (and any temp file a crash left behind)."""
        with contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()
        if self.folder.is_dir():
            for stale in self.folder.glob(f".{name}.*.tmp"):
                with contextlib.suppress(OSError):
                    stale.unlink()


def _replace(source: str, target: Path) -> None:
    # On Windows a virus scanner may hold the old file open for a moment; os.replace then
    # fails with PermissionError, and a short retry is enough.
    for attempt in range(5):
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if attempt == 4:
                raise
            time.sleep(0.02 * (attempt + 1))
