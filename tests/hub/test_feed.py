"""Feeds: sealing queued items into signed, chained sets per station, records before bulk."""

from __future__ import annotations

import msgspec
import pytest

from hub.decisions import decide
from hub.feed import MAX_ITEMS_PER_SET, MAX_SET_BYTES, feed_origin, queue, read_feed, seal_pending
from hub.ingest import ingest_sets
from sync.crypto import KeyPair, box_layout
from sync.protocol import (
    FEATURE_BOX_KEY,
    GENESIS,
    STATION_FEATURES,
    CalendarItem,
    CaseState,
    CatalogItem,
    DivisionsItem,
    ProtocolError,
    ReceiptItem,
    SignedSet2,
    StatusChange,
    decode_envelope,
)
from sync.timeutil import iso_utc
from tests.hub.builders import open_feed_set
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # the store's behaviour on SQLite and on PostgreSQL (docs/postgresql.md)


def feed_items(store, identity, st, clock, after=0):
    rows, response = read_feed(store, identity, st.station_id, after=after, limit=None, now=clock())
    sets = [st.read_feed_set(row.envelope) for row in rows]
    return sets, response


def test_enrolment_queues_catalogue_calendar_and_divisions_in_small_sets(store, identity, station, clock):
    sets, response = feed_items(store, identity, station, clock)
    (first, items), (second, (divisions,)) = sets
    assert response.last_seq == 2
    assert isinstance(items[0], CatalogItem) and items[0].version == 1
    years = [i.table.year for i in items if isinstance(i, CalendarItem)]
    assert years == list(range(2025, max(years) + 1))
    assert isinstance(divisions, DivisionsItem)
    assert (first.origin, first.seq, first.prev) == (feed_origin(station.station_id), 1, GENESIS)
    assert all(len(row.envelope) < MAX_SET_BYTES + 1024 for row in store.feed_sets_after(station.station_id, 0))


def test_sets_are_chained_and_hold_at_most_200_items(store, identity, station, clock):
    base = seal_pending(store, identity, station.station_id, clock())  # the reference data
    with store.transaction():
        for n in range(450):
            queue(store, [station.station_id], CaseState(case_no=f"c{n}", status="RECEIVED"), at=iso_utc(clock()))
    assert seal_pending(store, identity, station.station_id, clock()) == 3
    sets, response = feed_items(store, identity, station, clock, after=base)
    assert [len(items) for _, items in sets] == [MAX_ITEMS_PER_SET, MAX_ITEMS_PER_SET, 50]
    assert [s.seq for s, _ in sets] == [base + 1, base + 2, base + 3] and response.last_seq == base + 3
    rows = store.feed_sets_after(station.station_id, 0)
    for earlier, later in zip(rows, rows[1:]):
        assert open_feed_set(later.envelope, station.response, station.keys)[0].prev == earlier.hash
    assert [i.case_no for _, items in sets for i in items] == [f"c{n}" for n in range(450)]
    assert seal_pending(store, identity, station.station_id, clock()) == 0


def test_limit_and_after_page_through_the_feed(store, identity, station, clock):
    with store.transaction():
        for n in range(3 * MAX_ITEMS_PER_SET):
            queue(store, [station.station_id], CaseState(case_no=f"c{n}", status="RECEIVED"), at=iso_utc(clock()))
    rows, response = read_feed(store, identity, station.station_id, after=1, limit=2, now=clock())
    # The catalogue (a record, queued first) and the 600 case states fill 4 sets, the last of which
    # also takes the calendar years and the division tree.
    assert [r.seq for r in rows] == [2, 3] and response.last_seq == 4
    rows, _ = read_feed(store, identity, station.station_id, after=3, limit=2, now=clock())
    assert [r.seq for r in rows] == [4]


def test_records_are_sealed_before_bulk(store, identity, station, clock):
    case_no, changes = station.new_case()
    ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=clock)
    sets, _ = feed_items(store, identity, station, clock)
    kinds = [type(i).__name__ for _, items in sets for i in items]
    assert kinds.index("ReceiptItem") < kinds.index("CalendarItem")
    assert kinds.index("CaseState") < kinds.index("CalendarItem")
    # The catalogue is a record, in queue order: a case received under a version never comes before it.
    assert kinds.index("CatalogItem") < kinds.index("ReceiptItem")
    assert kinds[-1] == "DivisionsItem"


def test_a_feed_holds_only_its_own_station_and_village(store, identity, station, station_b, other_station, clock):
    case_no, changes = station.new_case()
    ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=clock)
    decide(store, case_no, "accept", now=clock)
    own, _ = feed_items(store, identity, station, clock)
    own_items = [i for _, items in own for i in items]
    assert [type(i) for i in own_items].count(ReceiptItem) == 1
    assert [i.to_status for i in own_items if isinstance(i, StatusChange)] == ["ACCEPTED"]
    b_items = [i for _, items in feed_items(store, identity, station_b, clock)[0] for i in items]
    assert not any(isinstance(i, ReceiptItem) for i in b_items)
    assert {getattr(i, "case_no", None) or getattr(i, "pk", None) for i in b_items} - {None} >= {case_no}
    foreign = [i for _, items in feed_items(store, identity, other_station, clock)[0] for i in items]
    assert all(isinstance(i, (CatalogItem, CalendarItem, DivisionsItem)) for i in foreign)


def test_a_feed_set_opens_only_for_its_station(store, identity, station, station_b, clock):
    rows, _ = read_feed(store, identity, station.station_id, after=0, limit=None, now=clock())
    with pytest.raises(ProtocolError) as caught:
        open_feed_set(rows[0].envelope, station.response, station_b.keys)
    assert caught.value.code == "bad_box"
    with pytest.raises(ProtocolError):
        open_feed_set(rows[0].envelope, station.response, KeyPair.generate())


@pytest.mark.parametrize("reads_box_key", [True, False])
def test_a_feed_set_has_its_own_body_key_only_for_a_station_that_said_it_reads_that(
    store, identity, station, clock, reads_box_key
):
    features = STATION_FEATURES if reads_box_key else STATION_FEATURES & ~FEATURE_BOX_KEY  # a station of 0.6
    store.set_features(station.station_id, features)
    rows, _ = read_feed(store, identity, station.station_id, after=0, limit=None, now=clock())
    layouts = {
        box_layout(msgspec.msgpack.decode(bytes(decode_envelope(r.envelope).payload), type=SignedSet2).body)
        for r in rows
    }
    assert layouts == ({3} if reads_box_key else {2})
    assert station.read_feed_set(rows[0].envelope)  # the station opens either with its own key
