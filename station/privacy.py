"""Personal data at the station: the keyed hash that finds a case by ID number without scanning, and its key."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from sqlite_utils import Database

from station.fsutil import wipe
from station.store.db import write_txn
from station.store.meta import Meta
from sync.errors import StoreError
from sync.lookup import id_lookup_hash

__all__ = (
    "LOOKUP_KEY_FILE",
    "PENDING_LOOKUP_KEY_FILE",
    "id_lookup_hash",
    "lookup_key_id",
    "rehash",
    "settle_lookup_key",
    "stored_lookup_key",
)

LOOKUP_KEY_FILE = "lookup.key"
"""Where releases up to 0.4 kept the key, beside the database; it is moved inside on first open."""
PENDING_LOOKUP_KEY_FILE = "lookup.key.new"
"""A key a 0.4 enrolment was installing when it stopped; promoted or dropped by :func:`settle_lookup_key`."""

# The key lives in the encrypted database (meta), so the hashes and their key change in one
# transaction (no window where they disagree) and the key is as safe as the data it finds: a
# plain SHA-256 of an 18-character ID number is easy to brute-force (the birth date and region
# leave a few billion candidates), and the county's key is the same at every station.
_KEY = "lookup_key"
_KEY_ID = "lookup_key_id"


def lookup_key_id(key: bytes) -> str:
    """A name for a lookup key, stored with it so a key restored from elsewhere is noticed."""
    return hashlib.sha256(b"proxyapp/lookup-key-id/v1\x00" + key).hexdigest()[:16]


def stored_lookup_key(db: Database) -> bytes:
    """The lookup key in force, from the database."""
    stored = Meta(db).several(_KEY, _KEY_ID)
    return _checked_key(stored[_KEY], stored[_KEY_ID])


def _checked_key(text: str | None, key_id: str | None) -> bytes:
    """The key stored as ``text``, checked against the id stored with it."""
    key = bytes.fromhex(text) if text else b""
    if len(key) != 32 or lookup_key_id(key) != key_id:
        raise StoreError(
            zh="本站数据库中的身份证号查询密钥已损坏；请从备份恢复数据库",
            en="the ID lookup key in the station database is damaged; restore the database from the backup",
            field="lookup_key",
        )
    return key


def rehash(db: Database, key: bytes) -> int:
    """Re-hash every case's ID under ``key`` and store it as the key in force (inside a write
    transaction: the hashes and their key commit together). Returns the cases re-hashed."""
    if len(key) != 32:
        raise ValueError("a lookup key is 32 bytes")
    rows = db.execute("SELECT case_no, id_number FROM cases").fetchall()
    db.conn.executemany(
        "UPDATE cases SET id_hash = ? WHERE case_no = ?",
        [(id_lookup_hash(key, id_number), case_no) for case_no, id_number in rows],
    )
    Meta(db).update({_KEY: key.hex(), _KEY_ID: lookup_key_id(key)})
    return len(rows)


def _read_file(path: Path) -> bytes:
    key = path.read_bytes()
    if len(key) != 32:
        raise StoreError(
            zh=f"{path} 已损坏（应为 32 字节，实际 {len(key)} 字节）；请从备份恢复",
            en=f"{path} is damaged (expected 32 bytes, found {len(key)}); restore it from the backup",
            field="lookup_key",
        )
    return key


def _key_from_files(data_dir: Path, expected_id: str | None) -> bytes | None:
    """The key a 0.4 data folder kept in files (finishing or undoing a key change it was making)."""
    path, pending = data_dir / LOOKUP_KEY_FILE, data_dir / PENDING_LOOKUP_KEY_FILE
    if pending.exists():
        staged = pending.read_bytes()
        if expected_id is not None and len(staged) == 32 and lookup_key_id(staged) == expected_id:
            return staged  # the re-hash under it had committed
    if not path.exists():
        return None
    key = _read_file(path)
    if expected_id is not None and lookup_key_id(key) != expected_id:
        raise StoreError(
            zh=f"{path} 与本站数据库不匹配（按身份证号查找将失效）；请从与数据库同一次的备份中恢复",
            en=f"{path} does not belong to this database (ID lookups would find nothing); "
            "restore it from the backup taken with this database",
            field="lookup_key",
        )
    return key


def settle_lookup_key(data_dir: Path, db: Database, stored: tuple[str | None, str | None] | None = None) -> bytes:
    """The lookup key in force; on the first open of an older station, its key file moved inside.

    A station without any key gets a new one, and its cases are re-hashed under it (their
    hashes were made under a key that is gone, so no ID lookup could find them). ``stored``: the
    ``lookup_key`` and ``lookup_key_id`` settings as the caller just read them (read here when None).

    Raises:
        StoreError: the key files do not match the database (restored from another backup), or
            the database names a key no file holds.
    """
    data_dir = Path(data_dir)
    leftovers = [p for p in (data_dir / LOOKUP_KEY_FILE, data_dir / PENDING_LOOKUP_KEY_FILE) if p.exists()]
    if stored is None:
        values = Meta(db).several(_KEY, _KEY_ID)
        stored = values[_KEY], values[_KEY_ID]
    if stored[0] is not None and not leftovers:
        return _checked_key(*stored)  # every open after the first: the key is inside already
    if stored[0] is None:
        with write_txn(db):
            if Meta(db).lookup_key is None:  # another program may have moved it meanwhile
                expected = Meta(db).lookup_key_id
                key = _key_from_files(data_dir, expected)
                if key is None and expected is not None:
                    raise StoreError(
                        zh=f"缺少 {data_dir / LOOKUP_KEY_FILE}；请从与数据库同一次的备份中恢复",
                        en=f"{data_dir / LOOKUP_KEY_FILE} is missing; restore it from the backup taken with this database",
                        field="lookup_key",
                    )
                if key is None:
                    rehash(db, secrets.token_bytes(32))
                else:
                    Meta(db).update({_KEY: key.hex(), _KEY_ID: lookup_key_id(key)})
    for leftover in leftovers:
        wipe(leftover)  # only once the database holds the key (committed above)
    return stored_lookup_key(db)
