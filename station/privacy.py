"""Personal data at the station: the keyed hash that finds a case by ID number without scanning."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from sync.errors import StoreError
from sync.idnumber import normalize_id_number

__all__ = ("LOOKUP_KEY_FILE", "id_lookup_hash", "load_or_create_lookup_key")

LOOKUP_KEY_FILE = "lookup.key"


def load_or_create_lookup_key(data_dir: Path) -> bytes:
    """The station's ID-lookup key (32 random bytes), created on first use.

    A plain SHA-256 of an 18-character ID number is easy to brute-force (the birth date and
    region leave a few billion candidates), so lookups use an HMAC under a secret key kept
    beside the database, never inside it. The hub will issue a county-wide key at enrolment;
    a station then re-hashes its rows (see docs/domain.md).
    """
    path = data_dir / LOOKUP_KEY_FILE
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise StoreError(
                f"{path} is damaged (expected 32 bytes, found {len(key)}); restore it from the backup",
                f"{path} 已损坏（应为 32 字节，实际 {len(key)} 字节）；请从备份恢复",
                field="lookup_key",
            )
        return key
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    # Written then renamed, so a crash never leaves a half-written key.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return key


def id_lookup_hash(key: bytes, id_number: str) -> str:
    """Hex HMAC-SHA256 of a normalised ID number under the station's lookup key."""
    return hmac.new(key, normalize_id_number(id_number).encode("ascii", "replace"), hashlib.sha256).hexdigest()
