"""Which station is asking: Ed25519-signed (or MACed) station requests (people log in through hub.web.guards).

A station that has said ``FEATURE_SIGNED_HEADERS`` signs its head seq, outbox length and software
version with the rest (``CTX_REQUEST_V2``); the hub then keeps those only when they were signed. A
station of 0.4 signs the older form: what it reports there is shape-checked and kept as its claim
(docs/protocol.md, "Signed requests").
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hmac
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import msgspec

from hub.store import Contact, HubStore, KeyRow, StationRow
from hub.web.errors import HubHTTPError
from sync.crypto import verify
from sync.protocol import (
    CTX_REQUEST,
    CTX_REQUEST_V2,
    FEATURE_SIGNED_HEADERS,
    HEADER_COUNTER,
    HEADER_HEAD_SEQ,
    HEADER_KEY,
    HEADER_OUTBOX,
    HEADER_SIGNATURE,
    HEADER_SOFTWARE,
    HEADER_STATION,
    HEADER_TIME,
    MAX_SEQ,
    PROTOCOL_VERSION,
    REQUEST_MAC_BYTES,
    ProtocolError,
    canonical_request,
    request_mac,
    software_ok,
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
    fields_signed: bool = False
    """The three fields above were covered by the signature (``CTX_REQUEST_V2``)."""
    mac_index: int | None = None
    """Which of ``mac_key_for``'s keys the MAC checked under (None: signed): after a hub key rotation, the
    generation of the hub's box key the station pins (hub.rotation)."""

    def contact(
        self,
        at: dt.datetime,
        kind: str,
        *,
        ok: bool,
        code: str | None = None,
        sets: int = 0,
        feed_after: int | None = None,
    ) -> Contact:
        """The contact record of this request (no personal data: counters, codes, versions)."""
        return Contact(
            at=iso_utc(at),
            kind=kind,
            ok=ok,
            code=code,
            sets=sets,
            head_seq=self.head_seq,
            outbox_length=self.outbox_length,
            clock_offset_ms=self.clock_offset_ms,
            software=self.software,
            feed_after=feed_after,
        )


def path_qs(scope: Mapping[str, Any]) -> str:
    """``PATH?QUERY`` as the client sent it: what the station signed."""
    raw = scope.get("raw_path")
    # ASGI says raw_path has no query string, but some clients (httpx's test transport) put it there.
    path = raw.partition(b"?")[0].decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def _unauthenticated(*, zh: str, en: str) -> HubHTTPError:
    return HubHTTPError("unauthenticated", zh=zh, en=en)


_MAX_HEADER_INT = MAX_SEQ + 1
"""Counters, times and seqs are non-negative and far below this; anything else is malformed
(and would not fit a database integer)."""


def _int(value: str | None) -> int | None:
    try:
        number = int(value) if value is not None and value.strip().isdigit() else None
    except ValueError:
        return None
    return number if number is not None and number < _MAX_HEADER_INT else None


