"""The hub holds a station's sets to sync.limits before any write, refuses what is past them whole, and says so."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from hub.ingest import ingest_sets
from hub.keys import HubIdentity
from hub.store import HubStore
from hub.testing import live_server
from hub.web.app import create_app
from sync.changes import Change, RowChange, StatusChange, encode_change
from sync.limits import MAX_CHANGES_PER_SET, MAX_FIELDS_PER_RECORD, MAX_RECORD_BYTES, MAX_SETS_PER_REQUEST, text_limit
from sync.protocol import CTX_UP, PROTOCOL_VERSION, SyncRequest, SyncResponse, seal_set
from tests.hub.builders import TestStation

SYNC = "/api/v1/sync"


def raw_set(station: TestStation, records: list[bytes], *, seq: int | None = None) -> bytes:
    """A set of any records, sealed and signed with the station's own key (what a thief of it can send)."""
    envelope, set_hash = seal_set(
        origin=station.station_id,
        seq=station.seq + 1 if seq is None else seq,
        prev=station.prev,
        records=records,
        sign_private=station.keys.sign_private,
        recipient_box_public=station.response.hub_box_public,
        sender_box_private=station.keys.box_private,
        context=CTX_UP,
    )
    return envelope


def exchange_body(sets: list[bytes]) -> bytes:
    return msgspec.msgpack.encode(SyncRequest(PROTOCOL_VERSION, [msgspec.Raw(s) for s in sets], 0))


def stored(store: HubStore, station_id: str) -> tuple[int, int, int, int]:
    """What the hub keeps of a station's sets: sets, rejected changes, feed items (queued or sealed), forks."""
    feed_items = store.pending_count(station_id) + sum(row.items for row in store.feed_sets_after(station_id, 0))
    return store.count_sets_in(station_id), len(store.rejected(station_id)), feed_items, len(store.forks())


@pytest.mark.timeout(60)
def test_a_million_junk_records_are_refused_at_once_store_nothing_and_show_as_a_refused_contact(
    settings,
    clock,
    store,
    station,
    other_station,
    hub_dir: Path,
):
    junk = raw_set(station, [b"\xc0"] * 1_000_000)
    assert len(junk) < 1_000
    before = stored(store, station.station_id)
    size_before = (hub_dir / "hub.db").stat().st_size
    case_no, changes = other_station.new_case()
    neighbour = exchange_body([other_station.seal(changes)])
    timings: dict[str, float] = {}
    answers: dict[str, httpx.Response] = {}

    def send(name: str, who: TestStation, body: bytes) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            started = time.perf_counter()
            answers[name] = http.post(SYNC, content=body, headers=who.headers("POST", SYNC, body))
            timings[name] = time.perf_counter() - started

    with live_server(create_app(settings, now=clock)) as base_url:
        attack = threading.Thread(target=send, args=("junk", station, exchange_body([junk])))
        attack.start()
        send("neighbour", other_station, neighbour)  # another village's station, at the same moment
        attack.join()
    assert answers["junk"].status_code == 200, answers["junk"].text
    (result,) = msgspec.msgpack.decode(answers["junk"].content, type=SyncResponse).results
    assert (result.status, result.code) == ("refused", "too_large") and "limit of 500" in result.detail
    assert timings["junk"] < 1.0 and timings["neighbour"] < 1.0
    assert msgspec.msgpack.decode(answers["neighbour"].content, type=SyncResponse).results[0].status == "accepted"
    assert store.row("cases", case_no) is not None
    assert stored(store, station.station_id) == before
    assert (hub_dir / "hub.db").stat().st_size < size_before + 512 * 1024
    contact = next(c for c in store.contacts(station.station_id) if c.kind == "push")
    assert (contact.ok, contact.code) == (False, "too_large")
    assert store.station(station.station_id).last_error == "too_large"


def _note(station: TestStation, text: str) -> RowChange:
    return station.insert("case_notes", f"{station.station_id}:note-1", {"text": text})


LIMITS = {
    "changes per set": lambda st: [st.update("cases", "c", {"stage": 1})] * (MAX_CHANGES_PER_SET + 1),
    "bytes per record": lambda st: [_note(st, "x" * (MAX_RECORD_BYTES + 1))],
    "fields per record": lambda st: [st.update("cases", "c", {f"f{i}": 1 for i in range(MAX_FIELDS_PER_RECORD + 1)})],
}

