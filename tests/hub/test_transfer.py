"""Transfer files both ways, through the same ingest and feed code as HTTP."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.decisions import decide
from hub.enroll import revoke_station
from hub.transfer import decode_transfer, export_file, import_file
from sync.errors import InputError
from sync.limits import MAX_SETS_PER_REQUEST
from sync.protocol import FEATURE_SIGNED_HEADERS, CaseState, StatusChange, TransferFile, sign_transfer, verify_transfer
from tests.hub.builders import TestStation


def up_file(path: Path, station: TestStation, sets: list[bytes], *, feed_after: int = 0, signed: bool = True) -> Path:
    """An up file as a station writes it: its header signed by the station's key (``signed``; a file of 0.4 is not)."""
    transfer = TransferFile(
        direction="up",
        station_id=station.station_id,
        created_ms=station.clock.ms,
        sets=[msgspec.Raw(s) for s in sets],
        feed_after=feed_after,
        outbox_length=3,
    )
    if signed:
        transfer = sign_transfer(transfer, sign_private=station.keys.sign_private, sign_public=station.keys.sign_public)
    path.write_bytes(msgspec.msgpack.encode(transfer))
    return path


def cli(hub_dir: Path, *args: str):
    return CliRunner().invoke(main, ["--data-dir", str(hub_dir), *args], env={"LANG": "", "LC_ALL": ""})


def test_import_ingests_like_a_push_and_records_the_contact(store, identity, station, tmp_path):
    case_no, changes = station.new_case()
    export_file(store, identity, station.station_id, tmp_path / "down.bin", now=station.clock)  # feed set 1 sealed
    path = up_file(tmp_path / "up.bin", station, [station.seal(changes)], feed_after=1)
    transfer, response = import_file(store, identity, path, now=station.clock)
    assert transfer.station_id == station.station_id
    assert [r.status for r in response.results] == ["accepted"]
    assert store.row("cases", case_no)["status"] == "RECEIVED"
    row = store.station(station.station_id)
    assert (row.feed_acked, row.outbox_length, row.head_seq, row.applied_seq) == (1, 3, 1, 1)
    assert row.last_push is not None and store.contacts(station.station_id)[0].kind == "import"
    _, again = import_file(store, identity, path, now=station.clock)
    assert [r.status for r in again.results] == ["duplicate"]


def test_import_from_the_command_line(hub_dir, station, tmp_path):
    path = up_file(tmp_path / "up.bin", station, [station.seal(station.new_case()[1]) for _ in range(2)])
    result = cli(hub_dir, "import", str(path))
    assert result.exit_code == 0, result.output
    # In Chinese by default (issue 12: "#2: accepted" on a Chinese screen); the English lines as before.
    assert f"{station.station_id} 第 1 批：已接收" in result.stdout and "第 2 批：已接收" in result.stdout
    again = cli(hub_dir, "--lang", "en", "import", str(path))
    assert f"{station.station_id} #1: duplicate" in again.stdout and "#2: duplicate" in again.stdout
    damaged = bytearray(station.seal(station.new_case()[1]))
    damaged[-3] ^= 1
    bad = up_file(tmp_path / "bad.bin", station, [bytes(damaged)])
    result = cli(hub_dir, "import", str(bad))
    assert result.exit_code == 1 and "第 3 批：被拒收（签名校验失败）" in result.stdout
    assert "错误：第 3 批被拒收：签名校验失败" in result.stderr
    result = cli(hub_dir, "--lang", "en", "import", str(bad))
    assert result.exit_code == 1 and "#3: refused (bad_signature:" in result.stdout


@pytest.mark.parametrize("content", [b"garbage", msgspec.msgpack.encode({"magic": "x"})])
def test_import_refuses_what_is_not_an_up_transfer_file(hub_dir, tmp_path, content):
    path = tmp_path / "f.bin"
    path.write_bytes(content)
    assert cli(hub_dir, "import", str(path)).exit_code == 2
    assert cli(hub_dir, "import", str(tmp_path / "missing.bin")).exit_code == 2


def test_a_down_file_is_not_imported_at_the_hub(station):
    data = msgspec.msgpack.encode(TransferFile(direction="down", station_id=station.station_id, created_ms=0, sets=[]))
    with pytest.raises(InputError):
        decode_transfer(data, direction="up")


def test_export_seals_pending_items_and_writes_the_sets_after_the_known_position(
    store, identity, station, tmp_path, clock
):
    case_no, changes = station.new_case()
    import_file(store, identity, up_file(tmp_path / "up.bin", station, [station.seal(changes)]), now=clock)
    decide(store, case_no, "accept", now=clock)
    result = export_file(store, identity, station.station_id, tmp_path / "down.bin", now=clock)
    assert (result.after, result.sets, result.first_seq, result.last_seq) == (0, 2, 1, 2)
    transfer = msgspec.msgpack.decode((tmp_path / "down.bin").read_bytes(), type=TransferFile)
    assert (transfer.direction, transfer.station_id) == ("down", station.station_id)
    _, items = station.read_feed_set(bytes(transfer.sets[0]))
    assert any(isinstance(i, StatusChange) and i.to_status == "ACCEPTED" for i in items)
    assert any(isinstance(i, CaseState) for i in items)
    # The station imported that file and says so in its next up file: nothing new to send.
    import_file(store, identity, up_file(tmp_path / "up2.bin", station, [], feed_after=2), now=clock)
    assert export_file(store, identity, station.station_id, tmp_path / "down2.bin", now=clock).sets == 0
    assert export_file(store, identity, station.station_id, tmp_path / "all.bin", after=1, now=clock).sets == 1


