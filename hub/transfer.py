"""Transfer files (USB stick, township laptop): the same ingest and feed code as HTTP, in a file.

Each set in a file is signed; what the file says beside them (its station, the feed position the
station reached, its outbox length, what it reads) is signed too, in ``auth`` (the station's key
going up, the hub's going down), and checked before anything is ingested. A file of 0.4 has no
``auth``: its sets are ingested, its other fields are not believed (docs/protocol.md, "Files").
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

import msgspec

from hub.feed import feed_reach, held_feed, note_position, read_feed
from hub.ingest import ingest_sets
from hub.keys import HubIdentity
from hub.rotation import catch_up
from hub.store import Contact, HubStoreProtocol, StationRow
from sync.errors import InputError
from sync.limits import MAX_FEED_SETS_PER_FILE, MAX_SETS_PER_REQUEST, MAX_TRANSFER_FILE_BYTES
from sync.protocol import (
    FEATURE_SIGNED_HEADERS,
    HUB_FEATURES,
    MAX_SEQ,
    PROTOCOL_VERSION,
    ProtocolError,
    PushResponse,
    TransferFile,
    TransferHeader,
    check_sets,
    sign_transfer,
    verify_transfer,
)
from sync.timeutil import iso_utc, utc_now

__all__ = (
    "MAGIC",
    "ExportResult",
    "decode_transfer",
    "export_file",
    "import_bytes",
    "import_file",
)

MAGIC = "proxyapp-transfer"
_DECODER = msgspec.msgpack.Decoder(TransferFile)
_ENCODER = msgspec.msgpack.Encoder()


class ExportResult(msgspec.Struct, frozen=True, kw_only=True):
    """What ``hub export`` wrote."""

    station_id: str
    path: str
    after: int
    sets: int
    first_seq: int | None
    last_seq: int | None


def decode_transfer(data: bytes, *, direction: str) -> TransferFile:
    """Parse a transfer file and check it is one, of this protocol, going ``direction``.

    Raises:
        InputError: not a transfer file, another protocol version, the wrong direction, or more
            sets or bytes than are read at once (``too_large``).
    """
    limit = MAX_SETS_PER_REQUEST if direction == "up" else MAX_FEED_SETS_PER_FILE
    if len(data) > MAX_TRANSFER_FILE_BYTES:
        raise InputError(
            zh=f"文件大小 {len(data)} 字节，超过一次可读取的 {MAX_TRANSFER_FILE_BYTES} 字节",
            en=f"the file is {len(data)} bytes, more than the {MAX_TRANSFER_FILE_BYTES} read at once",
            field="file",
            code="too_large",
        )
    try:
        check_sets(data, limit=limit)
        transfer = _DECODER.decode(data)
    except ProtocolError as exc:
        if exc.code != "malformed":
            raise InputError(zh=exc.zh, en=exc.en, field="file", code=exc.code) from None
        raise InputError(
            zh=f"不是有效的传输文件（{exc.zh}）", en=f"not a transfer file ({exc.en})", field="file", code="malformed"
        ) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(
            zh=f"不是有效的传输文件（{exc}）", en=f"not a transfer file ({exc})", field="file", code="malformed"
        ) from None
    if transfer.magic != MAGIC:
        raise InputError(zh="不是本系统的传输文件", en="not a proxyapp transfer file", field="file", code="malformed")
    if transfer.protocol != PROTOCOL_VERSION:
        raise InputError(
            zh=f"传输文件协议版本为 {transfer.protocol}，本平台为 {PROTOCOL_VERSION}",
            en=f"transfer file of protocol {transfer.protocol}; this hub speaks {PROTOCOL_VERSION}",
            field="file",
            code="protocol_version",
        )
    if transfer.direction != direction:
        raise InputError(
            zh=f"该文件方向为 {transfer.direction}；县平台只能导入代办点导出的文件（up）",
            en=f"this file goes {transfer.direction}; the hub imports files a station exported ('up')",
            field="file",
        )
    return transfer


def import_bytes(
    store: HubStoreProtocol, identity: HubIdentity, data: bytes, *, now: Callable[[], dt.datetime] = utc_now
) -> tuple[TransferFile, PushResponse]:
    """Ingest the sets of an up transfer file and record the contact; exactly what a push does.

    The file's signed header is checked first: a file whose fields or sets differ from what its
    station signed is refused whole (InputError ``bad_signature``, nothing ingested). A file of 0.4
    (no header) has its sets ingested, but its feed position and features are not believed (the hub
    keeps the ones it knows) and its outbox length is kept only as a whole number.
    """
    transfer = decode_transfer(data, direction="up")
    station = store.station(transfer.station_id)
    if station is None:
        raise InputError(
            zh=f"代办点 {transfer.station_id} 未在本县平台注册",
            en=f"station {transfer.station_id} is not enrolled at this hub",
            field="file",
            code="unknown_station",
        )
    header = _signed_header(store, station, transfer)
    response = ingest_sets(
        store,
        identity,
        transfer.sets,
        station_id=station.station_id,
        via="file",
        now=now,
        feed_after=header.feed_after if header is not None else None,
    )
    failed = next((r for r in response.results if r.status not in ("accepted", "duplicate")), None)
    seqs = [r.seq for r in response.results]
    if header is not None:
        note_position(store, station.station_id, header.feed_after)  # after a restore: the feed goes on after it
        # Never past the newest feed set the hub has sealed (or, restored, the position it goes on from).
        feed_after: int | None = min(header.feed_after, feed_reach(store, station.station_id))
        outbox: int | None = header.outbox_length
    else:
        feed_after = None
        outbox = transfer.outbox_length if 0 <= transfer.outbox_length <= MAX_SEQ else None
    with store.transaction():
        if header is not None:
            store.set_features(station.station_id, header.features)  # the answer file is sealed for what it reads
            catch_up(store, identity, station.station_id, at=iso_utc(now()))  # hub key handovers (hub.rotation)
        store.record_contact(
            station.station_id,
            Contact(
                at=iso_utc(now()),
                kind="import",
                ok=failed is None,
                code=failed.code if failed else None,
                sets=len(seqs),
                head_seq=max(seqs) if seqs else None,
                outbox_length=outbox,
                feed_after=feed_after,
            ),
        )
    return transfer, response


def _signed_header(store: HubStoreProtocol, station: StationRow, transfer: TransferFile) -> TransferHeader | None:
    """The file's header as its station signed it; None for a file of 0.4 (which signs none).

    Raises:
        InputError: ``bad_signature`` (a field or the sets altered, or the signature stripped from
            the file of a station that signs them), ``unknown_key``, ``malformed``.
    """
    if not transfer.auth:
        if station.features & FEATURE_SIGNED_HEADERS:
            raise InputError(
                zh=f"代办点 {station.station_id} 导出的文件均带签名，但此文件没有（途中被改动？）；未导入任何内容：请在代办点重新导出",
                en=f"station {station.station_id} signs its files, but this one carries no signature (altered on the "
                "way?); nothing was imported: export the file again at the station",
                field="file",
                code="bad_signature",
            )
        return None

    def key_for(key_id: str) -> bytes:
        key = store.key(key_id)
        if key is None or key.station_id != station.station_id:
            raise ProtocolError(
                zh=f"文件签名密钥 {key_id} 不属于代办点 {station.station_id}",
                en=f"the file is signed by key {key_id}, not one of station {station.station_id}",
                code="unknown_key",
            )
        if key.replaced_at is not None:
            raise ProtocolError(
                zh=f"文件由代办点已更换的旧密钥 {key_id} 签署，该密钥不再有效：请在代办点导入县平台的文件后重新导出",
                en=f"the file is signed by key {key_id}, which the station replaced and the hub no longer takes: "
                "import the hub's file at the station, then export again",
                code="retired_key",
            )
        return key.sign_public

    try:
        header = verify_transfer(transfer, public_key_for=key_for)
    except ProtocolError as exc:
        raise InputError(
            zh=f"{exc.zh}；未导入任何内容", en=f"{exc.en}; nothing was imported", field="file", code=exc.code
        ) from None
    if not (
        0 <= header.feed_after <= MAX_SEQ and 0 <= header.outbox_length <= MAX_SEQ and 0 <= header.features < 2**31
    ):
        # Signed, so written by the station's key, yet out of any range a station writes: refused, not stored.
        raise InputError(
            zh="文件中的 feed_after、outbox_length 或 features 超出范围；未导入任何内容",
            en="the file's feed_after, outbox_length or features are out of range; nothing was imported",
            field="file",
            code="malformed",
        )
    return header


def import_file(
    store: HubStoreProtocol, identity: HubIdentity, path: Path, *, now: Callable[[], dt.datetime] = utc_now
) -> tuple[TransferFile, PushResponse]:
    """``hub import FILE``: read and ingest an up transfer file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TRANSFER_FILE_BYTES + 1)  # decode_transfer refuses what is longer
    except OSError as exc:
        raise InputError(
            zh=f"无法读取 {path}：{exc.strerror}", en=f"cannot read {path}: {exc.strerror}", field="file"
        ) from None
    return import_bytes(store, identity, data, now=now)


