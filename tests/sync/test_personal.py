"""Tests for phone validation and masking of personal data (sync.personal)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.errors import InputError
from sync.personal import mask_id_number, mask_name, mask_phone, normalize_phone, validate_phone

# Masking output is all stars and kept characters, so inputs made only of stars
# would come back "unchanged" without leaking anything; leave them out.
NO_STARS = st.text(alphabet=st.characters(blacklist_characters="*", blacklist_categories=("Cs",)), min_size=1)

# ---- ID numbers ----------------------------------------------------------------------------


def test_mask_id_number_brief_example() -> None:
    assert mask_id_number("349921195803120234") == "349921********0234"
    assert mask_id_number("11010519491231002X") == "110105********002X"


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("", ""),
        ("110105491231002", "***********1002"),
        ("1234567", "***4567"),
        ("12345", "*2345"),
        ("1234", "****"),
        ("12", "**"),
        ("3499211958031202345", "***************2345"),
    ],
)
def test_mask_id_number_other_lengths(raw: str, masked: str) -> None:
    assert mask_id_number(raw) == masked


def test_mask_id_number_hides_birth_date() -> None:
    assert "19580312" not in mask_id_number("349921195803120234")


@given(NO_STARS)
def test_mask_id_number_never_unchanged(text: str) -> None:
    masked = mask_id_number(text)
    assert masked != text
    assert len(masked) == len(text)


# ---- phone masking ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13800138000", "138****8000"),
        ("+86 138 0013 8000", "138****8000"),
        ("138-0013-8000", "138****8000"),
        ("0551-1234567", "055*****4567"),
        ("010 12345678", "010*****5678"),
        ("12345678", "123*5678"),
        ("1234567", "*****67"),
        ("123", "*23"),
        ("12", "**"),
        ("1", "*"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_mask_phone(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked


@given(NO_STARS)
def test_mask_phone_never_unchanged(text: str) -> None:
    masked = mask_phone(text)
    assert masked == "" or masked != text


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_mask_phone_hides_the_middle_of_mobiles(number: str) -> None:
    masked = mask_phone(number)
    assert masked == number[:3] + "****" + number[-4:]
    assert number not in masked


# ---- phone validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("13800138000", "13800138000"),
        ("19912345678", "19912345678"),
        ("+8613800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("86 13800138000", "13800138000"),
        ("0086-138-0013-8000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("\uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10", "13800138000"),
        ("0551-1234567", "0551-1234567"),
        ("05511234567", "0551-1234567"),
        ("0551-12345678", "0551-12345678"),
        ("0551 1234 5678", "0551-12345678"),
        ("010-12345678", "010-12345678"),
        ("01012345678", "010-12345678"),
        ("021-6123456", "021-6123456"),
        ("0755\u201312345678", "0755-12345678"),
    ],
)
def test_validate_phone_accepts(raw: str, normalized: str) -> None:
    assert validate_phone(raw) == normalized
    assert normalize_phone(raw) == normalized


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "phone.empty"),
        ("  \u3000", "phone.empty"),
        ("1380013800", "phone.mobile"),
        ("138001380001", "phone.mobile"),
        ("12800138000", "phone.mobile"),
        ("+86 1380013800", "phone.mobile"),
        ("0558-123456", "phone.landline"),
        ("0551-123456789", "phone.landline"),
        ("058", "phone.landline"),
        ("138-0013-800a", "phone.chars"),
        ("(0551)1234567", "phone.chars"),
        ("1380013800\u0660", "phone.chars"),
        ("13800138000 ext 2", "phone.chars"),
        ("+1 212 555 1234", "phone.invalid"),
        ("5551234567", "phone.invalid"),
        ("86", "phone.invalid"),
    ],
)
def test_validate_phone_rejects(raw: str, code: str) -> None:
    with pytest.raises(InputError) as info:
        validate_phone(raw)
    error = info.value
    assert error.code == code
    assert error.field == "phone"
    assert error.en.strip() and error.zh.strip()
    assert any("\u4e00" <= c <= "\u9fff" for c in error.zh)
    digits = "".join(c for c in raw if c.isdigit())
    for text in (error.en, error.zh, repr(error)):
        if len(digits) >= 5:
            assert digits not in text
        if raw.strip():
            assert raw.strip() not in text


def test_normalize_phone_leaves_unrecognised_text_for_validation() -> None:
    assert normalize_phone(" 12 345 ") == "12345"
    assert normalize_phone("") == ""


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_every_mobile_shape_accepted(number: str) -> None:
    assert validate_phone(number) == number
    assert validate_phone("+86 " + number[:3] + " " + number[3:7] + " " + number[7:]) == number


@given(st.text(max_size=25))
def test_validate_phone_raises_only_input_errors(raw: str) -> None:
    try:
        normalized = validate_phone(raw)
    except InputError as error:
        assert error.code.startswith("phone.")
    else:
        assert validate_phone(normalized) == normalized


# ---- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("王小明", "王**"),
        ("李四", "李*"),
        ("欧阳娜娜", "欧***"),
        ("王", "王*"),
        (" 张三 ", "张*"),
        ("", ""),
        ("  ", ""),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@given(NO_STARS.filter(lambda s: len(s.strip()) >= 2))
def test_mask_name_keeps_only_the_first_character(name: str) -> None:
    masked = mask_name(name)
    assert masked[0] == name.strip()[0]
    assert set(masked[1:]) == {"*"}
