"""Ingest of station change sets: chain, signatures, keys, and the merge rules per change."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.enroll import revoke_station
from hub.ingest import ingest_sets
from hub.keys import HubIdentity, load_identity
from hub.store import HubStore
from sync.changes import RowChange, encode_change
from sync.crypto import KeyPair
from sync.protocol import (
    CTX_UP,
    CaseState,
    KeyRevokedItem,
    ReceiptItem,
    RejectedItem,
    decode_envelope,
    verify_receipt,
)
from tests.hub.builders import OTHER_VILLAGE, Clock, TestStation, enrol
from tests.support.old_forms import seal_set
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # the store's behaviour on SQLite and on PostgreSQL (docs/postgresql.md)


def push(store: HubStore, identity: HubIdentity, st: TestStation, *sets: bytes, clock: Clock | None = None):
    return ingest_sets(store, identity, list(sets), station_id=st.station_id, now=clock or st.clock)


def queued(store: HubStore, station_id: str, kind: type) -> list:
    decoder = msgspec.msgpack.Decoder(kind)
    tag = kind.__struct_config__.tag
    return [decoder.decode(body) for _, k, body in store.pending_items(station_id) if k == tag]


def test_accepted_set_is_applied_with_a_signed_receipt(store, identity, station):
    case_no, changes = station.new_case()
    result = push(store, identity, station, station.seal(changes))
    (outcome,) = result.results
    assert (outcome.status, result.next_seq) == ("accepted", 2)
    body = verify_receipt(outcome.receipt, identity.keys.sign_public)
    assert (body.origin, body.seq) == (station.station_id, 1)
    case = store.row("cases", case_no)
    assert case["status"] == "RECEIVED"
    assert case["due_date"] == "2026-12-01"  # RS-001: 3 working days after Thu 2026-11-26
    assert case["id_hash"] and case["id_hash"] != case["id_number"]
    assert [e["to_status"] for e in store.case_events(case_no)] == ["RECEIVED"]
    assert store.station(station.station_id).applied_seq == 1
    assert [r.receipt for r in queued(store, station.station_id, ReceiptItem)] == [outcome.receipt]
    (state,) = queued(store, station.station_id, CaseState)
    assert (state.status, state.through_seq, state.due_date) == ("RECEIVED", 1, "2026-12-01")


def test_duplicate_is_acknowledged_with_the_same_receipt_and_not_applied_again(store, identity, station, station_b):
    case_no, changes = station.new_case()
    envelope = station.seal(changes)
    first = push(store, identity, station, envelope).results[0]
    items_b = len(store.pending_items(station_b.station_id))
    again = push(store, identity, station, envelope)
    assert again.results[0].status == "duplicate"
    assert again.results[0].receipt == first.receipt
    assert again.next_seq == 2
    assert len(store.case_events(case_no)) == 1
    assert len(store.pending_items(station_b.station_id)) == items_b
    assert store.count_sets_in(station.station_id) == 1


def test_gap_names_the_seq_needed(store, identity, station):
    _, changes = station.new_case()
    station.seal(changes)  # seq 1, never sent
    case_no, changes = station.new_case()
    result = push(store, identity, station, station.seal(changes))
    assert result.results[0].status == "gap"
    assert result.next_seq == 1
    assert store.row("cases", case_no) is None


def test_fork_is_quarantined_visible_and_nothing_applied(store, identity, station):
    _, changes = station.new_case()
    held = station.seal(changes)
    assert push(store, identity, station, held).results[0].status == "accepted"
    other_case, changes = station.new_case()
    # A restored backup seals different changes at seq 1 again.
    forked = station.seal(changes, seq=1, prev=bytes(32))
    result = push(store, identity, station, forked)
    assert result.results[0].status == "fork"
    assert station.station_id in result.results[0].detail
    (fork,) = store.forks()
    assert (fork.station_id, fork.seq) == (station.station_id, 1)
    assert store.quarantined_envelope(fork.quarantine_id) == forked
    assert store.row("cases", other_case) is None
    assert store.count_sets_in(station.station_id) == 1
    assert store.station(station.station_id).applied_seq == 1
    # The same fork again is kept once.
    push(store, identity, station, forked)
    assert len(store.forks()) == 1


def test_prev_mismatch_is_a_fork(store, identity, station):
    _, changes = station.new_case()
    push(store, identity, station, station.seal(changes))
    case_no, changes = station.new_case()
    result = push(store, identity, station, station.seal(changes, seq=2, prev=b"\x01" * 32))
    assert result.results[0].status == "fork"
    assert store.row("cases", case_no) is None


def test_a_flipped_byte_anywhere_is_refused_and_nothing_applied(store, identity, station):
    case_no, changes = station.new_case()
    envelope = station.seal(changes)
    parsed = decode_envelope(envelope)
    payload = bytes(parsed.payload)
    start = envelope.index(payload)
    sealed_body = msgspec.msgpack.decode(payload)[6]
    body_at = start + payload.index(sealed_body)
    inside = set(range(body_at, body_at + len(sealed_body))) | set(
        range(envelope.index(parsed.signature), len(envelope))
    )
    signature_at = envelope.index(parsed.signature)
    positions = sorted(
        set(range(0, len(envelope), 7)) | set(range(body_at, body_at + 40)) | set(range(signature_at, len(envelope)))
    )
    codes = {}
    for position in positions:
        damaged = bytearray(envelope)
        damaged[position] ^= 0x01
        result = push(store, identity, station, bytes(damaged)).results[0]
        assert result.status == "refused", position
        codes[position] = result.code
        if result.code == "bad_signature":
            assert f"station {station.station_id}, set 1" in result.detail
    # Inside the signed payload's body and the signature, a flip is always a failed signature.
    for position, code in codes.items():
        if position in inside:
            assert code == "bad_signature", position
    assert set(codes.values()) <= {"bad_signature", "malformed", "unknown_key", "protocol_version"}
    assert store.row("cases", case_no) is None and store.count_sets_in(station.station_id) == 0
    assert push(store, identity, station, envelope).results[0].status == "accepted"


def test_unknown_key_is_refused(store, identity, station):
    _, changes = station.new_case()
    result = push(store, identity, station, station.seal(changes, keys=KeyPair.generate()))
    assert (result.results[0].status, result.results[0].code) == ("refused", "unknown_key")


def test_revoked_key_earlier_sets_stand_later_refused(store, identity, station, station_b):
    first_case, changes = station.new_case()
    first = station.seal(changes)
    assert push(store, identity, station, first).results[0].status == "accepted"
    item = revoke_station(store, station.station_id, reason="laptop stolen", now=station.clock)
    assert item == KeyRevokedItem(station_id=station.station_id, key_id=station.keys.key_id, after_seq=1)
    assert queued(store, station_b.station_id, KeyRevokedItem) == [item]
    later_case, changes = station.new_case()
    result = push(store, identity, station, station.seal(changes))
    assert (result.results[0].status, result.results[0].code) == ("refused", "revoked_key")
    assert store.row("cases", later_case) is None
    assert store.row("cases", first_case)["status"] == "RECEIVED"
    assert push(store, identity, station, first).results[0].status == "duplicate"


def test_wrong_origin_is_refused(store, identity, station, station_b):
    _, changes = station.new_case()
    # Signed by A's key but claiming to be B's set; and A's own set pushed as B.
    claims_b = station.seal(changes, seq=1, prev=bytes(32), origin=station_b.station_id)
    result = ingest_sets(store, identity, [claims_b], station_id=station_b.station_id, now=station.clock)
    assert result.results[0].code == "wrong_origin"
    result = ingest_sets(store, identity, [station.seal(changes)], station_id=station_b.station_id, now=station.clock)
    assert result.results[0].code == "wrong_origin"


def test_other_village_change_is_rejected_and_the_rest_applied(store, identity, station):
    case_no, changes = station.new_case()
    foreign, foreign_changes = station.new_case(village=OTHER_VILLAGE)
    result = push(store, identity, station, station.seal(changes + foreign_changes[:1]))
    assert result.results[0].status == "accepted"
    assert store.row("cases", case_no)["status"] == "RECEIVED"
    assert store.row("intakes", foreign) is None
    (rejected,) = store.rejected(station.station_id)
    assert (rejected["code"], rejected["idx"], rejected["entity_id"]) == ("other_village", 4, foreign)
    (item,) = queued(store, station.station_id, RejectedItem)
    assert (item.seq, item.index, item.code, item.current) == (1, 4, "other_village", None)
    assert item.reason_zh and item.reason_en
    # The set named by its hash too: a forked station holds another set at seq 1 (station.feed).
    assert item.set_hash == store.set_in(station.station_id, 1)[0] and len(item.set_hash) == 32


def test_a_station_cannot_touch_another_villages_case(store, identity, station, other_station):
    foreign, changes = other_station.new_case()
    push(store, identity, other_station, other_station.seal(changes))
    note = station.insert(
        "case_notes",
        "n1",
        {"note_id": "n1", "case_no": foreign, "at": "2026-11-26T02:00:00Z", "author": "x", "text": "y"},
    )
    move = station.move(foreign, "RECEIVED", "WITHDRAWN")
    push(store, identity, station, station.seal([note, move]))
    assert [r["code"] for r in store.rejected(station.station_id)] == ["other_village", "other_village"]
    assert store.row("cases", foreign)["status"] == "RECEIVED"
    assert all(item.current is None for item in queued(store, station.station_id, RejectedItem))


def test_illegal_status_move_is_rejected_with_its_reason_queued(store, identity, station):
    case_no, changes = station.new_case()
    changes.append(station.move(case_no, "RECEIVED", "ACCEPTED"))
    changes.append(station.move(case_no, "RECEIVED", "ACCEPTED", actor="department"))
    assert push(store, identity, station, station.seal(changes)).results[0].status == "accepted"
    assert store.row("cases", case_no)["status"] == "RECEIVED"
    items = queued(store, station.station_id, RejectedItem)
    assert [(i.index, i.code) for i in items] == [(4, "illegal_transition"), (5, "actor_not_allowed")]
    assert items[0].current == {"status": "RECEIVED", "outcome": None, "accepted_date": None}
    assert "RECEIVED" in items[0].reason_en and "ACCEPTED" in items[0].reason_en


def test_lww_conflict_is_recorded_with_both_sides(store, identity, station, station_b):
    case_no, changes = station.new_case()
    push(store, identity, station, station.seal(changes))
    older = station_b.stamp() - 1_000_000  # B's edit was made earlier but arrives later
    push(store, identity, station, station.seal([station.update("cases", case_no, {"applicant_name": "王晓明"})]))
    late = RowChange(table="cases", pk=case_no, hlc=older, fields={"applicant_name": "王小鸣"})
    assert push(store, identity, station_b, station_b.seal([late])).results[0].status == "accepted"
    assert store.row("cases", case_no)["applicant_name"] == "王晓明"
    (conflict,) = store.conflicts(case_no)
    assert (conflict["field"], conflict["kept"], conflict["lost"]) == ("applicant_name", '"王晓明"', '"王小鸣"')
    assert (conflict["kept_origin"], conflict["lost_origin"]) == (station.station_id, station_b.station_id)


def test_changes_are_forwarded_to_the_villages_other_stations_only(store, identity, station, station_b, other_station):
    case_no, changes = station.new_case()
    push(store, identity, station, station.seal(changes))
    forwarded = queued(store, station_b.station_id, RowChange)
    assert {c.origin for c in forwarded} == {station.station_id}
    assert [c.pk for c in forwarded] == [case_no, f"{case_no}/居民身份证", case_no]
    assert queued(store, station.station_id, RowChange) == []
    assert store.pending_items(other_station.station_id) == [
        item
        for item in store.pending_items(other_station.station_id)
        if item[1] in ("catalog", "calendar", "divisions")
    ]
    (state_b,) = queued(store, station_b.station_id, CaseState)
    assert state_b.through_seq == 0


def test_rule_breaking_rows_are_rejected_not_applied(store, identity, station):
    case_no, changes = station.new_case()
    push(store, identity, station, station.seal(changes))
    bad = [
        station.update("secrets", "x", {"a": 1}),
        station.update("cases", case_no, {"versions": "{}"}),
        station.update("cases", case_no, {"status": "COMPLETED"}),
        station.insert(
            "cases",
            "349921001001-20261126-A099",
            {**changes[2].fields, "case_no": "349921001001-20261126-A099", "status": "COMPLETED"},
        ),
        station.insert("intakes", "i-2", {"intake_id": "i-2", "village_code": station.village_code}),
        station.update("cases", "no-such-case", {"phone": "13900000000"}),
        station.update("cases", case_no, {"stage": "not a number"}),
    ]
    assert push(store, identity, station, station.seal(bad)).results[0].status == "accepted"
    assert [r["code"] for r in store.rejected(station.station_id)] == [
        "unknown_table",
        "malformed",
        "status_by_row",
        "status_by_row",
        "malformed",
        "row_missing",
        "malformed",
    ]
    assert store.row("cases", case_no)["status"] == "RECEIVED"
    assert store.row("intakes", "i-2") is None


def test_a_station_cannot_insert_a_case_number_already_held(store, identity, station, station_b):
    case_no, changes = station.new_case()
    push(store, identity, station, station.seal(changes))
    clash = station_b.insert("intakes", case_no, changes[0].fields)
    push(store, identity, station_b, station_b.seal([clash]))
    (item,) = queued(store, station_b.station_id, RejectedItem)
    assert item.code == "duplicate_row"
    assert item.current["village_code"] == station.village_code


def test_ingest_stops_at_the_first_set_not_taken(store, identity, station):
    sets = [station.seal(station.new_case()[1]) for _ in range(3)]
    damaged = bytearray(sets[1])
    damaged[-1] ^= 1
    result = push(store, identity, station, sets[0], bytes(damaged), sets[2])
    assert [r.status for r in result.results] == ["accepted", "refused"]
    assert result.next_seq == 2


@pytest.mark.parametrize("village", [OTHER_VILLAGE])
def test_unknown_station_is_refused(store, identity, clock, village):
    result = ingest_sets(store, identity, [b"\x94\x01"], station_id=f"{village}-Z-1", now=clock)
    assert (result.results[0].status, result.results[0].code) == ("refused", "unknown_key")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.lists(st.integers(0, 4), max_size=12))
def test_any_delivery_order_applies_each_set_exactly_once(fresh_hub, tmp_path_factory, order):
    """Retries, duplicates and sets out of order: the hub ends where in-order delivery ends."""
    hub_dir = fresh_hub(tmp_path_factory.mktemp("order") / "hub")
    clock = Clock()
    with HubStore.open_existing(hub_dir) as store:
        identity = load_identity(hub_dir)
        station = enrol(store, identity, clock)
        numbered = [station.new_case() for _ in range(5)]
        sets = [station.seal(changes) for _, changes in numbered]
        for index in order:
            push(store, identity, station, *sets[index:])
        final = push(store, identity, station, *sets)
        assert final.next_seq == 6
        assert {r.status for r in final.results} <= {"accepted", "duplicate"} and len(final.results) == 5
        for case_no, _ in numbered:
            assert [e["to_status"] for e in store.case_events(case_no)] == ["RECEIVED"]
        assert store.count_sets_in(station.station_id) == 5
        assert store.forks() == []


def test_text_that_is_not_utf8_is_refused_or_rejected_never_a_crash(store, identity, station):
    # An envelope whose key id is not UTF-8: refused as malformed.
    result = push(store, identity, station, bytes([0x94, 0x01, 0xA2, 0xFF, 0xFE, 0x90, 0xC4, 0x00]))
    assert (result.results[0].status, result.results[0].code) == ("refused", "malformed")
    # A signed set with one record whose table name is not UTF-8: that record rejected, the rest applied.
    case_no, changes = station.new_case()
    good = [encode_change(c) for c in changes]
    bad = encode_change(station.update("cases", case_no, {"phone": "1"})).replace(b"cases", b"\xff\xfeses", 1)
    envelope, _ = seal_set(
        origin=station.station_id,
        seq=1,
        prev=bytes(32),
        created_ms=0,
        hlc=station.stamp(),
        records=[*good, bad],
        sign_private=station.keys.sign_private,
        sign_public=station.keys.sign_public,
        recipient_box_public=identity.keys.box_public,
        context=CTX_UP,
    )
    assert push(store, identity, station, envelope).results[0].status == "accepted"
    assert store.row("cases", case_no)["status"] == "RECEIVED"
    assert [r["code"] for r in store.rejected(station.station_id)] == ["malformed"]


_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
_COLUMNS = st.sampled_from(
    [
        "village_code",
        "intake_id",
        "status",
        "stage",
        "phone",
        "id_number",
        "case_no",
        "due_days",
        "received_date",
        "catalog_version",
        "x",
    ]
)


def test_hostile_field_values_never_block_the_queue(fresh_hub, tmp_path_factory, hub_backend):
    # A fresh hub per example: a copied file on SQLite, a database made from a template on PostgreSQL, which
    # costs more, so fewer examples there (the NUL a text column cannot hold is in them: see the pk strategy).
    @settings(
        max_examples=15 if hub_backend.postgres else 60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        table=st.sampled_from(["intakes", "cases", "commitments", "case_notes", "intake_materials"]),
        fields=st.dictionaries(_COLUMNS, _VALUES, max_size=4),
        insert=st.booleans(),
        pk=st.text(max_size=6) | st.just("a\x00"),
    )
    def hostile_change(table, fields, insert, pk):
        hub_dir = fresh_hub(tmp_path_factory.mktemp("hostile") / "hub")
        clock = Clock()
        with HubStore.open_existing(hub_dir) as store:
            identity = load_identity(hub_dir)
            station = enrol(store, identity, clock)
            case_no, changes = station.new_case()
            hostile = RowChange(
                table=table, pk=case_no if pk == "" else pk, hlc=station.stamp(), fields=fields, insert=insert
            )
            result = push(store, identity, station, station.seal([*changes, hostile]))
            assert result.results[0].status == "accepted"
            assert store.row("cases", case_no)["status"] == "RECEIVED"

    hostile_change()
