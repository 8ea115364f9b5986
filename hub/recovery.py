"""Sending a station restored from a backup what it lost: its own work after the backup, and its chain's head.

A station restored from a backup holds its chain up to the backup's head ``h``; the hub may hold
its sets up to ``H`` > ``h``, sealed by the same PC after the backup. The restored station writes
and seals nothing until the hub has confirmed its chain (station.backup; docs/protocol.md, "A
station restored from a backup"). Its requests say ``h`` (the head seq, signed with the request);
seeing it below ``H`` the hub queues to its feed, once:

1. the hub's rows of every intake and case those sets touched, at their field versions, their
   history and each case's state (as a second PC of the village gets them at enrolment); the sets
   themselves are sealed to the hub and cannot go back down, and the rows are what the county holds;
2. the receipt of each set ``h+1 … H``, signed by the hub: the station takes the last as the head of
   its chain (seq and hash), so its next set is ``H+1`` and follows ``H``: no fork.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from hub.feed import queue, queue_village_history
from hub.keys import HubIdentity
from hub.rotation import receipt_keys, resigned
from hub.store import HubStoreProtocol, KeyRow
from sync.budget import STATION_SET
from sync.changes import RowChange, StatusChange, decode_change
from sync.protocol import CTX_UP, ProtocolError, ReceiptItem, open_set
from sync.timeutil import iso_utc

__all__ = ("opened_records", "recover_if_behind", "written_by")

_MARK = "recovered:"
_RECORDS = msgspec.msgpack.Decoder(list[msgspec.Raw])


def recover_if_behind(
    store: HubStoreProtocol,
    identity: HubIdentity,
    station_id: str,
    head_seq: int | None,
    *,
    now: dt.datetime,
    applied_seq: int | None = None,
) -> int:
    """Queue to a station whose signed head seq is below the sets the hub holds for it what it lost.

    ``head_seq`` must be one the station signed (a request of this release, ``fields_signed``):
    an unsigned one could make the hub send a station's own rows to it again for nothing. Done once
    per (head, held) pair. Returns the number of items queued (0 when the station is not behind).
    ``applied_seq``: the seq the hub holds for the station as the caller just read it (the exchange's
    answer), else read here.
    """
    if head_seq is None:
        return 0
    if applied_seq is None:
        station = store.station(station_id)
        if station is None:
            return 0
        applied_seq = station.applied_seq
    if head_seq >= applied_seq:
        return 0  # read without a lock: most requests are not behind and queue nothing
    # Read again and queued under the station's lock (the ingest's, hub.store.locks): a set of the station
    # an ingest is applying meanwhile is either all before (its receipt goes down too) or all after (it
    # goes down in its own answer), and two requests of the station at once queue it all once.
    return store.retrying(lambda: _recover(store, identity, station_id, head_seq, now=now))


def _recover(
    store: HubStoreProtocol, identity: HubIdentity, station_id: str, head_seq: int, *, now: dt.datetime
) -> int:
    with store.locked(station_id=station_id):
        station = store.station(station_id)
        if station is None or head_seq >= station.applied_seq:
            return 0
        if any(fork.station_id == station_id for fork in store.forks()):
            return 0  # it sealed on over the sets it lost (a folder copied back by hand): the county decides
        mark = f"{head_seq}:{station.applied_seq}"
        if store.get_meta(_MARK + station_id) == mark:
            return 0
        _, intakes, cases = written_by(store, identity, station_id, range(head_seq + 1, station.applied_seq + 1))
        items = 0

        def lost(table: str, row: dict[str, Any]) -> bool:
            if table in ("cases", "case_notes", "case_events"):
                return row.get("case_no") in cases or row.get("intake_id") in intakes
            return row.get("intake_id") in intakes

        # A case's intake comes with it, and every case of a touched intake (a bundle's members).
        for case in store.village_rows("cases", station.village_code):
            if case["case_no"] in cases or case["intake_id"] in intakes:
                cases.add(case["case_no"])
                intakes.add(case["intake_id"])
        items += queue_village_history(
            store,
            station_id,
            station.village_code,
            now=now,
            only=lost,
            through_seq=station.applied_seq,
        )
        at = iso_utc(now)
        signer = receipt_keys(store, identity, station_id, position=None)
        for seq in range(head_seq + 1, station.applied_seq + 1):
            held = store.set_in(station_id, seq)
            if held is not None and held[1] is not None:
                # Under the hub key the station will check it with (hub.rotation).
                queue(store, [station_id], ReceiptItem(resigned(held[1], signer)), at=at)
                items += 1
        store.set_meta(_MARK + station_id, mark)
    return items


def written_by(
    store: HubStoreProtocol, identity: HubIdentity, station_id: str, seqs: range
) -> tuple[list[bytes], set[str], set[str]]:
    """The change records of the station's sets ``seqs`` as the hub holds them (opened as the ingest opened
    them), and the intakes and cases they wrote. Used to give a restored station back what it lost and to
    replay a fork's branch."""
    records: list[bytes] = []
    intakes: set[str] = set()
    cases: set[str] = set()
    for seq in seqs:
        envelope = store.set_in_envelope(station_id, seq)
        raws = None if envelope is None else opened_records(store, identity, station_id, seq, envelope)
        if raws is None:
            continue  # accepted once, so it opens; a set that no longer does has nothing to give back
        records += raws
        for raw in raws:
            try:
                change = decode_change(raw)
            except (msgspec.DecodeError, ValueError):
                continue
            if isinstance(change, StatusChange):
                cases.add(change.case_no)
            elif isinstance(change, RowChange):
                if change.table == "cases":
                    cases.add(change.pk)
                elif change.table == "intakes":
                    intakes.add(change.pk)
                else:  # a note, a material, a commitment: the case it belongs to
                    row = store.row(change.table, change.pk)
                    if row is not None and row.get("case_no"):
                        cases.add(row["case_no"])
    return records, intakes, cases


def opened_records(
    store: HubStoreProtocol, identity: HubIdentity, station_id: str, seq: int, envelope: bytes
) -> list[bytes] | None:
    """The change records of the station's set ``seq`` (held, or quarantined in a fork), or None when it
    does not open."""
    # The key in force at this seq (as the ingest opened it): a station that ran `station rekey`
    # signed and sealed its sets up to the handover with its old key, not the one it holds now.
    signer = store.station_key_for_seq(station_id, seq)

    def public_key_for(key_id: str) -> bytes:
        key: KeyRow | None = store.key(key_id) if key_id else signer
        if key is None:
            raise ProtocolError(zh="未知密钥", en=f"unknown key {key_id}", code="unknown_key")
        return key.sign_public

    try:
        _, _, body = open_set(
            envelope,
            public_key_for=public_key_for,
            context=CTX_UP,
            box_private=identity.keys.box_private,
            sender_box_public=signer.box_public if signer else None,
            limits=STATION_SET,
            # Sets sealed to the hub's box key before a rotation (hub key rotate) open with the older ones.
            older_box_privates=identity.box_privates[1:],
        )
        return [bytes(r) for r in _RECORDS.decode(body)]
    except (ProtocolError, msgspec.DecodeError, ValueError):
        return None
