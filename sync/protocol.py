"""The sync protocol's messages: signed change sets, receipts, feed items, requests and transfer files.

Wire rules (docs/protocol.md): msgpack via msgspec; every signed thing is an :class:`Envelope`
whose ``payload`` holds the exact bytes that were signed, and is verified before the payload is
decoded; structs here only ever gain fields at the end, with defaults.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Collection
from typing import Any, Literal

import msgspec

from sync.budget import FEED_SET, Budget, DecodeLimits, array_length
from sync.changes import RowChange, StatusChange
from sync.compression import NONE, ZSTD_D1, ZSTD_R2, pack, unpack
from sync.crypto import CryptoError, key_id_of, mac, open_box, pair_key, seal_box, sha256, sign, verify
from sync.errors import ProxyAppError
from sync.limits import MAX_SETS_PER_REQUEST
from sync.workdays import YearTable

__all__ = (
    "CTX_DOWN",
    "CTX_RECEIPT",
    "CTX_REQUEST",
    "CTX_REQUEST_V2",
    "CTX_TRANSFER",
    "CTX_UP",
    "CalendarItem",
    "CaseState",
    "CatalogItem",
    "DivisionsItem",
    "DownItem",
    "EnrollRequest",
    "EnrollResponse",
    "Envelope",
    "FEATURE_READS_R2",
    "FEATURE_REQUEST_MAC",
    "FEATURE_SETS_V2",
    "FEATURE_SIGNED_HEADERS",
    "FEATURE_SHORT_RECEIPTS",
    "FeedResponse",
    "GENESIS",
    "HEADER_COUNTER",
    "HEADER_HEAD_SEQ",
    "HEADER_KEY",
    "HEADER_OUTBOX",
    "HEADER_SIGNATURE",
    "HEADER_SOFTWARE",
    "HEADER_STATION",
    "HEADER_SYNC",
    "HEADER_TIME",
    "HUB_FEATURES",
    "MAX_SEQ",
    "KeyRevokedItem",
    "MEDIA_TYPE",
    "PROTOCOL_VERSION",
    "ProtocolError",
    "PushRequest",
    "PushResponse",
    "ReceiptBody",
    "ReceiptItem",
    "REQUEST_MAC_BYTES",
    "RejectedItem",
    "STATION_FEATURES",
    "SetResult",
    "SET_FORMAT_2",
    "SignedSet",
    "SignedSet2",
    "SyncRequest",
    "SyncResponse",
    "SyncResult",
    "TransferFile",
    "TransferHeader",
    "UpChange",
    "canonical_request",
    "check_sets",
    "compact_auth",
    "decode_envelope",
    "expand_auth",
    "forms_for",
    "full_receipt",
    "is_short_receipt",
    "make_receipt",
    "open_set",
    "request_mac",
    "request_mac_key",
    "short_receipt",
    "seal_set",
    "sign_request",
    "sign_transfer",
    "software_ok",
    "sync_auth_key",
    "verify_receipt",
    "verify_transfer",
)

PROTOCOL_VERSION = 1
"""The version this code speaks. A peer sending another one gets error ``protocol_version``."""

MEDIA_TYPE = "application/vnd.msgpack"

# Signing contexts: one key never signs the same bytes for two purposes.
CTX_UP = b"proxyapp/up-set/v1\x00"
CTX_DOWN = b"proxyapp/down-set/v1\x00"
CTX_RECEIPT = b"proxyapp/receipt/v1\x00"
CTX_REQUEST = b"proxyapp/request/v1\x00"
CTX_REQUEST_V2 = b"proxyapp/request/v2\x00"
"""A request whose canonical form also covers the head seq, outbox length and software version."""
CTX_TRANSFER = b"proxyapp/transfer/v1\x00"

GENESIS = bytes(32)
"""The ``prev`` hash of seq 1."""

MAX_SEQ = 2**53 - 1
"""The largest seq, counter or position a message may carry (a database integer, and exact in JSON)."""

# What a peer reads beyond protocol 1's base, said in every exchange (a bit each; docs/protocol.md,
# "Features"): a writer uses a feature only once the other side has said it reads it.
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
STATION_FEATURES = FEATURE_READS_R2 | FEATURE_SHORT_RECEIPTS | FEATURE_SETS_V2 | FEATURE_SIGNED_HEADERS
"""What a station of this release says it reads."""
HUB_FEATURES = FEATURE_READS_R2 | FEATURE_REQUEST_MAC | FEATURE_SETS_V2 | FEATURE_SIGNED_HEADERS
"""What a hub of this release says it reads."""
REQUEST_MAC_BYTES = 16
"""Length of a request MAC (HMAC-SHA256 truncated): an Ed25519 request signature is 64."""


class ProtocolError(ProxyAppError):
    """A message broke the protocol; ``code`` is one of the codes in docs/protocol.md."""

    code = "protocol"


class Envelope(msgspec.Struct, frozen=True, array_like=True):
    """A signed message: the signer's key id, the exact signed bytes, the signature."""

    protocol: int
    key_id: str
    payload: msgspec.Raw
    signature: bytes


