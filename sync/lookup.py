"""The keyed hash that finds a case by ID number without storing or scanning plain numbers."""

from __future__ import annotations

import functools
import hashlib
import hmac

from sync.idnumber import normalize_id_number

__all__ = ("id_lookup_hash",)


def id_lookup_hash(key: bytes, id_number: str) -> str:
    """Hex HMAC-SHA256 of a normalised ID number under the county's lookup key.

    A plain SHA-256 of an 18-character ID number is easy to brute-force (region and birth date
    leave a few billion candidates); without the key the hash says nothing.
    """
    mac = _keyed(key).copy()  # the key's HMAC state made once: a backlog hashes every case's and intake's ID
    mac.update(normalize_id_number(id_number).encode("ascii", "replace"))
    return mac.hexdigest()


@functools.lru_cache(maxsize=4)
def _keyed(key: bytes) -> hmac.HMAC:
    """An HMAC-SHA256 under ``key`` that has hashed nothing, to copy (never updated itself)."""
    return hmac.new(key, digestmod=hashlib.sha256)
