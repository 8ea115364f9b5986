"""Each station's feed: down items queued (encoded once), sealed on demand into signed, chained sets."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from hub.deadlines import case_state
from hub.keys import HubIdentity
from hub.opinions import REVIEWED_STATUSES, joint_opinions_down
from hub.store import ExchangeGlance, FeedSetRow, HubStoreProtocol, StationRow
from sync.catalog_patch import body_digest, legacy_body, make_edits
from sync.changes import RowChange, StatusChange
from sync.errors import InputError, ProxyAppError
from sync.merge import CASE_INSERT_STATE, STATUS_FIELDS, decode_versions
from sync.protocol import (
    CTX_DOWN,
    FEATURE_BOX_KEY,
    FEATURE_CATALOG_PATCH,
    GENESIS,
    CalendarItem,
    CatalogItem,
    CatalogPatch,
    DivisionsItem,
    DownItem,
    FeedResponse,
    HubKeyItem,
    seal_set,
)
from sync.tables import TABLES
from sync.timeutil import business_date, iso_utc

__all__ = (
    "BULK",
    "MAX_ITEMS_PER_SET",
    "MAX_SET_BYTES",
    "RECORD",
    "RESTORED_META",
    "feed_origin",
    "feed_reach",
    "glance",
    "held_feed",
    "hold_feeds",
    "note_position",
    "queue",
    "queue_case_state",
    "queue_catalog",
    "queue_reference_data",
    "queue_village_history",
    "read_feed",
    "seal_pending",
)

MAX_ITEMS_PER_SET = 200
MAX_SET_BYTES = 64 * 1024
"""A set is closed before its items pass this size (a single larger item still gets its own set), so
a first sync on a slow link is a series of small, resumable sets, never one giant response."""

RECORD = 0
"""Priority of records (decisions, case states, rejections, receipts, catalogue versions): sealed first,
so a station on a slow link gets what agents act on before the bulk reference data. A catalogue version
is a record: a case received under it (another PC's, the village's history) must never reach a station
before it, and in queue order it never does (the version is queued when published, or at enrolment
before the history)."""
BULK = 1
"""Priority of calendar and division-tree items."""

_BULK_TYPES = (CalendarItem, DivisionsItem)
_CATALOG_KINDS = ("catalog", "catalog_patch")


class _Versioned(msgspec.Struct):
    version: int


_VERSION = msgspec.msgpack.Decoder(_Versioned)
_ENCODER = msgspec.msgpack.Encoder()
_HUB_KEY = msgspec.msgpack.Decoder(HubKeyItem)


def feed_origin(station_id: str) -> str:
    """The origin of a station's feed chain."""
    return f"hub>{station_id}"


# -- a hub restored from a backup ------------------------------------------------------------------
#
# A restored hub lost the feed sets it sealed after the backup, which its stations applied. Sealing
# anew from its own newest set would reuse seqs the stations hold with other contents (they refuse
# such a set as a fork, or never ask for it). So the hub continues each station's feed after the
# position the station says it applied (signed: the exchange's feed_after, an up file's signed
# header), and the first set after that position is a restart: its prev is 32 zero bytes, as only a
# first set's is (docs/protocol.md, "A hub restored from a backup"). Until a station has said where it
# stands, nothing is sealed for it by file (``hub export`` asks for its up file first).

RESTORED_META = "restored_at"
"""Set by ``hub restore`` (hub.backup): when this hub's database was put back from a backup."""
_RESTART = "feed_restart:"
_HELD = "feed_restart_pending"


def hold_feeds(store: HubStoreProtocol, station_ids: Iterable[str]) -> None:
    """After a restore: seal nothing for these stations by file until each has said where its feed stands."""
    store.set_meta(_HELD, json.dumps(sorted(set(station_ids))))


def held_feed(store: HubStoreProtocol, station_id: str) -> bool:
    """Whether the hub was restored and has not yet heard this station's feed position."""
    return station_id in json.loads(store.get_meta(_HELD) or "[]")


def _restart_at(store: HubStoreProtocol, station_id: str) -> int:
    return int(store.get_meta(_RESTART + station_id) or 0)


