"""A station restored from a backup gets back, once, the rows its lost sets wrote and their receipts."""

from __future__ import annotations

from hub.feed import read_feed
from hub.ingest import ingest_sets
from hub.recovery import recover_if_behind
from sync.protocol import CaseState, ReceiptItem, RowChange, verify_receipt


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
