"""Signed change sets: sealing in format 2, opening formats 1 and 2, and the features peers say they read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from sync.budget import FEED_SET, Budget, DecodeLimits, array_length
from sync.compact import Record
from sync.compression import NONE, ZSTD_D1, ZSTD_R2, pack, unpack, unpack_records
from sync.crypto import CryptoError, open_box, seal_box, sha256, sign, verify
from sync.errors import ProxyAppError
from sync.protocol.catalog_report import FEATURE_CATALOG_REPORT
from sync.protocol.envelope import (
    MAX_SEQ,
    SET_FORMAT_2,
    Envelope,
    ProtocolError,
    decode_envelope,
)
from sync.protocol.forks import FEATURE_FORK_RESOLUTION
from sync.protocol.scans import FEATURE_SCANS
from sync.ratings import FEATURE_RATINGS

__all__ = (
    "FEATURE_BOX_KEY",
    "FEATURE_CASE_NUMBERS",
    "FEATURE_CATALOG_PATCH",
    "FEATURE_KEY_ROTATION",
    "FEATURE_READS_R2",
    "FEATURE_REQUEST_MAC",
    "FEATURE_SETS_V2",
    "FEATURE_SHORT_RECEIPTS",
    "FEATURE_SIGNED_HEADERS",
    "HUB_FEATURES",
    "STATION_FEATURES",
    "SignedSet",
    "SignedSet2",
    "open_set",
    "open_set_records",
    "seal_set",
    "set_aad",
    "unpack_body",
    "verified_set",
)

# What a peer reads beyond protocol 1's base, said in every exchange (a bit each; docs/protocol.md,
# "Features"): a writer uses a feature only once the other side has said it reads it, or once every
# release within the support window reads it (READS_R2 and SETS_V2: every release since 0.4).
FEATURE_READS_R2 = 1
"""Reads set bodies compressed with ``zstd-r2`` (sync.compact + the v2 dictionary)."""
FEATURE_SHORT_RECEIPTS = 2
"""Station: send receipts in the exchange's answer as hub time + signature (it rebuilds the rest)."""
FEATURE_REQUEST_MAC = 4
"""Hub: accepts exchange requests authenticated by a MAC under the pair's key instead of a signature."""
FEATURE_SETS_V2 = 8
"""Reads sets of format 2 (:class:`SignedSet2`: no key id, no derivable fields, the pair's box)."""
FEATURE_SIGNED_HEADERS = 16
"""Hub: verifies requests signed over every header field (``CTX_REQUEST_V2``); station: signs them so
once the hub says it, and from then on the hub stores no header field of its that is not signed."""
FEATURE_CATALOG_PATCH = 32
"""Station: applies ``CatalogPatch`` feed items (a catalogue version as edits to the one before) and
knows withdrawn (停办) items; a station that has not said it gets each version whole, without them."""
FEATURE_KEY_ROTATION = 64
"""Station: applies ``HubKeyItem`` feed items (the hub's next key generation, signed by the one before)
and checks its feed under the new key from then on; hub: takes a station's ``KeyChange`` (its new keys,
in a set). A station that has not said it keeps the hub keys it pinned; one whose hub has not said it
cannot change its own (docs/protocol.md, "Key rotation")."""
FEATURE_BOX_KEY = 16384
"""Reads set bodies sealed with their own key (sync.crypto.seal_box layout 0x03: the pair's key derived
further with the set's origin and seq, no extra byte): a station seals its sets so once its hub has said it,
the hub its feed to a station that said it. A county discloses such a set's key to its province and it opens
that set alone (docs/protocol.md, "Reading exactly the forwarded sets")."""
FEATURE_CASE_NUMBERS = 128
"""Station: takes ``EnrollResponse.case_numbers`` (the numbers its village and device letter already
used, per day) and numbers its cases after them: a PC replacing one with the same letter never mints a
number the county holds. Sent, under the enrolment mac, only to a station that said it."""
STATION_FEATURES = (
    FEATURE_READS_R2
    | FEATURE_SHORT_RECEIPTS
    | FEATURE_SETS_V2
    | FEATURE_SIGNED_HEADERS
    | FEATURE_CATALOG_PATCH
    | FEATURE_KEY_ROTATION
    | FEATURE_CASE_NUMBERS
    | FEATURE_FORK_RESOLUTION
    | FEATURE_SCANS
    | FEATURE_RATINGS
    | FEATURE_CATALOG_REPORT
    | FEATURE_BOX_KEY
)
"""What a station of this release says it reads."""
HUB_FEATURES = (
    FEATURE_READS_R2
    | FEATURE_REQUEST_MAC
    | FEATURE_SETS_V2
    | FEATURE_SIGNED_HEADERS
    | FEATURE_KEY_ROTATION
    | FEATURE_SCANS
    | FEATURE_RATINGS
    | FEATURE_CATALOG_REPORT
    | FEATURE_BOX_KEY
)
"""What a hub of this release says it reads."""


