"""A restored hub goes on with each station's feed after the position the station signed, never at a seq it holds."""

from __future__ import annotations

import msgspec
import pytest

from hub.backup import make_backup, restore_backup
from hub.decisions import decide
from hub.feed import RESTORED_META, feed_reach, held_feed, note_position, read_feed
from hub.ingest import ingest_sets
from hub.store import HubStore
from hub.transfer import export_file
from sync.errors import InputError
from sync.protocol import GENESIS, SyncResponse


def accepted_case(store, identity, station) -> str:
    case_no, changes = station.new_case()
    assert ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id).results[0].status
    return case_no


def test_a_position_past_the_head_that_the_station_signed_is_where_the_feed_goes_on(store, identity, station, clock):
    read_feed(store, identity, station.station_id, after=0, limit=None, now=clock())  # the enrolment's sets
    head = feed_reach(store, station.station_id)
    note_position(store, station.station_id, head + 7)  # a hub never restored lost nothing: not believed
    assert feed_reach(store, station.station_id) == head
    store.set_meta(RESTORED_META, "2026-11-26T02:00:00.000Z")  # as `hub restore` leaves it
    note_position(store, station.station_id, head)  # not past the head: nothing changes
    assert feed_reach(store, station.station_id) == head
    note_position(store, station.station_id, head + 7)  # it applied 7 sets this hub no longer has
    decide(store, accepted_case(store, identity, station), "accept")
    rows, answer = read_feed(store, identity, station.station_id, after=head + 7, limit=None, now=clock())
    signed, items = station.read_feed_set(rows[0].envelope)
    assert signed.seq == head + 8 and signed.prev == GENESIS  # a restart, signed like every feed set
    assert answer.last_seq == rows[-1].seq and items
    again, _ = read_feed(store, identity, station.station_id, after=head + 8, limit=None, now=clock())
    assert again == [] or station.read_feed_set(again[0].envelope)[0].prev == rows[-1].hash


def test_the_exchange_answers_a_station_ahead_of_a_restored_hub_after_its_position(client, store, identity, station):
    store.set_meta(RESTORED_META, "2026-11-26T02:00:00.000Z")  # as `hub restore` leaves it
    case_no = accepted_case(store, identity, station)
    first = msgspec.msgpack.decode(station.sync(client, []).content, type=SyncResponse)
    position = first.feed_last_seq + 5  # it had applied 5 more sets before the hub was restored
    decide(store, case_no, "accept")
    answer = msgspec.msgpack.decode(station.sync(client, [], feed_after=position).content, type=SyncResponse)
    signed, _ = station.read_feed_set(bytes(answer.feed[0]))
    assert (signed.seq, signed.prev) == (position + 1, GENESIS)
    assert answer.feed_last_seq >= position + 1


def test_after_a_restore_no_file_is_written_for_a_station_before_it_says_where_it_stands(
    hub_dir, identity, station, tmp_path, clock
):
    backup = make_backup(hub_dir, tmp_path / "b.tar.zst").path
    restore_backup(hub_dir, backup, force=True)
    with HubStore.open_existing(hub_dir) as store:
        assert held_feed(store, station.station_id)
        with pytest.raises(InputError) as held:
            export_file(store, identity, station.station_id, tmp_path / "down.px", now=clock)
        assert held.value.code == "feed_held" and not (tmp_path / "down.px").exists()
        note_position(store, station.station_id, 9)  # what its exchange or signed up file says
        assert not held_feed(store, station.station_id)
        decide(store, accepted_case(store, identity, station), "accept")
        result = export_file(store, identity, station.station_id, tmp_path / "down.px", after=9, now=clock)
    assert result.first_seq == 10
