"""Authentication: signed and MAC'd requests, the compact ``X-Sync`` header, and signed transfer files."""

from __future__ import annotations

import base64
import re
from typing import Any

import msgspec

from sync.crypto import key_id_of, mac, pair_key, sha256, sign, verify
from sync.protocol.envelope import (
    CTX_REQUEST,
    CTX_REQUEST_V2,
    CTX_TRANSFER,
    PROTOCOL_VERSION,
    Envelope,
    ProtocolError,
    decode_envelope,
)
from sync.protocol.messages import TransferFile, TransferHeader

__all__ = (
    "HEADER_COUNTER",
    "HEADER_HEAD_SEQ",
    "HEADER_KEY",
    "HEADER_OUTBOX",
    "HEADER_SIGNATURE",
    "HEADER_SOFTWARE",
    "HEADER_STATION",
    "HEADER_SYNC",
    "HEADER_TIME",
    "REQUEST_MAC_BYTES",
    "canonical_request",
    "compact_auth",
    "expand_auth",
    "request_mac",
    "request_mac_key",
    "sign_request",
    "sign_transfer",
    "software_ok",
    "sync_auth_key",
    "verify_transfer",
)

REQUEST_MAC_BYTES = 16
"""Length of a request MAC (HMAC-SHA256 truncated): an Ed25519 request signature is 64."""


_ENCODER = msgspec.msgpack.Encoder()


# -- transfer files: the fields beside the sets, signed -------------------------------------------

_HEADER = msgspec.msgpack.Decoder(TransferHeader)


def _transfer_header(transfer: TransferFile) -> TransferHeader:
    digest = sha256(b"".join(sha256(bytes(s)) for s in transfer.sets))
    return TransferHeader(
        transfer.direction,
        transfer.station_id,
        transfer.created_ms,
        transfer.feed_after,
        transfer.outbox_length,
        transfer.features,
        digest,
    )


def sign_transfer(transfer: TransferFile, *, sign_private: bytes, sign_public: bytes) -> TransferFile:
    """``transfer`` with ``auth``: its :class:`TransferHeader` signed by the writer's key."""
    payload = _ENCODER.encode(_transfer_header(transfer))
    envelope = Envelope(
        PROTOCOL_VERSION, key_id_of(sign_public), msgspec.Raw(payload), sign(sign_private, CTX_TRANSFER, payload)
    )
    return msgspec.structs.replace(transfer, auth=_ENCODER.encode(envelope))


def verify_transfer(transfer: TransferFile, *, public_key_for: Any) -> TransferHeader:
    """Check a file's ``auth`` on the bytes received, then that its fields and sets are the ones signed.

    Args:
        public_key_for: ``key_id -> public key bytes`` of the writer the reader expects (raise
            ProtocolError for a key that is not the writer's).

    Raises:
        ProtocolError: ``malformed``, ``bad_signature`` (altered on the way: a field or the sets
            differ from what the writer signed).
    """
    envelope = decode_envelope(transfer.auth)
    payload = bytes(envelope.payload)
    if not verify(public_key_for(envelope.key_id), CTX_TRANSFER, payload, envelope.signature):
        raise ProtocolError(
            zh="文件签名校验失败：文件已被篡改或并非由发送方生成",
            en="the file's signature does not check: it was altered or not written by its sender",
            code="bad_signature",
        )
    try:
        header = _HEADER.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(
            zh=f"文件的签名头格式错误（{exc}）", en=f"the file's signed header is malformed ({exc})", code="malformed"
        ) from None
    if header != _transfer_header(transfer):
        raise ProtocolError(
            zh="文件的字段或数据集与发送方签署的不一致（途中被改动）",
            en="the file's fields or sets differ from what its sender signed (altered on the way)",
            code="bad_signature",
        )
    return header


# -- signed requests -----------------------------------------------------------------------------

HEADER_STATION = "X-Station"
HEADER_KEY = "X-Key-Id"
HEADER_COUNTER = "X-Counter"
HEADER_TIME = "X-Station-Time"
HEADER_SIGNATURE = "X-Signature"
HEADER_HEAD_SEQ = "X-Head-Seq"
HEADER_OUTBOX = "X-Outbox-Length"
HEADER_SOFTWARE = "X-Software"
HEADER_SYNC = "X-Sync"
"""The compact form of the headers above, on ``POST /api/v1/sync``: one header, about half the bytes."""


def canonical_request(
    *,
    method: str,
    path_qs: str,
    station_id: str,
    key_id: str,
    counter: int,
    station_ms: int,
    body: bytes,
    fields: tuple[str, str, str] | None = None,
) -> bytes:
    """The bytes a station signs for one HTTP request (docs/protocol.md, "Signed requests").

    ``fields``: the head seq, outbox length and software version as sent (``FEATURE_SIGNED_HEADERS``,
    signed with ``CTX_REQUEST_V2``), three more lines; None for the form of 0.4, which leaves them out.
    """
    lines = [method.upper(), path_qs, station_id, key_id, str(counter), str(station_ms), sha256(body).hex()]
    return "\n".join(lines if fields is None else [*lines, *fields]).encode()


_SOFTWARE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+/_-]{0,63}")


def software_ok(value: str) -> bool:
    """A software version as stations report it: up to 64 of letters, digits and ``. + / _ -``,
    starting with a letter or digit (nothing a terminal, a spreadsheet or a page would act on)."""
    return _SOFTWARE.fullmatch(value) is not None