class SignedSet(msgspec.Struct, frozen=True, array_like=True):
    """A change set as signed: one link of an origin's hash chain (format 1, and what :func:`open_set` gives).

    Written up to 0.5 for a peer that had not said ``FEATURE_SETS_V2``; such sets stay in databases,
    feeds and on USB sticks, so they are read for ever.

    ``origin`` is a station id for sets going up, ``hub>STATION_ID`` for a station's feed.
    ``body`` is the msgpack list of records, sealed to the receiver's box key (``sealed``)
    so that whoever carries the set (a USB stick, a relay) cannot read it.
    """

    origin: str
    seq: int
    prev: bytes
    created_ms: int
    hlc: int
    count: int
    body: bytes
    sealed: bool = True
    compression: str = ""
    """How ``body`` was compressed before sealing (sync.compression.METHODS); "" for none."""


_METHOD_CODES = {NONE: 0, ZSTD_D1: 1, ZSTD_R2: 2}
_METHOD_NAMES = {code: name for name, code in _METHOD_CODES.items()}


class SignedSet2(msgspec.Struct, frozen=True, array_like=True):
    """A change set as signed, format 2 (``Envelope.protocol`` 2, ``key_id`` ""): 44 bytes shorter.

    What format 1 carries that the receiver knows or can count is left out: the key id (the key
    is the origin's: the hub knows each station's, a station pins the hub's), the sealing time,
    the clock stamp and the record count (each record has its own stamp; the body says how many),
    the sealed flag (always sealed, with the pair's box: sync.crypto.seal_box's second layout).
    The method is a number (0 none, 1 ``zstd-d1``, 2 ``zstd-r2``).
    """

    origin: str
    seq: int
    prev: bytes
    body: bytes
    method: int


_SET = msgspec.msgpack.Decoder(SignedSet)
_SET2 = msgspec.msgpack.Decoder(SignedSet2)
_ENCODER = msgspec.msgpack.Encoder()


def seal_set(
    *,
    origin: str,
    seq: int,
    prev: bytes,
    records: list[bytes],
    sign_private: bytes,
    recipient_box_public: bytes,
    sender_box_private: bytes,
    context: bytes,
    per_box: bool = False,
) -> tuple[bytes, bytes]:
    """Seal encoded records into a signed set of format 2. Returns (envelope bytes, set hash).

    One function for every chain: a station's sets up, a hub's feed down, a county's sets to its
    province (each with its own ``context``). ``per_box``: the body's own key (sync.crypto.seal_box
    layout 0x03, the same length) for a receiver that said ``FEATURE_BOX_KEY``; else the pair's (0x02).

    The records are already-encoded msgpack (the outbox stores them so), compressed with
    ``zstd-r2`` (sync.compression.pack), sealed with the pair's box (the sender's and the
    receiver's box keys) and signed. What is signed is the compressed body as sealed: nothing is
    re-encoded between sealing and checking. Every peer within the support window (0.4 on) reads
    this form (docs/protocol.md, "Support window"); format 1 and ``zstd-d1``, which releases up to
    0.5 wrote for a peer that had not said it reads them, are only read now (:func:`open_set`).
    """
    method, body = pack(records)
    body = seal_box(
        recipient_box_public, body, set_aad(origin, seq), sender_private=sender_box_private, per_box=per_box
    )
    payload = _ENCODER.encode(SignedSet2(origin, seq, prev, body, _METHOD_CODES[method]))
    envelope = Envelope(SET_FORMAT_2, "", msgspec.Raw(payload), sign(sign_private, context, payload))
    return _ENCODER.encode(envelope), sha256(payload)


