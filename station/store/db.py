"""Opening the station database: encryption (SQLCipher), pragmas, the write transaction, and the one-time
encryption of a database from release 0.4 or older. The schema's migrations (:mod:`station.store.schema`)
are run by the store facade when it opens a data folder, so this module does not import them."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlcipher3 import dbapi2 as sqlcipher
from sqlite_utils import Database

from station.fsutil import create_private, file_lock, fsync_file, sync_folder, wipe
from sync.errors import StoreError

__all__ = (
    "DatabaseError",
    "OperationalError",
    "connect",
    "content_digest",
    "encrypt_in_place",
    "is_plain",
    "open_db",
    "write_txn",
)

DatabaseError = sqlcipher.DatabaseError
OperationalError = sqlcipher.OperationalError
"""The driver's errors (SQLCipher's own classes: ``sqlite3``'s do not catch them)."""

PLAIN_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every unencrypted SQLite file; an encrypted one starts with its random salt."""
ENCRYPTING_SUFFIX = ".encrypting"
LOCK_SUFFIX = ".encrypting-lock"
PLAIN_OLD_SUFFIX = ".plain-old"


def _key_pragma(key: bytes) -> str:
    # A raw 256-bit key in SQLCipher's x'..' form: used as the cipher key directly, no PBKDF2 on
    # every open (the passphrase's work is done once, by scrypt, when the key is unwrapped).
    if len(key) != 32:
        raise ValueError("a station data key is 32 bytes")
    return f"x'{key.hex()}'"


def connect(
    path: Path | str, key: bytes | None, *, timeout: float = 10.0, check_same_thread: bool = True
) -> sqlcipher.Connection:
    """A bare driver connection to ``path``, keyed when ``key`` is given (None: a plain file).

    Raises:
        StoreError: the file cannot be opened, or ``key`` does not open it.
    """
    try:
        conn = sqlcipher.connect(str(path), timeout=timeout, check_same_thread=check_same_thread)
    except sqlcipher.OperationalError as exc:
        raise StoreError(
            zh=f"无法打开本站数据库 {path}：{exc}；请检查数据目录是否存在且可写",
            en=f"cannot open the station database {path}: {exc}; check the data folder exists and is writable",
            field="data_dir",
        ) from exc
    try:
        # SQLCipher logs a failed page check to stderr itself; the error below says it once, in both languages.
        conn.execute("PRAGMA cipher_log_level = NONE")
        if key is not None:
            conn.execute(f'PRAGMA key = "{_key_pragma(key)}"')
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # the first read checks the key
    except sqlcipher.DatabaseError as exc:
        conn.close()
        if "not a database" not in str(exc):
            raise StoreError(
                zh=f"无法读取本站数据库 {path}：{exc}",
                en=f"cannot read the station database {path}: {exc}",
                field="data_dir",
            ) from exc
        raise StoreError(
            zh=f"本站数据库 {path} 无法用其数据密钥（station.dbkey）读取：二者来自不同的备份，或文件已损坏；"
            "请从同一次备份中一并恢复",
            en=f"the station database {path} cannot be read with its data key (station.dbkey): the two come from "
            "different backups, or the file is damaged; restore both from the same backup",
            field="data_key",
            code="store.wrong_key",
        ) from None
    return conn


def open_db(path: Path | str, *, key: bytes | None) -> Database:
    """Open (creating if needed) a station database with the pragmas every connection needs.

    ``key`` is the station's data key (:mod:`station.store.datakey`): the whole file, its WAL and
    every index are encrypted (SQLCipher, AES-256 with a page HMAC). None opens a plain file,
    which only the one-time encryption of an old database and tests of it do.

    WAL lets the TUI read while a sync worker writes; ``synchronous=FULL`` because village PCs
    lose power; foreign keys are per connection in SQLite, so they are set here, every time.
    One connection belongs to one thread: open another in a worker. The schema is not touched:
    :func:`station.store.schema.migrate` upgrades it (the store facade calls both).
    """
    path = Path(path)
    if path.parent.is_dir():
        create_private(path)  # SQLite gives the -wal and -shm files the database file's mode
    db = Database(connect(path, key))
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = FULL")
    # Pages are decrypted (and their HMAC checked) when read from the file, so SQLite's own cache
    # keeps them decrypted: at 20,000 cases a name search went from 27 to 5 ms with 32 MiB (as
    # plain 0.4: 4-5 ms). Allocated only as pages are read: 64 MiB is a ceiling, not a reservation.
    db.execute("PRAGMA cache_size = -65536")
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.enable_wal()
    return db


@contextlib.contextmanager
def write_txn(db: Database) -> Iterator[Database]:
    """A write transaction that takes the write lock up front (``BEGIN IMMEDIATE``).

    A deferred ``BEGIN`` that reads first fails at once with "database is locked" when another
    writer got in between (measured: 715 of 900 read-modify-write transactions failed), whereas
    an immediate one waits on the busy timeout. Everything inside commits together or not at all:
    this is how a case row and its outbox change stay together (architecture invariant 1).
    """
    if db.conn.in_transaction:
        # Nested use joins the outer transaction (sqlite-utils methods use savepoints inside).
        yield db
        return
    try:
        db.execute("BEGIN IMMEDIATE")
    except OperationalError as exc:
        raise StoreError(
            zh=f"本站数据库正忙（{exc}）；另一个程序正在使用，请稍后重试",
            en=f"the station database is busy ({exc}); another program holds it, try again",
        ) from exc
    try:
        yield db
    except OperationalError as exc:
        db.rollback()
        if "full" in str(exc) or "I/O" in str(exc):
            raise _disk_error(exc) from exc
        raise
    except BaseException:
        db.rollback()
        raise
    else:
        try:
            db.commit()
        except OperationalError as exc:
            db.rollback()
            raise _disk_error(exc) from exc


def _disk_error(exc: Exception) -> StoreError:
    return StoreError(
        zh=f"保存失败（{exc}），未写入任何内容。请清理磁盘空间后重试",
        en=f"the change could not be saved ({exc}); nothing was written. Free disk space and try again",
    )


# -- the one-time encryption of a plain database (release 0.4 and older) ----------------------


def is_plain(path: Path) -> bool:
    """Whether ``path`` is an unencrypted SQLite database (an empty or missing file is not)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(PLAIN_HEADER)) == PLAIN_HEADER
    except FileNotFoundError:
        return False


