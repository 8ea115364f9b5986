"""A county forwarding to its province: collect what it accepted and decided, seal it into its own chain, push it."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import msgspec

from hub.decisions import HUB_ORIGIN
from hub.keys import HubIdentity
from hub.rotation import resigned
from hub.store import HubStore
from sync.crypto import CryptoError, box_key, open_box_with_key
from sync.errors import InputError, ProxyAppError
from sync.protocol import (
    GENESIS,
    HubKeyItem,
    ProtocolError,
    PushResponse,
    StationForkNotice,
    decode_envelope,
    seal_set,
    verify_receipt,
)
from sync.protocol.envelope import PROTOCOL_VERSION
from sync.protocol.upstream import (
    CTX_COUNTY,
    MAX_COUNTY_SETS,
    BranchItem,
    CaseFigure,
    CountyMove,
    ForwardedSet,
    RosterItem,
    StationStatusItem,
    UpstreamRequest,
    county_origin,
)
from sync.timeutil import format_local, iso_utc, utc_now

__all__ = (
    "HELD_ASIDE_KEY",
    "ROLE_META",
    "UpstreamError",
    "collect",
    "fork_error",
    "held_aside",
    "held_aside_advice",
    "is_province",
    "link_status",
    "require_county",
    "require_link",
    "seal_pending",
    "upstream_request",
)

ROLE_META = "hub_role"
"""``meta`` key: ``province`` for a province hub (``hub init --role province``); a county hub has none."""
MAX_ITEMS_PER_SET = 500
MAX_SET_BYTES = 4 * 1024 * 1024
"""A county set is closed before its items pass this (one larger station set still gets its own)."""
_BATCH = 2000
_OVERLAP = dt.timedelta(minutes=10)
"""Cases and moves are read again from a little before the last cursor: a write that committed late
with an earlier time is still seen; what was sent already is known by its digest and not sent twice."""
_ENCODER = msgspec.msgpack.Encoder()
_SET_BOX = msgspec.msgpack.Decoder(tuple[str, int, bytes, bytes, int])
_SET1_BOX = msgspec.msgpack.Decoder(tuple[str, int, bytes, int, int, int, bytes, bool, str])


class UpstreamError(ProxyAppError):
    """Forwarding to the province failed (its answer, or the link); ``code`` is the protocol's."""

    code = "upstream"


def is_province(store: HubStore) -> bool:
    """Whether this hub is a province hub (``hub init --role province``)."""
    return store.get_meta(ROLE_META) == "province"


def require_county(store: HubStore) -> None:
    """InputError on a province hub: forwarding upstream is a county's."""
    if is_province(store):
        raise InputError(
            zh="这是省级平台：只有县级平台向上转发",
            en="this is a province hub: only a county hub forwards upstream",
            field="role",
        )


def require_link(store: HubStore) -> dict[str, Any]:
    """The upstream link; InputError telling the operator to enrol first."""
    require_county(store)
    link = store.upstream_link()
    if link is None:
        raise InputError(
            zh="本县平台尚未登记到省级平台：请先运行“hub upstream enroll --url 地址 --code 登记码”",
            en="this county is not enrolled at a province: run 'hub upstream enroll --url URL --code CODE' first",
            field="upstream",
        )
    return link


def _digest(*parts: Any) -> str:
    return hashlib.sha256(_ENCODER.encode(list(parts))).hexdigest()[:32]


def _body_box(envelope: bytes) -> tuple[bytes, bytes]:
    """(sealed body, associated data) of a station set of either format."""
    env = decode_envelope(envelope)
    payload = bytes(env.payload)
    if env.protocol == 2:
        origin, seq, _, body, _ = _SET_BOX.decode(payload)
    else:
        origin, seq, _, _, _, _, body, _, _ = _SET1_BOX.decode(payload)
    return body, origin.encode() + b"/" + str(seq).encode()


