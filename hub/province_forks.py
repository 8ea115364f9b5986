"""A province resolves a station fork by hand: the county's branch taken (checked again set by set) or its own kept."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

from hub.province import check_county, require_province
from hub.province_items import check_forwarded
from hub.store import HubStore, UserRow
from sync.errors import InputError
from sync.protocol import GENESIS, ProtocolError
from sync.protocol.upstream import ForwardedSet
from sync.timeutil import iso_utc

__all__ = ("AUDIT_ACTION", "Keep", "Left", "StationForkResolution", "resolve_station_fork")

Keep = Literal["county", "province"]
AUDIT_ACTION = "province_station_fork_resolved"
"""The audit log's action; its fields are ``COUNTY;STATION_ID;county|province;FROM_SEQ;TAKEN;LEFT``."""


class Left(msgspec.Struct, kw_only=True):
    """A quarantined set ``--keep county`` could not take: it stays quarantined."""

    id: int
    seq: int
    hash: str
    code: str
    """``chain`` (it does not follow the station's chain as it then stood) or the check's refusal code
    (``bad_signature``, ``bad_key``, ``bad_receipt``, ``unknown_key``, ``revoked_key``, ...)."""
    detail: str


class StationForkResolution(msgspec.Struct, kw_only=True):
    """What ``hub county station-forks resolve`` did (its ``--json`` output)."""

    county: str
    station_id: str
    keep: str
    from_seq: int
    """The first seq of the fork: with ``county``, the province's sets of the station from here on were set aside."""
    set_aside: int
    """The province's own sets of the station moved to ``province_superseded`` (kept whole)."""
    taken: list[int]
    """The seqs of the quarantined sets taken into the station's chain (``county``), in order."""
    resolved: int
    """Quarantined sets marked resolved (taken, or kept as they are with ``province``)."""
    left: list[Left]
    """Quarantined sets still open (``county`` only): they did not pass the checks or the chain."""
    head_seq: int
    """The station's chain head at the province afterwards."""
    by: str
    at: str


def _operator(store: HubStore, name: str) -> UserRow:
    """The account of that name, or a stand-in carrying only the name (the audit log keeps it either way)."""
    account = store.user_named(name)
    if account is not None:
        return account
    return UserRow(user_id=0, name=name, role="operator", department=None, password_hash="", created_at="")


def _serialise(store: HubStore, county: str) -> None:
    """Under the county's ingest lock (PostgreSQL with several workers; SQLite's one writer serialises already)."""
    lock = getattr(store, "lock", None)
    if lock is not None:
        lock(f"county:{county}")


def resolve_station_fork(
    store: HubStore, county: str, station_id: str, *, keep: Keep, by: str, now: dt.datetime
) -> StationForkResolution:
    """Resolve the station's open forks at the province (docs/protocol.md, "Station forks at the province").

    ``county``: the county is the authority for its stations' chains. The province's sets of the station from the
    first fork's seq on move to ``province_superseded`` (kept whole with receipts and keys, as a ``branch`` item
    does), then the quarantined sets are taken in seq order through a forwarded set's checks (roster key,
    signature, disclosed key, county receipt) and the chain; one that fails stays quarantined and is reported.
    ``province``: the quarantined sets are marked resolved, kept and not applied; the county is told in its next
    answers (hub.province_view.fork_notices).
    InputError (exit 2) for an unknown county or station, a station of another county, or no open fork."""
    require_province(store)
    county = check_county(county)
    station_id = station_id.strip()
    by = by.strip()
    if not by:
        raise InputError(zh="--by 不能为空：请写处理人", en="--by must name who resolves the fork", field="by")
    if keep not in ("county", "province"):
        raise InputError(zh="--keep 只能是 county 或 province", en="--keep takes county or province", field="keep")
    if store.county(county) is None:
        raise InputError(zh=f"本省没有县 {county}", en=f"county {county} is not known here", field="county")
    station = store.province_station(station_id)
    if station is None or station["county"] != county:
        raise InputError(
            zh=f"县 {county} 的名册中没有代办点 {station_id}",
            en=f"station {station_id} is not on county {county}'s roster here",
            field="station",
        )
    at = iso_utc(now)
    with store.transaction():
        _serialise(store, county)
        forks = store.province_station_forks(county, station_id=station_id)
        if not forks:
            raise InputError(
                zh=f"代办点 {station_id} 在省里没有待处理的分叉",
                en=f"station {station_id} has no unresolved fork at the province",
                field="station",
            )
        from_seq = min(int(f["seq"]) for f in forks)
        if keep == "province":
            resolved = store.resolve_province_station_forks(station_id, by=by, at=at)
            done = StationForkResolution(
                county=county,
                station_id=station_id,
                keep=keep,
                from_seq=from_seq,
                set_aside=0,
                taken=[],
                resolved=resolved,
                left=[],
                head_seq=int(station["applied_seq"]),
                by=by,
                at=at,
            )
        else:
            done = _keep_county(store, county, station_id, forks, from_seq, by=by, at=at)
        store.add_audit(
            at=at,
            user=_operator(store, by),
            action=AUDIT_ACTION,
            case_no="",
            fields=f"{county};{station_id};{keep};{from_seq};{len(done.taken)};{len(done.left)}",
            ip=None,
        )
    return done


