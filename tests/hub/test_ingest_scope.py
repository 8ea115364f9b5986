"""The ingest's per-set shortcuts keep every guarantee: one savepoint per set, rows inserted unread, due dates once."""

from __future__ import annotations

from hub.ingest import ingest_sets
from hub.keys import HubIdentity
from hub.store import HubStore
from tests.hub.builders import TestStation
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS


def _push(store: HubStore, identity: HubIdentity, st: TestStation, *sets: bytes) -> list[str]:
    result = ingest_sets(store, identity, list(sets), station_id=st.station_id, now=st.clock, lean=True)
    return [r.status for r in result.results]


def _counts(store: HubStore) -> dict[tuple[str, str, str], int]:
    """The triggers' case_counts rows (non-zero), beside what the cases table holds."""
    kept = {
        (d, t, s): n
        for d, t, s, n in store.db.execute(
            "SELECT department, township, status, n FROM case_counts WHERE n <> 0"
        ).fetchall()
    }
    counted: dict[tuple[str, str, str], int] = {}
    for item, village, status in store.db.execute("SELECT item_code, village_code, status FROM cases").fetchall():
        key = (item.split("-")[0], village[:9] + "000", status)
        counted[key] = counted.get(key, 0) + 1
    assert kept == counted
    return kept


def test_a_change_failing_half_written_is_undone_alone_and_the_rest_of_its_set_applied(
    store, identity, station, station_b
):
    first, changes_a = station.new_case()
    second, changes_b = station.new_case()
    # A value the database refuses (stage is an INTEGER column): the change fails inside its write.
    bad = station.update("cases", first, {"stage": "not a number"})
    assert _push(store, identity, station, station.seal([*changes_a, bad, *changes_b])) == ["accepted"]
    assert [r["code"] for r in store.rejected(station.station_id)] == ["malformed"]
    assert [store.row("cases", c)["status"] for c in (first, second)] == ["RECEIVED", "RECEIVED"]
    assert store.row("cases", first)["stage"] == 0
    assert [len(store.case_events(c)) for c in (first, second)] == [1, 1]
    assert sum(_counts(store).values()) == 2  # each case counted once, not once more for the run undone
    assert store.count_rows("intake_materials") == 2
    # What the village's other PC is sent: each applied change once (the run undone queued nothing that stayed).
    bodies = [body for _, _, body in store.pending_items(station_b.station_id)]
    assert len(bodies) == len(set(bodies)) >= len(changes_a) + len(changes_b)


def test_a_new_case_whose_move_in_the_set_is_refused_still_gets_its_due_date(store, identity, station):
    case_no, changes = station.new_case()
    refused = station.move(case_no, "DRAFT", "COMPLETED")  # not a station's move: refused
    assert _push(store, identity, station, station.seal([*changes[:3], refused])) == ["accepted"]
    assert [r["code"] for r in store.rejected(station.station_id)] != []
    case = store.row("cases", case_no)
    assert case["status"] == "DRAFT"
    assert case["due_date"] == "2026-12-01"  # RS-001: 3 working days after Thu 2026-11-26


def test_a_new_case_moved_later_in_its_set_gets_the_due_date_of_its_state(store, identity, station):
    case_no, changes = station.new_case()
    assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
    assert store.row("cases", case_no)["due_date"] == "2026-12-01"


def test_rows_held_already_sent_again_in_a_later_set_are_duplicates_not_doubled(store, identity, station):
    case_no, changes = station.new_case()
    assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
    # The same changes again in the station's next set (a station restored from a copy sends them anew).
    assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
    assert store.rejected(station.station_id) == []
    assert store.count_rows("cases") == 1 and store.count_rows("intake_materials") == 1
    assert len(store.case_events(case_no)) == 1
    assert sum(_counts(store).values()) == 1
