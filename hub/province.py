"""A province hub: county enrolment codes, revocation, and ingest of each county's signed chain, set by set."""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from typing import Any

import msgspec

from hub.keys import HubIdentity
from hub.store import HubStore
from hub.upstream import is_province
from sync.crypto import key_id_of
from sync.enrolment import CODE_ALPHABET
from sync.errors import InputError
from sync.protocol import (
    CTX_UP,
    GENESIS,
    HubKeyItem,
    ProtocolError,
    PushResponse,
    SetResult,
    open_set,
    verify_hub_key,
    verify_receipt,
)
from sync.protocol.upstream import (
    COUNTY_SET,
    CTX_COUNTY,
    MAX_COUNTY_SETS,
    CaseFigure,
    CountyEnrollRequest,
    CountyEnrollResponse,
    CountyMove,
    ForwardedSet,
    RosterItem,
    StationStatusItem,
    UpstreamRequest,
    county_origin,
    county_request_mac,
    county_response_mac,
    decode_item,
    open_forwarded,
)
from sync.timeutil import iso_utc

__all__ = ("UpstreamRefused", "enrol_county", "ingest_upstream", "issue_county_code", "require_province", "revoke")

_COUNTY = re.compile(r"\d{6}")
_RECORDS = msgspec.msgpack.Decoder(list[msgspec.Raw])
_MAX_FAILURES = 5
STATUS_OF = {
    "malformed": 400,
    "bad_signature": 400,
    "bad_key": 400,
    "bad_box": 400,
    "bad_receipt": 400,
    "bad_key_change": 400,
    "protocol_version": 400,
    "unknown_key": 403,
    "unknown_county": 403,
    "wrong_origin": 403,
    "revoked_key": 403,
    "enroll_code": 403,
    "fork": 409,
    "too_large": 413,
}
"""HTTP status of each refusal of the upstream endpoints (docs/protocol.md, "County and province")."""


class UpstreamRefused(ProtocolError):
    """A county's request or one of its sets refused: nothing of that set is stored. ``next_seq``: what the
    province holds (the sets before the refused one were taken, each in its own transaction)."""

    def __init__(self, code: str, *, zh: str, en: str, next_seq: int = 0) -> None:
        super().__init__(zh=zh, en=en, code=code)
        self.status = STATUS_OF.get(code, 400)
        self.next_seq = next_seq


def require_province(store: HubStore) -> None:
    """InputError unless this hub was made with ``hub init --role province``."""
    if not is_province(store):
        raise InputError(
            zh="这不是省级平台（省级平台用“hub init --role province”创建）",
            en="this is not a province hub (one is made with 'hub init --role province')",
            field="role",
        )


def check_county(county: str) -> str:
    """A county's 6-digit division code, or InputError naming the fix."""
    county = county.strip()
    if not _COUNTY.fullmatch(county):
        raise InputError(
            zh=f"--county 应为 6 位县级行政区划代码，而不是 {county!r}",
            en=f"--county takes a county's 6-digit division code, not {county!r}",
            field="county",
        )
    return county


def issue_county_code(store: HubStore, county: str, *, expires_hours: float, now: dt.datetime) -> tuple[str, str]:
    """A one-time code for a county hub's ``hub upstream enroll``; (code, expires_at)."""
    require_province(store)
    county = check_county(county)
    if not 0 < expires_hours <= 24 * 30:
        raise InputError(
            zh="--expires-hours 应在 0 到 720 之间", en="--expires-hours must be 0 to 720", field="expires_hours"
        )
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    code = "-".join(raw[i : i + 4] for i in range(0, 16, 4))
    expires = iso_utc(now + dt.timedelta(hours=expires_hours))
    with store.transaction():
        store.add_county_code(code_id=raw[:4], secret=raw[4:], county=county, at=iso_utc(now), expires_at=expires)
    return code, expires


def _bad_code(zh: str, en: str) -> UpstreamRefused:
    return UpstreamRefused("enroll_code", zh=zh, en=en)


