"""The sync commands as agents and scripts use them: enroll, sync, status, export, import."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import msgspec
import pytest
from click.testing import CliRunner

from station import hubhttp
from station.cli import main
from sync.crypto import fingerprint
from sync.protocol import TransferFile
from tests.station.conftest import WANG

PASS = "村代办点口令2026"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def run(data_dir, hub, monkeypatch):
    """The station command, its hub requests answered by the hub double."""
    real = hubhttp.make_client

    def to_double(transport, timeout):
        return real(hub.transport(), timeout)

    monkeypatch.setattr("station.link.round.make_client", to_double)
    monkeypatch.setattr("station.link.loop.make_client", to_double)
    monkeypatch.setattr("station.enrolment.make_client", to_double)
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None):
        environment = {"STATION_DATA_DIR": str(data_dir), "LANG": "", "LC_ALL": "", "STATION_PASSPHRASE": PASS}
        environment.update(env or {})
        return runner.invoke(main, list(args), env=environment, catch_exceptions=False)

    return invoke


@pytest.fixture
def enrolled(run, hub):
    result = run("enroll", "--hub", "http://hub.test", "--code", hub.issue_code(), "--agent", "李代办")
    assert result.exit_code == 0, result.output
    return run


def new_case(run):
    result = run(
        "case",
        "new",
        "--item",
        "RS-001",
        "--name",
        "王小明",
        "--id-number",
        WANG,
        "--phone",
        "13800138000",
        "--material",
        "居民身份证",
        "--material",
        "城乡居民基本养老保险参保登记表",
    )
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()[-1]


def test_enroll_prints_the_fingerprint_to_compare(run, hub):
    result = run("enroll", "--hub", "http://hub.test", "--code", hub.issue_code())
    assert result.exit_code == 0, result.output
    assert fingerprint(hub.keys.sign_public) in result.stdout and "核对" in result.stdout


def test_a_malformed_code_exits_2_without_asking_anything(run, hub):
    result = run("enroll", "--hub", "http://hub.test", "--code", "nonsense", env={"STATION_PASSPHRASE": ""})
    assert result.exit_code == 2 and "登记码" in result.stderr
    assert hub.requests == []


def test_sync_exits_0_in_step_and_status_shows_it(enrolled):
    number = new_case(enrolled)
    status = json.loads(enrolled("status", "--json").stdout)
    assert status["enrolled"] and status["unsealed"] > 0
    result = enrolled("sync")
    assert result.exit_code == 0, result.output
    assert "已完全同步" in result.stdout
    status = json.loads(enrolled("status", "--json").stdout)
    assert (status["unsealed"], status["unacknowledged"], status["feed_seq"]) == (0, 0, status["hub_feed_seq"])
    shown = enrolled("--lang", "en", "case", "show", number)
    assert "acknowledged by the hub" in shown.stdout and "Receipt: set 1" in shown.stdout
    assert "Last success" in enrolled("--lang", "en", "status").stdout


def test_sync_exits_1_when_the_hub_cannot_be_reached(enrolled, hub, monkeypatch):
    monkeypatch.setattr("station.link.round.time.sleep", lambda s: None)
    new_case(enrolled)
    hub.faults.extend([httpx.ConnectError("down")] * 8)
    result = enrolled("sync")
    assert result.exit_code == 1
    assert "无法连接县平台" in result.stderr and "尚未完全同步" in result.stdout
    assert WANG not in result.output


def test_sync_without_a_passphrase_says_what_to_set(enrolled):
    result = enrolled("sync", env={"STATION_PASSPHRASE": ""})
    assert result.exit_code == 2 and "STATION_PASSPHRASE" in result.stderr


def test_a_wrong_passphrase_exits_2(enrolled):
    result = enrolled("--lang", "en", "sync", env={"STATION_PASSPHRASE": "not the passphrase"})
    assert result.exit_code == 2 and "wrong passphrase" in result.stderr


def test_sync_before_enrolment_says_to_enrol(run):
    assert run("init", "--village", "349921001001").exit_code == 0
    result = run("sync")
    assert result.exit_code == 1 and "station enroll" in result.stderr
    assert "尚未在县平台登记" in run("status").stdout


def test_export_and_import_by_file(enrolled, hub, tmp_path):
    new_case(enrolled)
    up = tmp_path / "up.bin"
    result = enrolled("export", str(up))
    assert result.exit_code == 0 and "1 个数据集" in result.stdout
    hub.ingest([bytes(s) for s in msgspec.msgpack.decode(up.read_bytes(), type=TransferFile).sets])
    down = tmp_path / "down.bin"
    down.write_bytes(hub.down_file())
    result = enrolled("import", str(down))
    assert result.exit_code == 0, result.output
    assert json.loads(enrolled("status", "--json").stdout)["unacknowledged"] == 0
    down.write_bytes(down.read_bytes()[:-5])
    assert enrolled("import", str(down)).exit_code == 2
