"""The file backend: each digest as a JSON line under the data folder, and a log line with counts only."""

from __future__ import annotations

import logging
import os

import msgspec

from hub.notify.base import Digest, NotifySettings

__all__ = ("FileNotifier",)

LOG = logging.getLogger("hub.alerts")


class FileNotifier:
    """Appends ``alerts/DAY.jsonl`` (mode 0600: case numbers are the county's business) and logs counts."""

    name = "file"

    def __init__(self, settings: NotifySettings) -> None:
        self.folder = settings.data_dir / "alerts"

    def send(self, digests: list[Digest]) -> int:
        if not digests:
            return 0
        self.folder.mkdir(mode=0o700, exist_ok=True)
        path = self.folder / f"{digests[0].day}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as out:
            for digest in digests:
                out.write(msgspec.json.encode(digest) + b"\n")
        for digest in digests:
            # Counts and the account's name only: the log never holds a case's people.
            LOG.info("alert digest %s for %s (%s): %s", digest.day, digest.user, digest.unit, digest.counts())
        return len(digests)
