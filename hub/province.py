"""A province hub: county enrolment codes, revocation, and ingest of each county's signed chain, set by set."""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from typing import Any

import msgspec

from hub.keys import HubIdentity
from hub.province_items import take_item
from hub.province_view import fork_notices
from hub.store import HubStore
from hub.upstream import is_province
from sync.crypto import key_id_of
from sync.enrolment import CODE_ALPHABET
from sync.errors import InputError
from sync.protocol import (
    GENESIS,
    ProtocolError,
    PushResponse,
    SetResult,
    make_receipt,
    open_set,
)
from sync.protocol.upstream import (
    COUNTY_SET,
    CTX_COUNTY,
    MAX_COUNTY_SETS,
    CountyEnrollRequest,
    CountyEnrollResponse,
    UpstreamRequest,
    county_origin,
    county_request_mac,
    county_response_mac,
    decode_item,
)
from sync.timeutil import iso_utc

__all__ = (
    "UpstreamRefused",
    "enrol_county",
    "ingest_upstream",
    "issue_county_code",
    "require_province",
    "resolve_county_fork",
    "revoke",
    "signed_key",
)

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
    "unauthenticated": 401,
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


def signed_key(county: str) -> str:
    """The meta key set once a county is known to sign its requests and files (at its enrolment, or its first
    signed one): unsigned ones in its name are refused then (hub.province_auth)."""
    return f"upstream_request_signed:{county}"


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
        # A county of this release signs every request and file: none unsigned is taken in its name from now
        # on. An older county's enrolment (a downgrade included) leaves them taken until it signs one.
        store.set_meta(signed_key(county), "1" if request.signs_requests else "0")
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


def resolve_county_fork(store: HubStore, county: str, *, by: str, now: dt.datetime) -> tuple[dict[str, Any], int]:
    """Resolve a county's fork taking the branch its hub forwards now: the county's sets the province holds
    from the fork on are set aside (``county_superseded``, kept whole with their receipts), so the county's
    quarantined set is taken at its next send. Station sets, figures and moves those sets carried stay: each
    station set is the station's own signed evidence and comes again in the new branch as held.
    Returns (the fork, county sets set aside)."""
    require_province(store)
    county = check_county(county)
    if not by.strip():
        raise InputError(zh="--by 不能为空：请写处理人", en="--by must name who resolves the fork", field="by")
    forks = store.county_forks(county)
    if not forks:
        raise InputError(
            zh=f"县 {county} 没有待处理的分叉", en=f"county {county} has no unresolved fork", field="county"
        )
    fork = forks[0]
    # A set that does not chain onto the head (reason "prev") means the head itself is of the other branch.
    start = int(fork["seq"]) if fork["reason"] == "differs" else max(1, int(fork["seq"]) - 1)
    with store.transaction():
        _serialise(store, f"county:{county}")
        moved = store.resolve_county_fork(int(fork["id"]), from_seq=start, by=by.strip(), at=iso_utc(now))
    return fork, moved


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
    if via == "http" and len(request.sets) > MAX_COUNTY_SETS:  # a file holds a county's days offline
        raise UpstreamRefused("too_large", zh="一次提交的批次过多", en=f"more than {MAX_COUNTY_SETS} sets at once")
    at = iso_utc(now)
    with store.transaction():
        store.note_county_contact(county, at=at, pending=request.pending, oldest_pending=request.oldest_pending)
    results: list[SetResult] = []
    hub_ms = int(now.timestamp() * 1000)
    for raw in request.sets:
        result = _one(store, identity, county, bytes(raw), via, at, hub_ms)
        results.append(result)
        if result.status not in ("accepted", "duplicate"):
            break
    head = store.county(county) or {}
    return PushResponse(
        results=results,
        next_seq=int(head.get("head_seq") or 0) + 1,
        hub_ms=hub_ms,
        station_forks=fork_notices(store, county, now=now),
    )


def _refuse(store: HubStore, county: str, code: str, zh: str, en: str) -> UpstreamRefused:
    head = store.county(county) or {}
    return UpstreamRefused(code, zh=zh, en=en, next_seq=int(head.get("head_seq") or 0) + 1)