def feed_reach(store: HubStoreProtocol, station_id: str) -> int:
    """The seq the station's feed has reached: the newest set sealed, or the restart point after a restore."""
    head, restart = store.feed_head_seq_and_meta(station_id, _RESTART + station_id)
    return max(head, int(restart or 0))


def glance(store: HubStoreProtocol, station_id: str) -> ExchangeGlance:
    """What the exchange's answer needs to know of the station's feed (its head, a restart point, whether the
    hub was restored, whether items wait) and whether a catalogue failure is on record: one statement."""
    return store.exchange_glance(station_id, restart_key=_RESTART + station_id, restored_key=RESTORED_META)


def note_position(store: HubStoreProtocol, station_id: str, after: int) -> None:
    """The station said (signed) that it applied its feed up to ``after``. Past the hub's newest set,
    the hub lost those sets (a restore): its next set for the station follows ``after``, as a restart.

    Only a restored hub believes it: any other never lost a set, so a position past its head is a
    station's mistake (or a rogue key's), and following it would only cut that station's own feed.
    """
    if not store.get_meta(RESTORED_META):
        return
    with store.transaction():
        if after > feed_reach(store, station_id):
            store.set_meta(_RESTART + station_id, str(after))
        held = json.loads(store.get_meta(_HELD) or "[]")
        if station_id in held:
            store.set_meta(_HELD, json.dumps([s for s in held if s != station_id]))


def queue(store: HubStoreProtocol, station_ids: Iterable[str], item: DownItem, *, at: str) -> None:
    """Queue one down item for each station; it is encoded here, once, and sealed later as is."""
    ids = list(station_ids)
    if not ids:
        return
    priority = BULK if isinstance(item, _BULK_TYPES) else RECORD
    kind = type(item).__struct_config__.tag  # type: ignore[attr-defined]
    store.queue_items(ids, kind=str(kind), body=_ENCODER.encode(item), priority=priority, at=at)


def queue_case_state(
    store: HubStoreProtocol,
    case: dict[str, Any],
    *,
    at: str,
    origin: str | None = None,
    origin_seq: int = 0,
    skip_origin: bool = False,
    stations: Sequence[StationRow] | None = None,
) -> None:
    """Queue the hub's view of a case to every enrolled station of its village.

    ``through_seq`` is each recipient's own last applied set; for the origin of the set being
    applied it is that set's seq (not yet recorded as applied while the set is in flight).
    ``skip_origin``: not to the origin (its own move, applied as it made it: it holds that state).
    ``stations``: the village's enrolled stations when the caller read them already (the ingest, once a set).
    """
    if stations is None:
        stations = store.stations(village_code=case["village_code"], enrolled_only=True)
    for station in stations:
        if skip_origin and station.station_id == origin:
            continue
        through = origin_seq if station.station_id == origin else station.applied_seq
        queue(store, [station.station_id], case_state(case, through), at=at)


def queue_reference_data(store: HubStoreProtocol, station_id: str, *, now: dt.datetime) -> None:
    """Queue what a newly enrolled station needs: the catalogue, the calendar from last year, the division tree.

    The catalogue goes in every version the village's cases were received under (the history a new
    PC gets names them: a case keeps its version), then the newest: the first whole, each next one
    as a patch where the station reads patches.
    """
    at = iso_utc(now)
    newest = store.catalog_version()
    station = store.station(station_id)
    assert newest is not None and station is not None  # hub init publishes version 1; enrolment made the row
    used = {row["catalog_version"] for row in store.village_rows("intakes", station.village_code)}
    for version in sorted((used & set(range(1, newest))) | {newest}):
        queue_catalog(store, [station_id], version=version, at=at)
    for table in store.calendar_tables(from_year=business_date(now).year - 1):
        queue(store, [station_id], CalendarItem(table), at=at)
    version, body = store.divisions_body()
    queue(store, [station_id], DivisionsItem(version, body), at=at)


