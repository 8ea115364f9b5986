"""Ratings (好差评) and progress-query codes: the rules both sides share (levels, channels, codes, keys).

A rating is the applicant's verdict on one case (a bundle's member: one stage) or on a whole bundle
(``overall``), recorded at the station after delivery (brief §6.2). Five levels, 5 = 非常满意 …
1 = 非常不满意; levels 1 and 2 are bad ratings the county follows up (call back, fix, answer).

A query code is the short secret printed beside the case number on the receipt: the case number is
guessable (village, date, counter), the code is not. It is derived, never stored: HMAC-SHA256 under the
query key of the PC that recorded the intake, of the intake's number. Each PC makes its own random key
once and sends it to the hub once (the replicated table ``query_keys``), so a code costs nothing on the
wire per intake (docs/security.md, "Progress-query codes").
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import msgspec

from sync.errors import InputError
from sync.merge import decode_versions

__all__ = (
    "BAD_LEVELS",
    "CHANNELS",
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "FEATURE_RATINGS",
    "FIRST_STANDS",
    "LEVELS",
    "OVERALL",
    "QUERY_KEY_BYTES",
    "channel_label",
    "check_channel",
    "check_level",
    "format_code",
    "level_label",
    "new_query_key",
    "normalize_code",
    "query_code",
    "rating_id",
    "recorder_of",
)

FEATURE_RATINGS = 1024
"""Protocol feature (docs/protocol.md, "Features"): reads and takes rows of the ``ratings`` and
``query_keys`` tables. A station holds those rows back from a hub that has not said it (an older hub
would refuse them as an unknown table, and the refusal would lose them); the hub sends them down only
to a station that said it."""

FIRST_STANDS = frozenset({"ratings"})
"""Tables whose rows any PC of the village may create under another PC's intake number (a rating of a case
the other PC took in). One row per key: the first to reach the hub stands; a later insert is refused
``duplicate_row`` and its station takes the hub's values, so an offline race of two PCs ends with one
rating (一次一评) everywhere."""

LEVELS: dict[int, tuple[str, str]] = {
    5: ("非常满意", "very satisfied"),
    4: ("满意", "satisfied"),
    3: ("基本满意", "fairly satisfied"),
    2: ("不满意", "dissatisfied"),
    1: ("非常不满意", "very dissatisfied"),
}
"""The five levels of 好差评 (国办发〔2019〕51号), best first."""

BAD_LEVELS = frozenset({1, 2})
"""Levels that open a follow-up at the county (差评: verify, fix, answer)."""

CHANNELS: dict[str, tuple[str, str]] = {
    "onsite": ("现场评价", "on site"),
    "phone": ("电话回访", "phone call"),
    "card": ("纸质评价卡", "paper card"),
    "sms": ("短信", "text message"),
}
"""How the station heard the rating; ``onsite`` (一次一评 at the station) by default."""

OVERALL = "overall"
"""The stage of a bundle's overall rating (the key's tail, where a case rating has its case number)."""

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base 32: no I, L, O or U, so a code read aloud or typed from paper is not misread."""
CODE_LENGTH = 8
"""8 characters of 32: 40 bits. Guessing one case's code at the hub's query rate takes longer than
any case lives (docs/security.md)."""

QUERY_KEY_BYTES = 16
"""A PC's query key: 128 random bits, made once (station.ratings) and never rotated (docs/security.md)."""

_READ_AS = {"O": "0", "I": "1", "L": "1", "U": "V"}


def check_level(level: object) -> int:
    """A rating level 1..5; InputError naming the field otherwise."""
    if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
        raise InputError(
            zh=f"评价等级应为 1 至 5（5 = 非常满意，1 = 非常不满意），而不是 {level!r}",
            en=f"a rating level is 1 to 5 (5 = very satisfied, 1 = very dissatisfied), not {level!r}",
            field="level",
        )
    return level


def check_channel(channel: object) -> str:
    """A rating channel (:data:`CHANNELS`); InputError listing them otherwise."""
    if not isinstance(channel, str) or channel not in CHANNELS:
        names = ", ".join(CHANNELS)
        raise InputError(
            zh=f"评价渠道应为 {names} 之一，而不是 {channel!r}",
            en=f"a rating channel is one of {names}, not {channel!r}",
            field="channel",
        )
    return channel


def level_label(level: int, lang: str = "zh") -> str:
    zh, en = LEVELS.get(level, (str(level), str(level)))
    return en if lang == "en" else zh


def channel_label(channel: str, lang: str = "zh") -> str:
    zh, en = CHANNELS.get(channel, (channel, channel))
    return en if lang == "en" else zh


def rating_id(intake_id: str, case_no: str | None) -> str:
    """The key of a rating: ``INTAKE/CASE`` for a case (a stage), ``INTAKE/overall`` for a whole bundle.

    Under its intake's number, so the hub reads its village and device from the key (sync.ids).
    """
    return f"{intake_id}/{case_no or OVERALL}"


def new_query_key() -> bytes:
    """A fresh random query key for one PC (CSPRNG), :data:`QUERY_KEY_BYTES` bytes."""
    return secrets.token_bytes(QUERY_KEY_BYTES)


def query_code(key: bytes, intake_id: str) -> str:
    """The query code of an intake: the first 40 bits of HMAC-SHA256(key, "query-code/" + intake number),
    :data:`CODE_LENGTH` characters of :data:`CODE_ALPHABET`.

    ``key`` is the query key of the PC that recorded the intake; the station and the hub compute the
    same code from the same key (the hub compares in constant time)."""
    digest = hmac.new(key, b"query-code/" + intake_id.encode(), hashlib.sha256).digest()
    bits = int.from_bytes(digest[:5], "big")
    return "".join(CODE_ALPHABET[(bits >> (5 * (CODE_LENGTH - 1 - i))) & 31] for i in range(CODE_LENGTH))


def format_code(code: str) -> str:
    """A code as printed: two groups of four (``7K3M-Q9XD``)."""
    return f"{code[:4]}-{code[4:]}" if len(code) == CODE_LENGTH else code


def normalize_code(text: str) -> str:
    """What a resident typed, as stored: spaces and dashes dropped, upper case, O→0, I/L→1, U→V.

    Never raises: a malformed code is simply one that matches nothing (the answer must not say why).
    """
    cleaned = "".join(ch for ch in str(text).upper() if ch not in " -\t")[: CODE_LENGTH * 2]
    return "".join(_READ_AS.get(ch, ch) for ch in cleaned)


def recorder_of(versions: str | None) -> str | None:
    """The station id of the PC that recorded a row (its insert's version, ``"*"``), from the row's versions
    column; the same at the station and at the hub, whose key the row's query code is derived from."""
    try:
        held = decode_versions(versions).get("*")
    except (msgspec.DecodeError, ValueError, TypeError, IndexError, KeyError, AttributeError):
        return None
    return held[1] if held else None
