"""The hub's feed at the station: verified on the exact bytes, in order, each set all or nothing."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from station import cases as ops
from station.errors import FeedError
from station.feed import apply_feed_set, feed_position
from station.queries import get_case
from station.render import case_text
from station.sealing import seal_pending
from sync.changes import RowChange, StatusChange
from sync.crypto import KeyPair
from sync.lifecycle import Status
from sync.protocol import (
    CalendarItem,
    CaseState,
    CatalogItem,
    DivisionsItem,
    KeyRevokedItem,
    ReceiptItem,
    RejectedItem,
)
from sync.samples import sample_catalog_json, sample_divisions_json
from sync.workdays import YearTable
from tests.station.conftest import pension_benefit_deferred, pension_enrolment

OTHER_PC = "349921001001-B-2"


# The county's decision, a day after the intake (the test clock starts on 2026-09-28).
COUNTY_HLC = int(dt.datetime(2026, 9, 29, 2, tzinfo=dt.UTC).timestamp() * 1000) << 16


def _accept(case_no: str, *, at: str = "2026-09-29T02:00:00.000Z", hlc: int = COUNTY_HLC) -> StatusChange:
    return StatusChange(
        event_id=f"hub:{hlc}",
        case_no=case_no,
        from_status="RECEIVED",
        to_status="ACCEPTED",
        actor="department",
        hlc=hlc,
        at=at,
        by="县人社局",
        origin="hub",
    )


def _state(case_no: str, status: str, *, through: int, accepted: str | None = "2026-09-29") -> CaseState:
    return CaseState(case_no=case_no, status=status, accepted_date=accepted, through_seq=through)


def _status(station, case_no: str) -> str:
    return station.db.execute("SELECT status FROM cases WHERE case_no = ?", [case_no]).fetchone()[0]


def _snapshot(station) -> list:
    tables = ("cases", "case_events", "catalogs", "feed_in", "rejections", "conflicts", "sets_out", "meta")
    return [station.db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables]


# -- verification and order -----------------------------------------------------------------------


def test_a_flipped_byte_anywhere_is_refused_naming_the_seq_and_nothing_changes(station, hub, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    envelope = hub.feed_set(_accept(number), _state(number, "ACCEPTED", through=0))
    before = _snapshot(station)
    for position in range(len(envelope)):
        tampered = bytearray(envelope)
        tampered[position] ^= 0x01
        with pytest.raises(FeedError) as info:
            apply_feed_set(station, bytes(tampered), keys)
        assert info.value.seq == 1 and "feed set 1" in info.value.message("en"), position
    assert _snapshot(station) == before
    assert apply_feed_set(station, envelope, keys).applied
    assert _status(station, number) == "ACCEPTED"


def test_a_set_signed_by_another_key_is_refused(station, hub, keys):
    with pytest.raises(FeedError) as info:
        apply_feed_set(station, hub.feed_set(signer=KeyPair.generate()), keys)
    assert info.value.code == "unknown_key" and feed_position(station) == 0


def test_a_set_for_another_station_is_refused(station, hub, keys):
    with pytest.raises(FeedError) as info:
        apply_feed_set(station, hub.feed_set(origin="hub>349921001002-A-1"), keys)
    assert info.value.code == "wrong_origin"


def test_a_gap_in_the_feed_is_refused(station, hub, keys):
    hub.feed_set()
    second = hub.feed_set()
    with pytest.raises(FeedError) as info:
        apply_feed_set(station, second, keys)
    assert info.value.code == "gap" and info.value.seq == 2
    assert "1" in info.value.message("en") and feed_position(station) == 0


def test_a_set_that_does_not_follow_the_chain_is_refused(station, hub, keys):
    apply_feed_set(station, hub.feed_set(), keys)
    with pytest.raises(FeedError) as info:
        apply_feed_set(station, hub.feed_set(seq=2, prev=b"\x01" * 32), keys)
    assert info.value.code == "fork" and feed_position(station) == 1


def test_a_restart_after_a_hub_restore_is_taken_only_right_after_the_position(station, hub, keys):
    """A restored hub lost the sets up to this station's position: its next set says so (prev of zeros)."""
    for _ in range(3):
        apply_feed_set(station, hub.feed_set(), keys)
    item = RejectedItem(
        seq=1, index=0, entity="cases", entity_id="X", code="other_village", reason_en="e", reason_zh="z"
    )
    with pytest.raises(FeedError) as early:
        apply_feed_set(station, hub.feed_set(item, seq=3, prev=bytes(32)), keys)  # a seq it holds: a fork
    assert early.value.code == "fork"
    with pytest.raises(FeedError) as skipping:
        apply_feed_set(station, hub.feed_set(item, seq=5, prev=bytes(32)), keys)
    assert skipping.value.code == "gap" and feed_position(station) == 3
    restart = hub.feed_set(item, seq=4, prev=bytes(32))
    outcome = apply_feed_set(station, restart, keys)
    assert outcome.applied and feed_position(station) == 4
    assert any("restored from a backup" in note for note in outcome.notes)
    assert not apply_feed_set(station, restart, keys).applied  # again: skipped, as any set applied
    forged = hub.feed_set(item, seq=5, prev=bytes(32), signer=KeyPair.generate())
    with pytest.raises(FeedError) as unsigned:
        apply_feed_set(station, forged, keys)
    assert unsigned.value.code in ("bad_signature", "unknown_key") and feed_position(station) == 4


