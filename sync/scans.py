"""Scanned pages, what both sides agree on: the feature bit, the formats and size a page may have, its content address."""

from __future__ import annotations

import hashlib

__all__ = ("FEATURE_SCANS", "MAX_PAGE_BYTES", "PAGE_FORMATS", "attachment_hash", "page_hash")

FEATURE_SCANS = 512
"""Station: sends scanned pages (``attachments`` records, then ``POST /api/v1/scans``); hub: takes them
(docs/protocol.md, "Scanned pages")."""
PAGE_FORMATS = frozenset({"webp", "jpeg", "avif", "png"})
"""Formats a page may have: what normalisation writes (station.scans.normalise), all shown by Chromium."""
MAX_PAGE_BYTES = 8 * 1024 * 1024
"""A normalised page is tens of kilobytes; a record announcing more than this is refused."""


def page_hash(data: bytes) -> str:
    """A page's content address: the SHA-256 of its normalised bytes, in hex."""
    return hashlib.sha256(data).hexdigest()


def attachment_hash(page_hashes: list[str]) -> str:
    """The content hash of an attachment (one material's pages, in order): its page's hash when it has one
    page, else the SHA-256 of the pages' digests one after another."""
    if len(page_hashes) == 1:
        return page_hashes[0]
    return hashlib.sha256(b"".join(bytes.fromhex(h) for h in page_hashes)).hexdigest()
