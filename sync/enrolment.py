"""Enrolment codes and the MACs that prove them: what station and hub must compute the same way."""

from __future__ import annotations

import secrets

import msgspec

from sync.crypto import mac
from sync.errors import InputError
from sync.protocol import EnrollResponse

__all__ = ("CODE_ALPHABET", "new_code", "normalize_code", "request_mac", "response_mac", "split_code")

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford base32: no I, L, O or U, so a code read aloud or copied by hand survives."""

# Crockford's decoding rule: letters people confuse with digits are read as those digits.
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})


def new_code() -> str:
    """A fresh code ``XXXX-XXXX-XXXX-XXXX`` (80 random bits)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def normalize_code(text: str) -> str:
    """The 16 characters of a code: spaces and hyphens dropped, upper case, I/L read as 1 and O as 0.

    Raises:
        InputError: not 16 Crockford base32 characters.
    """
    cleaned = "".join(text.split()).replace("-", "").upper().translate(_READ_AS)
    if len(cleaned) != 16 or any(c not in CODE_ALPHABET for c in cleaned):
        raise InputError(
            zh="登记码应为 16 个字母或数字，分四组，形如 ABCD-EFGH-JKMN-PQRS",
            en="an enrolment code has 16 letters or digits in four groups, like ABCD-EFGH-JKMN-PQRS",
            field="code",
            code="enroll.code_format",
        )
    return cleaned


def split_code(text: str) -> tuple[str, bytes]:
    """(code id, secret) of a code: the first group names the code and travels; the other
    twelve characters (ASCII bytes) are the MAC key and never leave the two ends."""
    cleaned = normalize_code(text)
    return cleaned[:4], cleaned[4:].encode("ascii")


def request_mac(secret: bytes, sign_public: bytes, box_public: bytes) -> bytes:
    """The mac in an EnrollRequest (docs/protocol.md, Enrolment step 2)."""
    return mac(secret, b"enroll-request", sign_public, box_public)


def response_mac(secret: bytes, response: EnrollResponse) -> bytes:
    """The mac of an EnrollResponse (docs/protocol.md, Enrolment step 3).

    ``features`` is covered when it is not 0, so a station of 0.3 (to which the hub sends none)
    checks the same bytes as ever, and nobody in the middle can change what a new station believes
    its hub reads. ``case_numbers`` likewise, when the answer carries any (msgpack of the list).
    """
    features = [b"features", str(response.features).encode()] if response.features else []
    numbers = [b"case_numbers", msgspec.msgpack.encode(response.case_numbers)] if response.case_numbers else []
    return mac(
        secret,
        b"enroll-response",
        response.station_id.encode(),
        response.village_code.encode(),
        response.device.encode(),
        response.hub_sign_public,
        response.hub_box_public,
        response.lookup_key_box,
        *features,
        *numbers,
    )