def set_aad(origin: str, seq: int) -> bytes:
    """The associated data of a set's sealed body, ``ORIGIN/SEQ``: a body moved to another set does not open."""
    return origin.encode() + b"/" + str(seq).encode()


def _open_body(signed: SignedSet, body: bytes, box_privates: Sequence[bytes], sender_box_public: bytes | None) -> bytes:
    """The sealed body opened with the first of ``box_privates`` it opens with (the current key first)."""
    aad = set_aad(signed.origin, signed.seq)
    failure: CryptoError | None = None
    for private in box_privates:
        try:
            return open_box(private, body, aad, sender_public=sender_box_public)
        except CryptoError as exc:
            failure = failure or exc
    assert failure is not None  # box_privates holds at least the current key
    raise ProtocolError(zh=failure.zh, en=failure.en, code="bad_box")


def open_set(
    data: bytes,
    *,
    public_key_for: Any,
    context: bytes,
    box_private: bytes | None,
    sender_box_public: bytes | None = None,
    limits: DecodeLimits = FEED_SET,
    older_box_privates: Sequence[bytes] = (),
) -> tuple[SignedSet, bytes, bytes]:
    """Verify a set on the exact bytes received, then decode it. Returns (set, hash, plain body).

    A set of format 2 comes back as a :class:`SignedSet` too, with ``created_ms`` and ``hlc`` 0
    and ``count`` what its body holds. The body is decoded under one budget of ``limits``
    (sync.budget: :data:`~sync.budget.STATION_SET` for a station's set at the hub, the feed's by
    default); a seq below 1 is malformed, whatever the signature.

    Args:
        public_key_for: ``key_id -> public key bytes`` (raise ProtocolError for unknown keys);
            ``""`` for a set of format 2: the key of the origin the caller expects.
        box_private: the receiver's X25519 key, to open a sealed body.
        sender_box_public: the sender's X25519 key, to open a set of format 2.
        older_box_privates: the receiver's box keys before a key rotation, tried in turn when the body
            does not open with ``box_private``: a set sealed to the old key may still be on its way.

    Raises:
        ProtocolError: malformed, unknown key, bad signature (``bad_signature``), body that does not open,
            body past its limits (``too_large``).
    """
    signed, set_hash, body = _verified_and_opened(
        data, public_key_for, context, box_private, sender_box_public, older_box_privates
    )
    signed, body = unpack_body(signed, body, limits)
    return signed, set_hash, body


def open_set_records(
    data: bytes,
    *,
    public_key_for: Any,
    context: bytes,
    box_private: bytes | None,
    sender_box_public: bytes | None = None,
    limits: DecodeLimits = FEED_SET,
    older_box_privates: Sequence[bytes] = (),
) -> tuple[SignedSet, bytes, list[Record]]:
    """:func:`open_set`, with the body given back as its records, each beside the change decompressing built
    for it (sync.compact.Record): for a reader that decodes every record. Arguments and errors as there."""
    signed, set_hash, body = _verified_and_opened(
        data, public_key_for, context, box_private, sender_box_public, older_box_privates
    )
    try:
        records = unpack_records(signed.compression, body, budget=Budget(limits))
    except ProxyAppError as exc:
        raise ProtocolError(zh=exc.zh, en=exc.en, code=exc.code) from None
    if signed.count < 0:
        signed = msgspec.structs.replace(signed, count=len(records))
    return signed, set_hash, records


