"""The ``station`` command as scripts and operators use it: fixed options, output, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from station.cli import main
from tests.station.conftest import WANG, ZHANG

NUMBER_PATTERN = r"^349921001001-\d{8}-A\d{3}$"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def run(data_dir: Path):
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None):
        environment = {"STATION_DATA_DIR": str(data_dir), "LANG": "", "LC_ALL": ""}
        environment.update(env or {})
        return runner.invoke(main, list(args), env=environment, catch_exceptions=False)

    return invoke


@pytest.fixture
def initialised(run):
    result = run("init", "--village", "349921001001", "--agent", "李代办")
    assert result.exit_code == 0, result.output
    return run


def new_case(run, *extra: str):
    return run(
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
        *extra,
    )


def test_case_new_prints_the_number_alone_on_the_last_line(initialised):
    import re

    result = new_case(initialised)
    assert result.exit_code == 0, result.output
    last = result.stdout.rstrip("\n").splitlines()[-1]
    assert re.match(NUMBER_PATTERN, last)


def test_deferred_material_with_commitment(initialised):
    result = initialised(
        "case",
        "new",
        "--item",
        "RS-002",
        "--name",
        "张桂英",
        "--id-number",
        ZHANG,
        "--phone",
        "13912345678",
        "--material",
        "居民身份证",
        "--material",
        "待遇领取通知表（本人签字或按指纹）",
        "--defer",
        "社会保障卡或本人银行账户",
        "--defer-days",
        "3",
    )
    assert result.exit_code == 0, result.output
    assert "容缺承诺" in result.stdout
    listed = json.loads(initialised("commitment", "list", "--json").stdout)
    assert [c["material"] for c in listed] == ["社会保障卡或本人银行账户"]


def test_bundle_prints_bundle_number_last_and_show_accepts_it(initialised):
    result = initialised(
        "case",
        "new",
        "--bundle",
        "BND-AFTER-DEATH",
        "--name",
        "王小明",
        "--id-number",
        WANG,
        "--phone",
        "13800138000",
        "--material",
        "死亡证明",
        "--material",
        "死亡证明或户籍注销证明",
        "--material",
        "申报人居民身份证",
        "--material",
        "领取人居民身份证",
        "--material",
        "经办人居民身份证",
        "--material",
        "逝者居民户口簿及身份证",
        "--material",
        "参保人居民身份证",
        "--defer",
        "领取人银行账户",
    )
    assert result.exit_code == 0, result.output
    number = result.stdout.splitlines()[-1]
    shown = json.loads(initialised("case", "show", number, "--json").stdout)
    assert shown["case_no"] == number and shown["bundle_code"] == "BND-AFTER-DEATH"
    assert [m["item_code"] for m in shown["members"]] == ["GA-002", "RS-004", "MZ-008"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--id-number", WANG[:-1] + "5"), "校验"),
        (("--id-number", "1234"), "18"),
        (("--phone", "123"), "号码"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_writes_nothing(initialised, args, fragment):
    base = {"--item": "RS-001", "--name": "王小明", "--id-number": WANG, "--phone": "13800138000"}
    base.update(dict(zip(args[::2], args[1::2])))
    argv = [x for pair in base.items() for x in pair]
    result = initialised(
        "case", "new", *argv, "--material", "居民身份证", "--material", "城乡居民基本养老保险参保登记表"
    )
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert WANG not in result.stderr and "13800138000" not in result.stderr
    assert json.loads(initialised("case", "list", "--json").stdout) == []


def test_unknown_item_and_missing_material_exit_2(initialised):
    unknown = initialised(
        "case", "new", "--item", "XX-1", "--name", "王", "--id-number", WANG, "--phone", "13800138000"
    )
    assert unknown.exit_code == 2 and "XX-1" in unknown.stderr
    missing = initialised(
        "case",
        "new",
        "--item",
        "RS-001",
        "--name",
        "王",
        "--id-number",
        WANG,
        "--phone",
        "13800138000",
        "--material",
        "居民身份证",
    )
    assert missing.exit_code == 2 and "城乡居民基本养老保险参保登记表" in missing.stderr


def test_list_and_show_json_carry_case_number_and_status(initialised):
    number = new_case(initialised).stdout.splitlines()[-1]
    (row,) = json.loads(initialised("case", "list", "--json").stdout)
    assert row["case_no"] == number and row["status"] == "RECEIVED"
    assert row["id_number_masked"] == "349921********0234" and WANG not in json.dumps(row)
    shown = json.loads(initialised("case", "show", number, "--json").stdout)
    assert shown["case_no"] == number and shown["status"] == "RECEIVED"
    assert shown["id_number"] == WANG  # the detail view is for the handling agent


def test_list_filters(initialised):
    number = new_case(initialised).stdout.splitlines()[-1]
    assert json.loads(initialised("case", "list", "--json", "--status", "withdrawn").stdout) == []
    assert len(json.loads(initialised("case", "list", "--json", "--search", WANG).stdout)) == 1
    assert len(json.loads(initialised("case", "list", "--json", "--search", "小明").stdout)) == 1
    assert len(json.loads(initialised("case", "list", "--json", "--item", "RS-001").stdout)) == 1
    assert json.loads(initialised("case", "list", "--json", "--overdue").stdout) == []
    assert initialised("case", "list", "--due-soon").exit_code == 0
    assert number in initialised("case", "list").stdout


def test_update_withdraw_and_refusals(initialised):
    number = new_case(initialised).stdout.splitlines()[-1]
    no_reason = initialised("case", "update", number, "withdraw")
    assert no_reason.exit_code == 2
    deliver = initialised("case", "update", number, "deliver")
    assert deliver.exit_code == 2 and "已收件" in deliver.stderr and "已送达" in deliver.stderr
    done = initialised("case", "update", number, "withdraw", "--reason", "申请人不再需要")
    assert done.exit_code == 0 and "已撤回" in done.stdout
    assert json.loads(initialised("case", "show", number, "--json").stdout)["status"] == "WITHDRAWN"


def test_update_correct_and_note(initialised):
    number = new_case(initialised).stdout.splitlines()[-1]
    assert initialised("case", "update", number, "correct", "--phone", "13700137000").exit_code == 0
    assert initialised("case", "update", number, "note", "--note", "下午补签").exit_code == 0
    shown = json.loads(initialised("case", "show", number, "--json").stdout)
    assert shown["phone"] == "13700137000" and shown["notes"][0]["text"] == "下午补签"


def test_english_by_option_and_by_lang(initialised):
    assert "办件 349921001001-" in new_case(initialised).stdout
    assert "Case 349921001001-" in new_case(lambda *a: initialised("--lang", "en", *a)).stdout
    english = initialised("--lang", "en", "case", "list")
    assert "Case no." in english.stdout and "received" in english.stdout
    bad = initialised(
        "--lang", "en", "case", "new", "--item", "RS-001", "--name", "王", "--id-number", "1", "--phone", "13800138000"
    )
    assert bad.exit_code == 2 and bad.stderr.startswith("Error:")
    by_env = initialised("case", "list", env={"LANG": "en_US.UTF-8"})
    assert "Case no." in by_env.stdout
    assert "办件编号" in initialised("case", "list").stdout


def test_commands_need_init_first(run):
    result = run("case", "list")
    assert result.exit_code == 1 and "station init" in result.stderr


def test_init_twice_exits_2(initialised):
    again = initialised("init", "--village", "349921001001")
    assert again.exit_code == 2


def test_catalog_list_and_show(initialised):
    assert "RS-001" in initialised("catalog", "list").stdout
    item = json.loads(initialised("catalog", "show", "rs-002", "--json").stdout)
    assert item["code"] == "RS-002" and any(m["allow_deferred"] for m in item["materials"])
    assert initialised("catalog", "show", "NOPE").exit_code == 2


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from _all_commands(command, prefix + (name,))


def test_every_command_has_help(run):
    paths = [()] + [path for path, _ in _all_commands(main)]
    for path in paths:
        result = run(*path, "--help")
        assert result.exit_code == 0, path
        assert "Usage:" in result.stdout
    for path, command in _all_commands(main):
        assert command.help, f"'station {' '.join(path)}' has no help text"