def disclosed_key(identity: HubIdentity, envelope: bytes, station_box_public: bytes) -> bytes:
    """The key of a station set's sealed body (checked: it opens it), never the county's private key: the set's
    own key for a body of layout 0x03 (or 0x01), the pair's for 0x02 (sync.crypto.box_key)."""
    body, aad = _body_box(envelope)
    for private in identity.box_privates:
        try:
            key = box_key(private, body, aad, sender_public=station_box_public)
            open_box_with_key(key, body, aad)
            return key
        except CryptoError:
            continue
    raise UpstreamError(zh="县平台打不开自己收下的数据集", en="a set this county accepted does not open with its keys")


def _serialise(store: HubStore) -> None:
    """Several workers of one county (``hub serve --workers N`` on PostgreSQL) collect and seal one chain, one
    at a time; SQLite's one writer already serialises."""
    lock = getattr(store, "lock", None)  # hub.store.base.StoreBase.lock
    if lock is not None:
        lock("upstream")


def collect(store: HubStore, identity: HubIdentity, *, now: dt.datetime) -> int:
    """Queue what the province has not had: roster keys, accepted sets, station status, case figures, moves."""
    at = iso_utc(now)
    queued = 0

    def put(kind: str, item: Any) -> None:
        nonlocal queued
        store.queue_upstream(kind, _ENCODER.encode(item), at)
        queued += 1

    with store.transaction():
        _serialise(store)
        roster = store.upstream_sent("roster")
        forwarded = store.upstream_sent("seq")
        status = store.upstream_sent("status")
        for station in store.stations():
            sid = station.station_id
            keys = store.station_keys(sid)
            for key in keys:
                last = key.after_seq if key.revoked_at is not None else key.replaced_after
                digest = _digest(key.key_id, key.from_seq, last)
                if roster.get(key.key_id) != digest:
                    put(
                        "roster",
                        RosterItem(
                            station_id=sid,
                            village_code=station.village_code,
                            key_id=key.key_id,
                            sign_public=key.sign_public,
                            box_public=key.box_public,
                            from_seq=key.from_seq or 1,
                            revoked_after=last,
                        ),
                    )
                    store.set_upstream_sent("roster", key.key_id, digest)
            after = int(forwarded.get(sid, "0"))
            last_key = store.upstream_sent_one("key", sid)
            if after == 0 and store.upstream_sent_one("branch", sid) is None:
                # forks resolved before anything of the station went up concern nothing the province holds
                older = store.superseded_sets(sid)
                store.set_upstream_sent("branch", sid, max((r["superseded_at"] for r in older), default=""))
            branch = _branch(store, sid, after)
            if branch is not None:  # a fork resolved keeping the station's branch: the province sets ours aside
                after, marked = branch
                put("branch", BranchItem(station_id=sid, after_seq=after))
                store.set_upstream_sent("branch", sid, marked)
                store.set_upstream_sent("seq", sid, str(after))
                last_key = None
            while after < station.applied_seq:
                batch = store.accepted_sets(sid, after, 200)
                if not batch:
                    break
                for seq, envelope, receipt in batch:
                    signer = store.station_key_for_seq(sid, seq)
                    assert signer is not None  # the set was accepted under it
                    key_bytes = disclosed_key(identity, envelope, signer.box_public)
                    key_digest = hashlib.sha256(key_bytes).hexdigest()
                    # Only the pair's key (layout 0x02) is the same from set to set, and sent once; a set's own
                    # key (0x03) differs every set and always travels.
                    same = key_digest == last_key
                    put(
                        "set",
                        ForwardedSet(
                            station_id=sid,
                            seq=seq,
                            envelope=envelope,
                            # under the county's key of now: one the province pins, also for a county that
                            # rotated its key before it enrolled upstream (hub.rotation.resigned)
                            receipt=resigned(receipt, identity.keys),
                            key=b"" if same else key_bytes,
                        ),
                    )
                    last_key, after = key_digest, seq
                store.set_upstream_sent("seq", sid, str(after))
                store.set_upstream_sent("key", sid, last_key or "")
            revoked = station.revoked_at is not None
            digest = _digest(station.applied_seq, station.last_contact, revoked)
            if status.get(sid) != digest:
                put(
                    "station",
                    StationStatusItem(
                        station_id=sid,
                        village_code=station.village_code,
                        applied_seq=station.applied_seq,
                        last_contact=station.last_contact,
                        revoked=revoked,
                    ),
                )
                store.set_upstream_sent("status", sid, digest)
        queued += _collect_cases(store, put)
    return queued


