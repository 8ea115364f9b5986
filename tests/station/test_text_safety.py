"""Escape sequences, direction overrides and Rich markup in names, notes and reasons (issue 10, items 10 and 13).

Refused at every station entry point (exit 2, nothing written), and stored ones (older data, or data
from the hub) printed as plain text by ``station case list`` and ``case show``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from station import cases as ops
from station.cli import main
from station.store import Station
from station.store.db import write_txn
from sync.errors import InputError
from tests.station.conftest import WANG, pension_benefit_deferred, pension_enrolment

ESC_CLEAR = "王\x1b[2J\x1b[H小明"
"""Clears the screen and homes the cursor when printed raw."""
TITLE_SET = "\x1b]0;county-hub-owned\x07张三"
"""Sets the terminal's window title (OSC 0) when printed raw."""
RLO = "李\u202eexe.txt"
"""Shows as ``李txt.exe``: the right-to-left override turns the rest around."""
C1_CSI = "赵\x9b2J"
"""The one-byte CSI (U+009B): some terminals clear the screen on it."""
MARKUP = "[/x][b]王[/b]"
"""Rich markup: a closing tag with nothing open crashes a Rich print; [b] would turn bold."""

NOT_PRINTED = ("\x1b", "\x07", "\x9b", "\u202e")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def run(data_dir: Path):
    runner = CliRunner()

    def invoke(*args: str):
        env = {"STATION_DATA_DIR": str(data_dir), "LANG": "", "LC_ALL": ""}
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    result = invoke("init", "--village", "349921001001", "--agent", "李代办")
    assert result.exit_code == 0, result.output
    return invoke


