"""Key rotation at the hub: stations' new keys taken from their sets, and the hub's own keys rotated.

A station hands over to new keys in one of its sets (:class:`~sync.protocol.KeyChange`, ``station
rekey``): the hub checks the handover against the key that signed that set and records the new key
from the next set on; the old key is refused from then on (``retired_key``), for sets and requests.

``hub key rotate`` makes the hub's next key generation, signed by the current one (hub.keys.rotated),
and queues the handover (:class:`~sync.protocol.HubKeyItem`) to every station that said
``FEATURE_KEY_ROTATION``. Each feed is signed under the generation its station holds: the one it
pinned at enrolment, then each handed over in a feed set, from the set after it on. Receipts are
signed under the generation the station holds when it checks them. Stations of 0.4 and 0.5, which
cannot read the handover, stay under the keys they pinned (the hub keeps every generation) until they
are upgraded and say the bit, when the handovers they lack are queued to them in order.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec

from hub.feed import queue
from hub.keys import HubIdentity, load_identity, rotated, save_identity
from hub.store import HubStoreProtocol, KeyRow, StationRow
from sync.crypto import KeyPair, key_id_of
from sync.protocol import (
    FEATURE_KEY_ROTATION,
    HubKeyItem,
    KeyChange,
    decode_envelope,
    make_receipt,
    verify_key_change,
)
from sync.protocol.receipts import ReceiptBody
from sync.timeutil import iso_utc, utc_now

__all__ = (
    "RotationResult",
    "accept_key_change",
    "catch_up",
    "check_key_change",
    "note_held",
    "receipt_keys",
    "resigned",
    "rotate_hub_key",
)

_RECEIPT = msgspec.msgpack.Decoder(ReceiptBody)


class RotationResult(msgspec.Struct, frozen=True, kw_only=True):
    """What ``hub key rotate`` did: the generations, the key ids, and how many stations were told."""

    gen: int
    key_id: str
    fingerprint: str
    old_key_id: str
    queued: int
    """Stations whose feed got the handover."""
    waiting: int
    """Active stations of a release that cannot take it yet: served under the keys they pinned."""


# -- a station's new keys ------------------------------------------------------------------------


def check_key_change(change: KeyChange, station_id: str, signer: KeyRow) -> str | None:
    """Why a station's key change cannot be taken (English, for the set's refusal); None when it can.

    ``signer`` is the key that signed the set carrying it, which must be the one handed over.
    """
    if not verify_key_change(change, station_id=station_id, old_sign_public=signer.sign_public):
        return "its new keys are not signed by the key that signs the set, or by themselves"
    if signer.replaced_after is not None:
        return f"key {signer.key_id} was replaced already"
    return None


def accept_key_change(
    store: HubStoreProtocol, station: StationRow, change: KeyChange, *, seq: int, at: str
) -> str | None:
    """Record the station's new key from set ``seq + 1`` on (inside the set's transaction). Returns why it
    was not (English), or None. A key already known here (this station's, or another's) is not taken."""
    key_id = key_id_of(change.sign_public)
    held = store.key(key_id)
    if held is not None:
        return None if held.station_id == station.station_id else f"key {key_id} belongs to another station"
    store.replace_station_key(
        station.station_id,
        KeyRow(
            key_id=key_id,
            station_id=station.station_id,
            sign_public=change.sign_public,
            box_public=change.box_public,
            created_at=at,
        ),
        after_seq=seq,
        at=at,
    )
    return None


# -- the hub's keys ------------------------------------------------------------------------------


def rotate_hub_key(data_dir: Path, store: HubStoreProtocol, *, now: dt.datetime | None = None) -> RotationResult:
    """``hub key rotate``: the next key generation, written to ``hub.key`` (every older one kept), and the
    handover queued to every active station that reads it. A serving hub picks the new file up at its
    next request (hub.keys.IdentityFile)."""
    moment = now or utc_now()
    at = iso_utc(moment)
    old = load_identity(data_dir)
    new = rotated(old, at=at)
    save_identity(data_dir, new)
    queued = waiting = 0
    with store.transaction():
        store.set_meta("hub_key_gen", str(new.gen))
        for station in store.stations(enrolled_only=True):
            if catch_up(store, new, station.station_id, at=at):
                queued += 1
            elif not station.features & FEATURE_KEY_ROTATION:
                waiting += 1
    return RotationResult(
        gen=new.gen,
        key_id=new.hub_id,
        fingerprint=new.fingerprint,
        old_key_id=old.hub_id,
        queued=queued,
        waiting=waiting,
    )


def catch_up(store: HubStoreProtocol, identity: HubIdentity, station_id: str, *, at: str) -> int:
    """Queue to a station that reads them the handovers it lacks, in order (each signed by the generation
    before it); returns how many. Called when the key rotates and whenever a station says what it reads."""
    station = store.station(station_id)
    if station is None or station.revoked_at is not None or not station.features & FEATURE_KEY_ROTATION:
        return 0
    latest = store.hub_key_latest(station_id)
    count = 0
    for gen in range(latest + 1, identity.gen + 1):
        generation = identity.generation(gen)
        item = HubKeyItem(
            gen=gen,
            sign_public=generation.keys.sign_public,
            box_public=generation.keys.box_public,
            at=generation.created_at,
            signature=generation.handover,
        )
        queue(store, [station_id], item, at=at)
        store.hub_key_queued(station_id, gen, at)
        count += 1
    return count


def note_held(
    store: HubStoreProtocol, identity: HubIdentity, station_id: str, box_index: int, *, position: int, at: str
) -> None:
    """The station's request MAC checked under ``identity.box_privates[box_index]``: it pins that generation
    at feed ``position``. Newer than the hub's record (a hub restored from a backup taken before the
    handover reached the station), it is recorded as held from there, so its feed and receipts are signed
    by the key it checks them with."""
    gens = identity.generations()
    if not 0 <= box_index < len(gens):
        return
    gen = gens[box_index]
    if gen > store.hub_key_held(station_id, position):
        store.hub_key_seen(station_id, gen, position, at)


def receipt_keys(store: HubStoreProtocol, identity: HubIdentity, station_id: str, *, position: int | None) -> KeyPair:
    """The hub keys a receipt for the station is signed with: the generation it holds at feed ``position``
    (an answer it reads before applying the feed in it), or, for None, the newest queued to it (a receipt
    sent down its feed, read after every handover queued before it)."""
    if identity.gen == 1 and not identity.previous:  # a hub key never rotated: no handover to look up
        return identity.keys
    gen = store.hub_key_held(station_id, position) if position is not None else store.hub_key_latest(station_id)
    return identity.keys_of(gen)


def resigned(receipt: bytes, keys: KeyPair) -> bytes:
    """A stored receipt as ``keys`` sign it: the same statement (origin, seq, hash, hub time), signed anew
    when another generation signed it, so the station checks it against the key it pins now."""
    envelope = decode_envelope(receipt)
    if envelope.key_id == key_id_of(keys.sign_public):
        return receipt
    body = _RECEIPT.decode(bytes(envelope.payload))
    return make_receipt(
        origin=body.origin,
        seq=body.seq,
        set_hash=body.hash,
        hub_ms=body.hub_ms,
        sign_private=keys.sign_private,
        sign_public=keys.sign_public,
    )
