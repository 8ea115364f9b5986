"""Key rotation at the hub (hub.rotation, docs/protocol.md "Key rotation"): a station's new key taken from
its set and its old key refused with a clear code; the hub's key generations, each station's feed under
the one it holds; receipts signed under the key the station checks them with; the key-age flag."""

from __future__ import annotations

import dataclasses

import msgspec

from hub.dashboard import Thresholds, station_rows
from hub.decisions import decide
from hub.feed import read_feed
from hub.ingest import ingest_sets
from hub.keys import load_identity
from hub.rotation import rotate_hub_key
from hub.settings import Settings
from hub.web.app import create_app
from sync.crypto import KeyPair
from sync.protocol import (
    CTX_DOWN,
    FEATURE_KEY_ROTATION,
    STATION_FEATURES,
    HubKeyItem,
    KeyChange,
    open_set,
    sign_key_change,
    verify_hub_key,
    verify_receipt,
)
from sync.timeutil import iso_utc
from tests.hub.builders import TestStation, enrol
from tests.hub.test_app import assert_error


def key_change(st: TestStation, new: KeyPair, *, signer: KeyPair | None = None) -> KeyChange:
    old = signer or st.keys
    return sign_key_change(
        station_id=st.station_id,
        old_sign_private=old.sign_private,
        old_sign_public=st.keys.sign_public if signer is None else old.sign_public,
        new_sign_private=new.sign_private,
        new_sign_public=new.sign_public,
        new_box_public=new.box_public,
        hlc=st.stamp(),
        at=iso_utc(st.clock()),
    )


def push(store, identity, st: TestStation, envelope: bytes, **kwargs):
    return ingest_sets(store, identity, [envelope], station_id=st.station_id, now=st.clock, **kwargs).results[0]


def test_a_key_change_hands_over_and_the_old_key_is_refused_with_a_clear_code(store, identity, station):
    case_no, changes = station.new_case()
    assert push(store, identity, station, station.seal(changes)).status == "accepted"
    old, new = station.keys, KeyPair.generate()
    assert push(store, identity, station, station.seal([key_change(station, new)])).status == "accepted"
    held = store.station(station.station_id)
    assert held is not None and held.key_id == new.key_id
    assert store.key(old.key_id).replaced_after == 2  # type: ignore[union-attr]

    # Set 3 signed by the old key (a copy of the PC, or the key in other hands): refused, nothing stored.
    _, more = station.new_case()
    forged = station.seal(more, keys=old, seq=3)
    refused = push(store, identity, station, forged)
    assert (refused.status, refused.code) == ("refused", "retired_key")
    assert "replaced" in (refused.detail or "") and store.station(station.station_id).applied_seq == 2  # type: ignore[union-attr]
    # The same set under the new key is the station's.
    station.keys = new
    assert push(store, identity, station, station.seal(more)).status == "accepted"


def test_requests_signed_by_the_replaced_key_get_403_retired_key(client, store, identity, station):
    old, new = station.keys, KeyPair.generate()
    assert push(store, identity, station, station.seal([key_change(station, new)])).status == "accepted"
    assert_error(station.sync(client, []), 403, "retired_key")
    assert store.contacts(station.station_id)[0].code == "retired_key"
    station.keys = new
    assert station.sync(client, []).status_code == 200
    station.keys = old
    assert_error(station.sync(client, []), 403, "retired_key")


def test_a_key_change_not_signed_by_the_sets_key_is_refused_whole(store, identity, station):
    stranger = KeyPair.generate()
    bad = key_change(station, KeyPair.generate(), signer=stranger)
    refused = push(store, identity, station, station.seal([bad], seq=1))
    assert (refused.status, refused.code) == ("refused", "bad_key_change")
    held = store.station(station.station_id)
    assert held is not None and held.key_id == station.keys.key_id and held.applied_seq == 0


def _feed(store, identity, st: TestStation, after: int = 0):
    rows, _ = read_feed(store, identity, st.station_id, after=after, limit=None, now=st.clock())
    return rows


def _open(envelope: bytes, sign_public: bytes, box_public: bytes, st: TestStation):
    signed, _, body = open_set(
        envelope,
        public_key_for=lambda _: sign_public,
        context=CTX_DOWN,
        box_private=st.keys.box_private,
        sender_box_public=box_public,
    )
    return signed, msgspec.msgpack.decode(body, type=list[msgspec.Raw])