def verify_request(
    store: HubStore,
    *,
    method: str,
    path_qs: str,
    headers: Mapping[str, str],
    body: bytes,
    now: dt.datetime,
    mac_key_for: Callable[[KeyRow], bytes | Sequence[bytes]] | None = None,
    known_key: KeyRow | None = None,
    known_station: StationRow | None = None,
) -> Signer:
    """Check a station request's signature headers; advance its counter; return who signed.

    ``mac_key_for`` (the exchange): a 16-byte ``X-Signature`` is then a MAC under the key the
    station and the hub share (sync.protocol.request_mac_key), checked instead of a signature; after a
    hub key rotation, one key per generation the station may still pin, each tried.

    Order: headers present (401), key known to the hub and the station's (401), signature over
    the canonical request (401), head seq, outbox length and software of their shapes (400
    ``malformed``), key not revoked (403), counter above the last seen (409 replay, with
    ``last_counter``). Only a request whose signature checks is recorded as a contact.
    ``known_key``, ``known_station``: the request's key and the station it is of, as the caller read them
    together already (``HubStore.key_and_station``: a compact header names the key), used instead of reading
    them again when the key is the headers'.

    Raises:
        HubHTTPError: with the protocol's code and status.
    """
    station_id, key_id = headers.get(HEADER_STATION), headers.get(HEADER_KEY)
    counter, station_ms = _int(headers.get(HEADER_COUNTER)), _int(headers.get(HEADER_TIME))
    signature_text = headers.get(HEADER_SIGNATURE)
    if not station_id or not key_id or counter is None or station_ms is None or not signature_text:
        raise _unauthenticated(
            zh="请求缺少签名信息或签名信息格式错误",
            en=f"signed request headers missing or malformed ({HEADER_STATION}, {HEADER_KEY}, {HEADER_COUNTER}, "
            f"{HEADER_TIME}, {HEADER_SIGNATURE})",
        )
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError):
        raise _unauthenticated(zh="请求签名不是 base64 格式", en="the request signature is not base64") from None
    key: KeyRow | None
    station: StationRow | None
    if known_key is not None and known_key.key_id == key_id:
        key, station = known_key, known_station
    else:
        key, station = store.key_and_station(key_id)
    # The key's own station, read with it: the headers' station only when the key is that station's.
    if key is None:
        raise HubHTTPError("unknown_key", zh=f"县平台不认识密钥 {key_id}", en=f"key {key_id} is not known to this hub")
    if station is None or key.station_id != station_id or station.station_id != station_id:
        raise _unauthenticated(
            zh=f"密钥 {key_id} 不属于代办点 {station_id}", en=f"key {key_id} does not belong to station {station_id}"
        )
    texts = (headers.get(HEADER_HEAD_SEQ) or "", headers.get(HEADER_OUTBOX) or "", headers.get(HEADER_SOFTWARE) or "")
    mac_keys = mac_key_for(key) if len(signature) == REQUEST_MAC_BYTES and mac_key_for is not None else None
    if isinstance(mac_keys, bytes):
        mac_keys = [mac_keys]

    matched: list[int] = []

    def checks(covered: bool) -> bool:
        canonical = canonical_request(
            method=method,
            path_qs=path_qs,
            station_id=station_id,
            key_id=key_id,
            counter=counter,
            station_ms=station_ms,
            body=body,
            fields=texts if covered else None,
        )
        context = CTX_REQUEST_V2 if covered else CTX_REQUEST
        if mac_keys is not None:
            for index, mac_key in enumerate(mac_keys):
                if hmac.compare_digest(request_mac(mac_key, canonical, context), signature):
                    matched.append(index)
                    return True
            return False
        return verify(key.sign_public, context, canonical, signature)

    # The form the station said it signs is tried first; the other only when that one fails.
    says_covered = bool(station.features & FEATURE_SIGNED_HEADERS)
    covered = next((form for form in (says_covered, not says_covered) if checks(form)), None)
    if covered is None:
        raise _unauthenticated(zh="请求签名校验失败", en="the request signature does not check")
    head_seq, outbox_length = _int(texts[0]), _int(texts[1])
    if (
        (texts[0] and head_seq is None)
        or (texts[1] and outbox_length is None)
        or (texts[2] and not software_ok(texts[2]))
    ):
        raise HubHTTPError(
            "malformed",
            zh=f"{HEADER_HEAD_SEQ} 与 {HEADER_OUTBOX} 应为 0 到 {MAX_SEQ} 的整数，{HEADER_SOFTWARE} 应为由字母、数字及 . + / _ - "
            "组成的版本号（最多 64 个字符）",
            en=f"{HEADER_HEAD_SEQ} and {HEADER_OUTBOX} must be whole numbers 0 to {MAX_SEQ}, "
            f"{HEADER_SOFTWARE} a version of letters, digits and . + / _ - (at most 64)",
        )
    if not covered and says_covered:
        # Signed in the older form by a station that signs them all: altered on the way, or a
        # downgrade. The request stands (its body, counter and time are signed); these are not kept.
        head_seq = outbox_length = None
        texts = (texts[0], texts[1], "")
    signer = Signer(
        station=station,
        key=key,
        counter=counter,
        clock_offset_ms=station_ms - int(now.timestamp() * 1000),
        head_seq=head_seq,
        outbox_length=outbox_length,
        software=texts[2] or None,
        fields_signed=covered,
        mac_index=matched[0] if matched else None,
    )
    if key.revoked_at is not None or station.revoked_at is not None:
        with store.transaction():
            store.record_contact(station_id, signer.contact(now, "refused", ok=False, code="revoked_key"))
        raise HubHTTPError(
            "revoked_key", zh=f"代办点 {station_id} 的密钥已被吊销", en=f"station {station_id}'s key was revoked"
        )
    if key.replaced_at is not None:
        # The station handed over to a new key (station rekey): whoever signs with the old one now is
        # not the station, or is a copy of it that missed the change.
        with store.transaction():
            store.record_contact(station_id, signer.contact(now, "refused", ok=False, code="retired_key"))
        raise HubHTTPError(
            "retired_key",
            zh=f"密钥 {key_id} 已被代办点 {station_id} 更换为新密钥，旧密钥不再有效",
            en=f"key {key_id} was replaced by station {station_id}'s new key and is no longer taken",
        )
    last = store.advance_counter(station_id, counter)  # one statement, committed by itself
    if last is not None:
        with store.transaction():
            store.record_contact(station_id, signer.contact(now, "refused", ok=False, code="replay"))
        raise HubHTTPError(
            "replay",
            zh=f"请求计数 {counter} 不大于上次的 {last}（疑似重放）",
            en=f"request counter {counter} is not above the last one seen ({last})",
            extra={"last_counter": last},
        )
    return signer


def check_protocol(version: int) -> None:
    """ProtocolError ``protocol_version`` unless ``version`` is the one this hub speaks."""
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            zh=f"协议版本 {version} 不受支持",
            en=f"protocol version {version} is not spoken here",
            code="protocol_version",
        )


@contextlib.contextmanager
def refusals_recorded(store: HubStore, signer: Signer, clock: Callable[[], dt.datetime]) -> Iterator[None]:
    """Inside: reading a signed request's body. A body that cannot be read is recorded as the station's
    failed push contact (what the dashboard shows), then raised to answer the station (4xx)."""
    try:
        yield
    except (msgspec.DecodeError, UnicodeDecodeError, ProtocolError, HubHTTPError) as exc:
        code = getattr(exc, "code", "malformed")
        with store.transaction():
            store.record_contact(signer.station.station_id, signer.contact(clock(), "push", ok=False, code=code))
        raise