def test_export_from_the_command_line(hub_dir, station, tmp_path):
    result = cli(hub_dir, "export", "--station", station.station_id, str(tmp_path / "down.bin"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "down.bin").exists() and not (tmp_path / "down.bin.tmp").exists()
    assert cli(hub_dir, "export", "--station", "nope", str(tmp_path / "x.bin")).exit_code == 2
    assert cli(hub_dir, "export", "--station", station.station_id, "--after", "-1", str(tmp_path / "x")).exit_code == 2


def test_a_revoked_station_gets_no_export(store, identity, station, tmp_path, clock):
    revoke_station(store, station.station_id, now=clock)
    with pytest.raises(InputError):
        export_file(store, identity, station.station_id, tmp_path / "down.bin", now=clock)


def _tampered(path: Path, **fields) -> Path:
    """The file with some fields changed on the way (its signature left as it was)."""
    transfer = msgspec.msgpack.decode(path.read_bytes(), type=TransferFile)
    path.write_bytes(msgspec.msgpack.encode(msgspec.structs.replace(transfer, **fields)))
    return path


@pytest.mark.parametrize(
    "change", [{"feed_after": 999_999}, {"outbox_length": 0}, {"features": 31}, {"created_ms": 1}, {"sets": []}]
)
def test_an_up_file_altered_on_the_way_is_refused_whole_with_exit_2(
    hub_dir, store, identity, station, tmp_path, clock, change
):
    case_no, changes = station.new_case()
    path = _tampered(up_file(tmp_path / "up.bin", station, [station.seal(changes)]), **change)
    with pytest.raises(InputError) as info:
        import_file(store, identity, path, now=clock)
    assert info.value.code == "bad_signature" and "nothing was imported" in info.value.en
    assert store.row("cases", case_no) is None and store.station(station.station_id).feed_acked == 0
    result = cli(hub_dir, "import", str(path))
    assert result.exit_code == 2 and "bad_signature" not in result.stdout
    # The next export still carries everything the station has not applied.
    assert export_file(store, identity, station.station_id, tmp_path / "down.bin", now=clock).sets >= 1


def test_a_file_of_0_4_is_ingested_but_its_feed_position_and_features_are_not_believed(
    store, identity, station, tmp_path, clock
):
    case_no, changes = station.new_case()
    path = up_file(tmp_path / "up.bin", station, [station.seal(changes)], feed_after=999_999, signed=False)
    _, response = import_file(store, identity, path, now=clock)
    assert [r.status for r in response.results] == ["accepted"]
    row = store.station(station.station_id)
    assert (row.feed_acked, row.outbox_length, row.features) == (0, 3, 0)
    assert export_file(store, identity, station.station_id, tmp_path / "down.bin", now=clock).sets >= 1


def test_a_station_that_signs_its_files_cannot_have_the_signature_stripped(store, identity, station, tmp_path, clock):
    store.set_features(station.station_id, FEATURE_SIGNED_HEADERS)
    path = up_file(tmp_path / "up.bin", station, [station.seal(station.new_case()[1])], signed=False)
    with pytest.raises(InputError) as info:
        import_file(store, identity, path, now=clock)
    assert info.value.code == "bad_signature" and store.count_sets_in(station.station_id) == 0


def test_a_file_signed_by_another_station_is_refused(store, identity, station, station_b, tmp_path, clock):
    transfer = TransferFile(direction="up", station_id=station.station_id, created_ms=0, sets=[], feed_after=5)
    signed = sign_transfer(transfer, sign_private=station_b.keys.sign_private, sign_public=station_b.keys.sign_public)
    (tmp_path / "up.bin").write_bytes(msgspec.msgpack.encode(signed))
    with pytest.raises(InputError) as info:
        import_file(store, identity, tmp_path / "up.bin", now=clock)
    assert info.value.code == "unknown_key"


def test_more_sets_than_are_read_at_once_are_refused_before_decoding(store, identity, station, tmp_path, clock):
    envelope = station.seal(station.new_case()[1])
    path = up_file(tmp_path / "up.bin", station, [envelope] * (MAX_SETS_PER_REQUEST + 1))
    with pytest.raises(InputError) as info:
        import_file(store, identity, path, now=clock)
    assert info.value.code == "too_large" and store.count_sets_in(station.station_id) == 0


def test_the_down_file_is_signed_by_the_hub(store, identity, station, tmp_path, clock):
    export_file(store, identity, station.station_id, tmp_path / "down.bin", now=clock)
    transfer = msgspec.msgpack.decode((tmp_path / "down.bin").read_bytes(), type=TransferFile)
    header = verify_transfer(transfer, public_key_for=lambda key_id: identity.keys.sign_public)
    assert (header.direction, header.station_id) == ("down", station.station_id) and transfer.sets


@pytest.mark.parametrize("field", [{"feed_after": -1}, {"outbox_length": 2**63}, {"features": 2**40}])
def test_a_signed_field_out_of_range_is_refused(store, identity, station, tmp_path, clock, field):
    transfer = TransferFile(direction="up", station_id=station.station_id, created_ms=0, sets=[], **field)
    signed = sign_transfer(transfer, sign_private=station.keys.sign_private, sign_public=station.keys.sign_public)
    (tmp_path / "up.bin").write_bytes(msgspec.msgpack.encode(signed))
    with pytest.raises(InputError) as info:
        import_file(store, identity, tmp_path / "up.bin", now=clock)
    assert info.value.code == "malformed" and store.contacts(station.station_id) == []