def _branch(store: HubStore, station_id: str, forwarded: int) -> tuple[int, str] | None:
    """(the seq the station's kept branch follows, the newest setting-aside) when a fork resolution keeping the
    station's branch set aside sets this county had forwarded, since the last one handled; else None."""
    handled = store.upstream_sent_one("branch", station_id) or ""
    aside = [
        row for row in store.superseded_sets(station_id) if row["superseded_at"] > handled and row["seq"] <= forwarded
    ]
    if not aside:
        return None
    return min(row["seq"] for row in aside) - 1, max(row["superseded_at"] for row in aside)


def _collect_cases(store: HubStore, put: Callable[[str, Any], None]) -> int:
    """Case figures and the county's own moves changed since the cursor (read again a little before it)."""
    count = 0
    for kind, cursor_key in (("figure", "upstream_figures_at"), ("move", "upstream_moves_at")):
        cursor = store.get_meta(cursor_key) or ""
        since = _before(cursor)
        sent = store.upstream_sent(kind)
        newest = cursor
        while True:
            if kind == "figure":
                rows = store.cases_updated_since(since, _BATCH)
                stamp = "updated_at"
            else:
                rows = store.county_moves_since(since, HUB_ORIGIN, _BATCH)
                stamp = "recorded_at"
            for row in rows:
                name = row["case_no"] if kind == "figure" else row["event_id"]
                digest = _digest(*(row[k] for k in sorted(row)))
                if sent.get(name) != digest:
                    fields = {k: v for k, v in row.items() if k != "recorded_at"}
                    put(kind, CaseFigure(**fields) if kind == "figure" else CountyMove(**fields))
                    store.set_upstream_sent(kind, name, digest)
                    sent[name] = digest
                    count += 1
                newest = max(newest, row[stamp])
            if len(rows) < _BATCH or rows[-1][stamp] == since:
                break
            since = rows[-1][stamp]
        if newest != cursor:
            store.set_meta(cursor_key, newest)
    return count


def _before(cursor: str) -> str:
    if not cursor:
        return ""
    try:
        return iso_utc(dt.datetime.fromisoformat(cursor) - _OVERLAP)
    except ValueError:
        return ""


def seal_pending(store: HubStore, identity: HubIdentity, *, now: dt.datetime) -> int:
    """Seal the queued items into the county's next sets (signed, chained, sealed to the province). Returns sets."""
    link = require_link(store)
    sealed = 0
    while True:
        with store.transaction():
            _serialise(store)
            link = store.upstream_link() or link
            items = store.upstream_unsealed(MAX_ITEMS_PER_SET)
            pinned = int(link["gen"])
            handovers = [_handover(identity, gen) for gen in range(pinned + 1, identity.gen + 1)]
            if not items and not handovers:
                return sealed
            records: list[bytes] = [_ENCODER.encode(h) for h in handovers]
            ids: list[int] = []
            size = sum(len(r) for r in records)
            for item_id, body in items:
                if ids and size + len(body) > MAX_SET_BYTES:
                    break
                records.append(body)
                ids.append(item_id)
                size += len(body)
            head = store.upstream_head()
            seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
            # The set carrying a handover is the pinned generation's; every later one the new key's.
            signer = identity.keys_of(pinned)
            envelope, set_hash = seal_set(
                origin=county_origin(link["county"]),
                seq=seq,
                prev=prev,
                records=records,
                sign_private=signer.sign_private,
                recipient_box_public=bytes(link["box_public"]),
                sender_box_private=signer.box_private,
                context=CTX_COUNTY,
            )
            store.add_upstream_set(seq=seq, set_hash=set_hash, envelope=envelope, item_ids=ids, at=iso_utc(now))
            if handovers:
                store.note_upstream(gen=identity.gen)
            sealed += 1


