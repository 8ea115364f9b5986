"""The keyed hash that finds a case by ID number without storing or scanning plain numbers."""

from __future__ import annotations

import hashlib
import hmac

from sync.idnumber import normalize_id_number

__all__ = ("id_lookup_hash",)


def id_lookup_hash(key: bytes, id_number: str) -> str:
    """Hex HMAC-SHA256 of a normalised ID number under the county's lookup key.

    A plain SHA-256 of an 18-character ID number is easy to brute-force (region and birth date
    leave a few billion candidates); without the key the hash says nothing.
    """
    return hmac.new(key, normalize_id_number(id_number).encode("ascii", "replace"), hashlib.sha256).hexdigest()