def export_file(
    store: HubStoreProtocol,
    identity: HubIdentity,
    station_id: str,
    path: Path,
    *,
    after: int | None = None,
    now: Callable[[], dt.datetime] = utc_now,
) -> ExportResult:
    """``hub export``: write a down transfer file with the station's feed sets after its known position.

    Pending items are sealed first, so the file carries everything queued so far. ``after``
    defaults to the last feed position the station reported (a pull or an imported file).

    Raises:
        InputError: unknown or revoked station, a negative ``after``, or the file cannot be written.
    """
    station = store.station(station_id)
    if station is None:
        raise InputError(
            zh=f"没有代办点 {station_id!r}；可用“hub station list”查看",
            en=f"no station {station_id!r}; list them with 'hub station list'",
            field="station",
        )
    if station.revoked_at is not None:
        raise InputError(
            zh=f"代办点 {station_id} 已被吊销，不再向其发送数据",
            en=f"station {station_id} is revoked; nothing is sent to it",
            field="station",
        )
    if held_feed(store, station_id):
        raise InputError(
            zh=f"县平台从备份恢复后尚未收到代办点 {station_id} 的数据：请先导入它的上报文件（其中写明它的下发位置），"
            "或让它联网同步一次，再导出",
            en=f"the hub was restored from a backup and has not heard from station {station_id} since: import its "
            "up file first (it says how far its feed went), or let it sync over the network once, then export",
            field="station",
            code="feed_held",
        )
    start = station.feed_acked if after is None else after
    if start < 0:
        raise InputError(zh="--after 不能为负数", en="--after must be 0 or more", field="after")
    moment = now()
    with store.transaction():
        catch_up(store, identity, station_id, at=iso_utc(moment))  # the hub key handovers it lacks (hub.rotation)
    rows, _ = read_feed(store, identity, station_id, after=start, limit=None, now=moment)
    # Signed under the hub key the station holds where the file starts, as the file's first set is.
    signer = identity.keys_of(store.hub_key_held(station_id, start))
    rows = rows[:MAX_FEED_SETS_PER_FILE]  # the rest go in the next file
    transfer = sign_transfer(
        TransferFile(
            direction="down",
            station_id=station_id,
            created_ms=int(moment.timestamp() * 1000),
            sets=[msgspec.Raw(row.envelope) for row in rows],
            feed_after=start,
            features=HUB_FEATURES,
        ),
        sign_private=signer.sign_private,
        sign_public=signer.sign_public,
    )
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        # Written beside the target and renamed, so a stick pulled out early never holds half a file.
        with open(tmp, "wb") as handle:
            handle.write(_ENCODER.encode(transfer))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(
            zh=f"无法写入 {path}：{exc.strerror}", en=f"cannot write {path}: {exc.strerror}", field="file"
        ) from None
    # Not a contact: the station has not seen the file yet. Its import acknowledges it later.
    return ExportResult(
        station_id=station_id,
        path=str(path),
        after=start,
        sets=len(rows),
        first_seq=rows[0].seq if rows else None,
        last_seq=rows[-1].seq if rows else None,
    )