def content_digest(conn: sqlcipher.Connection, schema: str = "main") -> str:
    """A SHA-256 over a database's schema, ``user_version`` and every row of every table, in rowid
    order: two databases with the same digest hold the same data."""
    digest = hashlib.sha256()
    digest.update(repr(conn.execute(f"PRAGMA {schema}.user_version").fetchone()).encode())
    objects = conn.execute(
        f"SELECT type, name, tbl_name, sql FROM {schema}.sqlite_master ORDER BY type, name"
    ).fetchall()
    for obj in objects:
        digest.update(repr(obj).encode())
    for kind, name, _table, _sql in objects:
        if kind != "table":
            continue
        quoted = '"' + name.replace('"', '""') + '"'
        for row in conn.execute(f"SELECT * FROM {schema}.{quoted} ORDER BY rowid"):
            digest.update(repr(row).encode())
    return digest.hexdigest()


def finish_interrupted_encryption(path: Path) -> None:
    """Remove what an encryption cut short left beside ``path``: a half-written copy (the plain
    file is still in place then), or the plain original after the encrypted one took its place."""
    for leftover in (
        path.with_name(path.name + ENCRYPTING_SUFFIX),
        path.with_name(path.name + ENCRYPTING_SUFFIX + "-journal"),
    ):
        leftover.unlink(missing_ok=True)
    old = path.with_name(path.name + PLAIN_OLD_SUFFIX)
    if not old.exists():
        return
    if path.exists() and os.path.samefile(old, path):
        old.unlink()  # cut short before the rename: the same bytes are still the database
    else:
        wipe(old)