def _handover(identity: HubIdentity, gen: int) -> HubKeyItem:
    generation = identity.generation(gen)
    return HubKeyItem(
        gen=gen,
        sign_public=generation.keys.sign_public,
        box_public=generation.keys.box_public,
        at=generation.created_at,
        signature=generation.handover,
    )


def upstream_request(
    store: HubStore, *, after: int, limit: int = MAX_COUNTY_SETS, signed_answer: bool = False
) -> tuple[bytes, int]:
    """The encoded request carrying the county's sets after ``after`` (and its backlog); (bytes, sets).
    ``signed_answer``: ask the province to sign its answer (over HTTP; a file's answer is signed always)."""
    link = require_link(store)
    sets = store.upstream_sets_after(after, limit)
    pending, oldest = store.upstream_pending(int(link["acked_seq"]))
    request = UpstreamRequest(
        PROTOCOL_VERSION,
        link["county"],
        [msgspec.Raw(envelope) for _, envelope in sets],
        pending,
        oldest,
        signed_answer=signed_answer,
    )
    return _ENCODER.encode(request), len(sets)


def fork_error(county: str, seq: int) -> UpstreamError:
    """What the county is told when the province quarantined its set ``seq`` as a county fork."""
    return UpstreamError(
        zh=f"省级平台已将本县第 {seq} 批隔离为分叉：本县平台的批次链与已转发到省里的不同（从旧备份恢复，或服务器被复制）。"
        "该批未被采用，省里已有的数据没有删除。请先停用本县平台的其他副本，再联系省级管理员运行"
        f"“hub county forks resolve --county {county} --by 姓名”，然后在本县运行“hub upstream sync”",
        en=f"the province quarantined this county's set {seq} as a county fork: this hub's chain differs from the one "
        "it already forwarded (restored from an old backup, or a copy of the server). Nothing of it was applied and "
        "nothing held there was deleted. Stop any other copy of this hub, ask the province's administrator to run "
        f"'hub county forks resolve --county {county} --by NAME', then run 'hub upstream sync' here",
        code="fork",
    )


def take_answer(store: HubStore, answer: PushResponse, *, now: dt.datetime) -> int:
    """Record what the province holds (its ``next_seq``): forward from there next; keep each receipt after
    checking it with the pinned province key. Returns the acked seq; UpstreamError ``fork`` when the province
    quarantined one of the county's sets, ``bad_receipt`` when a receipt is not the province's for that set."""
    link = require_link(store)
    county = str(link["county"])
    province_key = bytes(link["sign_public"])
    receipts: list[tuple[int, bytes]] = []
    fork_seq: int | None = None
    for result in answer.results:
        if result.status == "fork":
            fork_seq = result.seq
        elif result.status in ("accepted", "duplicate") and result.receipt is not None:
            receipts.append((result.seq, _checked_receipt(store, county, province_key, result.seq, result.receipt)))
    head = store.upstream_head()
    acked = max(min(answer.next_seq - 1, head[0] if head else 0), 0)
    if fork_seq is not None:  # the province holds another set at that seq: ours is not acknowledged
        acked = min(acked, fork_seq - 1)
    with store.transaction():
        for seq, receipt in receipts:
            store.set_upstream_receipt(seq, receipt)
        store.set_meta(HELD_ASIDE_KEY, msgspec.json.encode(answer.station_forks).decode())
        if fork_seq is None:
            store.note_upstream(acked_seq=acked, last_ok=iso_utc(now), last_error=None, fork_seq=None)
        else:
            error = fork_error(county, fork_seq)
            store.note_upstream(acked_seq=acked, fork_seq=fork_seq, last_error=f"{error.code}: {error.en}")
    if fork_seq is not None:
        raise fork_error(county, fork_seq)
    return acked


HELD_ASIDE_KEY = "upstream_station_forks"
"""The ``meta`` key of the province's latest word on this county's stations whose sets it holds aside."""


def held_aside(store: HubStore) -> list[StationForkNotice]:
    """What the province's latest answer said of this county's stations whose sets it holds aside (station forks
    there, open or resolved keeping the province's chain): ``hub upstream status`` shows them with what to do."""
    text = store.get_meta(HELD_ASIDE_KEY)
    return msgspec.json.decode(text, type=list[StationForkNotice]) if text else []


