"""Which station is asking: Ed25519-signed station requests (people log in through hub.guards)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from hub.errors import HubHTTPError
from hub.store import Contact, HubStore, KeyRow, StationRow
from sync.crypto import verify
from sync.protocol import (
    CTX_REQUEST,
    REQUEST_MAC_BYTES,
    HEADER_COUNTER,
    HEADER_HEAD_SEQ,
    HEADER_KEY,
    HEADER_OUTBOX,
    HEADER_SIGNATURE,
    HEADER_SOFTWARE,
    HEADER_STATION,
    HEADER_TIME,
    canonical_request,
    request_mac,
)
from sync.timeutil import iso_utc

__all__ = ("Signer", "path_qs", "verify_request")


class Signer(msgspec.Struct, frozen=True, kw_only=True):
    """An authenticated station request, with what it reported for the contact record."""

    station: StationRow
    key: KeyRow
    counter: int
    clock_offset_ms: int
    head_seq: int | None
    outbox_length: int | None
    software: str | None

    def contact(self, at: dt.datetime, kind: str, *, ok: bool, code: str | None = None, sets: int = 0,
                feed_after: int | None = None) -> Contact:
        """The contact record of this request (no personal data: counters, codes, versions)."""
        return Contact(at=iso_utc(at), kind=kind, ok=ok, code=code, sets=sets, head_seq=self.head_seq,
                       outbox_length=self.outbox_length, clock_offset_ms=self.clock_offset_ms,
                       software=self.software, feed_after=feed_after)


def path_qs(scope: Mapping[str, Any]) -> str:
    """``PATH?QUERY`` as the client sent it: what the station signed."""
    raw = scope.get("raw_path")
    # ASGI says raw_path has no query string, but some clients (httpx's test transport) put it there.
    path = raw.partition(b"?")[0].decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def _unauthenticated(en: str, zh: str) -> HubHTTPError:
    return HubHTTPError("unauthenticated", en, zh)


_MAX_HEADER_INT = 2**53
"""Counters, times and seqs are non-negative and far below this; anything else is malformed
(and would not fit a database integer)."""


def _int(value: str | None) -> int | None:
    try:
        number = int(value) if value is not None and value.strip().isdigit() else None
    except ValueError:
        return None
    return number if number is not None and number < _MAX_HEADER_INT else None


def verify_request(
    store: HubStore, *, method: str, path_qs: str, headers: Mapping[str, str], body: bytes, now: dt.datetime,
    mac_key_for: Callable[[KeyRow], bytes] | None = None,
) -> Signer:
    """Check a station request's signature headers; advance its counter; return who signed.

    ``mac_key_for`` (the exchange): a 16-byte ``X-Signature`` is then a MAC under the key the
    station and the hub share (sync.protocol.request_mac_key), checked instead of a signature.

    Order: headers present (401), key known to the hub and the station's (401), signature over
    the canonical request (401), key not revoked (403), counter above the last seen (409 replay,
    with ``last_counter``). Only a request whose signature checks is recorded as a contact.

    Raises:
        HubHTTPError: with the protocol's code and status.
    """
    station_id, key_id = headers.get(HEADER_STATION), headers.get(HEADER_KEY)
    counter, station_ms = _int(headers.get(HEADER_COUNTER)), _int(headers.get(HEADER_TIME))
    signature_text = headers.get(HEADER_SIGNATURE)
    if not station_id or not key_id or counter is None or station_ms is None or not signature_text:
        raise _unauthenticated(
            f"signed request headers missing or malformed ({HEADER_STATION}, {HEADER_KEY}, {HEADER_COUNTER}, "
            f"{HEADER_TIME}, {HEADER_SIGNATURE})",
            "请求缺少签名信息或签名信息格式错误",
        )
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError):
        raise _unauthenticated("the request signature is not base64", "请求签名不是 base64 格式") from None
    key = store.key(key_id)
    if key is None:
        raise HubHTTPError("unknown_key", f"key {key_id} is not known to this hub", f"县平台不认识密钥 {key_id}")
    station = store.station(station_id)
    if station is None or key.station_id != station_id:
        raise _unauthenticated(f"key {key_id} does not belong to station {station_id}",
                               f"密钥 {key_id} 不属于代办点 {station_id}")
    canonical = canonical_request(method=method, path_qs=path_qs, station_id=station_id, key_id=key_id,
                                  counter=counter, station_ms=station_ms, body=body)
    if len(signature) == REQUEST_MAC_BYTES and mac_key_for is not None:
        checks = hmac.compare_digest(request_mac(mac_key_for(key), canonical), signature)
    else:
        checks = verify(key.sign_public, CTX_REQUEST, canonical, signature)
    if not checks:
        raise _unauthenticated("the request signature does not check", "请求签名校验失败")
    signer = Signer(
        station=station, key=key, counter=counter,
        clock_offset_ms=station_ms - int(now.timestamp() * 1000),
        head_seq=_int(headers.get(HEADER_HEAD_SEQ)), outbox_length=_int(headers.get(HEADER_OUTBOX)),
        software=(headers.get(HEADER_SOFTWARE) or None),
    )
    if key.revoked_at is not None or station.revoked_at is not None:
        with store.transaction():
            store.record_contact(station_id, signer.contact(now, "refused", ok=False, code="revoked_key"))
        raise HubHTTPError("revoked_key", f"station {station_id}'s key was revoked", f"代办点 {station_id} 的密钥已被吊销")
    with store.transaction():
        last = store.advance_counter(station_id, counter)
        if last is not None:
            store.record_contact(station_id, signer.contact(now, "refused", ok=False, code="replay"))
    if last is not None:
        raise HubHTTPError("replay", f"request counter {counter} is not above the last one seen ({last})",
                           f"请求计数 {counter} 不大于上次的 {last}（疑似重放）", extra={"last_counter": last})
    return signer

