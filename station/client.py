"""Syncing with the hub, under its former name: the code lives in :mod:`station.link` (one module per concern).

``station.link.round`` holds ``sync_once``, ``station.link.loop`` holds ``watch``,
``station.link.exchange`` the way up and down, ``station.link.budget`` the byte budgets and
``station.link.session`` the signed requests.
This module re-exports their public names so ``from station.client import sync_once`` keeps working.
"""

from __future__ import annotations

from station.link.budget import FEED_BYTES, MAX_SETS_PER_REQUEST, PUSH_BYTES, TARGET_SECONDS
from station.link.loop import PROBE_MAX_SECONDS, PROBE_SECONDS, watch
from station.link.report import SyncIssue, SyncReport
from station.link.round import sync_once
from station.link.session import ATTEMPTS, MAX_RESTARTS, Sleep

__all__ = ("SyncIssue", "SyncReport", "sync_once", "watch")

# Re-exported for callers that read the tuning constants; not part of __all__, as before.
_CONSTANTS = (
    ATTEMPTS,
    FEED_BYTES,
    MAX_RESTARTS,
    MAX_SETS_PER_REQUEST,
    PROBE_MAX_SECONDS,
    PROBE_SECONDS,
    PUSH_BYTES,
    TARGET_SECONDS,
    Sleep,
)