def enrol_county(
    store: HubStore, identity: HubIdentity, request: CountyEnrollRequest, *, now: dt.datetime
) -> CountyEnrollResponse:
    """Check the code and its mac, pin the county's hub key, answer with the province's keys and the county's head."""
    require_province(store)
    row = store.county_code(request.code_id.upper())
    if row is None or row["used_at"] or row["failures"] >= _MAX_FAILURES or row["expires_at"] < iso_utc(now):
        raise _bad_code("登记码无效、已用过或已过期", "the enrolment code is unknown, used or expired")
    secret = row["secret"].encode("ascii")
    if (
        len(request.sign_public) != 32
        or len(request.box_public) != 32
        or not hmac.compare_digest(
            county_request_mac(secret, request.sign_public, request.box_public, request.gen), request.mac
        )
    ):
        with store.transaction():
            store.county_code_failed(row["code_id"])
        raise _bad_code("登记码校验失败", "the enrolment code does not match this request (mac)")
    county = row["county"]
    with store.transaction():
        store.enrol_county(
            code_id=row["code_id"],
            county=county,
            key_id=key_id_of(request.sign_public),
            gen=request.gen,
            sign_public=request.sign_public,
            box_public=request.box_public,
            at=iso_utc(now),
        )
        current = store.county(county) or {}
    response = CountyEnrollResponse(
        county=county,
        province_id=identity.hub_id,
        sign_public=identity.keys.sign_public,
        box_public=identity.keys.box_public,
        head_seq=int(current.get("head_seq") or 0),
        head_hash=bytes(current.get("head_hash") or GENESIS),
        mac=b"",
    )
    return msgspec.structs.replace(response, mac=county_response_mac(secret, response))


def revoke(store: HubStore, county: str, *, now: dt.datetime) -> int:
    """Revoke a county's keys: its sets are refused (403 ``revoked_key``) until it enrols again with a new key."""
    require_province(store)
    county = check_county(county)
    if store.county(county) is None:
        raise InputError(zh=f"本省没有县 {county}", en=f"county {county} is not known here", field="county")
    with store.transaction():
        return store.revoke_county(county, iso_utc(now))


def ingest_upstream(
    store: HubStore, identity: HubIdentity, request: UpstreamRequest, *, via: str, now: dt.datetime
) -> PushResponse:
    """Take a county's sets in order, each in its own transaction; UpstreamRefused at the first refused."""
    require_province(store)
    county = request.county
    row = store.county(county)
    if row is None or row["enrolled_at"] is None:
        raise UpstreamRefused(
            "unknown_county", zh=f"县 {county} 未在本省登记", en=f"county {county} is not enrolled here"
        )
    if row["revoked_at"] is not None:
        raise UpstreamRefused(
            "revoked_key",
            zh=f"县 {county} 的密钥已被吊销：请重新登记",
            en=f"county {county}'s key was revoked: enrol again",
            next_seq=int(row["head_seq"]) + 1,
        )
    if len(request.sets) > MAX_COUNTY_SETS:
        raise UpstreamRefused("too_large", zh="一次提交的批次过多", en=f"more than {MAX_COUNTY_SETS} sets at once")
    at = iso_utc(now)
    with store.transaction():
        store.note_county_contact(county, at=at, pending=request.pending, oldest_pending=request.oldest_pending)
    results: list[SetResult] = []
    for raw in request.sets:
        result = _one(store, identity, county, bytes(raw), via, at)
        results.append(result)
        if result.status not in ("accepted", "duplicate"):
            break
    head = store.county(county) or {}
    return PushResponse(
        results=results, next_seq=int(head.get("head_seq") or 0) + 1, hub_ms=int(now.timestamp() * 1000)
    )


def _refuse(store: HubStore, county: str, code: str, zh: str, en: str) -> UpstreamRefused:
    head = store.county(county) or {}
    return UpstreamRefused(code, zh=zh, en=en, next_seq=int(head.get("head_seq") or 0) + 1)


