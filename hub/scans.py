"""Scanned pages at the hub: chunks taken only for pages a signed record announced, stored as files, hash-checked.

The bytes live under the data folder (``scans/ab/<sha256>``; a page on its way in ``scans/partial/``),
the database holds each page's hash, size, how much has arrived and when it was whole (hub.store.scans):
a county's pages grow by hundreds of megabytes a day, which would make every database backup and a
PostgreSQL store heavy for bytes that never change. docs/protocol.md, "Scanned pages", has the why.

Order of writes, so a crash (kill -9) of the hub loses at most the chunk in flight and never takes a
page's bytes it does not hold: the chunk is written at its offset and synced, then the database moves
``held`` past it (compare-and-set); a file longer than ``held`` is cut back before the next chunk.
When ``held`` reaches the size the page is hashed; only bytes that hash to the signed record's SHA-256
become the page (renamed into place, then marked complete); others are thrown away whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
from pathlib import Path

import msgspec

from hub.store import HubStoreProtocol, KeyRow, StationRow
from sync.crypto import CryptoError
from sync.errors import InputError, ProxyAppError
from sync.protocol.scans import (
    MAX_CHUNK,
    SCAN_FILE_MAGIC,
    ScanAnswer,
    ScanFile,
    ScanPut,
    open_chunk,
    scan_part_paths,
)
from sync.timeutil import iso_utc

__all__ = ("SCANS_DIR", "ScanImport", "ScanRefused", "import_scan_parts", "page_path", "read_page", "receive_chunk")

SCANS_DIR = "scans"

_SCAN_FILE = msgspec.msgpack.Decoder(ScanFile)
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class ScanRefused(ProxyAppError):
    """A chunk the hub does not take; nothing of it is stored. ``status`` is the HTTP status to answer."""

    code = "scan_refused"

    def __init__(self, code: str, status: int, *, zh: str, en: str) -> None:
        super().__init__(zh=zh, en=en, code=code)
        self.status = status


def _lock(sha: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(sha, threading.Lock())


def page_path(data_dir: Path, sha: str) -> Path:
    """Where a whole page's bytes are kept."""
    return Path(data_dir) / SCANS_DIR / sha[:2] / sha


def _partial_path(data_dir: Path, sha: str) -> Path:
    return Path(data_dir) / SCANS_DIR / "partial" / f"{sha}.part"


def read_page(data_dir: Path, sha: str) -> bytes | None:
    """A whole page's bytes, or None when they have not all arrived."""
    path = page_path(data_dir, sha)
    return path.read_bytes() if path.is_file() else None


def receive_chunk(
    store: HubStoreProtocol,
    data_dir: Path,
    station: StationRow,
    key: KeyRow,
    hub_box_privates: list[bytes],
    put: ScanPut,
    now: dt.datetime,
) -> ScanAnswer:
    """Take one chunk of a page (or, with an empty one, say where the page stands).

    Raises:
        ScanRefused: a page no signed record of the station's village announced (403
            ``scan_unannounced``), a chunk that does not open or does not fit the page (400 ``bad_box``,
            ``malformed``), bytes that do not hash to the signed SHA-256 (409 ``scan_mismatch``:
            thrown away, the station sends the page again). Nothing is stored.
    """
    if len(put.sha256) != 32 or put.offset < 0:
        raise ScanRefused(
            "malformed", 400, zh="页面哈希应为 32 字节，位置不能为负", en="sha256 must be 32 bytes, offset >= 0"
        )
    sha = put.sha256.hex()
    scan = store.scan(sha)
    if scan is None or not store.scan_in_village(sha, station.village_code):
        raise ScanRefused(
            "scan_unannounced",
            403,
            zh=f"县平台没有收到登记页面 {sha[:16]} 的已签名记录：不接收其内容（请先同步记录）",
            en=f"no signed record of this station's village announces page {sha[:16]}: its bytes are not taken "
            "(sync the records first)",
        )
    with _lock(sha):
        scan = store.scan(sha)
        assert scan is not None
        if scan.complete_at is not None:
            return ScanAnswer(put.sha256, scan.size, scan.size, True)
        if scan.held >= scan.size:  # every byte arrived before a crash cut the check short
            return _finish(store, data_dir, sha, scan.size, put.sha256, now)
        if not put.sealed or put.offset != scan.held:
            # Asked where the page stands, or sent from elsewhere than where it stands: nothing stored.
            return ScanAnswer(put.sha256, scan.held, scan.size, False)
        chunk = _open(put, station, key, hub_box_privates)
        if not chunk or len(chunk) > MAX_CHUNK or put.offset + len(chunk) > scan.size:
            raise ScanRefused(
                "malformed",
                400,
                zh=f"数据块（{len(chunk)} 字节，位置 {put.offset}）超出页面大小 {scan.size}",
                en=f"a chunk of {len(chunk)} bytes at {put.offset} does not fit the page's {scan.size} bytes",
            )
        _write_at(_partial_path(data_dir, sha), put.offset, chunk)
        held = put.offset + len(chunk)
        with store.transaction():
            moved = store.set_scan_held(sha, held, was=put.offset)
        if not moved:  # another request moved it meanwhile (cannot happen under the lock; said, not assumed)
            current = store.scan(sha)
            return ScanAnswer(put.sha256, current.held if current else 0, scan.size, False)
        if held == scan.size:
            return _finish(store, data_dir, sha, scan.size, put.sha256, now)
        return ScanAnswer(put.sha256, held, scan.size, False)


