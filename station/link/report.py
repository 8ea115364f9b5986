"""What one sync round tells its caller: the report, its issues, and the early stop that files one."""

from __future__ import annotations

import msgspec

from station.syncstate import Refusal
from sync.errors import ProxyAppError

__all__ = ("Stop", "SyncIssue", "SyncReport", "issue")


class SyncIssue(msgspec.Struct, frozen=True):
    """One thing that went wrong in a round, in both languages, without personal data."""

    code: str
    en: str
    zh: str

    def message(self, lang: str = "zh") -> str:
        return self.en if lang.startswith("en") else self.zh


class SyncReport(msgspec.Struct, kw_only=True):
    """What one round did and where both sides stand."""

    started_at: str
    sealed: int = 0
    """Sets sealed from the outbox in this round."""
    pushed: int = 0
    """Sets sent to the hub in this round."""
    acknowledged: int = 0
    """Sets the hub acknowledged (receipt stored) in this round."""
    pulled: int = 0
    """Feed sets applied in this round."""
    unacknowledged: int = 0
    """Sealed sets still without a receipt, after the round."""
    unsealed: int = 0
    """Changes not yet sealed, after the round (made while it ran)."""
    feed_seq: int = 0
    hub_feed_seq: int | None = None
    """The hub's newest feed seq for this station; None when the hub was not reached."""
    clock_offset_ms: int | None = None
    """Hub clock minus ours, estimated from this round (None when the hub was not reached)."""
    in_step: bool = False
    """Both sides hold everything: nothing unacknowledged or unsealed, feed caught up, no error."""
    fatal: bool = False
    """Retrying will not help (fork, revoked key, refused set): a person must act."""
    errors: list[SyncIssue] = []
    notes: list[str] = []
    """Feed items kept aside (English, no personal data)."""
    requests: int = 0
    """HTTP requests sent in this round (round trips), retries included."""
    refused: list[Refusal] = []
    """The county's refusals of this station's changes that came down in this round (each names its case)."""
    scan_bytes_sent: int = 0
    """Bytes of scanned pages the hub took in this round (station.link.scans)."""
    scan_pages_sent: int = 0
    """Pages the hub came to hold whole in this round."""
    scans_pages: int = 0
    """Pages still waiting to go up, after the round."""
    scans_total: int = 0
    """Bytes of the waiting pages, in all."""
    scans_waiting: int = 0
    """Bytes of them the hub does not hold yet."""
    scan_store_bytes: int = 0
    """Bytes of pages this station holds (retention keeps it in check; ``STATION_SCAN_WARN_MB`` warns)."""
    scan_errors: list[SyncIssue] = []
    """What stopped the scans in this round; never a failure of the round's records."""


class Stop(Exception):
    """Ends the round early; the issue is already in the report."""


def issue(exc: ProxyAppError) -> SyncIssue:
    return SyncIssue(exc.code, exc.en, exc.zh)