def _one(store: HubStore, identity: HubIdentity, county: str, data: bytes, via: str, at: str) -> SetResult:
    keys = store.county_keys(county)
    opened = None
    used: dict[str, Any] = {}
    failure: ProtocolError | None = None
    for key in keys:
        try:
            opened = open_set(
                data,
                public_key_for=lambda _k, key=key: bytes(key["sign_public"]),
                context=CTX_COUNTY,
                box_private=identity.keys.box_private,
                sender_box_public=bytes(key["box_public"]),
                limits=COUNTY_SET,
                older_box_privates=identity.box_privates[1:],
            )
        except ProtocolError as exc:
            failure = failure if failure and failure.code != "bad_signature" else exc
            continue
        if key["revoked_at"] is not None:
            raise _refuse(
                store, county, "revoked_key", "该县密钥已被吊销", f"county {county}'s key {key['key_id']} was revoked"
            )
        used = key
        break
    if opened is None:
        assert failure is not None or not keys
        code, zh, en = (failure.code, failure.zh, failure.en) if failure else ("unknown_key", "无密钥", "no county key")
        raise _refuse(store, county, code, zh, f"county {county}'s set: {en}")
    signed, set_hash, body = opened
    if signed.origin != county_origin(county):
        raise _refuse(
            store, county, "wrong_origin", "批次来源不符", f"the set's origin {signed.origin} is not county {county}"
        )
    try:
        records = _RECORDS.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _refuse(store, county, "malformed", "批次内容格式错误", f"the set's body is not a list ({exc})") from None
    signer = bytes(used["sign_public"])
    try:
        with store.transaction():
            _serialise(store, f"county:{county}")  # the chain checks below and the writes hold together
            held = store.county_set(county, signed.seq)
            if held is not None:
                if held == set_hash:
                    return SetResult(seq=signed.seq, status="duplicate")
                raise ProtocolError(zh="同一序号已有另一批次", en="another set is held at this seq", code="fork")
            head = store.county(county) or {}
            head_seq = int(head.get("head_seq") or 0)
            if signed.seq > head_seq + 1:
                return SetResult(
                    seq=signed.seq, status="gap", code="gap", detail=f"the province needs seq {head_seq + 1} next"
                )
            if signed.prev != (bytes(head["head_hash"]) if head_seq else GENESIS):
                raise ProtocolError(zh="批次链不连续", en="its prev is not the hash of the set before", code="fork")
            for index, record in enumerate(records):
                _item(store, county, signed.seq, index, decode_item(bytes(record)), at, signer)
            store.add_county_set(
                county=county, seq=signed.seq, set_hash=set_hash, envelope=data, items=len(records), via=via, at=at
            )
    except ProtocolError as exc:  # rolled back: nothing of the set is stored
        raise _refuse(store, county, exc.code, exc.zh, f"county {county}, set {signed.seq}: {exc.en}") from None
    return SetResult(seq=signed.seq, status="accepted")


def _serialise(store: HubStore, key: str) -> None:
    """One county's chain is taken by one transaction at a time (PostgreSQL with several workers; SQLite's one
    writer already serialises)."""
    lock = getattr(store, "lock", None)  # hub.store.base.StoreBase.lock (the PostgreSQL backend's)
    if lock is not None:
        lock(key)


def _own(county: str, station_or_village: str, what: str) -> None:
    if not station_or_village.startswith(county):
        raise ProtocolError(
            zh=f"{what} 不属于该县", en=f"{what} {station_or_village} is not of county {county}", code="wrong_origin"
        )


def _item(store: HubStore, county: str, seq: int, index: int, item: object, at: str, signer: bytes) -> None:
    """Check and keep one item of a county set (raise ProtocolError to refuse the whole set)."""
    if isinstance(item, HubKeyItem):
        if not verify_hub_key(item, pinned_sign_public=signer):
            raise ProtocolError(
                zh="县平台密钥交接签名无效",
                en=f"item {index}: a key handover not signed by the pinned key",
                code="bad_key_change",
            )
        store.pin_county_key(
            county=county,
            key_id=key_id_of(item.sign_public),
            gen=item.gen,
            sign_public=item.sign_public,
            box_public=item.box_public,
            at=at,
        )
    elif isinstance(item, RosterItem):
        _own(county, item.village_code, "village")
        _own(item.village_code, item.station_id, "station")
        if key_id_of(item.sign_public) != item.key_id or len(item.box_public) != 32:
            raise ProtocolError(
                zh="名册中的密钥不符", en=f"item {index}: a roster key does not match its id", code="malformed"
            )
        known = store.province_station(item.station_id)
        if known is not None and known["county"] != county:
            raise ProtocolError(
                zh="代办点属于另一县", en=f"station {item.station_id} is another county's", code="wrong_origin"
            )
        store.put_roster_key(
            county=county,
            station_id=item.station_id,
            village_code=item.village_code,
            key_id=item.key_id,
            sign_public=item.sign_public,
            box_public=item.box_public,
            from_seq=item.from_seq,
            revoked_after=item.revoked_after,
        )
    elif isinstance(item, ForwardedSet):
        _forwarded(store, county, seq, item, at)
    elif isinstance(item, StationStatusItem):
        station = store.province_station(item.station_id)
        if station is None or station["county"] != county:
            raise ProtocolError(
                zh="代办点不在该县名册中",
                en=f"station {item.station_id} is not on the county's roster",
                code="wrong_origin",
            )
        store.note_station_status(
            station_id=item.station_id,
            applied_seq=item.applied_seq,
            last_contact=item.last_contact,
            revoked=item.revoked,
            county_seq=seq,
        )
    elif isinstance(item, CaseFigure):
        _own(county, item.village_code, "village")
        store.put_province_case(county, msgspec.structs.asdict(item))
    elif isinstance(item, CountyMove):
        store.add_province_move(county, seq, msgspec.structs.asdict(item))


