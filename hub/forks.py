"""Resolving a fork: the county keeps one of a station's two chains, and the other branch's work is not lost.

A fork (docs/protocol.md, "Forks") is a station whose chain went two ways after seq ``base``: the hub
holds the sets ``base+1 … H`` one copy of the PC sealed, the PC holds other sets from ``base+1`` on (a
data folder copied back by hand). ``hub forks resolve FORK --keep hub|station`` chooses, in one
transaction, written to the audit log with the operator's name:

- ``--keep hub``: the hub's chain stands. The station is sent :class:`~sync.protocol.ForkResolved`
  (with the digests of every change the hub's sets ``base+1 … H`` carry), then the hub's rows of every
  intake and case those sets wrote and the receipt of each set, as a station restored from a backup
  gets them (hub.recovery). The station sets its own sets after ``base`` aside, takes the receipts as
  its chain and records again, on top of ``H``, each change of its branch the hub does not hold.
- ``--keep station``: the station's chain stands. The hub moves its sets ``base+1 … H`` out of the chain
  into ``superseded_sets`` (kept whole; their rows stay applied: the work is the county's) and goes back
  to ``base``, so the station's sets from ``base+1`` are taken as they come again; the station is sent
  :class:`~sync.protocol.ForkResolved` and the rows those sets wrote, which it lacks.

The quarantined set stays in ``quarantine`` either way (evidence).
"""

from __future__ import annotations

import datetime as dt
import getpass
from typing import Any, Literal

import msgspec

from hub.feed import queue, queue_village_history
from hub.keys import HubIdentity
from hub.recovery import opened_records, written_by
from hub.rotation import receipt_keys, resigned
from hub.store import ForkRow, HubStore, ResolvedForkRow, StationRow, UserRow
from sync.changes import RowChange, decode_change
from sync.errors import InputError
from sync.protocol import (
    FEATURE_FORK_RESOLUTION,
    FEATURE_KEY_ROTATION,
    ForkResolved,
    ReceiptItem,
    change_digest,
)
from sync.timeutil import iso_utc

__all__ = ("AUDIT_ACTION", "Keep", "Resolution", "default_operator", "resolve_fork")

Keep = Literal["hub", "station"]
AUDIT_ACTION = "fork_resolved"
"""The audit log's action for a resolution; its fields are ``FORK;hub|station;STATION_ID``."""


class Resolution(msgspec.Struct, frozen=True, kw_only=True):
    """What ``hub forks resolve`` did (its ``--json``)."""

    fork_ids: list[int]
    station_id: str
    keep: Keep
    base_seq: int
    """The last seq both chains shared."""
    hub_head_seq: int
    """The seq the hub held for the station before the resolution."""
    head_seq: int
    """The seq the hub holds for the station after it (``keep="hub"``: unchanged; else ``base_seq``)."""
    sets_set_aside: int
    """The hub's own sets moved out of the chain (``keep="station"``)."""
    items_queued: int
    by: str
    at: str
    collisions: list[str] = []
    """Case and intake numbers both branches gave to different records (the copy went back on the day the PC
    had numbered cases after the copy was made), as far as the station's quarantined sets show. Neither is
    renumbered (the number is on the applicant's receipt): whichever branch is kept, the hub keeps its record
    of the number and refuses the station's (``duplicate_row``, kept whole), the station keeps its own, flagged
    refused; the county files that applicant's case again (docs/protocol.md, "Forks")."""


