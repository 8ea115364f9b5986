"""Station keys' life cycle: one-time enrolment codes (throttled per address, never voided by strangers), revocation."""

from __future__ import annotations

import datetime as dt
import hmac
import math
import secrets
import string
from collections.abc import Callable
from typing import Any

import msgspec

from hub.feed import queue, queue_reference_data, queue_village_history
from hub.keys import HubIdentity
from hub.settings import Settings
from hub.store import EnrolmentRow, HubStoreProtocol, KeyRow, StationRow
from hub.throttle import KeyedLimiter, Throttled, address_key, shared
from sync.crypto import key_id_of, seal_box
from sync.enrolment import CODE_ALPHABET, normalize_code, request_mac, response_mac, split_code
from sync.errors import InputError
from sync.protocol import (
    FEATURE_CASE_NUMBERS,
    HUB_FEATURES,
    PROTOCOL_VERSION,
    EnrollRequest,
    EnrollResponse,
    KeyRevokedItem,
    ProtocolError,
)
from sync.timeutil import iso_utc, parse_iso, utc_now

__all__ = (
    "CROCKFORD",
    "DEFAULT_EXPIRES_HOURS",
    "IssuedCode",
    "admit_enrolment",
    "code_state",
    "enroll",
    "issue_code",
    "normalize_code",
    "request_mac",
    "response_mac",
    "revoke_station",
    "split_code",
    "void_code",
)

CROCKFORD = CODE_ALPHABET
"""Crockford base32: no I, L, O, U, so a code read aloud or off paper is not mistyped."""

DEFAULT_EXPIRES_HOURS = 72
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})

_NO_SECRET = secrets.token_urlsafe(9)
"""The mac key an unknown code id is checked with, so it costs what a known one costs (and matches
nothing: it is random per process, and an unknown id is refused whatever the mac)."""


class IssuedCode(msgspec.Struct, frozen=True, kw_only=True):
    """What ``hub station add`` prints: the code (shown once), its village, device letter and expiry."""

    code: str
    code_id: str
    village_code: str
    device: str
    expires_at: str


def _random(n: int) -> str:
    return "".join(secrets.choice(CROCKFORD) for _ in range(n))


def _pick_device(store: HubStoreProtocol, village: str, device: str | None, now_iso: str) -> str:
    if device is None:
        given = store.devices_given(village)
        for letter in string.ascii_uppercase:
            # A letter once given is never reused by default: it is part of every case number
            # that PC issued, and a new PC with the same letter would collide with them.
            if letter not in given:
                return letter
        raise InputError(
            zh=f"村 {village} 的 26 个设备代号已全部使用；请用 --device 为已有设备重新注册",
            en=f"village {village} has used all 26 device letters; re-enrol an existing one with --device",
            field="device",
        )
    letter = device.strip().upper()
    if len(letter) != 1 or letter not in string.ascii_uppercase:
        raise InputError(
            zh=f"设备代号应为一个字母 A-Z（收到 {device!r}）",
            en=f"device must be one letter A-Z (got {device!r})",
            field="device",
        )
    if letter in store.devices_busy(village, now_iso):
        raise InputError(
            zh=f"村 {village} 的设备代号 {letter} 已被在用代办点或未过期的登记码占用；请先吊销该代办点（hub station revoke）或等待登记码过期",
            en=f"device {letter} of village {village} is held by an enrolled station or an open code; "
            "revoke that station first ('hub station revoke') or let the code expire",
            field="device",
        )
    return letter


