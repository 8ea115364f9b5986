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
from sync.protocol import CaseState, StatusChange, TransferFile
from tests.hub.builders import TestStation


def up_file(path: Path, station: TestStation, sets: list[bytes], *, feed_after: int = 0) -> Path:
    transfer = TransferFile(direction="up", station_id=station.station_id, created_ms=station.clock.ms,
                            sets=[msgspec.Raw(s) for s in sets], feed_after=feed_after, outbox_length=3)
    path.write_bytes(msgspec.msgpack.encode(transfer))
    return path


def cli(hub_dir: Path, *args: str):
    return CliRunner().invoke(main, ["--data-dir", str(hub_dir), *args], env={"LANG": "", "LC_ALL": ""})


def test_import_ingests_like_a_push_and_records_the_contact(store, identity, station, tmp_path):
    case_no, changes = station.new_case()
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
    assert f"{station.station_id} #1: accepted" in result.stdout and "#2: accepted" in result.stdout
    damaged = bytearray(station.seal(station.new_case()[1]))
    damaged[-3] ^= 1
    result = cli(hub_dir, "import", str(up_file(tmp_path / "bad.bin", station, [bytes(damaged)])))
    assert result.exit_code == 1 and "bad_signature" in result.stdout


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


def test_export_seals_pending_items_and_writes_the_sets_after_the_known_position(store, identity, station,
                                                                                tmp_path, clock):
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
