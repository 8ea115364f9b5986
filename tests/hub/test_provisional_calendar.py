"""The hub counts a year without a table by the same provisional rule as the stations (sync/holidays.py)."""

from __future__ import annotations

from hub.decisions import decide
from hub.ingest import ingest_sets


def test_a_due_date_into_an_unpublished_year_skips_its_statutory_holidays(store, identity, station, clock):
    clock.advance(days=35)  # Thursday 2026-12-31 in China; 2027 has no table yet
    number, changes = station.new_case()
    ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=clock)
    decision = decide(store, number, "accept", by="张科长", now=clock)
    assert decision.accepted_date == "2026-12-31"
    # RS-001, 3 working days: Fri 1 Jan is New Year's Day, so Mon 4, Tue 5, Wed 6 (Mon–Fri alone gave the 5th).
    assert decision.due_date == "2027-01-06"
    case = store.row("cases", number)
    assert (case["due_date"], case["due_provisional"]) == ("2027-01-06", 1)