def issue_code(
    store: HubStoreProtocol,
    village_code: str,
    *,
    device: str | None = None,
    expires_hours: float = DEFAULT_EXPIRES_HOURS,
    now: Callable[[], dt.datetime] = utc_now,
) -> IssuedCode:
    """Reserve a device letter for a village and issue a one-time enrolment code for it.

    Args:
        device: a letter to re-enrol (a PC whose folder already numbers cases with it); the
            village's next letter never given when None.

    Raises:
        InputError: unknown village, bad or busy device letter, bad expiry.
    """
    village = store.divisions().village(village_code)  # DivisionCodeError (exit 2) when unknown
    if not 0 < expires_hours <= 24 * 30:
        raise InputError(
            zh="--expires-hours 应在 0 到 720 之间",
            en="--expires-hours must be between 0 and 720",
            field="expires_hours",
        )
    moment = now()
    with store.transaction():
        letter = _pick_device(store, village.code, device, iso_utc(moment))
        for _ in range(100):
            code_id = _random(4)
            if store.enrolment(code_id) is None:
                break
        else:  # pragma: no cover - 32^4 ids; only a hub with ~a million open codes gets here
            raise InputError(zh="没有可用的登记码编号；请重试", en="no free enrolment code id; try again")
        secret = _random(12)
        expires = iso_utc(moment + dt.timedelta(hours=expires_hours))
        store.add_enrolment(
            EnrolmentRow(
                code_id=code_id,
                secret=secret,
                village_code=village.code,
                device=letter,
                created_at=iso_utc(moment),
                expires_at=expires,
            )
        )
    code = f"{code_id}-{secret[0:4]}-{secret[4:8]}-{secret[8:12]}"
    return IssuedCode(code=code, code_id=code_id, village_code=village.code, device=letter, expires_at=expires)


def _code_error(*, zh: str, en: str) -> ProtocolError:
    return ProtocolError(zh=zh, en=en, code="enroll_code")


def enroll(
    store: HubStoreProtocol, identity: HubIdentity, request: EnrollRequest, *, now: Callable[[], dt.datetime] = utc_now
) -> EnrollResponse:
    """Check an EnrollRequest against its code, record the station and queue its reference data.

    Raises:
        ProtocolError: ``protocol_version``, ``malformed`` (keys of the wrong size), or
            ``enroll_code`` (unknown, used, expired or wrong mac: one message, so a prober learns nothing).
    """
    if request.protocol != PROTOCOL_VERSION:
        raise ProtocolError(
            zh=f"协议版本 {request.protocol} 不受支持",
            en=f"protocol version {request.protocol} is not spoken here",
            code="protocol_version",
        )
    if len(request.sign_public) != 32 or len(request.box_public) != 32:
        raise ProtocolError(zh="公钥长度应为 32 字节", en="public keys must be 32 bytes", code="malformed")
    moment = now()
    at = iso_utc(moment)
    code_id = request.code_id.strip().upper().translate(_READ_AS)
    invalid = _code_error(
        zh="登记码无效、已使用、已过期或输入有误；请向县里申请新的登记码",
        en="the enrolment code is unknown, used, expired or mistyped; ask the county for a new one",
    )
    with store.transaction():
        # Every refusal does the same work, whether the id exists or not: one query and one row (a
        # stand-in, never open, for an unknown id), its expiry read, the mac computed and compared in
        # constant time, one count written. A prober cannot tell a real id by the time it takes,
        # and wrong macs from anywhere never void a code (only its issuer, expiry or use do).
        store.lock(f"enrol:{code_id}")  # two workers given the same code at once: one enrols, one finds it used
        row, known = store.enrolment_to_check(code_id, stand_in_secret=_NO_SECRET, at=at)
        secret = row.secret.encode("ascii")
        right = hmac.compare_digest(request_mac(secret, request.sign_public, request.box_public), request.mac)
        unexpired = parse_iso(row.expires_at) > moment
        if not known:
            store.enrolment_unknown_failed()
            failed = True
        elif not (right and unexpired and row.used_at is None):
            store.enrolment_failed(code_id)
            failed = True
        else:
            failed = False
            key_id = key_id_of(request.sign_public)
            if store.key(key_id) is not None:
                raise ProtocolError(
                    zh="该密钥已注册；请重新生成密钥",
                    en="this key is already enrolled; make a new key",
                    code="malformed",
                )
            serial = store.next_serial(row.village_code, row.device)
            station_id = f"{row.village_code}-{row.device}-{serial}"
            store.add_station(
                StationRow(
                    station_id=station_id,
                    village_code=row.village_code,
                    device=row.device,
                    serial=serial,
                    key_id=key_id,
                    enrolled_at=at,
                    software=request.software[:100] or None,
                ),
                KeyRow(
                    key_id=key_id,
                    station_id=station_id,
                    sign_public=request.sign_public,
                    box_public=request.box_public,
                    created_at=at,
                ),
            )
            store.set_features(station_id, request.features)
            store.hub_key_pinned(station_id, identity.gen, at)  # its feed starts under this generation
            # A PC taking a device letter that numbered cases before (its predecessor's) numbers after them.
            numbers = (
                store.case_numbers(row.village_code, row.device) if request.features & FEATURE_CASE_NUMBERS else []
            )
            store.enrolment_used(code_id, station_id, at)
            queue_reference_data(store, station_id, now=moment)
            queue_village_history(store, station_id, row.village_code, now=moment)
    if failed:  # raised after the commit, so the count sticks
        raise invalid
    lookup_box = seal_box(request.box_public, identity.lookup_key, b"lookup-key/" + station_id.encode())
    response = EnrollResponse(
        station_id=station_id,
        village_code=row.village_code,
        device=row.device,
        hub_id=identity.hub_id,
        hub_sign_public=identity.keys.sign_public,
        hub_box_public=identity.keys.box_public,
        lookup_key_box=lookup_box,
        mac=b"",
        features=HUB_FEATURES if request.features else 0,
        case_numbers=numbers,
    )
    return msgspec.structs.replace(response, mac=response_mac(secret, response))


