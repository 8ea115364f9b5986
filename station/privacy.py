"""Personal data at the station: the keyed hash that finds a case by ID number without scanning."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from station.fsutil import atomic_write
from sync.errors import StoreError
from sync.lookup import id_lookup_hash

__all__ = (
    "LOOKUP_KEY_FILE",
    "PENDING_LOOKUP_KEY_FILE",
    "id_lookup_hash",
    "load_or_create_lookup_key",
    "lookup_key_id",
    "settle_lookup_key",
    "stage_lookup_key",
)

LOOKUP_KEY_FILE = "lookup.key"
PENDING_LOOKUP_KEY_FILE = "lookup.key.new"
"""A key being installed: it replaces ``lookup.key`` once the database has been re-hashed under it."""


def _read_key(path: Path) -> bytes:
    key = path.read_bytes()
    if len(key) != 32:
        raise StoreError(
            f"{path} is damaged (expected 32 bytes, found {len(key)}); restore it from the backup",
            f"{path} 已损坏（应为 32 字节，实际 {len(key)} 字节）；请从备份恢复",
            field="lookup_key",
        )
    return key


def load_or_create_lookup_key(data_dir: Path) -> bytes:
    """The station's ID-lookup key (32 random bytes), created on first use.

    A plain SHA-256 of an 18-character ID number is easy to brute-force (the birth date and
    region leave a few billion candidates), so lookups use an HMAC under a secret key kept
    beside the database, never inside it. At enrolment the hub issues the county-wide key and
    the station re-hashes its rows (:func:`stage_lookup_key`, :func:`settle_lookup_key`).
    """
    path = data_dir / LOOKUP_KEY_FILE
    if path.exists():
        return _read_key(path)
    key = secrets.token_bytes(32)
    atomic_write(path, key)
    return key


def lookup_key_id(key: bytes) -> str:
    """A name for a lookup key, stored in the database so a mismatched key file is noticed."""
    return hashlib.sha256(b"proxyapp/lookup-key-id/v1\x00" + key).hexdigest()[:16]


def stage_lookup_key(data_dir: Path, key: bytes) -> None:
    """Write a new key beside the current one, before the database is re-hashed under it.

    The database transaction that re-hashes the rows also records :func:`lookup_key_id` of the
    new key; :func:`settle_lookup_key` then promotes the staged file, or drops it when that
    transaction never committed. A crash at any point leaves key file and hashes in agreement.
    """
    if len(key) != 32:
        raise ValueError("a lookup key is 32 bytes")
    atomic_write(data_dir / PENDING_LOOKUP_KEY_FILE, key)


def settle_lookup_key(data_dir: Path, expected_id: str | None) -> bytes:
    """The lookup key in force, after finishing (or undoing) an interrupted key change.

    Args:
        expected_id: the key id the database was last hashed under (meta ``lookup_key_id``),
            None for a station that never installed a hub-issued key.

    Raises:
        StoreError: the key file does not match the database (restored from another backup).
    """
    path = data_dir / LOOKUP_KEY_FILE
    pending = data_dir / PENDING_LOOKUP_KEY_FILE
    if pending.exists():
        staged = pending.read_bytes()
        if expected_id is not None and len(staged) == 32 and lookup_key_id(staged) == expected_id:
            pending.replace(path)
        else:
            pending.unlink()
    if expected_id is None:
        return load_or_create_lookup_key(data_dir)
    if not path.exists():
        raise StoreError(
            f"{path} is missing; restore it from the backup taken with this database",
            f"缺少 {path}；请从与数据库同一次的备份中恢复",
            field="lookup_key",
        )
    key = _read_key(path)
    if lookup_key_id(key) != expected_id:
        raise StoreError(
            f"{path} does not belong to this database (ID lookups would find nothing); "
            "restore it from the backup taken with this database",
            f"{path} 与本站数据库不匹配（按身份证号查找将失效）；请从与数据库同一次的备份中恢复",
            field="lookup_key",
        )
    return key