def _verified_and_opened(
    data: bytes,
    public_key_for: Any,
    context: bytes,
    box_private: bytes | None,
    sender_box_public: bytes | None,
    older_box_privates: Sequence[bytes],
) -> tuple[SignedSet, bytes, bytes]:
    """The set verified and its body unsealed, still compressed: (set, hash, body)."""
    signed, set_hash = verified_set(data, public_key_for=public_key_for, context=context)
    body = signed.body
    if signed.sealed:
        if box_private is None:
            raise ProtocolError(
                zh="数据集已加密，但缺少解密密钥", en="sealed set but no key to open it", code="malformed"
            )
        body = _open_body(signed, body, (box_private, *older_box_privates), sender_box_public)
    return signed, set_hash, body


def verified_set(data: bytes, *, public_key_for: Callable[[str], bytes], context: bytes) -> tuple[SignedSet, bytes]:
    """A set's signature checked on the exact bytes received, then its payload decoded (either format):
    (the set, its body still sealed; its hash). What :func:`open_set` and a province opening a forwarded
    set (sync.protocol.upstream.open_forwarded) share; they differ only in how the body is opened.

    Args:
        public_key_for: ``key_id -> public key bytes`` (``""`` for a set of format 2); raises ProtocolError
            for a key the caller does not take.

    Raises:
        ProtocolError: ``malformed`` (also a seq out of 1..MAX_SEQ), ``bad_signature``, or the caller's.
    """
    envelope = decode_envelope(data)
    if envelope.protocol == SET_FORMAT_2 and envelope.key_id:
        raise ProtocolError(zh="第 2 版数据集不应带密钥标识", en="a set of format 2 names no key", code="malformed")
    public = public_key_for(envelope.key_id)
    payload = bytes(envelope.payload)
    if not verify(public, context, payload, envelope.signature):
        raise ProtocolError(
            zh="签名校验失败：数据已被篡改或并非由该密钥签署",
            en="signature check failed: the set was altered or not signed by its key",
            code="bad_signature",
        )
    try:
        if envelope.protocol == SET_FORMAT_2:
            compact_set = _SET2.decode(payload)
            signed = SignedSet(
                origin=compact_set.origin,
                seq=compact_set.seq,
                prev=compact_set.prev,
                created_ms=0,
                hlc=0,
                count=-1,
                body=compact_set.body,
                sealed=True,
                compression=_METHOD_NAMES.get(compact_set.method, f"#{compact_set.method}"),
            )
        else:
            signed = _SET.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(
            zh=f"数据集格式错误（{exc}）", en=f"signed set is malformed ({exc})", code="malformed"
        ) from None
    if not 1 <= signed.seq <= MAX_SEQ:
        # seq 0 or -1 is no link of any chain: malformed, never a fork
        raise ProtocolError(
            zh=f"数据集序号应在 1 到 {MAX_SEQ} 之间，而不是 {signed.seq}",
            en=f"a set's seq must be 1 to {MAX_SEQ}, not {signed.seq}",
            code="malformed",
        )
    return signed, sha256(payload)


def unpack_body(signed: SignedSet, body: bytes, limits: DecodeLimits) -> tuple[SignedSet, bytes]:
    """A verified set's opened body decompressed within one budget of ``limits``: (the set with its count,
    the plain body). ProtocolError ``too_large`` (or the method's own code) when it does not decode within them."""
    try:
        plain = unpack(signed.compression, body, budget=Budget(limits))
    except ProxyAppError as exc:
        raise ProtocolError(zh=exc.zh, en=exc.en, code=exc.code) from None
    if signed.count < 0:
        signed = msgspec.structs.replace(signed, count=array_length(plain)[0])
    return signed, plain
