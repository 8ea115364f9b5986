"""Alert notifiers: the daily digest per handler (hub.notify.digest), sent by a pluggable backend.

Backends (``HUB_ALERTS_BACKEND``): ``file`` (default: one JSON line per digest in
``HUB_DATA_DIR/alerts/YYYY-MM-DD.jsonl`` and a log line with counts only) and ``smtp`` (one e-mail
per account with an address, ``hub user add --email``). Digests hold case numbers, item codes, due
dates and counts: never a name, ID or phone number.
"""

from __future__ import annotations

from hub.notify.base import Digest, Notifier, NotifySettings, make_notifier

__all__ = ("Digest", "Notifier", "NotifySettings", "make_notifier")
