"""Tests for resident ID number validation (sync.idnumber)."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.divisions import PROVINCE_CODES
from sync.errors import IdNumberError
from sync.idnumber import (
    ResidentId,
    check_character,
    check_partial_id_number,
    convert_first_generation,
    normalize_id_number,
    validate_id_number,
)

# Fixed so results do not depend on the day the tests run.
TODAY = datetime.date(2026, 3, 1)
KNOWN_VALID = ("11010519491231002X", "440524188001010014", "349921195803120234")


def with_check(body17: str) -> str:
    """A number whose check character is right, so only the planted fault is wrong."""
    return body17 + check_character(body17)


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(sorted(PROVINCE_CODES)))
    prefecture = draw(st.integers(0, 99))
    county = draw(st.integers(0 if province in {"81", "82", "83"} else 1, 99))
    born = draw(st.dates(datetime.date(1900, 1, 1), TODAY))
    sequence = draw(st.integers(0, 999))
    return with_check(f"{province}{prefecture:02d}{county:02d}{born:%Y%m%d}{sequence:03d}")


# ---- known numbers and derived facts --------------------------------------------------


@pytest.mark.parametrize("number", KNOWN_VALID)
def test_known_valid_numbers(number: str) -> None:
    resident = validate_id_number(number, today=TODAY)
    assert resident.number == number
    assert resident.region_code == number[:6]


@pytest.mark.parametrize(
    ("number", "birth", "sex"),
    [
        ("11010519491231002X", datetime.date(1949, 12, 31), "F"),
        ("440524188001010014", datetime.date(1880, 1, 1), "M"),
        ("349921195803120234", datetime.date(1958, 3, 12), "M"),
    ],
)
def test_birth_date_and_sex_derived(number: str, birth: datetime.date, sex: str) -> None:
    resident = validate_id_number(number, today=TODAY)
    assert resident.birth_date == birth
    assert resident.sex == sex


def test_resident_id_is_frozen() -> None:
    resident = validate_id_number(KNOWN_VALID[2], today=TODAY)
    assert isinstance(resident, ResidentId)
    with pytest.raises(AttributeError):
        resident.sex = "F"  # type: ignore[misc]


def test_check_character_worked_examples() -> None:
    assert check_character("11010519491231002") == "X"
    assert check_character("44052418800101001") == "4"
    assert check_character("34992119580312023") == "4"


@pytest.mark.parametrize("bad", ["", "1101051949123100", "110105194912310021", "1101051949123100A"])
def test_check_character_rejects_non_17_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        check_character(bad)


@pytest.mark.parametrize("permit", ["810000", "820000", "830000"])
def test_residence_permit_codes_accepted(permit: str) -> None:
    number = with_check(permit + "19900101001")
    assert validate_id_number(number, today=TODAY).region_code == permit


def test_region_missing_from_todays_list_accepted() -> None:
    # 349921 is not a real county; the number still validates by shape.
    assert validate_id_number(with_check("34992119900101001"), today=TODAY).region_code == "349921"


def test_today_defaults_to_local_date() -> None:
    assert validate_id_number(KNOWN_VALID[0]).birth_date.year == 1949


# ---- normalisation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002x",
        " 11010519491231002X ",
        "110105 19491231 002X",
        "110105\u300019491231\u3000002x",
        "\uff11\uff11\uff10\uff11\uff10\uff15\uff11\uff19\uff14\uff19\uff11\uff12\uff13\uff11\uff10\uff10\uff12\uff38",
        "11010519491231002\uff58",
        "\u200b11010519491231002X\ufeff",
        "110105\t19491231\n002X",
    ],
)
def test_normalisation(raw: str) -> None:
    assert normalize_id_number(raw) == "11010519491231002X"
    assert validate_id_number(raw, today=TODAY).number == "11010519491231002X"


def test_normalisation_keeps_other_characters_for_validation() -> None:
    assert normalize_id_number("1101x5") == "1101x5"
    assert normalize_id_number("") == ""


# ---- failure codes ------------------------------------------------------------------------

FAILURES = [
    ("", "id_number.empty"),
    ("   \u3000", "id_number.empty"),
    ("1101051949", "id_number.length"),
    ("11010519491231002X1", "id_number.length"),
    ("110105491231002", "id_number.first_generation"),
    ("1101051949123100XX", "id_number.chars"),
    ("11010519491231002A", "id_number.chars"),
    ("11O10519491231002X", "id_number.chars"),
    ("-11010519491231002", "id_number.chars"),
    (with_check("99010519491231002"), "id_number.region"),
    (with_check("01010519491231002"), "id_number.region"),
    (with_check("34010019491231002"), "id_number.region"),
    (with_check("11010519490231002"), "id_number.birth_date"),
    (with_check("11010519491301002"), "id_number.birth_date"),
    (with_check("11010519491200002"), "id_number.birth_date"),
    (with_check("11010517991231002"), "id_number.birth_date"),
    (with_check("11010500000101002"), "id_number.birth_date"),
    (with_check("11010520260302002"), "id_number.future"),
    (with_check("11010521000101002"), "id_number.future"),
    ("110105194912310021", "id_number.check"),
    ("349921195803120235", "id_number.check"),
    ("349921195803120243", "id_number.check"),
]


@pytest.mark.parametrize(("raw", "code"), FAILURES)
def test_failure_codes(raw: str, code: str) -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id_number(raw, today=TODAY)
    assert info.value.code == code
    assert info.value.field == "id_number"


@pytest.mark.parametrize(("raw", "code"), FAILURES)
def test_messages_bilingual_and_free_of_the_number(raw: str, code: str) -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id_number(raw, today=TODAY)
    error = info.value
    assert error.en.strip() and error.zh.strip()
    assert str(error) == error.en
    assert error.message("zh") == error.zh
    assert any("\u4e00" <= c <= "\u9fff" for c in error.zh)
    number = normalize_id_number(raw)
    for text in (error.en, error.zh, repr(error)):
        if len(number) >= 6:
            assert number not in text
            assert number[:17] not in text
            assert number[6:14] not in text  # the birth date alone is personal too


def test_length_message_says_how_many() -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id_number("1101051949", today=TODAY)
    assert "10" in info.value.en and "18" in info.value.en
    assert "10" in info.value.zh and "18" in info.value.zh


def test_first_generation_message_explains() -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id_number("110105491231002", today=TODAY)
    assert "2013" in info.value.en and "18" in info.value.en
    assert "2013" in info.value.zh


def test_chars_message_names_the_position() -> None:
    with pytest.raises(IdNumberError) as info:
        validate_id_number("1101051949123100X2", today=TODAY)
    assert "17" in info.value.en and "17" in info.value.zh
    assert "X" in info.value.en


def test_checks_run_in_order() -> None:
    # Bad region, impossible date and a wrong check character: the region is reported.
    with pytest.raises(IdNumberError) as info:
        validate_id_number("990105194913310020", today=TODAY)
    assert info.value.code == "id_number.region"
    # Impossible date and wrong check character: the date is reported.
    with pytest.raises(IdNumberError) as info:
        validate_id_number("110105194913310020", today=TODAY)
    assert info.value.code == "id_number.birth_date"


def test_born_today_is_valid() -> None:
    number = with_check(f"110105{TODAY:%Y%m%d}001")
    assert validate_id_number(number, today=TODAY).birth_date == TODAY


# ---- first-generation conversion --------------------------------------------------------


def test_convert_first_generation() -> None:
    assert convert_first_generation("110105491231002") == "11010519491231002X"
    assert convert_first_generation(" 110105 491231 002 ") == "11010519491231002X"
    validate_id_number(convert_first_generation("349921580312023"), today=TODAY)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("11010549123100", "id_number.length"),
        ("11010519491231002X", "id_number.length"),
        ("11010549123100X", "id_number.chars"),
    ],
)
def test_convert_first_generation_rejects(raw: str, code: str) -> None:
    with pytest.raises(IdNumberError) as info:
        convert_first_generation(raw)
    assert info.value.code == code
    assert raw not in info.value.en and raw not in info.value.zh


# ---- partial (as-you-type) checks ---------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", None),
        ("1", None),
        ("8", None),
        ("9", "id_number.region"),
        ("0", "id_number.region"),
        ("19", "id_number.region"),
        ("72", "id_number.region"),
        ("11010", None),
        ("110100", "id_number.region"),
        ("810000", None),
        ("11a", "id_number.chars"),
        ("1101X", "id_number.chars"),
        ("1101051", None),
        ("1101052", None),
        ("1101053", "id_number.future"),
        ("11010517", "id_number.birth_date"),
        ("1101051800", None),
        ("1101052026", None),
        ("1101052027", "id_number.future"),
        ("11010521", "id_number.future"),
        ("11010519491", None),
        ("11010519492", "id_number.birth_date"),
        ("110105194913", "id_number.birth_date"),
        ("110105194900", "id_number.birth_date"),
        ("1101051949023", "id_number.birth_date"),
        ("11010519490229", "id_number.birth_date"),
        ("11010519480229", None),
        ("1101052026030", None),
        ("11010520260302", "id_number.future"),
        ("11010520260301", None),
        ("11010519491231002", None),
        ("11010519491231002x", None),
        ("110105194912310021", "id_number.check"),
        ("11010519491231002X1", "id_number.length"),
    ],
)
def test_partial_examples(typed: str, code: str | None) -> None:
    error = check_partial_id_number(typed, today=TODAY)
    assert (error.code if error else None) == code


def test_partial_messages_free_of_the_prefix() -> None:
    error = check_partial_id_number("11010519491331", today=TODAY)
    assert error is not None
    assert "11010519491331" not in error.en and "19491331" not in error.zh


# ---- properties ----------------------------------------------------------------------------


@given(valid_numbers())
def test_generated_valid_numbers_pass(number: str) -> None:
    resident = validate_id_number(number, today=TODAY)
    assert resident.number == number
    assert resident.birth_date == datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    assert resident.sex == ("M" if int(number[16]) % 2 else "F")


@given(valid_numbers(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_single_substitution_fails(number: str, position: int, replacement: str) -> None:
    allowed = "0123456789X" if position == 17 else "0123456789"
    if replacement not in allowed or replacement == number[position]:
        replacement = next(c for c in allowed if c != number[position])
    changed = number[:position] + replacement + number[position + 1 :]
    with pytest.raises(IdNumberError):
        validate_id_number(changed, today=TODAY)
    # The as-you-type check agrees once the number is complete.
    assert check_partial_id_number(changed, today=TODAY) is not None


@given(valid_numbers())
def test_every_prefix_of_a_valid_number_is_silent(number: str) -> None:
    for end in range(len(number) + 1):
        assert check_partial_id_number(number[:end], today=TODAY) is None


@given(valid_numbers(), st.text(max_size=20))
def test_partial_never_raises(number: str, noise: str) -> None:
    for typed in (noise, number[:8] + noise, number + noise):
        error = check_partial_id_number(typed, today=TODAY)
        assert error is None or (error.en and error.zh and error.field == "id_number")


@given(st.text(max_size=30))
def test_validate_raises_only_id_number_errors(raw: str) -> None:
    try:
        validate_id_number(raw, today=TODAY)
    except IdNumberError as error:
        assert error.code.startswith("id_number.")
