"""Receipts: the hub's signed proof of filing a set, in full and in the short forms of ``FEATURE_SHORT_RECEIPTS``."""

from __future__ import annotations

import msgspec

from sync.crypto import key_id_of, sign, verify
from sync.protocol.envelope import (
    CTX_RECEIPT,
    PROTOCOL_VERSION,
    Envelope,
    ProtocolError,
    decode_envelope,
)

__all__ = (
    "ReceiptBody",
    "full_receipt",
    "is_short_receipt",
    "make_receipt",
    "short_receipt",
    "verify_receipt",
)


class ReceiptBody(msgspec.Struct, frozen=True, array_like=True):
    """What the hub signs when it accepts a set: proof of filing that survives any transport."""

    origin: str
    seq: int
    hash: bytes
    hub_ms: int


_ENCODER = msgspec.msgpack.Encoder()


def make_receipt(
    *, origin: str, seq: int, set_hash: bytes, hub_ms: int, sign_private: bytes, sign_public: bytes
) -> bytes:
    """A receipt (an Envelope over ReceiptBody) signed by the hub key."""
    payload = _ENCODER.encode(ReceiptBody(origin, seq, set_hash, hub_ms))
    return _ENCODER.encode(
        Envelope(
            PROTOCOL_VERSION, key_id_of(sign_public), msgspec.Raw(payload), sign(sign_private, CTX_RECEIPT, payload)
        )
    )


_SIGNATURE = 64


def short_receipt(receipt: bytes, *, answer_ms: int | None = None) -> bytes:
    """A receipt as ``FEATURE_SHORT_RECEIPTS`` sends it: the hub time and the signature (72 bytes),
    or the signature alone (64) when the time is ``answer_ms``, the answer's ``hub_ms``.

    The station holds everything else the hub signed (its origin, the seq, the set's hash) and
    rebuilds the same envelope with :func:`full_receipt`; ~80 bytes a sync less on the wire.
    """
    envelope = decode_envelope(receipt)
    body = msgspec.msgpack.decode(bytes(envelope.payload), type=ReceiptBody)
    if body.hub_ms == answer_ms:
        return envelope.signature
    return body.hub_ms.to_bytes(8, "big") + envelope.signature


def is_short_receipt(data: bytes) -> bool:
    """True for :func:`short_receipt`'s forms (a full receipt is a msgpack array: it starts 0x94)."""
    return len(data) == _SIGNATURE or (len(data) == 8 + _SIGNATURE and data[0] == 0)


def full_receipt(
    short: bytes, *, origin: str, seq: int, set_hash: bytes, hub_public: bytes, answer_ms: int | None = None
) -> bytes:
    """The receipt envelope a short receipt stands for, built from what the station knows.

    The station writes the ReceiptBody the hub signed from its own values (nothing received is
    decoded or re-encoded to do it); :func:`verify_receipt` then checks the hub's signature over it,
    so a short receipt for another set, seq, station or time does not verify. ``answer_ms``: the
    answer's ``hub_ms``, the time of a 64-byte receipt.
    """
    hub_ms = int.from_bytes(short[:8], "big") if len(short) > _SIGNATURE else answer_ms
    # hub_ms is None exactly when a 64-byte receipt comes without answer_ms.
    if not is_short_receipt(short) or hub_ms is None:
        raise ProtocolError(zh="简短回执格式错误", en="short receipt is malformed", code="malformed")
    payload = _ENCODER.encode(ReceiptBody(origin, seq, set_hash, hub_ms))
    return _ENCODER.encode(Envelope(PROTOCOL_VERSION, key_id_of(hub_public), msgspec.Raw(payload), short[-_SIGNATURE:]))


def verify_receipt(data: bytes, hub_public: bytes) -> ReceiptBody:
    """Check a receipt against the pinned hub key and return what it says."""
    envelope = decode_envelope(data)
    payload = bytes(envelope.payload)
    if not verify(hub_public, CTX_RECEIPT, payload, envelope.signature):
        raise ProtocolError(zh="回执签名校验失败", en="receipt signature check failed", code="bad_signature")
    try:
        return msgspec.msgpack.decode(payload, type=ReceiptBody)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(zh=f"回执格式错误（{exc}）", en=f"receipt is malformed ({exc})", code="malformed") from None