def _keep_county(
    store: HubStore, county: str, station_id: str, forks: list[dict[str, Any]], from_seq: int, *, by: str, at: str
) -> StationForkResolution:
    first = min(forks, key=lambda f: (int(f["seq"]), int(f["id"])))
    # The branch item's code: the province's own sets from the fork on kept whole in province_superseded.
    moved = store.set_aside_province_sets(
        station_id, after_seq=from_seq - 1, county_seq=int(first["county_seq"]), at=at
    )
    taken: list[int] = []
    failures: dict[int, tuple[str, str]] = {}
    resolved = 0
    for fork in sorted(forks, key=lambda f: (int(f["seq"]), int(f["id"]))):
        row = store.province_station_fork(int(fork["id"]))
        if row is None:
            continue
        seq = int(row["seq"])
        held = store.province_set(station_id, seq)
        if held is not None and held[0] == bytes(row["hash"]):  # the same set twice (another county set): held once
            resolved += store.resolve_province_station_forks(station_id, set_hash=bytes(row["hash"]), by=by, at=at)
            continue
        item = ForwardedSet(
            station_id=station_id,
            seq=seq,
            envelope=bytes(row["envelope"]),
            receipt=bytes(row["receipt"]),
            key=bytes(row["body_key"]),
        )
        try:
            station, signed, set_hash, body_key = check_forwarded(store, county, item)
        except ProtocolError as exc:
            failures[int(row["id"])] = (exc.code, exc.en)
            continue
        applied = int(station["applied_seq"])
        previous = bytes(station["applied_hash"]) if applied else GENESIS
        if held is not None or seq != applied + 1 or signed.prev != previous:
            failures[int(row["id"])] = (
                "chain",
                f"set {seq} does not follow the station's chain at the province (head {applied})",
            )
            continue
        store.add_province_set(
            station_id=station_id,
            seq=seq,
            set_hash=set_hash,
            envelope=item.envelope,
            receipt=item.receipt,
            body_key=body_key,
            county=county,
            county_seq=int(row["county_seq"]),
            changes=signed.count,
            at=at,
        )
        resolved += store.resolve_province_station_forks(station_id, set_hash=set_hash, by=by, at=at)
        taken.append(seq)
    # Reported from what is still open once every set had its turn (one at a seq taken later is not "left").
    left = [
        Left(
            id=int(f["id"]),
            seq=int(f["seq"]),
            hash=bytes(f["hash"]).hex(),
            code=failures.get(int(f["id"]), ("chain", ""))[0],
            detail=failures.get(int(f["id"]), ("chain", f"set {f['seq']} does not follow the chain"))[1],
        )
        for f in store.province_station_forks(county, station_id=station_id)
    ]
    head = store.province_station(station_id) or {}
    return StationForkResolution(
        county=county,
        station_id=station_id,
        keep="county",
        from_seq=from_seq,
        set_aside=moved,
        taken=taken,
        resolved=resolved,
        left=left,
        head_seq=int(head.get("applied_seq") or 0),
        by=by,
        at=at,
    )