TEXT_BREACHES = {
    "name length": (lambda st, c: st.update("cases", c, {"applicant_name": "王" * 51}), "too_long"),
    "note length": (lambda st, c: _note(st, "字" * 2001), "too_long"),
    "status reason": (lambda st, c: st.move(c, "RECEIVED", "WITHDRAWN", reason="r" * 501), "too_long"),
    "status by": (
        lambda st, c: msgspec.structs.replace(st.move(c, "RECEIVED", "WITHDRAWN"), by="b" * (text_limit("by") + 1)),
        "too_long",
    ),
    "escape in a name": (lambda st, c: st.update("cases", c, {"applicant_name": "王\x1b[2J"}), "control_character"),
    "override in a note": (lambda st, c: _note(st, "exe.\u202etxt"), "control_character"),
}


@pytest.mark.parametrize("limit", list(LIMITS))
def test_a_set_past_any_limit_is_refused_whole_before_any_write(
    store: HubStore, identity: HubIdentity, station: TestStation, limit: str
):
    case_no, good = station.new_case()
    changes: list[Change] = [*good, *LIMITS[limit](station)]
    envelope = raw_set(station, [encode_change(c) for c in changes])
    before = stored(store, station.station_id)
    response = ingest_sets(store, identity, [envelope], station_id=station.station_id, now=station.clock)
    (result,) = response.results
    assert (result.status, result.code, response.next_seq) == ("refused", "too_large", 1), result
    assert "over the limit" in (result.detail or "")
    assert stored(store, station.station_id) == before and store.row("cases", case_no) is None
    # The same seq, within the limits, is then taken as the first of the chain: nothing was held of it.
    assert (
        ingest_sets(store, identity, [station.seal(good, seq=1)], station_id=station.station_id, now=station.clock)
        .results[0]
        .status
        == "accepted"
    )


@pytest.mark.parametrize("breach", list(TEXT_BREACHES))
def test_a_text_past_the_rule_is_refused_alone_and_the_queue_moves_on(
    store: HubStore, identity: HubIdentity, station: TestStation, breach: str
):
    # A 0.4 station took any note: such a change, still unsealed there, must not block its queue (invariant 4).
    make, code = TEXT_BREACHES[breach]
    case_no, good = station.new_case()
    response = ingest_sets(
        store,
        identity,
        [station.seal([*good, make(station, case_no)])],
        station_id=station.station_id,
        now=station.clock,
    )
    assert response.results[0].status == "accepted" and response.next_seq == 2
    assert store.row("cases", case_no)["status"] == "RECEIVED"
    (rejected,) = store.rejected(station.station_id)
    assert rejected["code"] == code
    assert "王" not in rejected["reason_en"] + rejected["reason_zh"]  # a name is never quoted in a reason
    assert store.row("case_notes", f"{station.station_id}:note-1") is None


def test_text_at_its_limit_is_taken(store, identity, station):
    case_no, changes = station.new_case()
    changes.append(_note(station, "字" * 2000))
    changes.append(station.move(case_no, "RECEIVED", "WITHDRAWN", reason="r" * 500))
    result = ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=station.clock)
    assert result.results[0].status == "accepted"


@pytest.mark.parametrize("seq", [0, -1])
def test_seq_0_or_negative_is_malformed_not_a_fork(store, identity, station, seq):
    held = ingest_sets(
        store, identity, [station.seal(station.new_case()[1])], station_id=station.station_id, now=station.clock
    )
    assert held.results[0].status == "accepted"  # seq 1 held: a seq below it would be a fork, were it a seq
    envelope = station.seal(station.new_case()[1], seq=seq)
    (result,) = ingest_sets(store, identity, [envelope], station_id=station.station_id, now=station.clock).results
    assert (result.status, result.code) == ("refused", "malformed")
    assert store.forks(open_only=False) == []


def test_more_sets_than_a_request_may_carry_get_413_and_a_refused_contact(client, store, station):
    envelope = station.seal(station.new_case()[1])
    body = exchange_body([envelope] * (MAX_SETS_PER_REQUEST + 1))
    response = client.post(SYNC, content=body, headers=station.headers("POST", SYNC, body))
    assert response.status_code == 413
    assert response.json()["error"] == "too_large" and response.json()["detail_zh"]
    assert store.count_sets_in(station.station_id) == 0
    assert (store.contacts(station.station_id)[0].ok, store.contacts(station.station_id)[0].code) == (
        False,
        "too_large",
    )


def test_a_status_move_with_every_field_within_limits_is_not_refused(store, identity, station):
    case_no, changes = station.new_case()
    move = StatusChange(
        event_id="e" * 100,
        case_no=case_no,
        from_status="RECEIVED",
        to_status="WITHDRAWN",
        actor="station",
        hlc=station.stamp(),
        at="2026-11-26T02:00:00Z",
        reason="r" * 500,
        by="b" * 50,
    )
    result = ingest_sets(
        store, identity, [station.seal([*changes, move])], station_id=station.station_id, now=station.clock
    )
    assert result.results[0].status == "accepted"