def default_operator() -> str:
    """The name a resolution is recorded under when none is given: the login name of whoever runs it."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


def resolve_fork(
    store: HubStore, identity: HubIdentity, fork_id: int, *, keep: Keep, by: str, now: dt.datetime
) -> Resolution:
    """Keep one branch of the station's fork ``fork_id`` (and of every other open fork of that station).

    Raises:
        InputError: no such fork, already resolved, the station revoked or of a release that cannot
            apply a resolution (upgrade it first), or the hub lacks the set both chains share.
    """
    found = store.fork(fork_id)
    if found is None:
        raise _unknown(fork_id)
    station_id = found.station_id
    # Everything read and written under the station's lock (the ingest's, hub.store.locks): no set of the
    # station lands between reading its chain and resetting it, and a resolution PostgreSQL still rolls
    # back runs again from what the hub then holds.
    return store.retrying(lambda: _resolve(store, identity, fork_id, station_id, keep=keep, by=by, now=now))


def _unknown(fork_id: int) -> InputError:
    return InputError(
        zh=f"没有编号为 {fork_id} 的分叉；用“hub forks list”查看未解决的分叉",
        en=f"there is no fork {fork_id}; 'hub forks list' shows the open ones",
        field="fork",
        code="forks.unknown",
    )


def _resolve(
    store: HubStore, identity: HubIdentity, fork_id: int, station_id: str, *, keep: Keep, by: str, now: dt.datetime
) -> Resolution:
    with store.locked(station_id=station_id):
        fork = store.fork(fork_id)
        if fork is None:
            raise _unknown(fork_id)
        return _resolve_locked(store, identity, fork, keep=keep, by=by, now=now)


def _resolve_locked(
    store: HubStore, identity: HubIdentity, fork: ResolvedForkRow, *, keep: Keep, by: str, now: dt.datetime
) -> Resolution:
    fork_id = fork.id
    if fork.resolved_at is not None:
        raise InputError(
            zh=f"分叉 {fork_id} 已于 {fork.resolved_at} 由 {fork.resolved_by or '?'} 解决（保留{_side_zh(fork.resolution)}）",
            en=f"fork {fork_id} was already resolved at {fork.resolved_at} by {fork.resolved_by or '?'} "
            f"(kept the {fork.resolution} branch)",
            field="fork",
            code="forks.resolved",
        )
    station = _resolvable(store, fork)
    opened = [f for f in store.forks() if f.station_id == station.station_id]
    base = min(f.seq for f in opened) - 1
    base_hash = b""
    if base > 0:
        held = store.set_in(station.station_id, base)
        if held is None:
            raise InputError(
                zh=f"县平台没有 {station.station_id} 的数据集 {base}（两条数据链共有的最后一个）：无法解决此分叉",
                en=f"the hub lacks set {base} of {station.station_id}, the last both chains share: "
                "this fork cannot be resolved here",
                field="fork",
                code="forks.no_base",
            )
        base_hash = held[0]
    hub_head = station.applied_seq
    records, intakes, cases = written_by(store, identity, station.station_id, range(base + 1, hub_head + 1))
    collisions = _collisions(store, identity, station.station_id, records, opened)
    moment = iso_utc(now)
    ids = store.resolve_forks(station.station_id, resolution=keep, by=by, at=moment)
    moved = 0
    if keep == "station":
        moved = store.set_aside_sets_in(station.station_id, after_seq=base, fork_id=fork_id, at=moment)
        store.set_applied(station.station_id, base, base_hash)
    numbers = store.case_numbers(station.village_code, station.device)
    item = ForkResolved(
        fork_id=fork_id,
        keep=keep,
        base_seq=base,
        base_hash=base_hash,
        head_seq=hub_head if keep == "hub" else base,
        held=[change_digest(r) for r in records] if keep == "hub" else [],
        numbers=numbers,
        # The copied folder held this station's key: a station that can change its key does so before
        # it records its branch again, so what comes back is signed by a key only it holds.
        rekey=bool(station.features & FEATURE_KEY_ROTATION),
    )
    queue(store, [station.station_id], item, at=moment)
    items = 1 + _queue_branch_rows(store, station, intakes, cases, hub_head if keep == "hub" else base, now)
    if keep == "hub":
        # Under the hub key the station will check them with, as for a restored station (hub.recovery).
        signer = receipt_keys(store, identity, station.station_id, position=None)
        for seq in range(base + 1, hub_head + 1):
            held_set = store.set_in(station.station_id, seq)
            if held_set is not None and held_set[1] is not None:
                queue(store, [station.station_id], ReceiptItem(resigned(held_set[1], signer)), at=moment)
                items += 1
    store.add_audit(
        at=moment,
        user=_operator(store, by),
        action=AUDIT_ACTION,
        case_no="",
        fields=f"{fork_id};{keep};{station.station_id}" + "".join(f";{n}" for n in collisions),
        ip=None,
    )
    return Resolution(
        fork_ids=ids,
        station_id=station.station_id,
        keep=keep,
        base_seq=base,
        hub_head_seq=hub_head,
        head_seq=hub_head if keep == "hub" else base,
        sets_set_aside=moved,
        items_queued=items,
        by=by,
        at=moment,
        collisions=collisions,
    )


def _numbered(records: list[bytes]) -> dict[str, bytes]:
    """The records that create a case or an intake, by its number."""
    made: dict[str, bytes] = {}
    for raw in records:
        try:
            change = decode_change(raw)
        except (msgspec.DecodeError, ValueError):
            continue
        if isinstance(change, RowChange) and change.insert and change.table in ("cases", "intakes"):
            made[change.pk] = raw
    return made


def _collisions(
    store: HubStore, identity: HubIdentity, station_id: str, hub_records: list[bytes], opened: list[ForkRow]
) -> list[str]:
    """Numbers the hub's branch and the station's quarantined sets each gave to a different record."""
    ours = _numbered(hub_records)
    theirs: dict[str, bytes] = {}
    for fork in opened:
        envelope = store.quarantined_envelope(fork.quarantine_id)
        records = None if envelope is None else opened_records(store, identity, station_id, fork.seq, envelope)
        theirs.update(_numbered(records or []))
    return sorted(number for number, raw in theirs.items() if number in ours and ours[number] != raw)


def _side_zh(resolution: str | None) -> str:
    return {"hub": "县平台一方", "station": "代办点一方"}.get(resolution or "", "?")


def _resolvable(store: HubStore, fork: ResolvedForkRow) -> StationRow:
    """The forked station, once it can apply a resolution."""
    station = store.station(fork.station_id)
    if station is None or station.revoked_at is not None:
        raise InputError(
            zh=f"代办点 {fork.station_id} 已被吊销：不能解决其分叉；其数据由重新登记的电脑接续",
            en=f"station {fork.station_id} is revoked: its fork cannot be resolved; a PC enrolled again takes its work over",
            field="fork",
            code="forks.revoked",
        )
    if not station.features & FEATURE_FORK_RESOLUTION:
        raise InputError(
            zh=f"代办点 {fork.station_id} 的软件版本（{station.software or '未知'}）不能接受分叉处理结果：请先升级该电脑的软件，"
            "同步一次后再解决",
            en=f"station {fork.station_id} runs software ({station.software or 'unknown'}) that cannot apply a fork "
            "resolution: upgrade that PC, let it sync once, then resolve",
            field="fork",
            code="forks.station_too_old",
        )
    return station


def _operator(store: HubStore, name: str) -> UserRow:
    """The account of that name, or a stand-in that carries only the name (the audit log keeps it either way)."""
    account = store.user_named(name)
    if account is not None:
        return account
    return UserRow(user_id=0, name=name, role="operator", department=None, password_hash="", created_at="")


def _queue_branch_rows(
    store: HubStore, station: StationRow, intakes: set[str], cases: set[str], through_seq: int, now: dt.datetime
) -> int:
    """Queue the hub's rows of every intake and case the hub's branch wrote, at their field versions, their
    history and each case's state (hub.feed.queue_village_history, as for a restored station)."""
    if not intakes and not cases:
        return 0
    for case in store.village_rows("cases", station.village_code):
        # A case's intake comes with it, and every case of a touched intake (a bundle's members).
        if case["case_no"] in cases or case["intake_id"] in intakes:
            cases.add(case["case_no"])
            intakes.add(case["intake_id"])

    def wrote(table: str, row: dict[str, Any]) -> bool:
        if table in ("cases", "case_notes", "case_events"):
            return row.get("case_no") in cases or row.get("intake_id") in intakes
        return row.get("intake_id") in intakes

    return queue_village_history(
        store, station.station_id, station.village_code, now=now, only=wrote, through_seq=through_seq
    )