def test_an_applied_set_is_skipped_when_it_comes_again(station, hub, keys):
    item = RejectedItem(
        seq=1, index=0, entity="cases", entity_id="X", code="other_village", reason_en="e", reason_zh="z"
    )
    envelope = hub.feed_set(item)
    assert apply_feed_set(station, envelope, keys).applied
    again = apply_feed_set(station, envelope, keys)
    assert not again.applied and again.seq == 1
    assert station.db.execute("SELECT COUNT(*) FROM rejections").fetchone()[0] == 1
    assert feed_position(station) == 1


def test_a_set_is_applied_whole_or_not_at_all(station, hub, keys):
    catalog = dict(sample_catalog_json(), version=7)
    # The second item refers to an intake that does not exist: the database refuses the row,
    # so the catalogue of the same set must not stay either.
    orphan = RowChange(
        table="case_notes",
        pk="n1",
        hlc=5,
        insert=True,
        origin=OTHER_PC,
        fields={"note_id": "n1", "case_no": "nope", "at": "2026-09-28T02:00:00.000Z", "author": "", "text": "x"},
    )
    with pytest.raises(FeedError) as info:
        apply_feed_set(station, hub.feed_set(CatalogItem(7, json.dumps(catalog).encode()), orphan), keys)
    assert info.value.seq == 1 and info.value.code == "apply"
    assert station.catalog.version == 1 and feed_position(station) == 0


# -- case states and moves ------------------------------------------------------------------------


