"""The agent's name from the command line: asked at enrolment, changed with ``station agent set-name``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from station import cli_sync, hubhttp
from station.cli import main
from tests.station.conftest import WANG

PASS = "村代办点口令2026"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def run(data_dir, hub, monkeypatch):
    """The station command, its hub requests answered by the hub double."""
    real = hubhttp.make_client
    monkeypatch.setattr("station.enrolment.make_client", lambda transport, timeout: real(hub.transport(), timeout))
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None, input: str | None = None):
        environment = {"STATION_DATA_DIR": str(data_dir), "LANG": "", "LC_ALL": "", "STATION_PASSPHRASE": PASS}
        environment.update(env or {})
        return runner.invoke(main, list(args), env=environment, input=input, catch_exceptions=False)

    return invoke


def new_case(run) -> str:
    result = run(
        "case", "new", "--item", "RS-001", "--name", "王小明", "--id-number", WANG, "--phone", "13800138000",
        "--material", "居民身份证", "--material", "城乡居民基本养老保险参保登记表",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()[-1]


def test_enroll_asks_for_the_agents_name_at_a_terminal(run, hub, monkeypatch):
    monkeypatch.setattr(cli_sync, "_at_terminal", lambda: True)
    result = run("enroll", "--hub", "http://hub.test", "--code", hub.issue_code(), input="  李  代办 \n")
    assert result.exit_code == 0, result.output
    assert "代办员姓名" in result.stdout and "代办员：李 代办" in result.stdout
    assert run("agent", "show").stdout == "李 代办\n"


def test_enroll_keeps_its_agent_option_and_asks_nothing_in_a_script(run, hub):
    given = run("enroll", "--hub", "http://hub.test", "--code", hub.issue_code(), "--agent", "李代办")
    assert given.exit_code == 0 and "代办员：李代办" in given.stdout
    assert json.loads(run("info", "--json").stdout)["agent_name"] == "李代办"


def test_enroll_without_a_name_says_how_to_give_one(run, hub, tmp_path):
    result = run("enroll", "--hub", "http://hub.test", "--code", hub.issue_code())
    assert result.exit_code == 0, result.output
    assert "station agent set-name" in result.stdout
    assert run("agent", "show").stdout == "\n"


def test_a_bad_name_at_enrolment_exits_2_before_the_code_is_spent(run, hub):
    result = run("enroll", "--hub", "http://hub.test", "--code", hub.issue_code(), "--agent", "李\x1b[2J")
    assert result.exit_code == 2 and "代办员姓名" in result.stderr
    assert hub.requests == []


def test_set_name_changes_who_history_names_from_now_on(run, hub):
    run("init", "--village", "349921001001", "--agent", "李代办")
    first = new_case(run)
    result = run("agent", "set-name", " 王  代办 ")
    assert result.exit_code == 0 and "代办员姓名已设为：王 代办" in result.stdout
    assert run("agent", "show").stdout == "王 代办\n"
    assert "代办员：王 代办" in run("info").stdout
    assert run("case", "update", first, "withdraw", "--reason", "申请人改期").exit_code == 0
    history = json.loads(run("case", "show", first, "--json").stdout)["history"]
    assert [e["by"] for e in history] == ["李代办", "王 代办"]  # earlier lines keep their name


def test_set_name_refuses_an_empty_name_in_either_language(run):
    run("init", "--village", "349921001001", "--agent", "李代办")
    for args, words in (
        (("agent", "set-name", "  "), "不能为空"),
        (("--lang", "en", "agent", "set-name", ""), "empty"),
    ):
        result = run(*args)
        assert result.exit_code == 2 and words in result.stderr
    assert run("agent", "show").stdout == "李代办\n"


def test_a_note_without_by_is_the_agents_and_the_reply_uses_a_chinese_colon(run):
    run("init", "--village", "349921001001", "--agent", "李代办")
    number = new_case(run)
    noted = run("case", "update", number, "note", "--note", "申请人下周来补材料")
    assert noted.exit_code == 0, noted.output
    assert noted.stdout.startswith(f"已添加备注：{number} ")  # not "已添加备注: …"
    notes = json.loads(run("case", "show", number, "--json").stdout)["notes"]
    assert [n["author"] for n in notes] == ["李代办"]
    shown = run("case", "show", number).stdout
    assert "李代办：申请人下周来补材料" in shown and " ：" not in shown
    english = run("--lang", "en", "case", "update", number, "note", "--note", "再次电话联系")
    assert english.stdout.startswith(f"Note added: {number} ")
