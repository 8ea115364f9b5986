"""Personal data helpers: phone number normalisation and validation, masking for lists and search results."""

from __future__ import annotations

import re

from sync.errors import InputError

__all__ = (
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "normalize_phone",
    "validate_phone",
)

_FIELD = "phone"

# Full-width digits, plus, hyphen and space arrive from Chinese input methods.
_FULL_WIDTH = {0xFF10 + i: str(i) for i in range(10)} | {0xFF0B: "+", 0xFF0D: "-", 0x3000: " "}
# Hyphen look-alikes pasted from documents: en dash, em dash, minus sign.
_DASHES = {0x2013: "-", 0x2014: "-", 0x2212: "-"}

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# Country code forms people write in front of a mobile number.
_COUNTRY_PREFIX = re.compile(r"^(?:\+86|0086|86)(?=1[0-9]{10}$)")


def mask_id_number(n: str) -> str:
    """Mask an ID number for lists: 6 + 8 ``*`` + 4 (``349921********0234``).

    The middle eight stars also hide the birth date. An input that is not 18 characters
    keeps only its last 4 characters (fewer if it is that short), so a malformed value
    is never shown whole.

    Args:
        n: The ID number, normally already normalised.

    Returns:
        The masked text; ``""`` for an empty input.
    """
    if not n:
        return ""
    if len(n) == 18:
        return n[:6] + "*" * 8 + n[-4:]
    if len(n) <= 4:
        return "*" * len(n)
    return "*" * (len(n) - 4) + n[-4:]


def mask_phone(p: str) -> str:
    """Mask a phone number for lists: ``13800138000`` becomes ``138****8000``.

    A valid number is normalised first (so ``+86 138 0013 8000`` masks the same way).
    Otherwise the text keeps its first 3 and last 4 characters when it has at least 8,
    or only its last 2 when shorter; the input is never returned unchanged.

    Args:
        p: The phone number.

    Returns:
        The masked text; ``""`` for an empty input.
    """
    text = p.strip()
    if not text:
        return ""
    try:
        text = validate_phone(text)
    except InputError:
        pass
    if len(text) >= 8:
        return text[:3] + "*" * (len(text) - 7) + text[-4:]
    if len(text) <= 2:
        return "*" * len(text)
    return "*" * (len(text) - 2) + text[-2:]


def _clean(raw: str) -> str:
    """Full-width to ASCII, spaces removed; hyphens kept for the caller to judge."""
    return "".join(raw.translate(_FULL_WIDTH).translate(_DASHES).split())


def _landline(digits: str) -> str | None:
    """``0xxx-xxxxxxx`` for a landline given as digits only, or None if it cannot be one."""
    if not digits.startswith("0"):
        return None
    # Mainland area codes are 010 and 020-029 (three digits) and four digits elsewhere,
    # so the split does not depend on where (or whether) the person typed a hyphen.
    area_len = 3 if digits.startswith(("010", "02")) else 4
    area, local = digits[:area_len], digits[area_len:]
    if len(area) == area_len and 7 <= len(local) <= 8:
        return f"{area}-{local}"
    return None


def normalize_phone(raw: str) -> str:
    """Put a phone number into canonical form without rejecting it.

    Mobile numbers become 11 digits (a ``+86``/``0086``/``86`` country code, spaces and
    hyphens dropped); landlines become ``0xxx-xxxxxxx`` (area code, hyphen, local
    number). Text that is neither is returned with only full-width characters made
    ASCII and spaces removed, for :func:`validate_phone` to report.

    Args:
        raw: The number as entered.

    Returns:
        The canonical number, or the cleaned text when it is not a recognisable number.
    """
    text = _clean(raw)
    digits = text.replace("-", "")
    national = _COUNTRY_PREFIX.sub("", digits, count=1)
    if _MOBILE.fullmatch(national):
        return national
    if digits.isascii() and digits.isdigit():
        landline = _landline(digits)
        if landline is not None:
            return landline
    return text