def test_each_feed_is_under_the_generation_its_station_holds(hub_dir, store, identity, clock):
    reads = enrol(store, identity, clock)
    store.set_features(reads.station_id, STATION_FEATURES)  # this release: says FEATURE_KEY_ROTATION
    older = enrol(store, identity, clock, village="349921001002")
    store.set_features(older.station_id, STATION_FEATURES & ~FEATURE_KEY_ROTATION)  # a station of 0.5
    seen = {s.station_id: _feed(store, identity, s)[-1].seq for s in (reads, older)}

    result = rotate_hub_key(hub_dir, store, now=clock())
    assert (result.gen, result.queued, result.waiting) == (2, 1, 1)
    new = load_identity(hub_dir)
    gen1 = new.keys_of(1)

    # The station that reads it: the handover in a set signed by generation 1, signed by it too.
    case_no, changes = reads.new_case()
    push(store, new, reads, reads.seal(changes))
    rows = _feed(store, new, reads, seen[reads.station_id])
    signed, items = _open(rows[0].envelope, gen1.sign_public, gen1.box_public, reads)
    handover = msgspec.msgpack.decode(bytes(items[0]), type=HubKeyItem)
    assert handover.gen == 2 and verify_hub_key(handover, pinned_sign_public=gen1.sign_public)
    assert (handover.sign_public, handover.box_public) == (new.keys.sign_public, new.keys.box_public)
    # Every later set of its feed is signed and sealed by generation 2 (and not by 1).
    for row in rows[1:]:
        _open(row.envelope, new.keys.sign_public, new.keys.box_public, reads)
    decide(store, case_no, "accept", now=clock)  # the county decides: down the feed under generation 2
    (later,) = _feed(store, new, reads, rows[-1].seq)
    _open(later.envelope, new.keys.sign_public, new.keys.box_public, reads)
    # The older station keeps generation 1 until it says the bit; then gets the handover.
    push(store, new, older, older.seal(older.new_case(village="349921001002")[1]))
    for row in _feed(store, new, older, seen[older.station_id]):
        _open(row.envelope, gen1.sign_public, gen1.box_public, older)


def test_receipts_are_signed_under_the_key_the_station_checks_them_with(hub_dir, store, identity, station, clock):
    store.set_features(station.station_id, STATION_FEATURES)
    case_no, changes = station.new_case()
    envelope = station.seal(changes)
    first = push(store, identity, station, envelope, lean=True, feed_after=0)
    assert verify_receipt(first.receipt, identity.keys.sign_public)  # type: ignore[arg-type]
    position = _feed(store, identity, station)[-1].seq
    rotate_hub_key(hub_dir, store, now=clock())
    new = load_identity(hub_dir)
    handover_seq = _feed(store, new, station, position)[0].seq
    # Sent again (its answer lost), before and after the station applied the handover.
    before = push(store, new, station, envelope, lean=True, feed_after=position)
    assert before.status == "duplicate" and verify_receipt(before.receipt, identity.keys.sign_public)  # type: ignore[arg-type]
    after = push(store, new, station, envelope, lean=True, feed_after=handover_seq)
    assert verify_receipt(after.receipt, new.keys.sign_public)  # type: ignore[arg-type]


def test_a_key_older_than_the_limit_is_flagged_until_it_changes(hub_dir, store, identity, station, clock):
    limits = Thresholds.from_settings(dataclasses.replace(Settings(data_dir=hub_dir), key_max_age_days=30))
    row = next(r for r in station_rows(store, now=clock(), limits=limits) if r["station_id"] == station.station_id)
    assert "key_old" not in row["attention"]
    clock.advance(days=31)
    row = next(r for r in station_rows(store, now=clock(), limits=limits) if r["station_id"] == station.station_id)
    assert "key_old" in row["attention"] and row["state"] == "warning" and row["key_age_s"] > 30 * 86400
    assert push(store, identity, station, station.seal([key_change(station, KeyPair.generate())])).status == "accepted"
    row = next(r for r in station_rows(store, now=clock(), limits=limits) if r["station_id"] == station.station_id)
    assert "key_old" not in row["attention"] and row["key_age_s"] == 0


def test_the_dashboard_names_the_reason(hub_dir, store, station, clock, users):
    from litestar.testing import TestClient

    from tests.hub.builders import log_in

    settings = Settings(data_dir=hub_dir, argon2_time_cost=1, argon2_memory_kib=1024, key_max_age_days=30)
    clock.advance(days=40)
    with TestClient(app=create_app(settings, now=clock)) as browser:
        log_in(browser, "admin", users["admin"])
        assert "密钥使用过久" in browser.get("/dashboard").text
        assert "key due for change" in browser.get("/dashboard?lang=en").text
