"""Transfer files (USB stick, township laptop): the same ingest and feed code as HTTP, in a file."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

import msgspec

from hub.feed import read_feed
from hub.ingest import ingest_sets
from hub.keys import HubIdentity
from hub.store import Contact, HubStore
from sync.errors import InputError
from sync.protocol import HUB_FEATURES, PROTOCOL_VERSION, PushResponse, TransferFile
from sync.timeutil import iso_utc, utc_now

__all__ = (
    "ExportResult",
    "MAGIC",
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
        InputError: not a transfer file, another protocol version, or the wrong direction.
    """
    try:
        transfer = _DECODER.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not a transfer file ({exc})", f"不是有效的传输文件（{exc}）", field="file",
                         code="malformed") from None
    if transfer.magic != MAGIC:
        raise InputError("not a proxyapp transfer file", "不是本系统的传输文件", field="file", code="malformed")
    if transfer.protocol != PROTOCOL_VERSION:
        raise InputError(f"transfer file of protocol {transfer.protocol}; this hub speaks {PROTOCOL_VERSION}",
                         f"传输文件协议版本为 {transfer.protocol}，本平台为 {PROTOCOL_VERSION}", field="file",
                         code="protocol_version")
    if transfer.direction != direction:
        raise InputError(
            f"this file goes {transfer.direction}; the hub imports files a station exported ('up')",
            f"该文件方向为 {transfer.direction}；县平台只能导入代办点导出的文件（up）", field="file",
        )
    return transfer


def import_bytes(
    store: HubStore, identity: HubIdentity, data: bytes, *, now: Callable[[], dt.datetime] = utc_now
) -> tuple[TransferFile, PushResponse]:
    """Ingest the sets of an up transfer file and record the contact; exactly what a push does."""
    transfer = decode_transfer(data, direction="up")
    station = store.station(transfer.station_id)
    if station is None:
        raise InputError(f"station {transfer.station_id} is not enrolled at this hub",
                         f"代办点 {transfer.station_id} 未在本县平台注册", field="file", code="unknown_station")
    response = ingest_sets(store, identity, [bytes(s) for s in transfer.sets], station_id=station.station_id,
                           via="file", now=now)
    failed = next((r for r in response.results if r.status not in ("accepted", "duplicate")), None)
    seqs = [r.seq for r in response.results]
    with store.transaction():
        store.set_features(station.station_id, transfer.features)  # the answer file is sealed for what it reads
        store.record_contact(station.station_id, Contact(
            at=iso_utc(now()), kind="import", ok=failed is None, code=failed.code if failed else None,
            sets=len(seqs), head_seq=max(seqs) if seqs else None, outbox_length=transfer.outbox_length,
            feed_after=transfer.feed_after,
        ))
    return transfer, response


def import_file(
    store: HubStore, identity: HubIdentity, path: Path, *, now: Callable[[], dt.datetime] = utc_now
) -> tuple[TransferFile, PushResponse]:
    """``hub import FILE``: read and ingest an up transfer file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", f"无法读取 {path}：{exc.strerror}", field="file") from None
    return import_bytes(store, identity, data, now=now)


def export_file(
    store: HubStore,
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
        raise InputError(f"no station {station_id!r}; list them with 'hub station list'",
                         f"没有代办点 {station_id!r}；可用“hub station list”查看", field="station")
    if station.revoked_at is not None:
        raise InputError(f"station {station_id} is revoked; nothing is sent to it",
                         f"代办点 {station_id} 已被吊销，不再向其发送数据", field="station")
    start = station.feed_acked if after is None else after
    if start < 0:
        raise InputError("--after must be 0 or more", "--after 不能为负数", field="after")
    moment = now()
    rows, _ = read_feed(store, identity, station_id, after=start, limit=None, now=moment)
    transfer = TransferFile(direction="down", station_id=station_id, created_ms=int(moment.timestamp() * 1000),
                            sets=[msgspec.Raw(row.envelope) for row in rows], feed_after=start,
                            features=HUB_FEATURES)
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
        raise InputError(f"cannot write {path}: {exc.strerror}", f"无法写入 {path}：{exc.strerror}", field="file") from None
    # Not a contact: the station has not seen the file yet. Its import acknowledges it later.
    return ExportResult(station_id=station_id, path=str(path), after=start, sets=len(rows),
                        first_seq=rows[0].seq if rows else None, last_seq=rows[-1].seq if rows else None)
