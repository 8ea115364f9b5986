"""Sync by file (a USB stick, a township laptop): the same signed sets, written out and read back in.

What a file says beside its sets (feed position, outbox length, features) is signed too (``auth``:
the station's key going up, the hub's going down), so whoever carries it cannot change it unseen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from station.errors import FeedError, TransferError
from station.feed import apply_feed_set, feed_position, forget_reference_caches
from station.fsutil import atomic_write
from station.identity import StationKeys, load_keypair, passphrase, require_pins
from station.rekey import request_keys, settle
from station.sealing import HUB_FEATURES_META, hub_features, seal_pending, unacknowledged, unsealed_count
from station.store import Station
from station.store.db import write_txn
from sync.crypto import KeyPair
from sync.limits import MAX_FEED_SETS_PER_FILE, MAX_SETS_PER_REQUEST, MAX_TRANSFER_FILE_BYTES
from sync.protocol import (
    FEATURE_SIGNED_HEADERS,
    PROTOCOL_VERSION,
    STATION_FEATURES,
    ProtocolError,
    TransferFile,
    check_sets,
    sign_transfer,
    verify_transfer,
)
from sync.timeutil import iso_utc

__all__ = ("ExportResult", "ImportResult", "export_file", "import_file")

_MAGIC = "proxyapp-transfer"


class ExportResult(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    sets: int
    first_seq: int | None
    last_seq: int | None
    feed_after: int


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    applied: int
    skipped: int
    """Sets this station had applied before (a file carried twice, or overlapping files)."""
    feed_seq: int
    notes: list[str] = []
    revoked: bool = False


def _unlock(station: Station, keys: KeyPair | None) -> KeyPair:
    return keys if keys is not None else load_keypair(station.data_dir, passphrase())


def export_file(station: Station, path: Path | str, keys: KeyPair | None = None) -> ExportResult:
    """Seal the outbox and write every unacknowledged set to ``path`` for the hub (direction "up").

    The file also says which feed set this station applied last, so the hub's answer file
    carries only what is new; those fields are signed with the station's key (``auth``). At most
    200 sets go in one file (what the hub reads at once), the oldest first; the rest go in the next.
    Written to a temporary file and renamed: a stick pulled out mid-write leaves the old file or
    none, never half of one. ``keys`` as for :func:`station.client.sync_once` (unwrapped with the
    passphrase when None).
    """
    require_pins(station.db)
    path = Path(path)
    keys = _unlock(station, keys)
    if isinstance(keys, StationKeys):
        keys = settle(station, keys)  # a key change acknowledged (by an imported file): finished first
    seal_pending(station, keys)
    signer = request_keys(station, keys)  # the old key until the hub acknowledged a key change
    pending = unacknowledged(station)[:MAX_SETS_PER_REQUEST]
    transfer = sign_transfer(
        TransferFile(
            direction="up",
            station_id=station.station_id,
            created_ms=int(station.now().timestamp() * 1000),
            sets=[msgspec.Raw(bytes(envelope)) for _, envelope in pending],
            feed_after=feed_position(station),
            outbox_length=unsealed_count(station),
            features=STATION_FEATURES,
        ),
        sign_private=signer.sign_private,
        sign_public=signer.sign_public,
    )
    try:
        atomic_write(path, msgspec.msgpack.encode(transfer))
    except OSError as exc:
        raise TransferError(
            zh=f"无法写入 {path}：{exc.strerror or exc}", en=f"cannot write {path}: {exc.strerror or exc}", field="file"
        ) from None
    _log(station, "export", ok=True, pushed=len(pending), detail=f"{len(pending)} sets to file")
    return ExportResult(
        path=str(path),
        sets=len(pending),
        first_seq=pending[0][0] if pending else None,
        last_seq=pending[-1][0] if pending else None,
        feed_after=transfer.feed_after,
    )


def import_file(station: Station, path: Path | str, keys: KeyPair | None = None) -> ImportResult:
    """Apply the hub's feed sets from a file (direction "down") with the same code as a pull.

    All of the file's sets are applied in one transaction: a malformed, tampered or misdirected
    file changes nothing, and the error names the set at fault.

    Raises:
        TransferError: unreadable, not a transfer file, the wrong direction or station, or a
            set that fails its checks (``code`` is the protocol code, e.g. ``bad_signature``).
    """
    pins = require_pins(station.db)
    path = Path(path)
    transfer = _read(station, path)
    features = _hub_features_of(station, transfer, path, pins.public_key_for)
    keys = _unlock(station, keys)
    applied = skipped = 0
    notes: list[str] = []
    revoked = False
    try:
        with write_txn(station.db):
            for data in transfer.sets:
                outcome = apply_feed_set(station, bytes(data), keys, pins=pins)
                applied += int(outcome.applied)
                skipped += int(not outcome.applied)
                notes += outcome.notes
                revoked |= outcome.revoked
            if features is not None:
                station.meta.update({HUB_FEATURES_META: features})  # what the hub reads, for sealing
    except FeedError as exc:
        forget_reference_caches(station)
        _log(station, "import", ok=False, detail=f"{exc.code}: {exc.en}")
        raise TransferError(
            zh=f"{path.name}：{exc.zh}；该文件的内容均未应用",
            en=f"{path.name}: {exc.en}; nothing from this file was applied",
            field="file",
            code=exc.code,
        ) from None
    if isinstance(keys, StationKeys):
        settle(station, keys)  # the file's receipts may acknowledge this station's key change
    _log(station, "import", ok=True, pulled=applied, detail=f"{applied} feed sets from file, {skipped} already held")
    return ImportResult(
        path=str(path), applied=applied, skipped=skipped, feed_seq=feed_position(station), notes=notes, revoked=revoked
    )


def _hub_features_of(station: Station, transfer: TransferFile, path: Path, hub_key_for: Any) -> int | None:
    """What the hub's signed header says it reads; None for a file of a hub of 0.4 (not believed).

    Raises:
        TransferError: the header does not check (``bad_signature``: a field or the sets altered,
            or the signature stripped from the file of a hub that signs them).
    """
    if not transfer.auth:
        if hub_features(station) & FEATURE_SIGNED_HEADERS:
            raise TransferError(
                zh=f"{path.name} 没有签名，但县平台的文件均带签名（途中被改动？）；未做任何更改：请向县平台重新索取文件",
                en=f"{path.name} carries no signature, but the hub signs its files (altered on the way?); "
                "nothing was changed: ask the county for the file again",
                field="file",
                code="bad_signature",
            )
        return None
    try:
        return verify_transfer(transfer, public_key_for=hub_key_for).features
    except ProtocolError as exc:
        raise TransferError(
            zh=f"{path.name}：{exc.zh}；未做任何更改",
            en=f"{path.name}: {exc.en}; nothing was changed",
            field="file",
            code=exc.code,
        ) from None


def _read(station: Station, path: Path) -> TransferFile:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TRANSFER_FILE_BYTES + 1)
    except OSError as exc:
        raise TransferError(
            zh=f"无法读取 {path}：{exc.strerror or exc}", en=f"cannot read {path}: {exc.strerror or exc}", field="file"
        ) from None
    try:
        if len(data) > MAX_TRANSFER_FILE_BYTES:
            raise ProtocolError(
                zh=f"文件超过 {MAX_TRANSFER_FILE_BYTES} 字节",
                en=f"it is over {MAX_TRANSFER_FILE_BYTES} bytes",
                code="too_large",
            )
        check_sets(data, limit=MAX_FEED_SETS_PER_FILE)
        transfer = msgspec.msgpack.decode(data, type=TransferFile)
    except ProtocolError as exc:
        if exc.code == "too_large":
            raise TransferError(
                zh=f"{path.name} 过大，无法读取（{exc.zh}）；未做任何更改",
                en=f"{path.name} is too large to read ({exc.en}); nothing was changed",
                field="file",
                code="too_large",
            ) from None
        raise TransferError(
            zh=f"{path.name} 不是同步文件或已损坏（{exc.zh}）；未做任何更改",
            en=f"{path.name} is not a sync file, or it is damaged ({exc.en}); nothing was changed",
            field="file",
            code="malformed",
        ) from None
    except (msgspec.DecodeError, ValueError, RecursionError) as exc:  # ValueError: a string that is not UTF-8
        raise TransferError(
            zh=f"{path.name} 不是同步文件或已损坏（{exc}）；未做任何更改",
            en=f"{path.name} is not a sync file, or it is damaged ({exc}); nothing was changed",
            field="file",
            code="malformed",
        ) from None
    if transfer.magic != _MAGIC:
        raise TransferError(
            zh=f"{path.name} 不是同步文件；未做任何更改",
            en=f"{path.name} is not a sync file; nothing was changed",
            field="file",
            code="malformed",
        )
    if transfer.protocol != PROTOCOL_VERSION:
        raise TransferError(
            zh=f"{path.name} 使用协议版本 {transfer.protocol}，本软件为 {PROTOCOL_VERSION}：请升级软件",
            en=f"{path.name} uses protocol version {transfer.protocol}; this software speaks {PROTOCOL_VERSION}: update it",
            field="file",
            code="protocol_version",
        )
    if transfer.direction != "down":
        raise TransferError(
            zh=f"{path.name} 是上报给县平台的文件（由“station export”生成）；请导入县平台生成的下发文件",
            en=f"{path.name} is a file going up to the hub (written by 'station export'); import the hub's answer file",
            field="file",
            code="wrong_direction",
        )
    if transfer.station_id != station.station_id:
        raise TransferError(
            zh=f"{path.name} 属于站点 {transfer.station_id}，不是本站（{station.station_id}）；未做任何更改",
            en=f"{path.name} is for station {transfer.station_id}, not this one ({station.station_id}); nothing was changed",
            field="file",
            code="wrong_origin",
        )
    return transfer


def _log(station: Station, kind: str, *, ok: bool, pushed: int = 0, pulled: int = 0, detail: str) -> None:
    with write_txn(station.db):
        station.db.execute(
            "INSERT INTO sync_log (at, kind, ok, pushed, pulled, detail) VALUES (?, ?, ?, ?, ?, ?)",
            [iso_utc(station.now()), kind, int(ok), pushed, pulled, detail],
        )
