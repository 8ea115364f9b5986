"""Drafts of unsaved forms, kept encrypted in DATA_DIR/drafts so nothing typed is lost on a quit or crash."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from station.fsutil import private_folder, wipe
from tui import sealed

__all__ = ("DRAFT_DIR", "NEW_CASE", "DraftStore")

DRAFT_DIR = "drafts"
NEW_CASE = "new_case"
"""The draft of the new-case form: ``DATA_DIR/drafts/new_case.draft``."""
SUFFIX = ".draft"
LEGACY_SUFFIX = ".json"
"""Releases up to 0.4 wrote drafts as plain JSON; one found is read once, then kept encrypted."""
_MAGIC = b"PXD1"


class DraftStore:
    """Reads and writes form drafts in the station's data folder, encrypted (AES-256-GCM) under a
    key derived from the station's data key, as the database is.

    A draft holds personal data (name, ID and phone numbers), so it lives only beside the
    database, never in a temp folder, and is deleted as soon as its case is saved.

    Args:
        data_dir: the station's data folder.
        key: the data key; None: the one this process unlocked for ``data_dir`` (the app opens the
            station first). Without either, nothing can be saved (an OSError, as a full disk).
    """

    def __init__(self, data_dir: Path, key: bytes | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.folder = self.data_dir / DRAFT_DIR
        self._key = key

    def path(self, name: str) -> Path:
        return self.folder / f"{name}{SUFFIX}"

    def _legacy(self, name: str) -> Path:
        return self.folder / f"{name}{LEGACY_SUFFIX}"

    def _cipher(self) -> AESGCM | None:
        return sealed.cipher(self.data_dir, "drafts", self._key)

    def save(self, name: str, fields: Mapping[str, Any]) -> None:
        """Write the draft atomically: a temp file in the same folder, then ``os.replace``.

        Readers see the old draft or the new one, never half a file. No fsync: this runs on
        every keystroke, and the OS keeps written data through a crash of the program itself.

        Raises:
            OSError: the data folder is not writable, or the station is not unlocked.
        """
        cipher = self._cipher()
        if cipher is None:
            raise PermissionError(errno.EACCES, "the station's data key is not unlocked")
        private_folder(self.folder)
        nonce = os.urandom(12)
        plain = json.dumps(dict(fields), ensure_ascii=False).encode("utf-8")
        data = _MAGIC + nonce + cipher.encrypt(nonce, plain, name.encode("utf-8"))
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
        legacy = self._legacy(name)
        if legacy.exists():
            wipe(legacy)

    def load(self, name: str) -> dict[str, Any] | None:
        """The draft, or None when there is none or it cannot be read (torn, or another key's)."""
        cipher = self._cipher()
        try:
            raw = self.path(name).read_bytes()
        except OSError:
            return self._load_legacy(name)
        if cipher is None or not raw.startswith(_MAGIC) or len(raw) < len(_MAGIC) + 12 + 16:
            return None
        nonce, sealed = raw[len(_MAGIC) : len(_MAGIC) + 12], raw[len(_MAGIC) + 12 :]
        try:
            data = json.loads(cipher.decrypt(nonce, sealed, name.encode("utf-8")).decode("utf-8"))
        except (InvalidTag, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _load_legacy(self, name: str) -> dict[str, Any] | None:
        """A plain JSON draft of an older release: read, then kept encrypted (the plain file wiped)."""
        legacy = self._legacy(name)
        try:
            data = json.loads(legacy.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        with contextlib.suppress(OSError):
            self.save(name, data)  # wipes the plain file once the encrypted one is written
        return data

    def exists(self, name: str) -> bool:
        return self.path(name).is_file() or self._legacy(name).is_file()

    def delete(self, name: str) -> None:
        """Remove the draft (and any temp file a crash left behind, and an older release's plain one)."""
        with contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()
        if self._legacy(name).exists():
            wipe(self._legacy(name))
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