def request_mac_key(own_box_private: bytes, peer_box_public: bytes) -> bytes:
    """The key a station and its hub share for request MACs (``FEATURE_REQUEST_MAC``).

    Static X25519 between the station's and the hub's box keys: only those two can compute it, so a
    MAC proves the request comes from the station as well as a signature does to the hub, in 16
    bytes instead of 64. Sets and receipts stay signed: they are proof to third parties.
    """
    return pair_key(own_box_private, peer_box_public, b"proxyapp/request-mac/v1\x00")


def request_mac(key: bytes, canonical: bytes, context: bytes = CTX_REQUEST) -> bytes:
    """The MAC of a canonical request (:func:`canonical_request`) under :func:`request_mac_key`."""
    return mac(key, context, canonical)[:REQUEST_MAC_BYTES]


def sign_request(
    *,
    sign_private: bytes,
    sign_public: bytes,
    method: str,
    path_qs: str,
    station_id: str,
    counter: int,
    station_ms: int,
    body: bytes,
    head_seq: int = 0,
    outbox_length: int = 0,
    software: str = "",
    mac_key: bytes | None = None,
    cover: bool = False,
) -> dict[str, str]:
    """The headers that authenticate one request of a station.

    ``mac_key`` (:func:`request_mac_key`, for a hub that said ``FEATURE_REQUEST_MAC``): authenticate
    with a 16-byte MAC in ``X-Signature`` instead of an Ed25519 signature. ``cover`` (a hub that said
    ``FEATURE_SIGNED_HEADERS``): the proof covers the head seq, outbox length and software too.
    """
    key_id = key_id_of(sign_public)
    fields = (str(head_seq), str(outbox_length), software) if cover else None
    canonical = canonical_request(
        method=method,
        path_qs=path_qs,
        station_id=station_id,
        key_id=key_id,
        counter=counter,
        station_ms=station_ms,
        body=body,
        fields=fields,
    )
    context = CTX_REQUEST_V2 if cover else CTX_REQUEST
    proof = request_mac(mac_key, canonical, context) if mac_key is not None else sign(sign_private, context, canonical)
    return {
        HEADER_STATION: station_id,
        HEADER_KEY: key_id,
        HEADER_COUNTER: str(counter),
        HEADER_TIME: str(station_ms),
        HEADER_SIGNATURE: base64.b64encode(proof).decode(),
        HEADER_HEAD_SEQ: str(head_seq),
        HEADER_OUTBOX: str(outbox_length),
        HEADER_SOFTWARE: software,
    }


def compact_auth(headers: dict[str, str]) -> str:
    """The value of ``X-Sync`` for the headers :func:`sign_request` made (same signature, same canonical request).

    ``KEY_ID COUNTER STATION_MS HEAD_SEQ OUTBOX_LENGTH SOFTWARE SIGNATURE``, separated by single
    spaces; the signature in unpadded base64url, an empty software version as ``-``. The station id
    is left out: the hub knows it from the key id.
    """
    signature = base64.b64decode(headers[HEADER_SIGNATURE])
    return " ".join(
        [
            headers[HEADER_KEY],
            headers[HEADER_COUNTER],
            headers[HEADER_TIME],
            headers.get(HEADER_HEAD_SEQ) or "0",
            headers.get(HEADER_OUTBOX) or "0",
            headers.get(HEADER_SOFTWARE) or "-",
            base64.urlsafe_b64encode(signature).rstrip(b"=").decode(),
        ]
    )


def _compact_parts(value: str) -> list[str]:
    parts = value.strip().split(" ")
    if len(parts) != 7 or not all(parts):
        raise ProtocolError(
            zh=f"{HEADER_SYNC} 请求头应有 7 个以空格分隔的字段",
            en=f"the {HEADER_SYNC} header needs 7 fields separated by single spaces",
            code="unauthenticated",
        )
    return parts


_URLSAFE = str.maketrans("-_", "+/")


def sync_auth_key(value: str) -> str:
    """The key id an ``X-Sync`` value names (the hub looks the station up by it)."""
    return _compact_parts(value)[0]


def expand_auth(value: str, station_id: str) -> dict[str, str]:
    """An ``X-Sync`` value as the long headers of :func:`sign_request`, for the station that owns its key.

    Raises:
        ProtocolError: ``unauthenticated`` when the value is not of that shape.
    """
    key_id, counter, station_ms, head_seq, outbox, software, signature = _compact_parts(value)
    try:
        if "+" in signature or "/" in signature:
            raise ValueError("not base64url")
        raw = base64.b64decode(signature.translate(_URLSAFE) + "=" * (-len(signature) % 4), validate=True)
    except ValueError:  # binascii.Error is one
        raw = b""
    if not raw:
        raise ProtocolError(
            zh=f"{HEADER_SYNC} 签名不是 base64url 格式",
            en=f"the {HEADER_SYNC} signature is not base64url",
            code="unauthenticated",
        )
    return {
        HEADER_STATION: station_id,
        HEADER_KEY: key_id,
        HEADER_COUNTER: counter,
        HEADER_TIME: station_ms,
        HEADER_SIGNATURE: base64.b64encode(raw).decode(),
        HEADER_HEAD_SEQ: head_seq,
        HEADER_OUTBOX: outbox,
        HEADER_SOFTWARE: "" if software == "-" else software,
    }
