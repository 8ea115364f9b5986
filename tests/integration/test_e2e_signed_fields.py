"""A real station and a live hub: what the station reports beside its sets cannot be changed on the way, over HTTP or on a stick."""

from __future__ import annotations

import httpx
import msgspec
import pytest
from click.testing import CliRunner

from hub.cli import main as hub_main
from station.errors import TransferError
from station.transfer import export_file, import_file
from sync.protocol import HEADER_SYNC, TransferFile
from sync.version import SOFTWARE_VERSION
from tests.integration.county import County


class _Altering(httpx.HTTPTransport):
    """The network path: changes one field of ``X-Sync`` (KEY COUNTER MS HEAD OUTBOX SOFTWARE SIGNATURE)."""

    def __init__(self, index: int, value: str) -> None:
        super().__init__()
        self.index, self.value = index, value

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if HEADER_SYNC in request.headers:
            parts = request.headers[HEADER_SYNC].split(" ")
            parts[self.index] = self.value
            request.headers[HEADER_SYNC] = " ".join(parts)
        return super().handle_request(request)


def test_the_station_signs_every_field_it_reports_and_an_altered_one_is_refused(live_county: County):
    handle = live_county.enrol()
    handle.new_case("张三", 1)
    tampered = handle.sync(transport=_Altering(3, "999999"))
    assert [e.code for e in tampered.errors] == ["unauthenticated"] and not tampered.in_step
    with live_county.store() as store:
        row = store.station(handle.station_id)
        assert row.head_seq != 999_999 and row.applied_seq == 0
    report = handle.sync()
    assert report.in_step, report.errors
    with live_county.store() as store:
        row = store.station(handle.station_id)
        assert (row.head_seq, row.outbox_length, row.software) == (1, 0, SOFTWARE_VERSION)


def test_a_usb_file_whose_feed_position_was_changed_is_refused_with_exit_2(live_county: County, tmp_path):
    handle = live_county.enrol()
    handle.new_case("李四", 2)
    up = tmp_path / "up.bin"
    with handle.open() as station:
        export_file(station, up, handle.keys)
    transfer = msgspec.msgpack.decode(up.read_bytes(), type=TransferFile)
    assert transfer.auth  # signed by the station
    bad = tmp_path / "bad.bin"
    bad.write_bytes(msgspec.msgpack.encode(msgspec.structs.replace(transfer, feed_after=999_999)))
    runner = CliRunner()
    refused = runner.invoke(hub_main, ["--data-dir", str(live_county.hub_dir), "--lang", "en", "import", str(bad)])
    assert refused.exit_code == 2, refused.output
    assert "nothing was imported" in refused.output
    refused_zh = runner.invoke(hub_main, ["--data-dir", str(live_county.hub_dir), "--lang", "zh", "import", str(bad)])
    assert refused_zh.exit_code == 2 and "未导入任何内容" in refused_zh.output
    taken = runner.invoke(hub_main, ["--data-dir", str(live_county.hub_dir), "import", str(up)])
    assert taken.exit_code == 0, taken.output
    down = tmp_path / "down.bin"
    exported = runner.invoke(
        hub_main, ["--data-dir", str(live_county.hub_dir), "export", "--station", handle.station_id, str(down)]
    )
    assert exported.exit_code == 0 and msgspec.msgpack.decode(down.read_bytes(), type=TransferFile).sets


def test_a_down_file_altered_on_the_way_changes_nothing_at_the_station(live_county: County, tmp_path):
    handle = live_county.enrol()
    assert handle.sync().in_step  # the station has heard the hub: it signs its files, and so does the hub
    case_no = handle.new_case("王五", 3)
    assert handle.sync().in_step
    live_county.decide(case_no, "accept")
    down = tmp_path / "down.bin"
    runner = CliRunner()
    exported = runner.invoke(
        hub_main, ["--data-dir", str(live_county.hub_dir), "export", "--station", handle.station_id, str(down)]
    )
    assert exported.exit_code == 0, exported.output
    transfer = msgspec.msgpack.decode(down.read_bytes(), type=TransferFile)
    for name, change in (("features", {"features": 0}), ("auth", {"auth": b""})):
        bad = tmp_path / f"bad-{name}.bin"
        bad.write_bytes(msgspec.msgpack.encode(msgspec.structs.replace(transfer, **change)))
        with handle.open() as station, pytest.raises(TransferError) as info:
            import_file(station, bad, handle.keys)
        assert info.value.code == "bad_signature" and "nothing was changed" in info.value.en
        assert handle.case(case_no).summary.status == "RECEIVED"
    with handle.open() as station:
        assert import_file(station, down, handle.keys).applied >= 1
    assert handle.case(case_no).summary.status == "ACCEPTED"