def _open(put: ScanPut, station: StationRow, key: KeyRow, hub_box_privates: list[bytes]) -> bytes:
    for private in hub_box_privates:  # the current hub box key, then older ones (a rotation)
        try:
            return open_chunk(
                put.sealed,
                station_id=station.station_id,
                sha256=put.sha256,
                offset=put.offset,
                hub_box_private=private,
                station_box_public=key.box_public,
            )
        except CryptoError:
            continue
    raise ScanRefused(
        "bad_box",
        400,
        zh="数据块无法解开：传输中被改动，或不是本站发给县平台的；请重发",
        en="the chunk does not open: altered on the way, or not this station's for this hub; send it again",
    )


def _write_at(path: Path, offset: int, chunk: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT
    fd = os.open(path, flags, 0o600)
    try:
        os.ftruncate(fd, offset)  # whatever a crash left past what the database says is here goes
        os.pwrite(fd, chunk, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def _finish(
    store: HubStoreProtocol, data_dir: Path, sha: str, size: int, digest: bytes, now: dt.datetime
) -> ScanAnswer:
    partial, final = _partial_path(data_dir, sha), page_path(data_dir, sha)
    if not final.is_file():
        data = partial.read_bytes()[:size] if partial.is_file() else b""
        if hashlib.sha256(data).digest() != digest:
            partial.unlink(missing_ok=True)
            with store.transaction():
                store.set_scan_held(sha, 0, was=size)
            raise ScanRefused(
                "scan_mismatch",
                409,
                zh=f"页面 {sha[:16]} 的内容与已签名记录的哈希不符，已丢弃；请从头重发",
                en=f"page {sha[:16]} does not hash to its signed record's SHA-256; thrown away: send it again from the start",
            )
        final.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(partial, os.O_RDWR)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, final)
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    with store.transaction():
        store.complete_scan(sha, iso_utc(now))
    return ScanAnswer(digest, size, size, True)


class ScanImport(msgspec.Struct, frozen=True, kw_only=True):
    """What the scan parts beside an up file came to: chunks taken, pages now whole, chunks refused."""

    parts: int = 0
    taken: int = 0
    pages: int = 0
    refused: int = 0


def import_scan_parts(
    store: HubStoreProtocol, data_dir: Path, hub_box_privates: list[bytes], path: Path, now: dt.datetime
) -> ScanImport:
    """``hub import FILE``: take the scan parts beside the up file (``FILE.scans-1``, …) chunk by chunk, as
    over the link (after the file's sets: their records announce the pages). A chunk refused (a page no
    signed record announces, a box that does not open) is counted and nothing of it stored; a damaged part
    is refused whole (InputError)."""
    parts = scan_part_paths(path)
    taken = refused = 0
    whole: set[bytes] = set()
    for part in parts:
        try:
            scan_file = _SCAN_FILE.decode(part.read_bytes())
        except (OSError, msgspec.DecodeError, RecursionError) as exc:
            raise InputError(
                zh=f"扫描件文件 {part.name} 无法读取：{exc}",
                en=f"cannot read scan part {part.name}: {exc}",
                field="file",
            ) from None
        station = store.station(scan_file.station_id) if scan_file.magic == SCAN_FILE_MAGIC else None
        key = store.station_key_for_seq(station.station_id, station.applied_seq + 1) if station else None
        if station is None or key is None:
            raise InputError(
                zh=f"扫描件文件 {part.name} 不是本县平台登记的代办点的",
                en=f"{part.name} is not of a station enrolled here",
                field="file",
            )
        for put in scan_file.chunks:
            try:
                answer = receive_chunk(store, data_dir, station, key, hub_box_privates, put, now)
            except ScanRefused:
                refused += 1
                continue
            taken += 1
            if answer.complete:
                whole.add(put.sha256)
    return ScanImport(parts=len(parts), taken=taken, pages=len(whole), refused=refused)
