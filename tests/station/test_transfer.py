"""Sync by file: export the unacknowledged sets, import the hub's answer with the pull's code."""

from __future__ import annotations

import msgspec
import pytest

from station import cases as ops
from station.errors import TransferError
from station.feed import feed_position, forget_reference_caches
from station.queries import get_case
from station.store import datakey
from station.store.db import connect
from station.transfer import export_file, import_file
from sync.protocol import CaseState, TransferFile
from tests.station.conftest import pension_enrolment


@pytest.fixture
def number(station):
    return ops.new_intake(station, pension_enrolment()).number


def _hub_takes(hub, path) -> TransferFile:
    transfer = msgspec.msgpack.decode(path.read_bytes(), type=TransferFile)
    hub.ingest([bytes(s) for s in transfer.sets])
    return transfer


def test_export_then_import_round_trip(station, hub, keys, number, tmp_path):
    up = tmp_path / "to-hub.bin"
    result = export_file(station, up, keys)
    assert (result.sets, result.first_seq, result.last_seq, result.feed_after) == (1, 1, 1, 0)
    assert not list(tmp_path.glob("*.tmp"))
    transfer = _hub_takes(hub, up)
    assert (transfer.direction, transfer.station_id, transfer.outbox_length) == ("up", station.station_id, 0)
    assert hub.applied_seq == 1
    hub.queue(CaseState(case_no=number, status="ACCEPTED", accepted_date="2026-09-28", through_seq=1))
    down = tmp_path / "from-hub.bin"
    down.write_bytes(hub.down_file())
    imported = import_file(station, down, keys)
    assert (imported.applied, imported.skipped, imported.feed_seq) == (1, 0, 1)
    detail = get_case(station, number)
    assert detail.sync_state == "acknowledged" and detail.summary.status == "ACCEPTED"
    again = import_file(station, down, keys)  # the same stick carried twice
    assert (again.applied, again.skipped) == (0, 1)
    assert export_file(station, up, keys).sets == 0  # nothing left to carry up


def test_a_flipped_byte_anywhere_in_the_file_changes_nothing(station, hub, keys, number, tmp_path):
    up = tmp_path / "to-hub.bin"
    export_file(station, up, keys)
    _hub_takes(hub, up)
    hub.seal_queue()  # feed set 1: the receipt
    hub.queue(CaseState(case_no=number, status="ACCEPTED", accepted_date="2026-09-28", through_seq=1))
    original = hub.down_file()  # feed sets 1 and 2
    sets = [bytes(s) for s in msgspec.msgpack.decode(original, type=TransferFile).sets]
    spans = [(original.index(s), original.index(s) + len(s), seq) for seq, s in enumerate(sets, start=1)]
    pristine = connect(":memory:", datakey.unlock(station.data_dir))  # a backup keeps the source's key
    station.db.conn.backup(pristine)
    path = tmp_path / "from-hub.bin"
    named = 0
    for position in range(len(original)):
        tampered = bytearray(original)
        tampered[position] ^= 0x01
        path.write_bytes(bytes(tampered))
        try:
            result = import_file(station, path, keys)
        except TransferError as exc:
            assert feed_position(station) == 0 and get_case(station, number).sync_state == "sealed", position
            seq = next((seq for start, end, seq in spans if start <= position < end), None)
            if seq is not None and f"feed set {seq}" in exc.message("en"):
                named += 1
            continue
        # Only the file's unsigned header can change without a refusal: then either the signed
        # sets it carries are exactly the original, or (a field name altered) it carries none.
        decoded = msgspec.msgpack.decode(bytes(tampered), type=TransferFile)
        if result.applied:
            assert [bytes(s) for s in decoded.sets] == sets, position
        else:
            assert decoded.sets == [] and feed_position(station) == 0, position
        pristine.backup(station.db.conn)
        forget_reference_caches(station)
    inside = sum(end - start for start, end, _ in spans)
    assert named > 0.9 * inside
    path.write_bytes(original)
    assert import_file(station, path, keys).applied == 2


def test_a_file_going_up_is_not_imported(station, hub, keys, number, tmp_path):
    up = tmp_path / "to-hub.bin"
    export_file(station, up, keys)
    with pytest.raises(TransferError) as info:
        import_file(station, up, keys)
    assert info.value.code == "wrong_direction" and "station export" in info.value.message("en")


def test_a_file_for_another_station_is_refused(station, hub, keys, tmp_path):
    path = tmp_path / "other.bin"
    path.write_bytes(
        msgspec.msgpack.encode(TransferFile(direction="down", station_id="349921001002-A-1", created_ms=0, sets=[]))
    )
    with pytest.raises(TransferError) as info:
        import_file(station, path, keys)
    assert info.value.code == "wrong_origin"


@pytest.mark.parametrize("content", [b"", b"not a sync file", b"\x81\xa5magic\xa3bad"])
def test_garbage_is_refused_clearly(station, keys, tmp_path, content):
    path = tmp_path / "junk.bin"
    path.write_bytes(content)
    with pytest.raises(TransferError) as info:
        import_file(station, path, keys)
    assert "nothing was changed" in info.value.message("en")


def test_a_missing_file_is_a_clear_error(station, keys, tmp_path):
    with pytest.raises(TransferError) as info:
        import_file(station, tmp_path / "nowhere.bin", keys)
    assert "cannot read" in info.value.message("en")


def test_a_later_file_before_an_earlier_one_is_refused(station, hub, keys, tmp_path):
    hub.feed_set()
    hub.feed_set()
    path = tmp_path / "second.bin"
    path.write_bytes(hub.down_file(after=1))
    with pytest.raises(TransferError) as info:
        import_file(station, path, keys)
    assert info.value.code == "gap" and "earlier file" in info.value.message("en")
