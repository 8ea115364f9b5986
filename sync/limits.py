"""The limits both sides write and read under: sets, requests, records and free text (docs/security.md).

A station never writes past these, and the hub refuses anything past them before it opens a write
transaction, so a stolen station key cannot make the hub store or hold more than this per request.
The numbers are part of the protocol: lowering one refuses sets that an older station may have
sealed already, so they only ever grow, and a new limit is written in docs/security.md with its
reason.
"""

from __future__ import annotations

__all__ = (
    "MAX_CHANGES_PER_SET",
    "MAX_FEED_SETS_PER_FILE",
    "MAX_FIELDS_PER_RECORD",
    "MAX_RECORD_BYTES",
    "MAX_SETS_PER_REQUEST",
    "MAX_SET_INFLATED_BYTES",
    "MAX_TEXT_CHARS",
    "MAX_TRANSFER_FILE_BYTES",
    "TEXT_LIMITS",
    "text_limit",
)

MAX_CHANGES_PER_SET = 500
"""Changes in one station set (the station seals at most this many; a day's work is a few dozen)."""

MAX_SETS_PER_REQUEST = 200
"""Sets in one push, exchange or transfer file read at once (the station sends at most this many)."""

MAX_RECORD_BYTES = 16 * 1024
"""Encoded bytes of one change (an intake row is a few hundred bytes; a note of 2,000 CJK
characters is about 6 KB)."""

MAX_FIELDS_PER_RECORD = 64
"""Fields in one row change (the widest replicated table has about 30 columns)."""

MAX_SET_INFLATED_BYTES = 8 * 1024 * 1024
"""What one station set's body may inflate to, all records together: 500 changes of 16 KiB."""

MAX_TRANSFER_FILE_BYTES = 64 * 1024 * 1024
"""A transfer file (USB) read at once, either way: 200 sets of a station's work are well under a
megabyte, a new station's reference data (catalogue, calendars, division tree) a few megabytes."""

MAX_FEED_SETS_PER_FILE = 2000
"""Feed sets in one down file (``hub export`` writes at most this many; the rest go in the next file)."""

MAX_TEXT_CHARS = 2000
"""Any free-text field not named in :data:`TEXT_LIMITS` (a note the agent types)."""

TEXT_LIMITS: dict[str, int] = {
    "name": 50,
    "applicant_name": 50,
    "agent": 50,
    "author": 50,
    "by": 64,  # a station's agent (50) or a hub account (user names run to 64)
    "signer_name": 50,
    "material": 100,  # a material's name: the catalogue's longest is 25
    "reason": 500,
    "comment": 500,  # an applicant's rating comment (sync.ratings)
    "text": MAX_TEXT_CHARS,
    "note": MAX_TEXT_CHARS,
}
"""Characters allowed per field name, the same at intake (station) and at ingest (hub)."""


def text_limit(field: str) -> int:
    """The most characters a free-text field called ``field`` may hold."""
    return TEXT_LIMITS.get(field, MAX_TEXT_CHARS)
