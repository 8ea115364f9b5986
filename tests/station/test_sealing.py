"""Sealing the outbox: numbered, chained, signed sets; every change exactly once; crash-safe."""

from __future__ import annotations

import msgspec
import pytest

from station import cases as ops
from station import sealing
from station.errors import NotEnrolledError
from station.sealing import head, seal_pending, unacknowledged, unsealed_count
from station.store import Station
from sync.changes import decode_change
from sync.crypto import KeyPair, box_layout
from sync.errors import StoreError
from sync.protocol import (
    CTX_UP,
    FEATURE_BOX_KEY,
    GENESIS,
    HUB_FEATURES,
    SET_FORMAT_2,
    SignedSet2,
    decode_envelope,
    open_set,
)
from tests.station.conftest import WANG, pension_benefit_deferred, pension_enrolment


def _open(hub, keys: KeyPair, envelope: bytes):
    def key_for(key_id: str) -> bytes:
        assert key_id == ""  # format 2: the key is the origin's
        return keys.sign_public

    return open_set(
        envelope,
        public_key_for=key_for,
        context=CTX_UP,
        box_private=hub.keys.box_private,
        sender_box_public=keys.box_public,
    )


def _records(body: bytes) -> list[bytes]:
    return [bytes(r) for r in msgspec.msgpack.decode(body, type=list[msgspec.Raw])]