def queue_catalog(store: HubStoreProtocol, station_ids: Iterable[str], *, version: int, at: str) -> dict[str, int]:
    """Queue catalogue ``version`` to each station in the form it reads best; how many got each form.

    ``patch`` (sync.catalog_patch edits to the version before) to a station that said
    FEATURE_CATALOG_PATCH and was sent that version before, whole (``full``), else; ``legacy``, whole
    without withdrawn items, to a station whose release does not know them (docs/protocol.md,
    "Catalogue patches"). Each delivery is recorded: the dashboard counts a version as held once the
    station acknowledges the feed set carrying it.
    """
    _, body = store.catalog_body(version)
    counts = {"patch": 0, "full": 0, "legacy": 0}
    patch: CatalogPatch | None = None
    patch_tried = False
    legacy: bytes | None = None
    for station_id in station_ids:
        station = store.station(station_id)
        last = store.last_catalog_delivery(station_id)
        item: CatalogItem | CatalogPatch
        if station is None or not station.features & FEATURE_CATALOG_PATCH:
            legacy = legacy if legacy is not None else legacy_body(body)
            item, form = CatalogItem(version, legacy), "legacy"
        else:
            if not patch_tried and last is not None and last.version == version - 1:
                patch, patch_tried = _patch(store, version, body), True
            if patch is not None and last is not None and last.form != "legacy" and last.version == version - 1:
                item, form = patch, "patch"
            else:
                item, form = CatalogItem(version, body), "full"
        queue(store, [station_id], item, at=at)
        store.add_catalog_delivery(station_id, version, form=form, item_bytes=len(_ENCODER.encode(item)), at=at)
        counts[form] += 1
    return counts


def _patch(store: HubStoreProtocol, version: int, body: bytes) -> CatalogPatch | None:
    """``version`` as edits to the one before; None when they would not give its body byte for byte
    (a body stored otherwise than by ``hub catalog publish``): such a version goes whole."""
    try:
        _, base = store.catalog_body(version - 1)
    except ProxyAppError:
        return None
    edits, result = make_edits(base, store.catalog(version))
    if body_digest(result) != body_digest(body):
        return None
    return CatalogPatch(
        base_version=version - 1, version=version, base_digest=body_digest(base), digest=body_digest(body), edits=edits
    )


def queue_village_history(
    store: HubStoreProtocol,
    station_id: str,
    village_code: str,
    *,
    now: dt.datetime,
    only: Callable[[str, dict[str, Any]], bool] | None = None,
    through_seq: int = 0,
) -> int:
    """Queue to a newly enrolled PC everything the hub holds of its village; returns the item count.

    A second PC, or one replacing a dead one, must see the village's cases (architecture: a
    station sees its village's cases). Each row goes down as an insert at its original version
    (cases as drafts, as every station creates them) followed by the fields changed since, at
    their own versions, so the new replica's field versions match the hub's and later merges
    agree; then the history in hub order and the hub's state of each case.

    ``only`` keeps the rows (table, row) it says yes to, and ``through_seq`` is the recipient's
    own set each case state has seen: a station restored from a backup gets back only what it
    lost (hub.recovery).
    """
    at = iso_utc(now)
    count = 0
    recipient = store.station(station_id)
    features = recipient.features if recipient is not None else 0
    for definition in TABLES:
        table = definition.name
        if definition.feature and not features & definition.feature:
            continue  # a table this PC's release does not read (sync.tables ``feature``)
        for row in store.village_rows(table, village_code):
            if only is not None and not only(table, row):
                continue
            versions = decode_versions(row.get("versions"))
            star = versions.get("*")
            if star is None:
                continue
            fields = {column: row[column] for column in definition.replicated if column in row}
            if table == "cases":
                fields.update(CASE_INSERT_STATE)
            queue(
                store,
                [station_id],
                RowChange(table=table, pk=row[definition.pk], hlc=star[0], fields=fields, insert=True, origin=star[1]),
                at=at,
            )
            count += 1
            later: dict[tuple[int, str], dict[str, Any]] = {}
            for field, version in versions.items():
                # Only a case's lifecycle fields come by its moves; a commitment's status is a plain field.
                if field != "*" and field in fields and not (table == "cases" and field in STATUS_FIELDS):
                    later.setdefault(version, {})[field] = row[field]
            for (hlc, origin), changed in sorted(later.items()):
                queue(
                    store,
                    [station_id],
                    RowChange(table=table, pk=row[definition.pk], hlc=hlc, fields=changed, origin=origin),
                    at=at,
                )
                count += 1
    for event in store.village_rows("case_events", village_code):
        if only is not None and not only("case_events", event):
            continue
        queue(
            store,
            [station_id],
            StatusChange(
                event_id=event["event_id"],
                case_no=event["case_no"],
                from_status=event["from_status"],
                to_status=event["to_status"],
                actor=event["actor"],
                hlc=event["hlc"],
                at=event["at"],
                reason=event["reason"],
                outcome=event["outcome"],
                by=event["by"],
                origin=event["origin"],
            ),
            at=at,
        )
        count += 1
    for case in store.village_rows("cases", village_code):
        if only is not None and not only("cases", case):
            continue
        state = case_state(case, through_seq)
        if case["status"] in REVIEWED_STATUSES:  # which departments were asked about it, and what each said
            state = msgspec.structs.replace(state, opinions=joint_opinions_down(store, case["case_no"]) or None)
        queue(store, [station_id], state, at=at)
        count += 1
    return count


