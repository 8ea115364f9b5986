"""A province takes one item of a county's set: keys handed over, roster, station sets (signature, disclosed key,
receipt, chain; a station's fork quarantined), station status, case figures and county moves; a ProtocolError
refuses the whole set."""

from __future__ import annotations

from typing import Any

import msgspec

from hub.store import HubStore
from sync.crypto import key_id_of
from sync.protocol import (
    CTX_UP,
    GENESIS,
    HubKeyItem,
    ProtocolError,
    SignedSet,
    verify_hub_key,
    verify_receipt,
)
from sync.protocol.upstream import (
    BranchItem,
    CaseFigure,
    CountyMove,
    ForwardedSet,
    RosterItem,
    StationStatusItem,
    open_forwarded,
)

__all__ = ("check_forwarded", "take_item")


def _own(county: str, station_or_village: str, what: str) -> None:
    if not station_or_village.startswith(county):
        raise ProtocolError(
            zh=f"{what} 不属于该县", en=f"{what} {station_or_village} is not of county {county}", code="wrong_origin"
        )


def take_item(store: HubStore, county: str, seq: int, index: int, item: object, at: str, signer: bytes) -> None:
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
    elif isinstance(item, BranchItem):
        station = store.province_station(item.station_id)
        if station is None or station["county"] != county or not 0 <= item.after_seq <= int(station["applied_seq"]):
            raise ProtocolError(
                zh="分叉处理项无效",
                en=f"item {index}: a branch of {item.station_id} the province cannot follow",
                code="malformed",
            )
        store.set_aside_province_sets(item.station_id, after_seq=item.after_seq, county_seq=seq, at=at)
        # the county kept the station's branch: what the province quarantined past it follows as sets again
        store.resolve_province_station_forks(item.station_id, after_seq=item.after_seq, by=f"county>{county}", at=at)
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
    station, signed, set_hash, body_key = check_forwarded(store, county, item)
    _chain(store, county, county_seq, item, at, station, signed, set_hash, body_key)


def check_forwarded(store: HubStore, county: str, item: ForwardedSet) -> tuple[dict[str, Any], SignedSet, bytes, bytes]:
    """A forwarded set's checks short of the chain: the station on the county's roster, the roster key for its seq
    (not past its revocation), the station's signature, the disclosed key opening the body, the county's receipt.
    Returns (the station's row, the signed set, its hash, the body key); ProtocolError when one fails."""
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
    body_key = item.key or _previous_key(store, county, item)
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
    return station, signed, set_hash, body_key


def _chain(
    store: HubStore,
    county: str,
    county_seq: int,
    item: ForwardedSet,
    at: str,
    station: dict[str, Any],
    signed: SignedSet,
    set_hash: bytes,
    body_key: bytes,
) -> None:
    """A checked forwarded set against the station's chain held: held already, quarantined, taken, or refused."""
    held = store.province_set(item.station_id, item.seq)
    if held is not None and held[0] == set_hash:
        return  # forwarded again (a re-sealed chain, a restored province): held once
    applied = int(station["applied_seq"])
    previous_hash = bytes(station["applied_hash"]) if applied else GENESIS
    reason = None
    if held is not None:
        reason = "differs"
    elif item.seq == applied + 1 and signed.prev != previous_hash:
        reason = "prev"
    elif item.seq > applied + 1 and (
        store.province_station_forks(county, station_id=item.station_id)
        or store.province_station_fork_hashed(item.station_id, signed.prev)
    ):
        # The branch of a set quarantined before (still open, or resolved keeping the province's chain): it cannot
        # follow the chain held either.
        reason = "after"
    if reason is not None:
        # A station's fork seen at the province, as the county quarantines one (invariant 3): kept whole with the
        # county's receipt and its key, nothing applied, nothing held deleted; the county's set is taken, so its
        # other stations' sets are not held up by it (docs/protocol.md, "Station forks at the province").
        store.add_province_station_fork(
            county=county,
            station_id=item.station_id,
            seq=item.seq,
            set_hash=set_hash,
            envelope=item.envelope,
            receipt=item.receipt,
            body_key=body_key,
            held_hash=held[0] if held is not None else (previous_hash if reason == "prev" else None),
            reason=reason,
            county_seq=county_seq,
            at=at,
        )
        return
    if item.seq != applied + 1:
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


def _previous_key(store: HubStore, county: str, item: ForwardedSet) -> bytes:
    """The key a set of layout 0x02 forwarded without one shares with the station's previous forwarded set: the one
    quarantined at the seq before it when there is one (the county forwarded it last: this set is of its branch),
    else the one held there."""
    for fork in reversed(store.province_station_forks(county, station_id=item.station_id)):
        if fork["seq"] == item.seq - 1:
            row = store.province_station_fork(int(fork["id"]))
            if row is not None:
                return bytes(row["body_key"])
    previous = store.province_set(item.station_id, item.seq - 1)
    if previous is not None:
        return previous[1]
    raise ProtocolError(
        zh="缺少数据集的密钥", en=f"{item.station_id} set {item.seq} comes without its key", code="bad_key"
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