def test_sets_are_gapless_chained_and_carry_each_change_once(station, hub, keys):
    ops.new_intake(station, pension_enrolment())
    ops.new_intake(station, pension_benefit_deferred())
    station.meta.update({"hub_features": str(HUB_FEATURES)})  # a hub that reads every table
    outbox = [bytes(b) for (b,) in station.db.execute("SELECT body FROM outbox ORDER BY id")]
    seqs = seal_pending(station, keys, limit=4)
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) == -(-len(outbox) // 4)
    prev, carried = GENESIS, []
    for seq, envelope in station.db.execute("SELECT seq, envelope FROM sets_out ORDER BY seq"):
        signed, set_hash, body = _open(hub, keys, bytes(envelope))
        assert (signed.origin, signed.seq, signed.prev) == (station.station_id, seq, prev)
        records = _records(body)
        assert signed.count == len(records) <= 4
        carried += records
        prev = set_hash
    assert carried == outbox  # in outbox order, as stored: nothing re-encoded, nothing twice
    assert unsealed_count(station) == 0
    assert head(station) == (seqs[-1], prev)


def test_sealing_again_seals_only_new_changes(station, hub, keys, clock):
    number = ops.new_intake(station, pension_enrolment()).number
    assert seal_pending(station, keys) == [1]
    assert seal_pending(station, keys) == []
    clock.advance(minutes=5)
    ops.add_note(station, number, "已电话通知")
    assert seal_pending(station, keys) == [2]
    first_hash = station.db.execute("SELECT hash FROM sets_out WHERE seq = 1").fetchone()[0]
    signed, _, _ = _open(hub, keys, unacknowledged(station)[1][1])
    assert signed.prev == first_hash
    assert station.db.execute("SELECT COUNT(*) FROM outbox WHERE set_seq = 2").fetchone()[0] == 1  # the note alone


def test_nothing_to_seal_is_found_without_waiting_for_the_write_lock(station, hub, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    assert seal_pending(station, keys) == [1]
    other = Station.open(station.data_dir)  # another program of the PC, in the middle of a write
    try:
        station.db.execute("PRAGMA busy_timeout = 50")
        other.db.execute("BEGIN IMMEDIATE")
        assert seal_pending(station, keys) == []  # most rounds: nothing new, and no wait for the other writer
        other.db.rollback()
        ops.add_note(station, number, "已电话通知")
        other.db.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="busy"):  # something to seal: sealed under the write lock
            seal_pending(station, keys)
        other.db.rollback()
        assert seal_pending(station, keys) == [2]
    finally:
        other.close()


def test_a_set_is_of_format_2_and_its_changes_carry_their_own_stamps(station, hub, keys):
    ops.new_intake(station, pension_enrolment())
    seal_pending(station, keys)
    envelope = unacknowledged(station)[0][1]
    assert (decode_envelope(envelope).protocol, decode_envelope(envelope).key_id) == (SET_FORMAT_2, "")
    signed, _, body = _open(hub, keys, envelope)
    assert (signed.compression, signed.hlc, signed.created_ms) == ("zstd-r2", 0, 0)  # format 2 sends no set stamp
    stamps = [decode_change(r).hlc for r in _records(body)]
    assert max(stamps) == station.db.execute("SELECT MAX(hlc) FROM outbox").fetchone()[0]


def test_a_crash_between_the_steps_leaves_nothing_half_sealed(station, hub, keys, monkeypatch):
    ops.new_intake(station, pension_enrolment())
    before = unsealed_count(station)

    def crash(*args, **kwargs):
        raise OSError("power cut")

    monkeypatch.setattr(sealing, "_mark_sealed", crash)
    with pytest.raises(OSError):
        seal_pending(station, keys)
    assert station.db.execute("SELECT COUNT(*) FROM sets_out").fetchone()[0] == 0
    assert unsealed_count(station) == before
    monkeypatch.undo()
    assert seal_pending(station, keys) == [1]
    assert unsealed_count(station) == 0


def test_sealing_needs_enrolment(station):
    ops.new_intake(station, pension_enrolment())
    with pytest.raises(NotEnrolledError):
        seal_pending(station, KeyPair.generate())


def test_sealed_bodies_are_readable_only_by_the_hub(station, hub, keys):
    ops.new_intake(station, pension_enrolment())
    seal_pending(station, keys)
    envelope = unacknowledged(station)[0][1]
    assert WANG.encode() not in envelope and "王小明".encode() not in envelope


@pytest.mark.parametrize("said", [HUB_FEATURES, HUB_FEATURES & ~FEATURE_BOX_KEY, 0])
def test_a_set_has_its_own_body_key_only_once_the_hub_said_it_reads_that(station, hub, keys, said):
    station.meta.update({"hub_features": str(said)})
    ops.new_intake(station, pension_enrolment())
    assert seal_pending(station, keys) == [1]
    (envelope,) = station.db.execute("SELECT envelope FROM sets_out").fetchone()
    body = msgspec.msgpack.decode(bytes(decode_envelope(bytes(envelope)).payload), type=SignedSet2).body
    assert box_layout(body) == (3 if said & FEATURE_BOX_KEY else 2)  # 0x02 for a hub of 0.6, or one unheard
    _, _, plain = _open(hub, keys, bytes(envelope))  # the hub opens either with its own key
    assert _records(plain)


@pytest.mark.parametrize("features", [None, 0, HUB_FEATURES])
def test_a_rounds_reads_together_say_what_the_reads_apart_say(station, hub, keys, features):
    # head_and_unsealed (a request's header) and standing (a round's end) in one statement each, against
    # head, unsealed_count and the unacknowledged sets read one by one: before the first set, with changes
    # waiting, sealed and not acknowledged, and with more waiting behind a sealed set.
    def apart() -> tuple[int, int, int]:
        waiting = station.db.execute("SELECT COUNT(*) FROM sets_out WHERE acked_at IS NULL").fetchone()[0]
        return head(station)[0], unsealed_count(station, features), waiting

    def together() -> tuple[int, int, int]:
        seq, unsealed = sealing.head_and_unsealed(station, features)
        unacknowledged, unsealed_too = sealing.standing(station, features)
        assert unsealed_too == unsealed
        return seq, unsealed, unacknowledged

    assert together() == apart() == (0, 0, 0)
    number = ops.new_intake(station, pension_enrolment()).number
    assert together() == apart() and apart()[1] > 0
    seal_pending(station, keys)
    assert together() == apart() and (apart()[0], apart()[2]) == (1, 1)
    ops.add_note(station, number, "补交材料")
    assert together() == apart() and apart()[:1] == (1,) and apart()[1] > 0