def seal_pending(store: HubStoreProtocol, identity: HubIdentity, station_id: str, now: dt.datetime) -> int:
    """Seal all the station's queued items into new feed sets (at most 200 items, 64 KiB each); returns how many.

    Each set continues the station's chain (``prev`` = the previous set's hash), is signed with
    the hub key (down context) and its body sealed to the station's box key, so only that
    station can read it, whoever carries it.
    """
    return _seal(store, identity, station_id, now)[0]


def _seal(
    store: HubStoreProtocol,
    identity: HubIdentity,
    station_id: str,
    now: dt.datetime,
    *,
    max_sets: int | None = None,
    max_bytes: int | None = None,
    pending: bool | None = None,
) -> tuple[int, int]:
    """Seal queued items, records first, into at most ``max_sets`` sets, stopping once the envelopes
    reach ``max_bytes`` (at least one set when anything is queued). Returns (sets sealed, sets the
    items still queued would make).

    Sealing only what is about to be sent keeps the priorities across sets: a decision queued
    while a new station is still fetching its reference data goes out before the rest of it.
    ``pending``: whether items wait, as the caller read it moments ago (None: read here).
    """
    if not (store.has_pending(station_id) if pending is None else pending):
        # Most answers have nothing queued: found without the transaction and the station's lock (four round
        # trips on PostgreSQL, the write lock on SQLite). An item queued a moment later goes down in the next
        # answer, as it would had it come after this one.
        return 0, 0
    with store.transaction():
        store.lock(f"station:{station_id}")  # one worker seals a station's next feed set, not two
        items = store.pending_items(station_id)
        if not items:
            return 0, 0
        key, station = store.station_key(station_id), store.station(station_id)
        if key is None or station is None:
            raise InputError(zh=f"没有代办点 {station_id!r}", en=f"no station {station_id!r}", field="station")
        seq, prev = store.feed_head(station_id) or (0, GENESIS)
        restart = _restart_at(store, station_id)
        if restart > seq:
            # The station applied sets up to `restart` that this (restored) hub lost: go on after them.
            seq, prev = restart, GENESIS
        at = iso_utc(now)
        chunks = _chunks(items)
        sealed = size = 0
        for chunk in chunks:
            if sealed and (
                (max_sets is not None and sealed >= max_sets) or (max_bytes is not None and size >= max_bytes)
            ):
                break
            seq += 1
            # Under the hub key generation the station holds after the set before (hub.rotation).
            hub_keys = identity.keys_of(store.hub_key_held(station_id, seq - 1))
            # Format 2, zstd-r2: what every station within the support window reads (0.4 on), whatever
            # this one has said (a station enrolled under 0.3 that only carries files may have said nothing).
            envelope, set_hash = seal_set(
                origin=feed_origin(station_id),
                seq=seq,
                prev=prev,
                records=[body for _, _, body in chunk],
                sign_private=hub_keys.sign_private,
                recipient_box_public=key.box_public,
                sender_box_private=hub_keys.box_private,
                context=CTX_DOWN,
                per_box=bool(station.features & FEATURE_BOX_KEY),  # the body's own key, for a station that reads it
            )
            store.add_feed_set(
                station_id=station_id, seq=seq, prev=prev, set_hash=set_hash, envelope=envelope, items=len(chunk), at=at
            )
            store.drop_items([item_id for item_id, _, _ in chunk])
            for _, kind, body in chunk:
                if kind == "hub_key":  # the sets after this one are under the new generation
                    store.hub_key_sealed(station_id, _HUB_KEY.decode(body).gen, seq)
            for _, kind, body in chunk:
                if kind in _CATALOG_KINDS:  # so the dashboard knows when the station holds the version
                    store.note_catalog_sealed(station_id, _VERSION.decode(body).version, seq)
            prev = set_hash
            sealed += 1
            size += len(envelope)
        return sealed, len(chunks) - sealed


