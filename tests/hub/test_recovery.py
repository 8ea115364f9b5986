"""A station restored from a backup gets back, once, the rows its lost sets wrote and their receipts; a station
that changed its key gets back the sets each of its keys signed, and a fork after it is resolved with them."""

from __future__ import annotations

from hub.feed import read_feed
from hub.forks import resolve_fork
from hub.ingest import ingest_sets
from hub.recovery import recover_if_behind, written_by
from sync.changes import encode_change
from sync.crypto import KeyPair
from sync.protocol import (
    CTX_UP,
    STATION_FEATURES,
    CaseState,
    ForkResolved,
    ReceiptItem,
    RowChange,
    change_digest,
    seal_set,
    sign_key_change,
    verify_receipt,
)
from sync.timeutil import iso_utc
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # the store's behaviour on SQLite and on PostgreSQL (docs/postgresql.md)


def file_case(store, identity, station) -> str:
    case_no, changes = station.new_case()
    result = ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, lean=True)
    assert result.results[0].status == "accepted"
    return case_no


def items_after(store, identity, station, clock, after):
    rows, _ = read_feed(store, identity, station.station_id, after=after, limit=None, now=clock())
    return [item for row in rows for item in station.read_feed_set(row.envelope)[1]]


def test_the_rows_and_receipts_of_the_lost_sets_go_down_once(store, identity, station, clock):
    kept = file_case(store, identity, station)  # set 1: in the station's backup
    lost = [file_case(store, identity, station), file_case(store, identity, station)]  # sets 2 and 3: not
    position = read_feed(store, identity, station.station_id, after=0, limit=None, now=clock())[1].last_seq
    assert recover_if_behind(store, identity, station.station_id, 3, now=clock()) == 0  # not behind
    queued = recover_if_behind(store, identity, station.station_id, 1, now=clock())
    assert queued > 0
    items = items_after(store, identity, station, clock, position)
    rows = {i.pk for i in items if isinstance(i, RowChange) and i.table == "cases"}
    assert rows == set(lost) and kept not in rows  # only what the station lost
    states = [i for i in items if isinstance(i, CaseState)]
    assert {s.case_no for s in states} == set(lost) and {s.through_seq for s in states} == {3}
    receipts = [verify_receipt(i.receipt, identity.keys.sign_public) for i in items if isinstance(i, ReceiptItem)]
    assert [(r.origin, r.seq) for r in receipts] == [(station.station_id, 2), (station.station_id, 3)]
    assert isinstance(items[-1], ReceiptItem)  # the receipts after the rows: the head moves last
    assert recover_if_behind(store, identity, station.station_id, 1, now=clock()) == 0  # once


def test_a_station_with_an_open_fork_gets_nothing_back(store, identity, station, clock):
    file_case(store, identity, station)
    file_case(store, identity, station)
    _, changes = station.new_case()
    forked = station.seal(changes, seq=2, prev=station.prev)  # sealed over set 2, which the hub holds
    assert ingest_sets(store, identity, [forked], station_id=station.station_id).results[0].status == "fork"
    assert recover_if_behind(store, identity, station.station_id, 1, now=clock()) == 0


def seal2(station, changes, *, keys=None, seq=None, prev=None) -> bytes:
    """A set as a station of this release seals it (format 2: it names no key; the hub takes the key in force
    at its seq), under ``keys`` (the station's by default)."""
    keys = keys or station.keys
    explicit = seq is not None
    seq = station.seq + 1 if seq is None else seq
    envelope, set_hash = seal_set(
        origin=station.station_id,
        seq=seq,
        prev=station.prev if prev is None else prev,
        records=[encode_change(c) for c in changes],
        sign_private=keys.sign_private,
        recipient_box_public=station.response.hub_box_public,
        sender_box_private=keys.box_private,
        context=CTX_UP,
    )
    if not explicit:
        station.seq, station.prev = seq, set_hash
    return envelope


def file_case2(store, identity, station) -> str:
    case_no, changes = station.new_case()
    result = ingest_sets(store, identity, [seal2(station, changes)], station_id=station.station_id)
    assert result.results[0].status == "accepted"
    return case_no


def rekey(store, identity, station) -> None:
    """The station hands over to a new key in its next set (signed by the old one), as `station rekey` does."""
    new = KeyPair.generate()
    change = sign_key_change(
        station_id=station.station_id,
        old_sign_private=station.keys.sign_private,
        old_sign_public=station.keys.sign_public,
        new_sign_private=new.sign_private,
        new_sign_public=new.sign_public,
        new_box_public=new.box_public,
        hlc=station.stamp(),
        at=iso_utc(station.clock()),
    )
    _, changes = station.new_case()  # a case sealed in the same set as the key change, under the old key
    result = ingest_sets(store, identity, [seal2(station, [*changes, change])], station_id=station.station_id)
    assert result.results[0].status == "accepted"
    station.keys = new


def test_a_station_that_changed_its_key_gets_back_the_sets_its_old_key_signed(store, identity, station, clock):
    file_case2(store, identity, station)  # set 1: in the backup, taken before the key change went up
    rekey(store, identity, station)  # set 2: a case and the key change, under the old key
    after = file_case2(store, identity, station)  # set 3: the new key's
    position = read_feed(store, identity, station.station_id, after=0, limit=None, now=clock())[1].last_seq
    held = store.set_in(station.station_id, 2)
    assert held is not None
    records, _, cases = written_by(store, identity, station.station_id, range(2, 4))
    assert len(records) == 5 + 4 and after in cases and len(cases) == 2  # both sets opened, each under its key

    assert recover_if_behind(store, identity, station.station_id, 1, now=clock()) > 0
    items = items_after(store, identity, station, clock, position)
    rows = {i.pk for i in items if isinstance(i, RowChange) and i.table == "cases"}
    assert rows == cases  # nothing the old key signed is lost
    receipts = [verify_receipt(i.receipt, identity.keys.sign_public) for i in items if isinstance(i, ReceiptItem)]
    assert [r.seq for r in receipts] == [2, 3]


def test_a_fork_after_a_key_change_keeps_the_hubs_sets_of_both_keys(store, identity, station, clock):
    file_case2(store, identity, station)  # set 1: both chains share it
    old = station.keys
    rekey(store, identity, station)  # set 2, old key
    file_case2(store, identity, station)  # set 3, new key
    records, _, _ = written_by(store, identity, station.station_id, range(2, 4))
    _, changes = station.new_case()
    # A copy of the folder taken after set 1 seals its own set 2 under the key it holds, the old one.
    forked = seal2(station, changes, seq=2, prev=store.set_in(station.station_id, 1)[0], keys=old)
    assert ingest_sets(store, identity, [forked], station_id=station.station_id).results[0].status == "fork"
    store.set_features(station.station_id, STATION_FEATURES)
    fork = store.forks()[0]

    done = resolve_fork(store, identity, fork.id, keep="hub", by="test", now=clock())
    assert (done.base_seq, done.hub_head_seq) == (1, 3)
    rows, _ = read_feed(store, identity, station.station_id, after=0, limit=None, now=clock())
    items = [item for row in rows for item in station.read_feed_set(row.envelope)[1]]
    resolved = next(i for i in items if isinstance(i, ForkResolved))
    # Every change of the hub's branch is named held, the old key's set among them: none recorded twice.
    assert sorted(resolved.held) == sorted(change_digest(r) for r in records) and len(resolved.held) == 9