def encrypt_in_place(path: Path, make_key: Callable[[], bytes]) -> bytes | None:
    """Encrypt the plain database at ``path`` without loss, crash-safe; returns the key used.

    ``make_key`` gives the data key; it is called under the database's write lock, so two
    programs never each make a key for the same file.

    The copy is written beside it (``sqlcipher_export``), checked (integrity and the same
    :func:`content_digest` as the original), flushed to disk, and only then renamed over the
    original; a crash at any point leaves either the plain file (encrypted again on the next
    open) or the encrypted one. The plain original is then overwritten with zeros and removed.

    Programs of this release take turns on a lock file; the second finds the work done: None is
    returned then, and nothing was done. Older programs must have closed the database:
    switching it out of WAL mode needs that, and is how this is known.

    Raises:
        StoreError: the database is in use, or the copy did not check out (the original is kept).
    """
    path = Path(path)
    lock = path.with_name(path.name + LOCK_SUFFIX)
    with file_lock(lock):
        if not is_plain(path):
            return None  # another program encrypted it while this one waited for the lock
        key = _encrypt_locked(path, make_key)
    lock.unlink(missing_ok=True)  # only once the file is no longer plain: a waiter then finds the work done
    return key


def _encrypt_locked(path: Path, make_key: Callable[[], bytes]) -> bytes:
    copy = path.with_name(path.name + ENCRYPTING_SUFFIX)
    locker = connect(path, None, timeout=30.0)
    locker.isolation_level = None  # transactions by hand
    try:
        try:
            # Needs the file to itself: a -wal holding the last commits is folded in and removed,
            # so no plain -wal is ever left beside the encrypted file.
            mode = locker.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
        except OperationalError:
            mode = None
        if mode != "delete":
            raise _in_use(path)
        try:
            locker.execute("BEGIN IMMEDIATE")  # an older program writes nothing until the rename
        except OperationalError:
            raise _in_use(path) from None
        finish_interrupted_encryption(path)  # under the lock: what is left is no one's work in progress
        key = make_key()
        create_private(copy)
        exporter = connect(path, None)
        try:
            expected = content_digest(exporter)
            exporter.execute("ATTACH DATABASE ? AS encrypted KEY ?", [str(copy), _key_pragma(key)])
            exporter.execute("SELECT sqlcipher_export('encrypted')")
            version = exporter.execute("PRAGMA main.user_version").fetchone()[0]
            exporter.execute(f"PRAGMA encrypted.user_version = {int(version)}")  # not copied by the export
            exporter.commit()
            exporter.execute("DETACH DATABASE encrypted")
        finally:
            exporter.close()
        check = connect(copy, key)
        try:
            intact = check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            same = content_digest(check) == expected
        finally:
            check.close()
        if not (intact and same):
            copy.unlink(missing_ok=True)
            raise StoreError(
                zh=f"加密 {path} 时得到的副本与原库不一致；原库未作改动。请报告县管理员",
                en=f"encrypting {path} did not give an identical copy; the original was kept unchanged. "
                "Report this to the county administrator",
                field="data_dir",
            )
        fsync_file(copy)
        second = path.with_name(path.name + PLAIN_OLD_SUFFIX)
        old: Path | None = second
        try:
            os.link(path, second)  # a second name for the plain bytes, to wipe them after the rename
        except OSError:
            old = None  # no hard links here (FAT): the plain bytes are only unlinked
        try:
            if os.name == "nt":
                locker.close()  # Windows renames nothing over a file that is open
            _replace(copy, path)
        except BaseException:
            if old is not None:
                old.unlink(missing_ok=True)  # still the live database's bytes: only the extra name goes
            raise
        sync_folder(path.parent)
    finally:
        with contextlib.suppress(Exception):
            locker.close()
    if old is not None:
        wipe(old)
    return key


def _replace(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)
    except PermissionError:
        raise _in_use(target) from None


def _in_use(path: Path) -> StoreError:
    return StoreError(
        zh=f"{path} 需要进行一次加密，但另一个程序（终端界面或“station sync --watch”）仍在使用它；"
        "请关闭其他代办点程序后重试",
        en=f"{path} must be encrypted once, and another program (the TUI, 'station sync --watch') still has it "
        "open; close the other station programs and try again",
        field="data_dir",
        code="store.busy",
    )