def _chunks(items: list[tuple[int, str, bytes]]) -> list[list[tuple[int, str, bytes]]]:
    """Queue order kept; each chunk at most MAX_ITEMS_PER_SET items and (unless one item) MAX_SET_BYTES."""
    chunks: list[list[tuple[int, str, bytes]]] = []
    size = 0
    for item in items:
        if not chunks or len(chunks[-1]) >= MAX_ITEMS_PER_SET or size + len(item[2]) > MAX_SET_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += len(item[2])
    return chunks


def read_feed(
    store: HubStoreProtocol,
    identity: HubIdentity,
    station_id: str,
    *,
    after: int,
    limit: int | None,
    now: dt.datetime,
    max_bytes: int | None = None,
    seen: ExchangeGlance | None = None,
) -> tuple[list[FeedSetRow], FeedResponse]:
    """The sets after ``after``: at most ``limit``, added while their bytes stay below ``max_bytes``
    (at least one), sealing queued items only as far as the answer needs them.

    ``last_seq`` of the answer is the seq the feed reaches once everything queued is sealed, so a
    station keeps asking while its position is below it. Without a limit or a byte cap (a file),
    everything queued is sealed and sent. ``seen``: the station's feed as :func:`glance` read it since
    the last item was queued for it (the exchange's), used instead of reading its head and queue again.
    """
    head_seq = feed_reach(store, station_id) if seen is None else max(seen.feed_head, int(seen.restart or 0))
    if (limit is None and max_bytes is None) or after > head_seq:
        # A file takes everything. A position past the head that the station never said (note_position)
        # gets nothing: sealing after a position it did not sign could skip sets it needs.
        seal_pending(store, identity, station_id, now)
        rows = store.feed_sets_after(station_id, after, limit)
        return rows, FeedResponse(
            sets=[msgspec.Raw(row.envelope) for row in rows],
            last_seq=feed_reach(store, station_id),
            hub_ms=int(now.timestamp() * 1000),
        )
    # Nothing sealed past the position the station applied (nearly every exchange): nothing to read.
    nothing_after = seen is not None and seen.feed_head <= after
    sealed_after = [] if nothing_after else store.feed_sets_after(station_id, after, limit)
    rows = []
    size = 0
    for row in sealed_after:
        if rows and ((limit is not None and len(rows) >= limit) or (max_bytes is not None and size >= max_bytes)):
            break
        rows.append(row)
        size += len(row.envelope)
    room = (limit is None or len(rows) < limit) and (max_bytes is None or size < max_bytes or not rows)
    waiting = 0
    if room and len(rows) == len(sealed_after):
        sealed, waiting = _seal(
            store,
            identity,
            station_id,
            now,
            max_sets=None if limit is None else limit - len(rows),
            max_bytes=None if max_bytes is None else max(max_bytes - size, 1),
            pending=None if seen is None else seen.pending,
        )
        if sealed:
            rows += store.feed_sets_after(station_id, rows[-1].seq if rows else after, sealed)
    elif store.has_pending(station_id) if seen is None else seen.pending:
        waiting = len(_chunks(store.pending_items(station_id)))
    # What the feed reaches now: the head read above, or the newest set sealed since (sealing goes on after
    # the head, or after the restart point: both are in head_seq), without reading them again.
    reach = max(head_seq, rows[-1].seq if rows else 0)
    response = FeedResponse(
        sets=[msgspec.Raw(row.envelope) for row in rows],
        last_seq=reach + waiting,
        hub_ms=int(now.timestamp() * 1000),
    )
    return rows, response
