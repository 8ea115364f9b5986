"""County decisions: the lifecycle decides, the move goes down every feed of the village."""

from __future__ import annotations

import msgspec
import pytest

from hub.decisions import ALIASES, decide, resolve_status
from hub.ingest import ingest_sets
from sync.errors import IllegalTransition, InputError, NotFoundError
from sync.lifecycle import Status
from sync.protocol import CaseState, StatusChange
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # the store's behaviour on SQLite and on PostgreSQL (docs/postgresql.md)


@pytest.fixture
def case_no(store, identity, station, station_b):
    """A case received at station A (station B is the village's second PC)."""
    number, changes = station.new_case()
    ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=station.clock)
    return number


def queued(store, station_id, kind):
    decoder = msgspec.msgpack.Decoder(kind)
    return [decoder.decode(b) for _, k, b in store.pending_items(station_id) if k == kind.__struct_config__.tag]


def test_accept_sets_the_acceptance_date_and_due_date_and_goes_down(store, station, station_b, case_no, clock):
    clock.advance(hours=15)  # 2026-11-26 17:00 UTC is already Friday 27th in China
    decision = decide(store, case_no, "accept", by="张科长", now=clock)
    assert (decision.from_status, decision.status, decision.stations) == ("RECEIVED", "ACCEPTED", 2)
    assert decision.accepted_date == "2026-11-27"
    assert decision.due_date == "2026-12-02"  # RS-001: 3 working days after Fri 27th
    case = store.row("cases", case_no)
    assert (case["status"], case["accepted_date"], case["due_date"]) == ("ACCEPTED", "2026-11-27", "2026-12-02")
    event = store.case_events(case_no)[-1]
    assert (event["origin"], event["actor"], event["by"], event["event_id"]) == (
        "hub",
        "department",
        "张科长",
        decision.event_id,
    )
    for st, through in ((station, 1), (station_b, 0)):
        (move,) = [m for m in queued(store, st.station_id, StatusChange) if m.origin == "hub"]
        assert (move.event_id, move.origin, move.to_status) == (decision.event_id, "hub", "ACCEPTED")
        state = queued(store, st.station_id, CaseState)[-1]
        assert (state.status, state.accepted_date, state.due_date, state.through_seq) == (
            "ACCEPTED",
            "2026-11-27",
            "2026-12-02",
            through,
        )


def test_event_ids_follow_the_hubs_persisted_clock(store, case_no, clock):
    first = decide(store, case_no, "accept", now=clock)
    second = decide(store, case_no, "review", now=clock)  # same wall time: the HLC still moves on
    assert int(second.event_id.split(":")[1]) > int(first.event_id.split(":")[1])
    assert int(store.get_meta("hlc_last")) == int(second.event_id.split(":")[1])


def test_a_refusal_needs_a_reason(store, case_no, clock):
    with pytest.raises(InputError):
        decide(store, case_no, "refuse", now=clock)
    assert decide(store, case_no, "NOT_ACCEPTED", reason="不属于本部门", now=clock).status == "NOT_ACCEPTED"


def test_a_correction_notice_lists_every_missing_material(store, case_no, clock):
    with pytest.raises(InputError):
        decide(store, case_no, "correct", now=clock)
    decision = decide(
        store,
        case_no,
        "correct",
        missing=["居民户口簿", "城乡居民基本养老保险参保登记表"],
        reason="请于五个工作日内补齐",
        now=clock,
    )
    assert decision.status == "AWAITING_CORRECTION"
    assert "居民户口簿" in decision.reason and "城乡居民基本养老保险参保登记表" in decision.reason
    assert store.case_events(case_no)[-1]["reason"] == decision.reason


def test_completing_needs_an_outcome(store, case_no, clock):
    decide(store, case_no, "accept", now=clock)
    with pytest.raises(InputError):
        decide(store, case_no, "complete", now=clock)
    with pytest.raises(InputError):
        decide(store, case_no, "review", outcome="approved", now=clock)
    decision = decide(store, case_no, "complete", outcome="approved", actor="township", now=clock)
    assert (decision.status, decision.outcome) == ("COMPLETED", "approved")


def test_an_illegal_move_names_both_states(store, case_no, clock):
    with pytest.raises(IllegalTransition) as caught:
        decide(store, case_no, "complete", outcome="approved", now=clock)
    assert "RECEIVED" in caught.value.en and "COMPLETED" in caught.value.en
    assert store.row("cases", case_no)["status"] == "RECEIVED"


def test_pauses_move_the_due_date(store, case_no, clock):
    decide(store, case_no, "accept", now=clock)  # Thu 26th: due Tue 1 Dec
    decide(store, case_no, "special-start", now=clock)
    clock.advance(days=6)  # back on Wed 2 Dec
    decision = decide(store, case_no, "special-end", now=clock)
    assert decision.due_date == "2026-12-07"


def test_aliases_and_names_resolve():
    assert resolve_status("Accept") is Status.ACCEPTED
    assert resolve_status("in_progress") is Status.IN_PROGRESS
    assert {ALIASES[a] for a in ("review", "resume", "special-end")} == {Status.IN_PROGRESS}
    with pytest.raises(InputError):
        resolve_status("approve")


def test_unknown_case_and_bad_actor(store, case_no, clock):
    with pytest.raises(NotFoundError):
        decide(store, "349921001001-20261126-Z999", "accept", now=clock)
    with pytest.raises(InputError):
        decide(store, case_no, "accept", actor="station", now=clock)