class SignedSet(msgspec.Struct, frozen=True, array_like=True):
    """A change set as signed: one link of an origin's hash chain.

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


SET_FORMAT_2 = 2
"""``Envelope.protocol`` of a set of format 2 (:class:`SignedSet2`); every other envelope says 1."""

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


# -- records carried up (station → hub) ----------------------------------------------------------

UpChange = RowChange | StatusChange


# -- records carried down (hub → station) --------------------------------------------------------


class CaseState(msgspec.Struct, tag="case_state", frozen=True, kw_only=True):
    """The hub's view of a case's status after a move; ``through_seq`` = the receiving
    station's last set the hub had applied, so the station re-applies its later moves on top."""

    case_no: str
    status: str
    outcome: str | None = None
    accepted_date: str | None = None
    due_date: str | None = None
    through_seq: int = 0


class RejectedItem(msgspec.Struct, tag="rejected", frozen=True, kw_only=True):
    """A change the hub kept but did not apply (architecture invariant 4), with the reason."""

    seq: int
    index: int
    entity: str
    entity_id: str
    code: str
    reason_en: str
    reason_zh: str
    current: dict[str, Any] | None = None
    """The hub's values of the fields the change tried to write, so the station can converge."""
    current_versions: dict[str, tuple[int, str]] | None = None
    """The hub's field versions for ``current`` (sync.merge.Versions), so later merges agree."""


class ReceiptItem(msgspec.Struct, tag="receipt", frozen=True):
    """A receipt repeated in the feed, so it also reaches a station that only carries files."""

    receipt: bytes


class CatalogItem(msgspec.Struct, tag="catalog", frozen=True):
    version: int
    body: bytes
    """The catalogue in its JSON form (UTF-8)."""


class CalendarItem(msgspec.Struct, tag="calendar", frozen=True):
    table: YearTable


class DivisionsItem(msgspec.Struct, tag="divisions", frozen=True):
    version: int
    body: bytes


class KeyRevokedItem(msgspec.Struct, tag="revoked", frozen=True, kw_only=True):
    station_id: str
    key_id: str
    after_seq: int


DownItem = RowChange | StatusChange | CaseState | RejectedItem | ReceiptItem | CatalogItem | CalendarItem | DivisionsItem | KeyRevokedItem


class ReceiptBody(msgspec.Struct, frozen=True, array_like=True):
    """What the hub signs when it accepts a set: proof of filing that survives any transport."""

    origin: str
    seq: int
    hash: bytes
    hub_ms: int


# -- requests and responses ----------------------------------------------------------------------


class PushRequest(msgspec.Struct, frozen=True, kw_only=True):
    protocol: int
    station_id: str
    sets: list[msgspec.Raw]


SetStatus = Literal["accepted", "duplicate", "gap", "fork", "refused"]


class SetResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One set's fate in a push. Fields left at their default are not written (every reader has the
    defaults), so an accepted set costs its seq, its status and its receipt."""

    seq: int
    status: SetStatus
    receipt: bytes | None = None
    code: str | None = None
    detail: str | None = None


class PushResponse(msgspec.Struct, frozen=True, kw_only=True):
    results: list[SetResult]
    next_seq: int
    """The seq the hub needs next from this station."""
    hub_ms: int


class FeedResponse(msgspec.Struct, frozen=True, kw_only=True):
    sets: list[msgspec.Raw]
    last_seq: int
    """The newest feed seq the hub holds for this station."""
    hub_ms: int


class SyncRequest(msgspec.Struct, frozen=True, array_like=True):
    """``POST /api/v1/sync``: one round trip carries the sets going up and asks for the feed.

    Array-encoded (no field names on the wire); the signer names the station, so the body does
    not. ``sets`` may be empty (a pull-only round).
    """

    protocol: int
    sets: list[msgspec.Raw]
    """Envelopes of the station's sets, in seq order."""
    feed_after: int
    """The last feed seq the station applied: acknowledges those, asks for what follows."""
    feed_bytes: int = 0
    """Soft cap on the bytes of feed sets in the answer (0: the hub's default). The hub always
    sends at least one set when it has one, so a set larger than the cap still gets through."""
    features: int = 0
    """What the station reads (``FEATURE_*`` bits); 0 from a station older than features."""


class SyncResult(msgspec.Struct, frozen=True, array_like=True):
    """:class:`SetResult` array-encoded: ``[seq, "accepted", receipt, nil, nil]`` (no field names)."""

    seq: int
    status: SetStatus
    receipt: bytes | None = None
    code: str | None = None
    detail: str | None = None

    @classmethod
    def of(cls, result: SetResult) -> SyncResult:
        return cls(result.seq, result.status, result.receipt, result.code, result.detail)

    def as_set_result(self) -> SetResult:
        return SetResult(seq=self.seq, status=self.status, receipt=self.receipt, code=self.code, detail=self.detail)


class SyncResponse(msgspec.Struct, frozen=True, array_like=True):
    """The answer to :class:`SyncRequest`: the push results, then the feed sets that follow ``feed_after``."""

    results: list[SyncResult]
    next_seq: int
    """The seq the hub needs next from this station."""
    hub_ms: int
    feed: list[msgspec.Raw] = []
    """Feed envelopes after ``feed_after``, in seq order, within ``feed_bytes``."""
    feed_last_seq: int = 0
    """The seq the station's feed reaches once everything queued for it is sealed: more to pull
    while the station's position is below it."""
    features: int = 0
    """What the hub reads (``FEATURE_*`` bits); 0 from a hub older than features."""


class EnrollRequest(msgspec.Struct, frozen=True, kw_only=True):
    protocol: int
    code_id: str
    sign_public: bytes
    box_public: bytes
    software: str = ""
    mac: bytes
    """HMAC under the enrolment code's secret half, which never travels: proves the code."""
    features: int = 0
    """What the station reads (``FEATURE_*``); 0 from a station of 0.3."""


class EnrollResponse(msgspec.Struct, frozen=True, kw_only=True):
    station_id: str
    village_code: str
    device: str
    hub_id: str
    hub_sign_public: bytes
    hub_box_public: bytes
    lookup_key_box: bytes
    """The county-wide ID-lookup key, sealed to the station's box key."""
    mac: bytes
    """HMAC under the code's secret: proves the answer comes from the hub that issued the code."""
    features: int = 0
    """What the hub reads (``FEATURE_*``), sent only to a station that said its own (and then
    covered by ``mac``), so a station's first sync is already in the compact forms."""


class TransferFile(msgspec.Struct, frozen=True, kw_only=True):
    """Sets carried on a USB stick; ingested by the same code as over HTTP."""

    magic: str = "proxyapp-transfer"
    protocol: int = PROTOCOL_VERSION
    direction: Literal["up", "down"]
    station_id: str
    created_ms: int
    sets: list[msgspec.Raw]
    """Required, though it may be empty: a file whose ``sets`` key is damaged is refused as
    unreadable rather than read as a file with nothing in it."""
    feed_after: int = 0
    """Up: the last feed seq the station applied, so the hub knows what to send back."""
    outbox_length: int = 0
    features: int = 0
    """Up: what the station reads (``FEATURE_*``), so the hub seals its feed in a form it reads."""
    auth: bytes = b""
    """An :class:`Envelope` over the file's :class:`TransferHeader`, signed by the writer's key (the
    station's going up, the hub's going down): the fields above, authenticated (empty from 0.4)."""


