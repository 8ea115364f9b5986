"""A restored station takes the hub's signed receipts as the head of its chain, and numbers on past what came back."""

from __future__ import annotations

import json

import msgspec

from station import cases as ops
from station.identity import require_pins
from station.restore import adopt_receipt, confirm
from station.sealing import head, seal_pending
from station.store.db import write_txn
from sync.crypto import KeyPair
from tests.station.conftest import pension_enrolment


def mark_restored(station, head_seq: int = 0) -> None:
    with write_txn(station.db):
        station.meta.update({"restored": json.dumps({"at": "x", "backup_at": "y", "head_seq": head_seq})})


def test_a_receipt_beyond_the_head_becomes_the_head_and_nothing_else_does(station, hub, keys):
    pins = require_pins(station.db)
    with write_txn(station.db):
        assert adopt_receipt(station, pins, hub.receipt(3, b"\x33" * 32)) == 3
    assert head(station) == (3, b"\x33" * 32)
    with write_txn(station.db):
        assert adopt_receipt(station, pins, hub.receipt(2, b"\x22" * 32)) is None  # not below a set it holds
        assert adopt_receipt(station, pins, hub.receipt(3, b"\x44" * 32)) is None  # nor over one
        assert adopt_receipt(station, pins, hub.receipt(4, b"\x55" * 32, signer=KeyPair.generate())) is None
        other = hub.station_id
        hub.station_id = "349921001001-B-9"
        assert adopt_receipt(station, pins, hub.receipt(4, b"\x55" * 32)) is None  # another station's
        hub.station_id = other
    assert head(station) == (3, b"\x33" * 32)
    ops.new_intake(station, pension_enrolment())
    (sealed,) = seal_pending(station, keys)
    assert sealed == 4  # the next set follows the adopted head
    envelope = msgspec.msgpack.decode(station.db.execute("SELECT envelope FROM sets_out WHERE seq = 4").fetchone()[0])
    assert envelope[2][2] == b"\x33" * 32  # the payload's prev: the adopted set's hash


def test_confirmed_once_the_hub_holds_nothing_beyond_the_head_and_numbers_go_on_past_the_recovered(station, hub, keys):
    numbers = [ops.new_intake(station, pension_enrolment(phone=f"1380013800{i}")).number for i in range(2)]
    with write_txn(station.db):
        station.db.execute("DELETE FROM counters")  # as the backup left them: before these cases
    mark_restored(station)
    assert confirm(station, None) is None  # the hub was not heard
    with write_txn(station.db):
        adopt_receipt(station, require_pins(station.db), hub.receipt(1, b"\x11" * 32))
    assert confirm(station, 3) is False  # the hub holds set 2 still to come back
    assert station.meta.restored
    assert confirm(station, 2) is True and station.meta.restored is None
    assert confirm(station, 2) is None
    after = ops.new_intake(station, pension_enrolment(phone="13800138009")).number
    assert after not in numbers and after.endswith("A003")
    # What was recorded but unsealed at the backup went up in the set the PC sealed next: it is not sent again.
    assert station.db.execute("SELECT COUNT(*) FROM outbox WHERE set_seq IS NULL").fetchone()[0] > 0  # only `after`
    assert station.db.execute("SELECT MIN(set_seq) FROM outbox").fetchone()[0] == 1