def _phone_error(code: str, *, zh: str, en: str) -> InputError:
    return InputError(zh=zh, en=en, field=_FIELD, code=code)


def validate_phone(raw: str) -> str:
    """Validate a Chinese mobile or landline number and return it normalised.

    Accepted: mobile ``1[3-9]`` + 9 digits, optionally with ``+86``/``86`` and spaces or
    hyphens; landline ``0`` + 2-3 digit area code + 7-8 digit local number, with or
    without a hyphen.

    Args:
        raw: The number as entered.

    Returns:
        The normalised number (see :func:`normalize_phone`).

    Raises:
        InputError: With ``field="phone"`` and ``code`` one of ``phone.empty``,
            ``phone.chars``, ``phone.mobile``, ``phone.landline``, ``phone.invalid``.
            Messages never contain the number.
    """
    text = _clean(raw)
    if not text:
        raise _phone_error(
            "phone.empty",
            zh="电话号码为空。请输入 11 位手机号码，或 0551-1234567 形式的固定电话。",
            en="The phone number is empty. Enter an 11-digit mobile number or a landline such as 0551-1234567.",
        )
    normalized = normalize_phone(raw)
    if _MOBILE.fullmatch(normalized) or _landline(normalized.replace("-", "")) == normalized:
        return normalized
    body = text.removeprefix("+")
    if not (body.replace("-", "").isascii() and body.replace("-", "").isdigit()):
        raise _phone_error(
            "phone.chars",
            zh="电话号码只能包含数字、空格、连字符和开头的 +86，请删除其他字符。",
            en="The phone number may contain only digits, spaces, hyphens and a leading +86. Remove any other character.",
        )
    if text.startswith("+") and not text.startswith("+86"):
        raise _phone_error(
            "phone.invalid",
            zh="只接受中国大陆电话号码，国家代码只能是 +86。请输入 11 位手机号码，或 0551-1234567 形式的固定电话。",
            en="Only Chinese mainland numbers are accepted: +86 is the only country code allowed. "
            "Enter an 11-digit mobile number or a landline such as 0551-1234567.",
        )
    # Classify by what follows any country code, even when the length is wrong,
    # so "+86" with a digit missing is reported as a bad mobile number.
    national = re.sub(r"^(?:\+86|0086|86(?=1))", "", text.replace("-", ""), count=1)
    if national.startswith("1"):
        raise _phone_error(
            "phone.mobile",
            zh="手机号码应为 11 位数字，并以 13 至 19 开头。请检查是否漏输、多输或输错数字。",
            en="A mobile number has 11 digits and starts with 13-19. Check for missing, extra or mistyped digits.",
        )
    if national.startswith("0"):
        raise _phone_error(
            "phone.landline",
            zh="固定电话应为区号（010、02x 或 0551 这样的 4 位区号）加 7 至 8 位号码，"
            "例如 0551-1234567。请检查区号和位数。",
            en="A landline is the area code (010, 02x, or 4 digits such as 0551) followed by a 7- or "
            "8-digit local number, e.g. 0551-1234567. Check the area code and the number of digits.",
        )
    raise _phone_error(
        "phone.invalid",
        zh="这不是有效的中国电话号码。请输入以 13 至 19 开头的 11 位手机号码，或以 0 开头的固定电话，例如 0551-1234567。",
        en="This is not a Chinese phone number. Enter an 11-digit mobile number starting with 13-19, "
        "or a landline starting with 0 such as 0551-1234567.",
    )


def mask_name(name: str) -> str:
    """Mask a person's name for lists: keep the first character (``王小明`` becomes ``王**``).

    A one-character name still gets a star, so a masked name always looks masked.

    Args:
        name: The name.

    Returns:
        The masked name; ``""`` for an empty input.
    """
    name = name.strip()
    if not name:
        return ""
    return name[0] + "*" * max(len(name) - 1, 1)