def _forwarded(store: HubStore, county: str, county_seq: int, item: ForwardedSet, at: str) -> None:
    """A station's set as its county accepted it: the station's signature, the chain, the disclosed key, the receipt."""
    station = store.province_station(item.station_id)
    if station is None or station["county"] != county:
        raise ProtocolError(
            zh="代办点不在该县名册中",
            en=f"station {item.station_id} is not on the county's roster",
            code="wrong_origin",
        )
    key = store.province_key_for_seq(item.station_id, item.seq)
    if key is None:
        raise ProtocolError(
            zh="名册中没有签署该批次的密钥",
            en=f"no roster key signs {item.station_id} set {item.seq}",
            code="unknown_key",
        )
    if key["revoked_after"] is not None and item.seq > key["revoked_after"]:
        raise ProtocolError(
            zh="该密钥已被吊销", en=f"{item.station_id} set {item.seq} is past its key's last set", code="revoked_key"
        )
    body_key = item.key
    if not body_key:
        previous = store.province_set(item.station_id, item.seq - 1)
        if previous is None:
            raise ProtocolError(
                zh="缺少数据集的密钥", en=f"{item.station_id} set {item.seq} comes without its key", code="bad_key"
            )
        body_key = previous[1]
    signed, set_hash, _ = open_forwarded(
        item.envelope, sign_public=bytes(key["sign_public"]), key_id=key["key_id"], key=body_key, context=CTX_UP
    )
    if signed.origin != item.station_id or signed.seq != item.seq:
        raise ProtocolError(
            zh="数据集与其说明不符",
            en=f"the set is {signed.origin} {signed.seq}, not {item.station_id} {item.seq}",
            code="malformed",
        )
    _check_receipt(store, county, item, set_hash)
    held = store.province_set(item.station_id, item.seq)
    if held is not None:
        if held[0] == set_hash:
            return  # forwarded again (a re-sealed chain, a restored province): held once
        raise ProtocolError(
            zh="同一序号已有另一数据集", en=f"{item.station_id} set {item.seq}: another set is held", code="fork"
        )
    applied = int(station["applied_seq"])
    previous_hash = bytes(station["applied_hash"]) if applied else GENESIS
    if item.seq != applied + 1 or signed.prev != previous_hash:
        raise ProtocolError(
            zh="代办点数据集链不连续", en=f"{item.station_id} set {item.seq} does not follow set {applied}", code="fork"
        )
    store.add_province_set(
        station_id=item.station_id,
        seq=item.seq,
        set_hash=set_hash,
        envelope=item.envelope,
        receipt=item.receipt,
        body_key=body_key,
        county=county,
        county_seq=county_seq,
        changes=signed.count,
        at=at,
    )


def _check_receipt(store: HubStore, county: str, item: ForwardedSet, set_hash: bytes) -> None:
    for key in store.county_keys(county):
        try:
            body = verify_receipt(item.receipt, bytes(key["sign_public"]))
        except ProtocolError:
            continue
        if body.origin == item.station_id and body.seq == item.seq and body.hash == set_hash:
            return
    raise ProtocolError(
        zh="县平台回执无效",
        en=f"{item.station_id} set {item.seq}: the county's receipt does not match",
        code="bad_receipt",
    )