def _receipt(identity: HubIdentity, county: str, seq: int, set_hash: bytes, hub_ms: int) -> bytes:
    """The province's receipt for a county set: the station receipts' form (sync.protocol.receipts), signed by
    the province's hub key, origin ``county>CODE``."""
    keys = identity.keys
    return make_receipt(
        origin=county_origin(county),
        seq=seq,
        set_hash=set_hash,
        hub_ms=hub_ms,
        sign_private=keys.sign_private,
        sign_public=keys.sign_public,
    )


def _held(store: HubStore, identity: HubIdentity, county: str, seq: int, set_hash: bytes, hub_ms: int) -> SetResult:
    """A county set held already: acknowledged again with the receipt given when it was taken (the same bytes)."""
    receipt = store.county_set_receipt(county, seq)
    if receipt is None:  # held before the province kept receipts: one made now, kept for every later resend
        receipt = _receipt(identity, county, seq, set_hash, hub_ms)
        store.set_county_set_receipt(county, seq, receipt)
    return SetResult(seq=seq, status="duplicate", receipt=receipt)


class _Fork(Exception):
    """The county's set conflicts with the chain held: quarantined after the set's transaction is rolled back."""

    def __init__(self, held: bytes | None, reason: str) -> None:
        super().__init__(reason)
        self.held = held
        self.reason = reason


def _one(store: HubStore, identity: HubIdentity, county: str, data: bytes, via: str, at: str, hub_ms: int) -> SetResult:
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
                    return _held(store, identity, county, signed.seq, set_hash, hub_ms)
                raise _Fork(held, "differs")
            head = store.county(county) or {}
            head_seq = int(head.get("head_seq") or 0)
            if signed.seq > head_seq + 1:
                return SetResult(
                    seq=signed.seq, status="gap", code="gap", detail=f"the province needs seq {head_seq + 1} next"
                )
            if signed.prev != (bytes(head["head_hash"]) if head_seq else GENESIS):
                raise _Fork(None, "prev")
            for index, record in enumerate(records):
                take_item(store, county, signed.seq, index, decode_item(bytes(record)), at, signer)
            receipt = _receipt(identity, county, signed.seq, set_hash, hub_ms)
            store.add_county_set(
                county=county,
                seq=signed.seq,
                set_hash=set_hash,
                envelope=data,
                items=len(records),
                via=via,
                at=at,
                receipt=receipt,
            )
    except ProtocolError as exc:  # rolled back: nothing of the set is stored
        raise _refuse(store, county, exc.code, exc.zh, f"county {county}, set {signed.seq}: {exc.en}") from None
    except _Fork as fork:  # rolled back; the set is kept whole as evidence in a transaction of its own
        return _quarantine(store, county, signed.seq, set_hash, data, fork, via, at)
    return SetResult(seq=signed.seq, status="accepted", receipt=receipt)


FORK_DETAIL = (
    "the province holds another set of this county at this seq: this county hub's chain differs from the one "
    "it already forwarded (restored from an old backup, or a copy of the server). Nothing of it was applied; "
    "stop any other copy of this hub and call the province to resolve the fork"
)


def _quarantine(
    store: HubStore, county: str, seq: int, set_hash: bytes, data: bytes, fork: _Fork, via: str, at: str
) -> SetResult:
    """Keep a conflicting county set whole (county_forks): nothing of it applied, nothing held deleted."""
    with store.transaction():
        _serialise(store, f"county:{county}")
        store.add_county_fork(
            county=county,
            seq=seq,
            set_hash=set_hash,
            envelope=data,
            held_hash=fork.held,
            reason=fork.reason,
            via=via,
            at=at,
        )
    return SetResult(seq=seq, status="fork", code="fork", detail=FORK_DETAIL)


def _serialise(store: HubStore, key: str) -> None:
    """One county's chain is taken by one transaction at a time (PostgreSQL with several workers; SQLite's one
    writer already serialises)."""
    lock = getattr(store, "lock", None)  # hub.store.base.StoreBase.lock (the PostgreSQL backend's)
    if lock is not None:
        lock(key)