class TransferHeader(msgspec.Struct, frozen=True, array_like=True):
    """What a transfer file says besides its sets, as its writer signs it (context ``CTX_TRANSFER``)."""

    direction: str
    station_id: str
    created_ms: int
    feed_after: int
    outbox_length: int
    features: int
    sets: bytes
    """SHA-256 over the SHA-256 of each set's envelope, in the file's order."""


_ENVELOPE = msgspec.msgpack.Decoder(Envelope)
_SET = msgspec.msgpack.Decoder(SignedSet)
_SET2 = msgspec.msgpack.Decoder(SignedSet2)
_ENCODER = msgspec.msgpack.Encoder()


def decode_envelope(data: bytes) -> Envelope:
    """Parse the outer envelope only (the payload stays raw bytes until verified)."""
    try:
        envelope = _ENVELOPE.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(
            f"not a signed message ({exc})", f"不是有效的签名消息（{exc}）", code="malformed"
        ) from None
    if envelope.protocol not in (PROTOCOL_VERSION, SET_FORMAT_2):
        raise ProtocolError(
            f"protocol version {envelope.protocol} is not spoken here (this side speaks {PROTOCOL_VERSION}); "
            "update the software",
            f"协议版本 {envelope.protocol} 不受支持（本端为 {PROTOCOL_VERSION}）；请升级软件",
            code="protocol_version",
        )
    return envelope


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
    """Seal encoded records into a signed set. Returns (envelope bytes, set hash).

    The records are already-encoded msgpack (the outbox stores them so); ``methods`` are the
    compression methods the receiver reads (sync.compression.pack picks the best). What is
    signed is the compressed body as sealed: nothing is re-encoded between sealing and checking.
    With ``sender_box_private`` (a receiver that reads ``FEATURE_SETS_V2``) the set is of format 2
    (:class:`SignedSet2`), sealed with the pair's box; ``created_ms`` and ``hlc`` are then not sent.
    """
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
        SignedSet(origin=origin, seq=seq, prev=prev, created_ms=created_ms, hlc=hlc, count=len(records),
                  body=body, sealed=recipient_box_public is not None, compression=method)
    )
    envelope = Envelope(PROTOCOL_VERSION, key_id_of(sign_public), msgspec.Raw(payload), sign(sign_private, context, payload))
    return _ENCODER.encode(envelope), sha256(payload)


def forms_for(reader_features: int, *, sender_box_private: bytes) -> dict[str, Any]:
    """The keyword arguments of :func:`seal_set` for a receiver that said ``reader_features``: the most
    compact body method and set format it reads (docs/protocol.md, "Features")."""
    return {
        "methods": (ZSTD_D1, ZSTD_R2) if reader_features & FEATURE_READS_R2 else (ZSTD_D1,),
        "sender_box_private": sender_box_private if reader_features & FEATURE_SETS_V2 else None,
    }


