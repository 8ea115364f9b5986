"""County to province: the county's signed, chained stream, its items, enrolment, and opening a forwarded set."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import msgspec

from sync.budget import STATION_SET, DecodeLimits
from sync.crypto import CryptoError, mac, open_box_with_key, sign
from sync.protocol.envelope import ProtocolError
from sync.protocol.keys import HubKeyItem
from sync.protocol.sets import SignedSet, set_aad, unpack_body, verified_set

__all__ = (
    "COUNTY_SET",
    "CTX_COUNTY",
    "CTX_COUNTY_REQUEST",
    "HEADER_COUNTY",
    "HEADER_COUNTY_SIGNATURE",
    "MAX_COUNTY_SETS",
    "MAX_REQUEST_SIGNATURES",
    "BranchItem",
    "CaseFigure",
    "CountyEnrollRequest",
    "CountyEnrollResponse",
    "CountyMove",
    "ForwardedSet",
    "RosterItem",
    "StationStatusItem",
    "UpstreamItem",
    "UpstreamRequest",
    "county_origin",
    "county_request_mac",
    "county_request_message",
    "county_request_signature",
    "county_request_signatures",
    "county_response_mac",
    "decode_item",
    "open_forwarded",
)

CTX_COUNTY = b"proxyapp/county-set/v1\x00"
"""Signing context of a county's sets to its province: never the same bytes as a station's or a feed's."""
CTX_COUNTY_REQUEST = b"proxyapp/county-request/v1\x00"
"""Signing context of a county's whole HTTP request to its province (its path, a newline, its body)."""
HEADER_COUNTY = "X-County"
"""The county a signed upstream request comes from: its key is found before the body is read."""
HEADER_COUNTY_SIGNATURE = "X-County-Signature"
"""The county hub key's signature of the request (base64url, no padding) under CTX_COUNTY_REQUEST."""
MAX_COUNTY_SETS = 50
"""County sets in one request or upstream file."""
COUNTY_SET = DecodeLimits(
    max_bytes=64 * 1024 * 1024, max_records=2_000, max_record_bytes=12 * 1024 * 1024, max_fields=64
)
"""A county set as the province decodes it: up to 2,000 items; one item (a station's set, at most 8 MiB
as the station sealed it, with its receipt) up to 12 MiB; 64 MiB in all."""


MAX_REQUEST_SIGNATURES = 4
"""A request is signed by the county's current key and the generations before it, newest first, at most this
many: after ``hub key rotate`` the province learns the new key from the sets of the very request that follows."""


def county_request_message(path: str, body: bytes) -> bytes:
    """What a county signs of its upstream request (under CTX_COUNTY_REQUEST): the path, so a request for
    one endpoint is not taken at another, and the body, every byte of it."""
    return path.encode() + b"\n" + body


def county_request_signature(sign_privates: Sequence[bytes], path: str, body: bytes) -> str:
    """The ``X-County-Signature`` value: each key's signature of the request, newest key first, base64url
    without padding, ``.``-separated (the first MAX_REQUEST_SIGNATURES keys)."""
    message = county_request_message(path, body)
    signatures = [sign(key, CTX_COUNTY_REQUEST, message) for key in sign_privates[:MAX_REQUEST_SIGNATURES]]
    return ".".join(base64.urlsafe_b64encode(s).rstrip(b"=").decode() for s in signatures)


def county_request_signatures(text: str) -> list[bytes]:
    """The signatures an ``X-County-Signature`` value holds (at most MAX_REQUEST_SIGNATURES, each part read
    up to a signature's length; a part that is not base64url is skipped)."""
    found = []
    for part in text.split(".", MAX_REQUEST_SIGNATURES)[:MAX_REQUEST_SIGNATURES]:
        try:
            found.append(base64.urlsafe_b64decode(part[:100] + "=="))
        except ValueError:
            continue
    return found


def county_origin(county: str) -> str:
    """The origin of a county's chain at its province."""
    return f"county>{county}"


class RosterItem(msgspec.Struct, tag="roster", frozen=True, kw_only=True):
    """A station key the county holds: the province checks the station's sets with it (from ``from_seq`` on)."""

    station_id: str
    village_code: str
    key_id: str
    sign_public: bytes
    box_public: bytes
    from_seq: int = 1
    revoked_after: int | None = None
    """The station's last set this key may sign (revoked at the county), or None."""


class ForwardedSet(msgspec.Struct, tag="set", frozen=True, kw_only=True):
    """A station's set exactly as the county accepted it, the county's receipt, and the body's own key."""

    station_id: str
    seq: int
    envelope: bytes
    receipt: bytes
    key: bytes = b""
    """The AES-256-GCM key of this set's sealed body (sync.crypto.box_key). A body of layout 0x03 (a
    station that heard ``FEATURE_BOX_KEY``) has its own key, always sent: it opens this set alone. b"" only
    after a body of layout 0x02: the same as the station's previous forwarded set's (the pair's key)."""


class CaseFigure(msgspec.Struct, tag="figure", frozen=True, kw_only=True):
    """The county's view of a case after a change, without personal data."""

    case_no: str
    village_code: str
    item_code: str
    status: str
    outcome: str | None = None
    received_date: str | None = None
    accepted_date: str | None = None
    due_date: str | None = None
    updated_at: str = ""