def void_code(store: HubStoreProtocol, code_id: str, *, now: Callable[[], dt.datetime] = utc_now) -> EnrolmentRow:
    """End an open code at once (its issuer changed their mind, or it was seen by the wrong people).

    This, expiry and use are the only ways a code ends: wrong macs sent by others are counted and
    shown (``hub station codes``), never held against the code.

    Raises:
        InputError: no open code has that id.
    """
    wanted = code_id.strip().upper().translate(_READ_AS)[:4]
    with store.transaction():
        row = store.enrolment(wanted)
        if row is None or not store.void_enrolment(wanted, iso_utc(now())):
            raise InputError(
                zh=f"没有未使用的登记码 {code_id.strip()[:16]!r}；可用“hub station codes”查看",
                en=f"no open enrolment code {code_id.strip()[:16]!r}; list them with 'hub station codes'",
                field="code_id",
            )
    return row


def code_state(row: EnrolmentRow, now: dt.datetime) -> str:
    """``open``, ``used`` or ``expired`` (a voided code reads as expired at the time it was voided)."""
    if row.used_at is not None:
        return "used"
    return "open" if parse_iso(row.expires_at) > now else "expired"


def admit_enrolment(state: Any, settings: Settings, ip: str, *, now: dt.datetime) -> None:
    """Take one of the client address's enrolment tokens, before the request is decoded or a code looked up.

    Raises:
        Throttled: too many attempts from this address (429 with ``Retry-After``).
    """
    limiter = shared(
        state,
        "enrol_limiter",
        lambda: KeyedLimiter({"address": settings.enrol_per_address}, max_keys=settings.throttle_max_keys),
    )
    wait, rule = limiter.take(now.timestamp(), address=address_key(ip))
    if rule is not None:
        seconds = max(1, math.ceil(wait))
        raise Throttled(
            seconds,
            zh=f"来自此地址的登记尝试过多，请 {seconds} 秒后再试",
            en=f"too many enrolment attempts from this address; try again in {seconds} s",
        )


def revoke_station(
    store: HubStoreProtocol, station_id: str, *, reason: str | None = None, now: Callable[[], dt.datetime] = utc_now
) -> KeyRevokedItem:
    """Revoke a station's key: its sets up to the last one applied stand, later ones are refused.

    The village's other stations are told (a KeyRevokedItem in their feeds), and requests signed
    by the key get 403 from now on.

    Raises:
        InputError: no such station, or it is already revoked.
    """
    at = iso_utc(now())
    with store.transaction():
        station = store.station(station_id)
        if station is None:
            raise InputError(
                zh=f"没有代办点 {station_id!r}；可用“hub station list”查看",
                en=f"no station {station_id!r}; list them with 'hub station list'",
                field="station",
            )
        if station.revoked_at is not None:
            raise InputError(
                zh=f"代办点 {station_id} 已于 {station.revoked_at} 被吊销",
                en=f"station {station_id} was already revoked at {station.revoked_at}",
                field="station",
            )
        after_seq = store.revoke_station(station_id, reason=reason, at=at)
        item = KeyRevokedItem(station_id=station_id, key_id=station.key_id, after_seq=after_seq)
        others = [s.station_id for s in store.stations(village_code=station.village_code, enrolled_only=True)]
        queue(store, others, item, at=at)
    return item
