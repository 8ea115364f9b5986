"""Scanned pages on the wire: chunks of a page's bytes, sealed to the hub, each placed by the page's signed hash.

A page is announced by its ``attachments`` record (sync.tables) in a signed change set; its bytes
travel apart, in ``POST /api/v1/scans`` requests of one chunk each (docs/protocol.md, "Scanned pages").
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from sync.crypto import open_box, seal_box
from sync.scans import FEATURE_SCANS, MAX_PAGE_BYTES, PAGE_FORMATS, attachment_hash, page_hash

__all__ = (
    "CTX_SCAN",
    "FEATURE_SCANS",
    "MAX_CHUNK",
    "MAX_PAGE_BYTES",
    "PAGE_FORMATS",
    "SCANS_PATH",
    "SCAN_FILE_MAGIC",
    "SCAN_PART_BYTES",
    "ScanAnswer",
    "ScanFile",
    "ScanPut",
    "attachment_hash",
    "chunk_aad",
    "open_chunk",
    "page_hash",
    "scan_part_paths",
    "seal_chunk",
)

SCANS_PATH = "/api/v1/scans"
CTX_SCAN = b"proxyapp/scan-chunk/v1\x00"
MAX_CHUNK = 256 * 1024
"""Bytes of one chunk before sealing, at most: a request stays a small piece of work for the hub."""


class ScanPut(msgspec.Struct, frozen=True, array_like=True):
    """One chunk of a page going up: ``[protocol, sha256, offset, sealed]`` (array-encoded).

    ``sealed`` is the chunk sealed to the hub's box key with the station's (sync.crypto.seal_box, layout 2),
    bound to the station, the page's hash and the offset (:func:`chunk_aad`), so a chunk moved to another
    place or page does not open. Empty: only asks where the hub stands on the page (nothing stored).
    """

    protocol: int
    sha256: bytes
    offset: int
    sealed: bytes = b""


class ScanAnswer(msgspec.Struct, frozen=True, array_like=True):
    """The hub's answer: how many bytes of the page it holds from the start (the next offset to send), the
    size the signed record announced, and whether the page is whole and its hash checked."""

    sha256: bytes
    held: int
    size: int
    complete: bool = False


def chunk_aad(station_id: str, sha256: bytes, offset: int) -> bytes:
    """What a sealed chunk is bound to: its station, its page and its place in the page."""
    return CTX_SCAN + station_id.encode() + b"\x00" + sha256 + offset.to_bytes(8, "big")


def seal_chunk(
    chunk: bytes, *, station_id: str, sha256: bytes, offset: int, station_box_private: bytes, hub_box_public: bytes
) -> bytes:
    """A chunk sealed to the hub (28 bytes more than the chunk)."""
    return seal_box(hub_box_public, chunk, chunk_aad(station_id, sha256, offset), sender_private=station_box_private)


def open_chunk(
    sealed: bytes, *, station_id: str, sha256: bytes, offset: int, hub_box_private: bytes, station_box_public: bytes
) -> bytes:
    """The chunk a station sealed; sync.crypto.CryptoError when it was altered, moved or not for this hub."""
    return open_box(hub_box_private, sealed, chunk_aad(station_id, sha256, offset), sender_public=station_box_public)


SCAN_FILE_MAGIC = "proxyapp-scans"
SCAN_PART_BYTES = 8 * 1024 * 1024
"""A scan part file on a USB stick holds at most this many bytes of chunks (FAT sticks, slow copies)."""


class ScanFile(msgspec.Struct, frozen=True, kw_only=True):
    """Pages carried by hand beside an up transfer file (``FILE.scans-1``, ``-2``, …): the same sealed chunks
    as over the link, each bound to the station, its page and its offset, so the hub takes them exactly as
    it takes ``POST /api/v1/scans`` (announced pages only, each hash checked)."""

    magic: str = SCAN_FILE_MAGIC
    protocol: int = 1
    station_id: str
    part: int
    chunks: list[ScanPut]


def scan_part_paths(path: Path) -> list[Path]:
    """The scan parts written beside an up transfer file, in order."""
    path = Path(path)
    found = []
    for candidate in path.parent.glob(path.name + ".scans-*"):
        number = candidate.name.rpartition(".scans-")[2]
        if number.isdigit():
            found.append((int(number), candidate))
    return [p for _, p in sorted(found)]