class CountyMove(msgspec.Struct, tag="move", frozen=True, kw_only=True):
    """A move the county itself made on a case (a department's or township's decision), as it recorded it."""

    event_id: str
    case_no: str
    from_status: str
    to_status: str
    actor: str
    at: str
    by: str | None = None
    reason: str | None = None
    outcome: str | None = None


class StationStatusItem(msgspec.Struct, tag="station", frozen=True, kw_only=True):
    """A station's sync status at the county (counters and times only), sent when it changes."""

    station_id: str
    village_code: str
    applied_seq: int
    last_contact: str | None = None
    revoked: bool = False


class BranchItem(msgspec.Struct, tag="branch", frozen=True, kw_only=True):
    """A fork resolved at the county keeping the station's branch: the station's sets after ``after_seq`` the
    province holds are set aside (kept as evidence); the station's own branch follows as ``set`` items."""

    station_id: str
    after_seq: int


UpstreamItem = RosterItem | ForwardedSet | CaseFigure | CountyMove | StationStatusItem | HubKeyItem | BranchItem
_ITEM: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(UpstreamItem)


def decode_item(data: bytes) -> UpstreamItem:
    """One item of a county set; ProtocolError ``malformed`` when it is none of them."""
    try:
        return _ITEM.decode(data)  # type: ignore[no-any-return]
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(
            zh=f"县级数据项格式错误（{exc}）", en=f"an item of the county's set is malformed ({exc})", code="malformed"
        ) from None


class UpstreamRequest(msgspec.Struct, frozen=True, array_like=True):
    """``POST /api/v1/upstream/sync`` (and an upstream file's body): a county's sets, in seq order."""

    protocol: int
    county: str
    sets: list[msgspec.Raw]
    pending: int = 0
    """Items the county has not yet sealed or had acknowledged (the province shows it as lag)."""
    oldest_pending: str | None = None
    """When the oldest of them was queued (ISO UTC)."""
    signed_answer: bool = False
    """The county reads a signed answer (an ``AnswerBody`` envelope, as the answer file's, bound to this
    request's hash): a province that reads this field answers so; an older one ignores it and an older
    county never sets it (each then answers and reads the plain ``PushResponse``)."""


class CountyEnrollRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A county's enrolment at its province: its hub keys, under the code's MAC (as a station's)."""

    protocol: int
    code_id: str
    sign_public: bytes
    box_public: bytes
    gen: int
    mac: bytes
    """HMAC-SHA256(secret, "county-enroll-request", sign_public, box_public, gen) (sync.enrolment's form)."""
    signs_requests: bool = False
    """The county signs its requests and upstream files whole (this release on): from its enrolment on the
    province takes none unsigned in its name. Absent from an older county's request (and ignored by an older
    province); outside the mac, which an older province checks as it was (a stripped flag only leaves the
    province waiting for the county's first signed request, as with an older county)."""


class CountyEnrollResponse(msgspec.Struct, frozen=True, kw_only=True):
    """The province's keys and where the county's chain stands there (0 for a new county)."""

    county: str
    province_id: str
    sign_public: bytes
    box_public: bytes
    head_seq: int
    head_hash: bytes
    mac: bytes
    """HMAC-SHA256(secret, "county-enroll-response", county, sign_public, box_public, head_seq, head_hash)."""


def county_request_mac(secret: bytes, sign_public: bytes, box_public: bytes, gen: int) -> bytes:
    """The mac of a :class:`CountyEnrollRequest`."""
    return mac(secret, b"county-enroll-request", sign_public, box_public, str(gen).encode())


def county_response_mac(secret: bytes, response: CountyEnrollResponse) -> bytes:
    """The mac of a :class:`CountyEnrollResponse`: a machine in the middle cannot put its own keys in it."""
    return mac(
        secret,
        b"county-enroll-response",
        response.county.encode(),
        response.sign_public,
        response.box_public,
        str(response.head_seq).encode(),
        response.head_hash,
    )


def open_forwarded(
    data: bytes, *, sign_public: bytes, key_id: str, key: bytes, context: bytes, limits: DecodeLimits = STATION_SET
) -> tuple[SignedSet, bytes, bytes]:
    """Check a forwarded station set against the station's key, then open it with the disclosed key.

    The signature is checked on the exact bytes first; the body must then open under ``key`` with the
    set's own origin and seq as associated data (so the key cannot be another set's), and decode within
    the station's limits. Returns (set, hash, plain body).

    Raises:
        ProtocolError: ``bad_signature``, ``malformed``, ``bad_key`` (the key does not open this body), ``too_large``.
    """

    def station_key(named: str) -> bytes:
        if named not in ("", key_id):
            raise ProtocolError(
                zh=f"数据集所署密钥 {named} 不是该代办点的",
                en=f"the set names key {named}, not the station's",
                code="bad_signature",
            )
        return sign_public

    signed, set_hash = verified_set(data, public_key_for=station_key, context=context)
    body = signed.body
    if signed.sealed:
        try:
            body = open_box_with_key(key, body, set_aad(signed.origin, signed.seq))
        except CryptoError as exc:
            raise ProtocolError(zh=exc.zh, en=exc.en, code="bad_key") from None
    signed, body = unpack_body(signed, body, limits)
    return signed, set_hash, body
