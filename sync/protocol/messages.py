"""The protocol's messages: records carried up and down, requests and responses, transfer files."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from sync.budget import array_length
from sync.catalog_patch import CatalogEdit
from sync.changes import RowChange, StatusChange
from sync.limits import MAX_SETS_PER_REQUEST
from sync.protocol.catalog_report import CatalogFailure
from sync.protocol.envelope import PROTOCOL_VERSION, ProtocolError
from sync.protocol.forks import ForkResolved
from sync.protocol.keys import HubKeyItem
from sync.protocol.opinions import JointOpinion
from sync.workdays import YearTable

__all__ = (
    "CalendarItem",
    "CaseState",
    "CatalogItem",
    "CatalogPatch",
    "DivisionsItem",
    "DownItem",
    "EnrollRequest",
    "EnrollResponse",
    "FeedResponse",
    "KeyRevokedItem",
    "PushResponse",
    "ReceiptItem",
    "RejectedItem",
    "SetResult",
    "SetStatus",
    "StationForkNotice",
    "SyncRequest",
    "SyncResponse",
    "SyncResult",
    "TransferFile",
    "TransferHeader",
    "UpChange",
    "check_sets",
)

# -- records carried up (station → hub) ----------------------------------------------------------

UpChange = RowChange | StatusChange


# -- records carried down (hub → station) --------------------------------------------------------


class CaseState(msgspec.Struct, tag="case_state", frozen=True, kw_only=True, omit_defaults=True):
    """The hub's view of a case's status after a move; ``through_seq`` = the receiving
    station's last set the hub had applied, so the station re-applies its later moves on top.

    Fields at their default are left off the wire (``omit_defaults``: a peer reads a missing field as its
    default, so every peer in the support window decodes it alike), which keeps ``opinions`` free for the
    states that do not carry them."""

    case_no: str
    status: str
    outcome: str | None = None
    accepted_date: str | None = None
    due_date: str | None = None
    through_seq: int = 0
    opinions: list[JointOpinion] | None = None
    """Parallel review (并联审批): every department asked about the case and its opinion, sent whenever one
    is asked, answers or is deemed to consent; None: not said with this state (the station keeps what it
    holds). A station before this field skips it (a map-encoded struct), so no feature bit gates it."""


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
    set_hash: bytes = b""
    """The hash of the set the change came in (empty from a hub before 0.6): ``seq`` alone does not say which
    set it is while the station is forked, when the hub's set at ``seq`` is not the station's. A peer that
    does not know the field skips it (msgspec), so no feature bit gates it."""


class ReceiptItem(msgspec.Struct, tag="receipt", frozen=True):
    """A receipt repeated in the feed, so it also reaches a station that only carries files."""

    receipt: bytes


class CatalogItem(msgspec.Struct, tag="catalog", frozen=True):
    version: int
    body: bytes
    """The catalogue in its JSON form (UTF-8)."""


class CatalogPatch(msgspec.Struct, tag="catalog_patch", frozen=True, kw_only=True):
    """A catalogue version as edits to the one before it (sync.catalog_patch), for a station that said
    ``FEATURE_CATALOG_PATCH`` and was sent ``base_version`` before: a one-item change costs that item,
    not the whole catalogue. The station replays the edits on its ``base_version`` body (whose digest
    must be ``base_digest``) and installs the result only when its digest is ``digest``."""

    base_version: int
    version: int
    base_digest: bytes
    digest: bytes
    """SHA-256 of the resulting body (sync.catalog_patch.body_digest): the hub's, byte for byte."""
    edits: list[CatalogEdit]


class CalendarItem(msgspec.Struct, tag="calendar", frozen=True):
    table: YearTable


class DivisionsItem(msgspec.Struct, tag="divisions", frozen=True):
    version: int
    body: bytes


class KeyRevokedItem(msgspec.Struct, tag="revoked", frozen=True, kw_only=True):
    station_id: str
    key_id: str
    after_seq: int


DownItem = (
    RowChange
    | StatusChange
    | CaseState
    | RejectedItem
    | ReceiptItem
    | CatalogItem
    | CalendarItem
    | DivisionsItem
    | KeyRevokedItem
    | CatalogPatch
    | HubKeyItem
    | ForkResolved
)

# -- requests and responses ----------------------------------------------------------------------


SetStatus = Literal["accepted", "duplicate", "gap", "fork", "refused"]


class SetResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One set's fate when a hub ingests it (from an exchange or a file). Fields left at their default
    are not written (every reader has the defaults), so an accepted set costs its seq, its status
    and its receipt. On the wire it travels as :class:`SyncResult`."""

    seq: int
    status: SetStatus
    receipt: bytes | None = None
    code: str | None = None
    detail: str | None = None


MAX_FORK_NOTICES = 200
"""The most station forks a province names in one answer to a county (the oldest first)."""
MAX_RESOLVER_CHARS = 100
"""A notice names who resolved a fork in at most this many characters (the province cuts a longer ``--by``)."""


class StationForkNotice(msgspec.Struct, frozen=True, kw_only=True):
    """A province's word to a county about one of its stations' sets it holds aside (docs/protocol.md, "Station
    forks at the province"): quarantined and waiting for the province's operator (``open``), or resolved keeping
    the province's chain of the station, so the county's branch from ``from_seq`` on is not taken (``kept``)."""

    station_id: Annotated[str, msgspec.Meta(max_length=64)]
    state: Literal["open", "kept"]
    from_seq: Annotated[int, msgspec.Meta(ge=1)]
    sets: Annotated[int, msgspec.Meta(ge=1)]
    """Sets of the station held aside there."""
    reason: Annotated[str, msgspec.Meta(max_length=16)]
    """Why the first was: ``differs`` (another set at that seq), ``prev`` (it does not follow), ``after``."""
    resolved_at: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    resolved_by: Annotated[str, msgspec.Meta(max_length=MAX_RESOLVER_CHARS)] | None = None


class PushResponse(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What ingesting a station's sets comes to (the answer of 0.3's push; now the exchange's results
    before they are array-encoded, and a file import's), and a province's answer to a county."""

    results: list[SetResult]
    next_seq: int
    """The seq the hub needs next from this station."""
    hub_ms: int
    station_forks: Annotated[list[StationForkNotice], msgspec.Meta(max_length=MAX_FORK_NOTICES)] = msgspec.field(
        default_factory=list
    )
    """A province's answer to a county: the county's stations whose sets it holds aside (left off the wire when
    there are none, ``omit_defaults``, and absent from an older province's answer: read as none either way)."""


class FeedResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Feed sets after a position (the answer of 0.3's feed request; now the exchange's feed and a down file's)."""

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
    catalog_failure: CatalogFailure | None = None
    """A catalogue version this station could not install (sync.protocol.catalog_report), sent to a hub
    that said ``FEATURE_CATALOG_REPORT`` until a version as new is installed. Left off the wire when
    there is none (:meth:`encode`): a request without a report costs no byte more than before."""

    def encode(self) -> bytes:
        """The request's wire bytes, without a trailing ``catalog_failure`` that is ``None``.

        msgspec writes every field of an array-like struct (``omit_defaults`` does not apply to
        arrays), so the station encodes through here; every hub decodes a shorter array with the
        missing trailing fields at their defaults.
        """
        fields = list(msgspec.structs.astuple(self))
        if fields[-1] is None:
            fields.pop()
        return msgspec.msgpack.encode(fields)


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
    case_numbers: list[tuple[str, int]] = []
    """``[day, last]`` for every business day (``YYYY-MM-DD``, China) on which the hub holds a number of
    this village and device letter: the highest counter used that day. A PC replacing one with the
    same letter numbers after them (``FEATURE_CASE_NUMBERS``; covered by ``mac``)."""


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
    :class:`TransferFile`). A body this cannot even walk (truncated, trailing
    bytes, nested past the decoder's depth) is refused here, before the full decode builds anything.

    Raises:
        ProtocolError: ``too_large``, ``malformed``.
    """
    try:
        peek = (_ARRAY_SETS if array_like else _MAP_SETS).decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        detail = "nested too deep" if isinstance(exc, RecursionError) else str(exc)
        raise ProtocolError(
            zh=f"请求内容格式错误（{detail}）", en=f"the body is not of the expected shape ({detail})", code="malformed"
        ) from None
    count = array_length(peek.sets)[0]
    if count > limit:
        raise ProtocolError(
            zh=f"一次包含 {count} 个数据集，最多 {limit} 个（其余请随后发送）",
            en=f"{count} sets at once; at most {limit} are read at a time (send the rest after)",
            code="too_large",
        )