def new_case(run, *, name: str = "王小明", extra: tuple[str, ...] = ()):
    return run(
        "case",
        "new",
        "--item",
        "RS-001",
        "--name",
        name,
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


def counts(data_dir: Path) -> tuple[int, int, int]:
    """Cases, notes and outbox changes held by the station."""
    with Station.open(data_dir) as st:
        return tuple(
            st.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # type: ignore[return-value]
            for t in ("cases", "case_notes", "outbox")
        )


# ---- refused at intake: exit 2, nothing written -------------------------------------------------


@pytest.mark.parametrize("name", [ESC_CLEAR, TITLE_SET, RLO, C1_CSI], ids=["clear", "title", "rlo", "c1"])
def test_a_name_with_an_escape_or_override_is_refused_and_nothing_is_written(run, data_dir, name):
    result = new_case(run, name=name)
    assert result.exit_code == 2
    assert "申请人姓名" in result.stderr and "控制字符" in result.stderr
    assert not any(ch in result.output for ch in NOT_PRINTED)
    assert counts(data_dir) == (0, 0, 0)


def test_the_english_message_names_the_field_and_the_fix(run):
    result = run(
        "--lang",
        "en",
        "case",
        "new",
        "--item",
        "RS-001",
        "--name",
        RLO,
        "--id-number",
        WANG,
        "--phone",
        "13800138000",
        "--material",
        "居民身份证",
        "--material",
        "城乡居民基本养老保险参保登记表",
    )
    assert result.exit_code == 2
    assert "name holds a control or direction-override character" in result.stderr


def test_a_100000_character_note_is_refused(run, data_dir):
    result = new_case(run, extra=("--note", "备" * 100_000))
    assert result.exit_code == 2
    assert "2000" in result.stderr
    assert counts(data_dir) == (0, 0, 0)


def test_a_note_with_line_breaks_is_kept_and_one_with_an_escape_is_refused(run, data_dir):
    assert new_case(run, extra=("--note", "第一行\r\n第二行")).exit_code == 0
    refused = new_case(run, extra=("--note", "备注\x1b[31m红字"))
    assert refused.exit_code == 2
    with Station.open(data_dir) as st:
        assert [text for (text,) in st.db.execute("SELECT text FROM case_notes")] == ["第一行\n第二行"]
    assert counts(data_dir)[0] == 1


@pytest.mark.parametrize(
    "args",
    [
        ("note", "--note", "看\x1b[2J"),
        ("note", "--note", "x" * 2001),
        ("withdraw", "--reason", "不办了\u202e"),
        ("withdraw", "--reason", "理" * 501),
        ("correct", "--name", ESC_CLEAR),
        ("correct", "--name", "名" * 51),
        ("note", "--note", "好", "--by", "李\x1b[8m"),
        ("withdraw", "--reason", "不办了", "--by", "代" * 51),
    ],
    ids=["note-esc", "note-long", "reason-rlo", "reason-long", "name-esc", "name-long", "by-esc", "by-long"],
)
def test_case_updates_refuse_controls_and_overlong_text(run, data_dir, args):
    number = new_case(run).stdout.strip().splitlines()[-1]
    before = counts(data_dir)
    result = run("case", "update", number, *args)
    assert result.exit_code == 2, result.output
    assert counts(data_dir) == before


def test_an_agent_name_with_an_escape_is_refused_at_init(tmp_path):
    result = CliRunner().invoke(
        main,
        ["init", "--village", "349921001001", "--agent", "李\x1b]0;x\x07"],
        env={"STATION_DATA_DIR": str(tmp_path / "d"), "LANG": ""},
        catch_exceptions=False,
    )
    assert result.exit_code == 2
    assert not (tmp_path / "d" / "station.db").exists()


def test_the_operations_refuse_what_the_tui_would_pass_them(station):
    # The TUI calls these same functions: a signer, an agent and a deferred intake's note.
    for request in (
        pension_benefit_deferred(signer_name="张\u202e"),
        pension_enrolment(agent="李\x1b[2J"),
        pension_enrolment(note="\x1b]52;c;cGF5bG9hZA==\x07"),
    ):  # OSC 52 would write the clipboard
        with pytest.raises(InputError):
            ops.new_intake(station, request)
    assert station.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


# ---- printed plain: what is stored already (older data, the hub's data) -------------------------


def store_raw(data_dir: Path, number: str, name: str, *, note: str | None = None, reason: str | None = None) -> None:
    """Write text straight into the database, as an older release or the hub's feed could have."""
    with Station.open(data_dir) as st, write_txn(st.db):
        st.db.execute("UPDATE cases SET applicant_name = ? WHERE case_no = ?", [name, number])
        if note is not None:
            st.db.execute(
                "INSERT INTO case_notes (note_id, case_no, at, author, text) VALUES (?, ?, ?, ?, ?)",
                ["hub:1", number, "2026-09-28T02:00:00.000Z", "县\x1b[5m", note],
            )
        if reason is not None:
            st.db.execute("UPDATE case_events SET reason = ?, by = ? WHERE case_no = ?", [reason, MARKUP, number])


@pytest.mark.parametrize(
    "name", [ESC_CLEAR, TITLE_SET, RLO, C1_CSI, MARKUP], ids=["clear", "title", "rlo", "c1", "markup"]
)
def test_case_list_and_show_print_a_stored_name_as_plain_text(run, data_dir, name):
    number = new_case(run).stdout.strip().splitlines()[-1]
    store_raw(data_dir, number, name, note="看\x1b[2J这里\n\u202e第二行 [/b]", reason="退回\x1b]0;x\x07[red]")
    for args in (("case", "list"), ("case", "show", number), ("--lang", "en", "case", "show", number)):
        result = run(*args)
        assert result.exit_code == 0, result.output
        assert not any(ch in result.output for ch in NOT_PRINTED), (args, result.output)
    listed = run("case", "list").output
    shown = run("case", "show", number).output
    if name == MARKUP:
        # Shown literally, never read as markup (no crash, no lost brackets).
        assert "[/x][b]王[/b]" in listed and "[/x][b]王[/b]" in shown
    else:
        visible = name.replace("\x1b", "").replace("\x07", "").replace("\x9b", "").replace("\u202e", "")
        assert visible in shown
    assert "看[2J这里" in shown and "第二行 [/b]" in shown and "[red]" in shown


def test_json_keeps_the_raw_value_but_writes_controls_as_escapes(run, data_dir):
    number = new_case(run).stdout.strip().splitlines()[-1]
    store_raw(data_dir, number, RLO + C1_CSI + ESC_CLEAR)
    for args in (("case", "list", "--json"), ("case", "show", number, "--json")):
        result = run(*args)
        assert result.exit_code == 0
        assert not any(ch in result.output for ch in NOT_PRINTED)
        data = json.loads(result.output)
        row = data[0] if isinstance(data, list) else data
        assert row["applicant_name"] == RLO + C1_CSI + ESC_CLEAR