def test_case_state_reapplies_the_stations_unseen_withdrawal_on_top_of_the_county_acceptance(station, hub, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    seal_pending(station, keys)  # set 1: the intake, which the hub has applied
    ops.withdraw(station, number, reason="申请人改为下月办理")  # not yet seen by the hub
    apply_feed_set(station, hub.feed_set(_accept(number), _state(number, "ACCEPTED", through=1)), keys)
    row = station.db.execute("SELECT status, accepted_date FROM cases WHERE case_no = ?", [number]).fetchone()
    assert row == ("WITHDRAWN", "2026-09-29")
    county = station.db.execute(
        f"SELECT to_status, origin FROM case_events WHERE event_id = 'hub:{COUNTY_HLC}'"
    ).fetchone()
    assert county == ("ACCEPTED", "hub")


def test_case_state_takes_the_hubs_status_when_it_has_seen_our_moves(station, hub, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    ops.withdraw(station, number, reason="改期")
    seal_pending(station, keys)  # set 1 carries the withdrawal; the hub rejected it
    apply_feed_set(station, hub.feed_set(_state(number, "ACCEPTED", through=1)), keys)
    assert _status(station, number) == "ACCEPTED"


def test_an_unseen_move_the_lifecycle_no_longer_allows_is_left_to_the_hub(station, hub, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    seal_pending(station, keys)
    ops.withdraw(station, number, reason="改期")
    apply_feed_set(station, hub.feed_set(_state(number, "NOT_ACCEPTED", through=1, accepted=None)), keys)
    assert _status(station, number) == "NOT_ACCEPTED"


def test_a_status_change_from_elsewhere_is_history_only(station, hub, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    apply_feed_set(station, hub.feed_set(_accept(number)), keys)
    assert _status(station, number) == "RECEIVED"  # the CaseState that follows sets the status
    assert [e.to_status for e in get_case(station, number).history] == ["RECEIVED", "ACCEPTED"]


def test_applying_feed_moves_our_clock_past_what_it_carried(station, hub, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    future = (int(station.now().timestamp() * 1000) + 3_600_000) << 16
    apply_feed_set(station, hub.feed_set(_accept(number, hlc=future)), keys)
    ops.add_note(station, number, "之后的备注")
    newest = station.db.execute("SELECT MAX(hlc) FROM outbox").fetchone()[0]
    assert newest > future


# -- answers about our changes --------------------------------------------------------------------


def test_rejected_change_with_current_restores_the_hubs_value_and_shows_the_reason(station, hub, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    seal_pending(station, keys)
    ops.correct_intake(station, number, phone="13700001111")
    seal_pending(station, keys)  # set 2 carries the phone change
    rejected = RejectedItem(
        seq=2,
        index=0,
        entity="cases",
        entity_id=number,
        code="illegal_transition",
        reason_en="the case was already accepted at the county",
        reason_zh="县平台上该办件已受理，不能再更正",
        current={"phone": "13800138000"},
    )
    apply_feed_set(station, hub.feed_set(rejected), keys)
    detail = get_case(station, number)
    assert detail.phone == "13800138000"
    assert [(r.code, r.seq) for r in detail.rejections] == [("illegal_transition", 2)]
    assert any("县平台上该办件已受理" in line for line in case_text(detail, "zh"))
    assert any("already accepted at the county" in line for line in case_text(detail, "en"))


def test_receipt_is_verified_and_the_case_shows_acknowledged(station, hub, keys):
    number = ops.new_intake(station, pension_enrolment()).number
    seal_pending(station, keys)
    assert get_case(station, number).sync_state == "sealed"
    set_hash = station.db.execute("SELECT hash FROM sets_out WHERE seq = 1").fetchone()[0]
    forged = hub.receipt(1, set_hash, signer=KeyPair.generate())
    outcome = apply_feed_set(station, hub.feed_set(ReceiptItem(forged)), keys)
    assert outcome.notes and get_case(station, number).sync_state == "sealed"
    apply_feed_set(station, hub.feed_set(ReceiptItem(hub.receipt(1, set_hash))), keys)
    detail = get_case(station, number)
    assert detail.sync_state == "acknowledged"
    assert [(r.seq, r.hash_prefix) for r in detail.receipts] == [(1, set_hash.hex()[:12])]
    assert any("回执" in line and set_hash.hex()[:12] in line for line in case_text(detail, "zh"))


def test_a_receipt_for_a_different_set_marks_a_fork(station, hub, keys):
    ops.new_intake(station, pension_enrolment())
    seal_pending(station, keys)
    outcome = apply_feed_set(station, hub.feed_set(ReceiptItem(hub.receipt(1, bytes(32)))), keys)
    assert outcome.notes
    assert station.db.execute("SELECT value FROM meta WHERE key = 'fork'").fetchone() is not None


# -- reference data and keys ----------------------------------------------------------------------


def test_catalogue_version_is_installed(station, hub, keys):
    catalog = dict(sample_catalog_json(), version=2)
    apply_feed_set(station, hub.feed_set(CatalogItem(2, json.dumps(catalog, ensure_ascii=False).encode())), keys)
    assert station.catalog.version == 2 and station.catalog_version(1).version == 1


def test_a_broken_catalogue_is_kept_aside_and_the_feed_goes_on(station, hub, keys):
    outcome = apply_feed_set(station, hub.feed_set(CatalogItem(2, b'{"items": []}')), keys)
    assert outcome.applied and outcome.notes and station.catalog.version == 1
    detail = station.db.execute("SELECT detail FROM sync_log WHERE kind = 'feed'").fetchone()[0]
    assert "catalogue version 2" in detail


def test_a_calendar_year_firms_up_a_provisional_due_date(station, hub, keys, clock):
    clock.set_china_date(dt.date(2026, 12, 21))
    number = ops.new_intake(station, pension_benefit_deferred()).number
    before = get_case(station, number).summary
    assert before.due_provisional
    table = YearTable(
        year=2027, holidays=("2027-01-01", "2027-01-02", "2027-01-03", "2027-01-04"), workdays=(), source="hub"
    )
    apply_feed_set(station, hub.feed_set(CalendarItem(table)), keys)
    after = get_case(station, number).summary
    assert not after.due_provisional and after.due_date > before.due_date
    assert 2027 in station.calendar.years


def test_division_tree_is_replaced(station, hub, keys):
    body = json.dumps(sample_divisions_json(), ensure_ascii=False).encode()
    apply_feed_set(station, hub.feed_set(DivisionsItem(3, body)), keys)
    assert station.db.execute("SELECT version FROM documents WHERE kind = 'divisions'").fetchone()[0] == 3


def test_revocation_of_our_own_key_stops_sync(station, hub, keys):
    other = KeyRevokedItem(station_id=OTHER_PC, key_id="0123456789abcdef", after_seq=3)
    assert not apply_feed_set(station, hub.feed_set(other), keys).revoked
    ours = KeyRevokedItem(station_id=station.station_id, key_id=keys.key_id, after_seq=0)
    assert apply_feed_set(station, hub.feed_set(ours), keys).revoked
    assert (
        json.loads(station.db.execute("SELECT value FROM meta WHERE key = 'revoked'").fetchone()[0])["key_id"]
        == keys.key_id
    )


def test_case_of_the_villages_other_pc_arrives_whole(station, hub, keys):
    # The other PC's intake, forwarded by the hub with its origin.
    intake = {
        "intake_id": "349921001001-20260928-B001",
        "bundle_code": None,
        "village_code": station.village_code,
        "received_at": "2026-09-28T01:00:00.000Z",
        "received_date": "2026-09-28",
        "agent": "",
        "catalog_version": 1,
    }
    case = {
        "case_no": intake["intake_id"],
        "intake_id": intake["intake_id"],
        "item_code": "RS-001",
        "bundle_code": None,
        "stage": 0,
        "status": "DRAFT",
        "outcome": None,
        "applicant_name": "王小明",
        "id_number": "349921195803120234",
        "phone": "13800138000",
        "sex": "M",
        "birth_date": "1958-03-12",
        "village_code": station.village_code,
        "received_at": intake["received_at"],
        "received_date": "2026-09-28",
        "accepted_date": None,
        "catalog_version": 1,
    }
    apply_feed_set(
        station,
        hub.feed_set(
            RowChange(table="intakes", pk=intake["intake_id"], hlc=10, fields=intake, insert=True, origin=OTHER_PC),
            RowChange(table="cases", pk=case["case_no"], hlc=11, fields=case, insert=True, origin=OTHER_PC),
            _state(case["case_no"], Status.RECEIVED.value, through=0, accepted=None),
        ),
        keys,
    )
    detail = get_case(station, case["case_no"])
    assert detail.summary.status == "RECEIVED" and detail.summary.due_date is not None
    assert detail.sync_state == "acknowledged"  # nothing of ours in it
    hashed = station.db.execute("SELECT id_hash FROM cases WHERE case_no = ?", [case["case_no"]]).fetchone()[0]
    assert hashed == station.id_hash("349921195803120234")


def test_a_rejection_for_the_hubs_set_at_a_seq_this_forked_station_sealed_otherwise_leaves_its_branch_alone(
    station, hub, keys
):
    """A fork: the hub holds set 2 from another copy of this PC, this station sealed its own set 2. A notice
    about the hub's set 2 names that set's hash; matched by seq it struck this branch's change (an older bug)."""
    number = ops.new_intake(station, pension_enrolment()).number
    seal_pending(station, keys)  # set 1: both copies share it
    ops.withdraw(station, number, reason="申请人撤回")
    (own_hash,) = [bytes(h) for (h,) in station.db.execute("SELECT hash FROM sets_out WHERE seq = 1")]
    seal_pending(station, keys)  # set 2: this branch's withdrawal
    (branch_hash,) = [bytes(h) for (h,) in station.db.execute("SELECT hash FROM sets_out WHERE seq = 2")]
    events = station.db.execute("SELECT COUNT(*) FROM case_events WHERE case_no = ?", [number]).fetchone()[0]

    def notice(set_hash: bytes) -> RejectedItem:
        return RejectedItem(
            seq=2,
            index=0,
            entity="cases",
            entity_id=number,
            code="illegal_transition",
            reason_en="refused",
            reason_zh="拒收",
            set_hash=set_hash,
        )

    outcome = apply_feed_set(station, hub.feed_set(notice(b"\x07" * 32)), keys)  # the hub's set 2, not ours
    assert any("not this station's" in note for note in outcome.notes)
    assert station.db.execute("SELECT COUNT(*) FROM rejections").fetchone()[0] == 0
    assert station.db.execute("SELECT COUNT(*) FROM case_events WHERE case_no = ?", [number]).fetchone()[0] == events
    assert _status(station, number) == "WITHDRAWN"

    # The notice for this station's own set 2 (by its hash, or by seq alone from an older hub) is applied.
    apply_feed_set(station, hub.feed_set(notice(branch_hash)), keys)
    assert [(r.code, r.seq) for r in get_case(station, number).rejections] == [("illegal_transition", 2)]
    assert station.db.execute("SELECT COUNT(*) FROM case_events WHERE case_no = ?", [number]).fetchone()[0] < events
    assert own_hash != branch_hash