def link_status(store: HubStore) -> dict[str, Any] | None:
    """The county's link to its province as ``hub upstream status --json`` and the dashboard show it (None at a
    hub not enrolled upstream): what the province acknowledged and holds, what waits, the last error, a county
    fork, and the stations whose sets the province holds aside (``station_forks``, StationForkNotice each)."""
    link = store.upstream_link()
    if link is None:
        return None
    head = store.upstream_head()
    pending, oldest = store.upstream_pending(int(link["acked_seq"]))
    receipts, receipt_seq = store.upstream_receipts()
    return {
        "url": link["url"],
        "county": link["county"],
        "province_id": link["province_id"],
        "key_gen": link["gen"],
        "acked_seq": link["acked_seq"],
        "head_seq": head[0] if head else 0,
        "pending_items": pending,
        "oldest_pending": oldest,
        "last_push": link["last_push"],
        "last_ok": link["last_ok"],
        "last_error": link["last_error"],
        "receipts": receipts,
        "receipt_seq": receipt_seq,
        "fork_seq": link["fork_seq"],
        "station_forks": held_aside(store),
    }


def held_aside_advice(county: str, notice: StationForkNotice) -> tuple[str, str]:
    """What a county operator reads about one station the province holds sets of aside, and what to do (zh, en)."""
    station, first, sets = notice.station_id, notice.from_seq, notice.sets
    if notice.state == "open":
        return (
            f"省级平台隔离了代办点 {station} 自第 {first} 批起的 {sets} 批（{notice.reason}）：与省里已有的该站数据链不同"
            "（常见原因：本县平台和该代办点都从旧备份恢复过）。数据没有丢失。请联系省级管理员核对后运行"
            f"“hub county station-forks resolve --county {county} --station {station} --keep county --by 姓名”",
            f"the province holds station {station}'s {sets} set(s) from seq {first} aside ({notice.reason}): they differ "
            "from its chain of the station (usually this hub and the station were both restored from old backups). "
            "Nothing is lost. Ask the province's administrator to check and run 'hub county station-forks resolve "
            f"--county {county} --station {station} --keep county --by NAME'",
        )
    when = format_local(notice.resolved_at)
    return (
        f"省级平台（{notice.resolved_by}，{when}）保留了省里代办点 {station} 的数据链：从本县送到省里的该站自第 {first} 批起的 "
        f"{sets} 批已在省里另存，不予采用。若这些批来自本县平台服务器的副本，请停用该副本，无需其他操作；若本县平台"
        "持有并继续转发这一分支，该站以后的批次在省里也会被隔离，请联系省级管理员（见 docs/hub.md “A station fork at the province”）",
        f"the province's operator ({notice.resolved_by}, {when}) kept the province's chain of station {station}: the "
        f"{sets} set(s) of it from seq {first} that reached the province from this county are kept aside there, not "
        "taken. If they came from a copy of this hub's server, stop that copy; nothing else is needed. If this hub "
        "holds that branch and goes on forwarding it, the station's later sets are held aside there too: ask the "
        'province\'s administrator (docs/hub.md, "A station fork at the province")',
    )


def _checked_receipt(store: HubStore, county: str, province_key: bytes, seq: int, receipt: bytes) -> bytes:
    """The province's receipt for the county's set ``seq``: its signature, origin, seq and the set's hash."""
    expected = store.upstream_set_hash(seq)
    try:
        body = verify_receipt(receipt, province_key)
    except ProtocolError:
        body = None
    if body is None or body.origin != county_origin(county) or body.seq != seq or body.hash != expected:
        raise UpstreamError(
            zh=f"省级平台对本县第 {seq} 批的回执校验失败：不是所登记的省级平台签发的，或不是这一批的",
            en=f"the province's receipt for this county's set {seq} does not verify with the pinned province key "
            "or names another set",
            code="bad_receipt",
        )
    return receipt


def now_default() -> dt.datetime:
    """The county's clock (tests pass their own)."""
    return utc_now()
