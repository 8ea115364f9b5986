"""Test support: the writers of the forms 0.3 read, frozen as 0.5 had them, so tests can make what old peers stored.

Not product code. Since 0.6 a station and a hub write sets of format 2 with ``zstd-r2`` bodies only
(docs/protocol.md, "Support window"), but readers keep every form ever written: a set of format 1,
a ``zstd-d1`` body, sealed by a station or a hub of 0.3 to 0.5 and still in a database, a feed or on
a USB stick, must read as it always did. Tests make such sets with :func:`seal_set`, which has the
signature and the output of ``sync.protocol.seal_set`` in 0.5 (format 1 and ``zstd-d1`` unless told
otherwise), and ``zstd-d1`` bodies with :func:`compress`. Like a frozen migration, this file does
not change when the product's writers do.
"""

from __future__ import annotations

from collections.abc import Collection

import msgspec
import zstandard

from sync.compact import compact
from sync.compression import NONE, ZSTD_D1, ZSTD_R2, _dictionary, msgpack_array
from sync.crypto import key_id_of, seal_box, sha256, sign
from sync.protocol import PROTOCOL_VERSION, SET_FORMAT_2, Envelope, SignedSet, SignedSet2

__all__ = ("compress", "seal_set")

_LEVEL = 19
_METHOD_CODES = {NONE: 0, ZSTD_D1: 1, ZSTD_R2: 2}
_ENCODER = msgspec.msgpack.Encoder()


def _zstd(method: str, data: bytes) -> bytes:
    return zstandard.ZstdCompressor(
        level=_LEVEL, dict_data=_dictionary(method), write_content_size=True, write_dict_id=False
    ).compress(data)


def compress(data: bytes) -> tuple[str, bytes]:
    """(method, bytes): ``zstd-d1`` (the v1 dictionary), or the data as is when that is not smaller."""
    packed = _zstd(ZSTD_D1, data)
    return (ZSTD_D1, packed) if len(packed) < len(data) else (NONE, data)


def pack(records: list[bytes], *, methods: Collection[str] = (ZSTD_D1,)) -> tuple[str, bytes]:
    """(method, bytes) for a body of encoded records: the best of ``methods``, as 0.5 chose."""
    plain = msgpack_array(records)
    if ZSTD_R2 in methods:
        packed = _zstd(ZSTD_R2, compact(records))
        return (ZSTD_R2, packed) if len(packed) < len(plain) else (NONE, plain)
    return compress(plain)


def seal_set(
    *,
    origin: str,
    seq: int,
    prev: bytes,
    created_ms: int,
    hlc: int,
    records: list[bytes],
    sign_private: bytes,
    sign_public: bytes,
    recipient_box_public: bytes | None,
    context: bytes,
    methods: Collection[str] = (ZSTD_D1,),
    sender_box_private: bytes | None = None,
) -> tuple[bytes, bytes]:
    """A signed set as 0.5 sealed it: format 1 (``sender_box_private`` None), else format 2, with the
    body compressed by the best of ``methods``. Returns (envelope bytes, set hash)."""
    method, body = pack(records, methods=methods)
    aad = origin.encode() + b"/" + str(seq).encode()
    if sender_box_private is not None and recipient_box_public is not None:
        body = seal_box(recipient_box_public, body, aad, sender_private=sender_box_private)
        payload = _ENCODER.encode(SignedSet2(origin, seq, prev, body, _METHOD_CODES[method]))
        envelope = Envelope(SET_FORMAT_2, "", msgspec.Raw(payload), sign(sign_private, context, payload))
        return _ENCODER.encode(envelope), sha256(payload)
    if recipient_box_public is not None:
        body = seal_box(recipient_box_public, body, aad)
    payload = _ENCODER.encode(
        SignedSet(
            origin=origin,
            seq=seq,
            prev=prev,
            created_ms=created_ms,
            hlc=hlc,
            count=len(records),
            body=body,
            sealed=recipient_box_public is not None,
            compression=method,
        )
    )
    envelope = Envelope(
        PROTOCOL_VERSION, key_id_of(sign_public), msgspec.Raw(payload), sign(sign_private, context, payload)
    )
    return _ENCODER.encode(envelope), sha256(payload)