def open_set(
    data: bytes, *, public_key_for: Any, context: bytes, box_private: bytes | None,
    sender_box_public: bytes | None = None, limits: DecodeLimits = FEED_SET,
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

    Raises:
        ProtocolError: malformed, unknown key, bad signature (``bad_signature``), body that does not open,
            body past its limits (``too_large``).
    """
    envelope = decode_envelope(data)
    if envelope.protocol == SET_FORMAT_2 and envelope.key_id:
        raise ProtocolError("a set of format 2 names no key", "第 2 版数据集不应带密钥标识", code="malformed")
    public = public_key_for(envelope.key_id)
    payload = bytes(envelope.payload)
    if not verify(public, context, payload, envelope.signature):
        raise ProtocolError(
            "signature check failed: the set was altered or not signed by its key",
            "签名校验失败：数据已被篡改或并非由该密钥签署",
            code="bad_signature",
        )
    try:
        if envelope.protocol == SET_FORMAT_2:
            compact_set = _SET2.decode(payload)
            signed = SignedSet(origin=compact_set.origin, seq=compact_set.seq, prev=compact_set.prev, created_ms=0,
                               hlc=0, count=-1, body=compact_set.body, sealed=True,
                               compression=_METHOD_NAMES.get(compact_set.method, f"#{compact_set.method}"))
        else:
            signed = _SET.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(f"signed set is malformed ({exc})", f"数据集格式错误（{exc}）", code="malformed") from None
    if not 1 <= signed.seq <= MAX_SEQ:
        # seq 0 or -1 is no link of any chain: malformed, never a fork
        raise ProtocolError(f"a set's seq must be 1 to {MAX_SEQ}, not {signed.seq}",
                            f"数据集序号应在 1 到 {MAX_SEQ} 之间，而不是 {signed.seq}", code="malformed")
    body = signed.body
    if signed.sealed:
        if box_private is None:
            raise ProtocolError("sealed set but no key to open it", "数据集已加密，但缺少解密密钥", code="malformed")
        try:
            body = open_box(box_private, body, signed.origin.encode() + b"/" + str(signed.seq).encode(),
                            sender_public=sender_box_public)
        except CryptoError as exc:
            raise ProtocolError(exc.en, exc.zh, code="bad_box") from None
    try:
        body = unpack(signed.compression, body, budget=Budget(limits))
    except ProxyAppError as exc:
        raise ProtocolError(exc.en, exc.zh, code=exc.code) from None
    if signed.count < 0:
        signed = msgspec.structs.replace(signed, count=array_length(body)[0])
    return signed, sha256(payload), body


def make_receipt(*, origin: str, seq: int, set_hash: bytes, hub_ms: int, sign_private: bytes, sign_public: bytes) -> bytes:
    """A receipt (an Envelope over ReceiptBody) signed by the hub key."""
    payload = _ENCODER.encode(ReceiptBody(origin, seq, set_hash, hub_ms))
    return _ENCODER.encode(
        Envelope(PROTOCOL_VERSION, key_id_of(sign_public), msgspec.Raw(payload), sign(sign_private, CTX_RECEIPT, payload))
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


def full_receipt(short: bytes, *, origin: str, seq: int, set_hash: bytes, hub_public: bytes,
                 answer_ms: int | None = None) -> bytes:
    """The receipt envelope a short receipt stands for, built from what the station knows.

    The station writes the ReceiptBody the hub signed from its own values (nothing received is
    decoded or re-encoded to do it); :func:`verify_receipt` then checks the hub's signature over it,
    so a short receipt for another set, seq, station or time does not verify. ``answer_ms``: the
    answer's ``hub_ms``, the time of a 64-byte receipt.
    """
    if not is_short_receipt(short) or (len(short) == _SIGNATURE and answer_ms is None):
        raise ProtocolError("short receipt is malformed", "简短回执格式错误", code="malformed")
    hub_ms = int.from_bytes(short[:8], "big") if len(short) > _SIGNATURE else answer_ms
    payload = _ENCODER.encode(ReceiptBody(origin, seq, set_hash, hub_ms))
    return _ENCODER.encode(Envelope(PROTOCOL_VERSION, key_id_of(hub_public), msgspec.Raw(payload), short[-_SIGNATURE:]))


def verify_receipt(data: bytes, hub_public: bytes) -> ReceiptBody:
    """Check a receipt against the pinned hub key and return what it says."""
    envelope = decode_envelope(data)
    payload = bytes(envelope.payload)
    if not verify(hub_public, CTX_RECEIPT, payload, envelope.signature):
        raise ProtocolError("receipt signature check failed", "回执签名校验失败", code="bad_signature")
    try:
        return msgspec.msgpack.decode(payload, type=ReceiptBody)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(f"receipt is malformed ({exc})", f"回执格式错误（{exc}）", code="malformed") from None


# -- what a request or file carries, counted before it is decoded --------------------------------


class _MapSets(msgspec.Struct):
    sets: msgspec.Raw = msgspec.Raw(b"\x90")


class _ArraySets(msgspec.Struct, array_like=True):
    protocol: msgspec.Raw
    sets: msgspec.Raw = msgspec.Raw(b"\x90")


_MAP_SETS = msgspec.msgpack.Decoder(_MapSets)
_ARRAY_SETS = msgspec.msgpack.Decoder(_ArraySets)


def check_sets(data: bytes, *, array_like: bool = False, limit: int = MAX_SETS_PER_REQUEST) -> None:
    """Refuse a request or file with more than ``limit`` sets, counted from the header of its ``sets``
    array before any set is decoded (``array_like``: a :class:`SyncRequest`; else a map-encoded
    :class:`PushRequest` or :class:`TransferFile`). A body this cannot even walk (truncated, trailing
    bytes, nested past the decoder's depth) is refused here, before the full decode builds anything.

    Raises:
        ProtocolError: ``too_large``, ``malformed``.
    """
    try:
        peek = (_ARRAY_SETS if array_like else _MAP_SETS).decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        detail = "nested too deep" if isinstance(exc, RecursionError) else str(exc)
        raise ProtocolError(f"the body is not of the expected shape ({detail})", f"请求内容格式错误（{detail}）",
                            code="malformed") from None
    count = array_length(peek.sets)[0]
    if count > limit:
        raise ProtocolError(f"{count} sets at once; at most {limit} are read at a time (send the rest after)",
                            f"一次包含 {count} 个数据集，最多 {limit} 个（其余请随后发送）", code="too_large")


# -- transfer files: the fields beside the sets, signed -------------------------------------------

_HEADER = msgspec.msgpack.Decoder(TransferHeader)


def _transfer_header(transfer: TransferFile) -> TransferHeader:
    digest = sha256(b"".join(sha256(bytes(s)) for s in transfer.sets))
    return TransferHeader(transfer.direction, transfer.station_id, transfer.created_ms, transfer.feed_after,
                          transfer.outbox_length, transfer.features, digest)


def sign_transfer(transfer: TransferFile, *, sign_private: bytes, sign_public: bytes) -> TransferFile:
    """``transfer`` with ``auth``: its :class:`TransferHeader` signed by the writer's key."""
    payload = _ENCODER.encode(_transfer_header(transfer))
    envelope = Envelope(PROTOCOL_VERSION, key_id_of(sign_public), msgspec.Raw(payload),
                        sign(sign_private, CTX_TRANSFER, payload))
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
        raise ProtocolError("the file's signature does not check: it was altered or not written by its sender",
                            "文件签名校验失败：文件已被篡改或并非由发送方生成", code="bad_signature")
    try:
        header = _HEADER.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(f"the file's signed header is malformed ({exc})", f"文件的签名头格式错误（{exc}）",
                            code="malformed") from None
    if header != _transfer_header(transfer):
        raise ProtocolError("the file's fields or sets differ from what its sender signed (altered on the way)",
                            "文件的字段或数据集与发送方签署的不一致（途中被改动）", code="bad_signature")
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
    *, method: str, path_qs: str, station_id: str, key_id: str, counter: int, station_ms: int, body: bytes,
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
    *, sign_private: bytes, sign_public: bytes, method: str, path_qs: str, station_id: str, counter: int,
    station_ms: int, body: bytes, head_seq: int = 0, outbox_length: int = 0, software: str = "",
    mac_key: bytes | None = None, cover: bool = False,
) -> dict[str, str]:
    """The headers that authenticate one request of a station.

    ``mac_key`` (:func:`request_mac_key`, for a hub that said ``FEATURE_REQUEST_MAC``): authenticate
    with a 16-byte MAC in ``X-Signature`` instead of an Ed25519 signature. ``cover`` (a hub that said
    ``FEATURE_SIGNED_HEADERS``): the proof covers the head seq, outbox length and software too.
    """
    key_id = key_id_of(sign_public)
    fields = (str(head_seq), str(outbox_length), software) if cover else None
    canonical = canonical_request(
        method=method, path_qs=path_qs, station_id=station_id, key_id=key_id, counter=counter,
        station_ms=station_ms, body=body, fields=fields,
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
    return " ".join([
        headers[HEADER_KEY], headers[HEADER_COUNTER], headers[HEADER_TIME], headers.get(HEADER_HEAD_SEQ) or "0",
        headers.get(HEADER_OUTBOX) or "0", headers.get(HEADER_SOFTWARE) or "-",
        base64.urlsafe_b64encode(signature).rstrip(b"=").decode(),
    ])


def _compact_parts(value: str) -> list[str]:
    parts = value.strip().split(" ")
    if len(parts) != 7 or not all(parts):
        raise ProtocolError(
            f"the {HEADER_SYNC} header needs 7 fields separated by single spaces",
            f"{HEADER_SYNC} 请求头应有 7 个以空格分隔的字段", code="unauthenticated",
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
        raise ProtocolError(f"the {HEADER_SYNC} signature is not base64url", f"{HEADER_SYNC} 签名不是 base64url 格式",
                            code="unauthenticated")
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

