"""``station backup`` and ``station restore``: the whole station in one file, encrypted under the station passphrase.

The file (docs/security.md, "Station backups"):

``MAGIC`` (24 bytes) · header length (4 bytes, big-endian) · :class:`BackupHeader` (msgpack) · chunks

- The header is readable without the passphrase (the station id, when the backup was taken, the
  chain positions): ``station restore`` says what it is about to restore before it asks. It
  holds ``station.dbkey`` as it was (the data key wrapped under the passphrase: scrypt, AES-GCM)
  and a random salt.
- Each chunk is a 4-byte big-endian length and AES-256-GCM ciphertext of at most 1 MiB of the
  body, under HKDF-SHA256(data key, salt, ``proxyapp/station-backup/v1``), nonce = the chunk's
  index (11 bytes, big-endian) and one byte that is 1 on the last chunk only, associated data =
  SHA-256 of the magic and the header: a chunk moved, dropped, cut off or altered, or a header
  changed, fails to open; a file whose last chunk is not marked last is incomplete.
- The body is a zstd-compressed tar of ``station.db`` (a consistent copy, made with SQLite's
  backup API while the station may be in use, still encrypted under the data key, checked with
  ``integrity_check``), ``station.key``, ``tui.json`` and the ``drafts/`` and ``receipts/``
  folders (themselves encrypted under keys derived from the data key).

So the passphrase of the moment of the backup opens it, and nothing else does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import secrets
import shutil
import struct
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

import msgspec
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlcipher3 import dbapi2 as sqlcipher

from station.fsutil import fsync_file, private_folder, sync_folder
from station.identity import KEY_FILE, load_keypair
from station.store import DB_FILE, Station, datakey
from station.store.db import DatabaseError, connect, content_digest, write_txn
from station.store.meta import Meta
from sync.archive import Counting, Progress, add_file, backup_file, zstd_tar
from sync.errors import InputError, StoreError
from sync.timeutil import iso_utc, utc_now
from sync.version import SOFTWARE_VERSION

__all__ = (
    "MAGIC",
    "BackupHeader",
    "BackupResult",
    "RestoreResult",
    "make_backup",
    "read_header",
    "restore_backup",
)

MAGIC = b"proxyapp-station-backup\n"
FORMAT_VERSION = 1
CHUNK = 1024 * 1024
_INFO = b"proxyapp/station-backup/v1\x00"
_MAX_HEADER = 64 * 1024
_FILES = (KEY_FILE, "tui.json")
_FOLDERS = ("drafts", "receipts")
ASIDE_SUFFIX = ".before-restore-"


class BackupHeader(msgspec.Struct, frozen=True, array_like=True):
    """The plain part of a station backup (authenticated as the associated data of every chunk)."""

    version: int
    station_id: str
    village_code: str
    device: str
    created_ms: int
    software: str
    head_seq: int
    """The newest set sealed at the backup: the chain the hub is asked to confirm after a restore."""
    acked_seq: int
    """The newest set the hub had acknowledged then."""
    feed_seq: int
    enrolled: bool
    wrapped_key: bytes
    """``station.dbkey`` as it was: the data key wrapped under the passphrase."""
    salt: bytes

    @property
    def created_at(self) -> str:
        return iso_utc(dt.datetime.fromtimestamp(self.created_ms / 1000, dt.UTC))


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    header: BackupHeader


@dataclass(frozen=True)
class RestoreResult:
    header: BackupHeader
    aside: list[Path]
    enrolled: bool
    """Whether the restored station is enrolled: then it is marked restored until the hub confirms its chain."""


def _body_key(data_key: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(data_key)


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


# -- writing ---------------------------------------------------------------------------------------


class _Sealer(io.RawIOBase):
    """A writable stream that encrypts what it is given into numbered chunks of the file."""

    def __init__(self, out: IO[bytes], key: bytes, aad: bytes) -> None:
        self.out, self.aead, self.aad = out, AESGCM(key), aad
        self.buffer = bytearray()
        self.index = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer += data
        while len(self.buffer) > CHUNK:  # the last chunk is written by finish(), marked last
            self._chunk(bytes(self.buffer[:CHUNK]), last=False)
            del self.buffer[:CHUNK]
        return len(data)

    def _chunk(self, plain: bytes, *, last: bool) -> None:
        sealed = self.aead.encrypt(_nonce(self.index, last), plain, self.aad)
        self.out.write(struct.pack(">I", len(sealed)) + sealed)
        self.index += 1

    def finish(self) -> None:
        self._chunk(bytes(self.buffer), last=True)
        self.buffer.clear()


def _copy_database(station: Station, target: Path, key: bytes, progress: Progress | None) -> None:
    """A consistent, still-encrypted copy of the station database (the TUI may be writing meanwhile)."""
    src = connect(station.data_dir / DB_FILE, key)
    src.isolation_level = None
    try:
        dst = connect(target, key)
        try:
            src.execute("BEGIN")
            src.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # one snapshot for every step

            def step(_status: int, remaining: int, total: int) -> None:
                if progress is not None:
                    progress("copy", total - remaining, total)

            src.backup(dst, pages=256, progress=step, sleep=0)
            src.execute("COMMIT")
            dst.execute("PRAGMA journal_mode = DELETE")
            intact = dst.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            dst.close()
    finally:
        src.close()
    if not intact:
        raise StoreError(
            zh="本站数据库的副本未通过完整性检查；备份未写出。请报告县管理员",
            en="the copy of the station database fails its integrity check; no backup was written. Report this",
            field="data_dir",
            code="backup.damaged",
        )


def make_backup(
    station: Station, file: Path, *, progress: Progress | None = None, now: Callable[[], dt.datetime] = utc_now
) -> BackupResult:
    """Write a backup of the open station to ``file`` (a USB stick), checked by reading it back.

    Raises:
        StoreError: the copy fails its check, or the file cannot be written.
        InputError: ``file`` is a folder or inside the data folder.
    """
    file = Path(file)
    data_dir = station.data_dir
    if file.is_dir():
        raise InputError(
            zh=f"{file} 是文件夹；请给出备份文件名，例如 {file / 'station-backup.pxb'}",
            en=f"{file} is a folder; name the backup file, e.g. {file / 'station-backup.pxb'}",
            field="file",
        )
    if file.resolve().parent == data_dir.resolve():
        raise InputError(
            zh="备份文件不能放在本站数据目录中（电脑损坏时会一同丢失）；请写到 U 盘",
            en="a backup in the station's own data folder is lost with the PC; write it to a USB stick",
            field="file",
        )
    key = datakey.unlock(data_dir)  # the key that opened this Station, held by the process
    wrapped = (data_dir / datakey.DATA_KEY_FILE).read_bytes()
    moment = now()
    head, acked = station.db.execute(
        "SELECT COALESCE(MAX(seq), 0), COALESCE(MAX(CASE WHEN acked_at IS NOT NULL THEN seq END), 0) FROM sets_out"
    ).fetchone()
    header = BackupHeader(
        version=FORMAT_VERSION,
        station_id=station.station_id,
        village_code=station.village_code,
        device=station.device,
        created_ms=int(moment.timestamp() * 1000),
        software=SOFTWARE_VERSION,
        head_seq=head,
        acked_seq=acked,
        feed_seq=station.meta.feed_seq,
        enrolled=bool(station.meta.hub_id),
        wrapped_key=wrapped,
        salt=secrets.token_bytes(32),
    )
    header_bytes = msgspec.msgpack.encode(header)
    copy = data_dir / f".backup-{moment:%Y%m%dT%H%M%S%f}.db"
    with backup_file(
        file,
        fix_zh="请检查 U 盘的空间和是否写保护",
        fix_en="check the stick's space and write lock",
        scratch=copy,
        settle=sync_folder,
    ) as partial:
        _copy_database(station, copy, key, progress)
        partial.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "wb") as out:
            out.write(MAGIC + struct.pack(">I", len(header_bytes)) + header_bytes)
            sealer = _Sealer(out, _body_key(key, header.salt), _aad(header_bytes))
            with zstd_tar(cast(IO[bytes], sealer), level=9) as tar:
                add_file(tar, DB_FILE, copy, moment.timestamp(), progress)
                for name, path in _extras(data_dir):
                    add_file(tar, name, path, moment.timestamp())
            sealer.finish()
            out.flush()
            os.fsync(out.fileno())
        _read_body(partial, key, None, progress)  # read back: the stick holds what was meant
    return BackupResult(path=file, bytes=file.stat().st_size, header=header)


def _aad(header_bytes: bytes) -> bytes:
    return hashlib.sha256(MAGIC + header_bytes).digest()


def _extras(data_dir: Path) -> Iterator[tuple[str, Path]]:
    """The station's files beside its database that a restore needs: keys, the TUI's settings, drafts, receipts."""
    for name in _FILES:
        if (data_dir / name).is_file():
            yield name, data_dir / name
    for folder in _FOLDERS:
        base = data_dir / folder
        if base.is_dir() and not base.is_symlink():
            for path in sorted(base.iterdir()):
                if path.is_file() and not path.is_symlink():
                    yield f"{folder}/{path.name}", path


# -- reading ---------------------------------------------------------------------------------------


def _not_backup(name: str) -> InputError:
    return InputError(
        zh=f"{name} 不是代办点备份文件（应为“station backup”写出的文件），或已损坏",
        en=f"{name} is not a station backup (a file written by 'station backup'), or it is damaged",
        field="file",
        code="backup.unreadable",
    )


def _damaged(name: str) -> StoreError:
    return StoreError(
        zh=f"{name} 已损坏或被改动（无法通过校验）：未恢复任何内容；请换用另一份备份",
        en=f"{name} is damaged or was altered (it does not authenticate): nothing was restored; use another backup",
        field="file",
        code="backup.damaged",
    )


def _read_head(handle: IO[bytes], name: str) -> tuple[BackupHeader, bytes]:
    if handle.read(len(MAGIC)) != MAGIC:
        raise _not_backup(name)
    size_bytes = handle.read(4)
    if len(size_bytes) != 4:
        raise _not_backup(name)
    (size,) = struct.unpack(">I", size_bytes)
    if size > _MAX_HEADER:
        raise _not_backup(name)
    header_bytes = handle.read(size)
    try:
        header = msgspec.msgpack.decode(header_bytes, type=BackupHeader)
    except (msgspec.DecodeError, ValueError):
        raise _not_backup(name) from None
    if header.version != FORMAT_VERSION:
        raise InputError(
            zh=f"{name} 是第 {header.version} 版备份格式，本软件只读第 {FORMAT_VERSION} 版；请用更新的软件恢复",
            en=f"{name} is backup format {header.version}; this software reads format {FORMAT_VERSION}",
            field="file",
            code="backup.version",
        )
    return header, header_bytes


def read_header(file: Path) -> BackupHeader:
    """What a backup says about itself, read without the passphrase."""
    file = Path(file)
    try:
        with open(file, "rb") as handle:
            return _read_head(handle, file.name)[0]
    except FileNotFoundError:
        raise InputError(zh=f"找不到备份文件 {file}", en=f"no backup file at {file}", field="file") from None


class _Opener(io.RawIOBase):
    """A readable stream of the decrypted body; refuses a chunk that does not authenticate, or a missing end."""

    def __init__(self, handle: IO[bytes], key: bytes, aad: bytes, name: str) -> None:
        self.handle, self.aead, self.aad, self.name = handle, AESGCM(key), aad, name
        self.index = 0
        self.pending = b""
        self.ended = False

    def readable(self) -> bool:
        return True

    def _next(self) -> None:
        size_bytes = self.handle.read(4)
        if len(size_bytes) != 4:
            raise _damaged(self.name)  # the end came before a chunk marked last: cut off
        (size,) = struct.unpack(">I", size_bytes)
        sealed = self.handle.read(size)
        if len(sealed) != size or size > CHUNK + 16:
            raise _damaged(self.name)
        for last in (False, True):
            try:
                self.pending = self.aead.decrypt(_nonce(self.index, last), sealed, self.aad)
            except InvalidTag:
                continue
            self.index += 1
            if last:
                self.ended = True
                if self.handle.read(1):
                    raise _damaged(self.name)  # something after the last chunk
            return
        raise _damaged(self.name)

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            if self.ended:
                return 0
            self._next()
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count


def _member_path(name: str, file_name: str) -> str:
    """A member's name, if it is one a backup holds (no absolute paths, no ``..``, known places only)."""
    path = PurePosixPath(name)
    if name in (DB_FILE, *_FILES):
        return name
    if len(path.parts) == 2 and path.parts[0] in _FOLDERS and path.parts[1] not in ("", ".", ".."):
        return name
    raise _not_backup(file_name)


def _read_body(file: Path, key: bytes, into: Path | None, progress: Progress | None) -> set[str]:
    """Decrypt and unpack the body, writing its files into ``into`` (or only checking it); the names read."""
    names: set[str] = set()
    total = file.stat().st_size
    with open(file, "rb") as raw:
        counted = io.BufferedReader(Counting(raw, total, "read", progress), CHUNK)
        header, header_bytes = _read_head(counted, file.name)
        opener = io.BufferedReader(_Opener(counted, _body_key(key, header.salt), _aad(header_bytes), file.name), CHUNK)
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(opener)
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                for info in tar:
                    if not info.isreg():
                        raise _not_backup(file.name)
                    name = _member_path(info.name, file.name)
                    if name in names:
                        raise _not_backup(file.name)
                    names.add(name)
                    stream = tar.extractfile(info)
                    assert stream is not None
                    target = into / name if into is not None else None
                    if target is not None:
                        target.parent.mkdir(mode=0o700, exist_ok=True)
                    with (
                        os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
                        if target is not None
                        else contextlib.nullcontext()
                    ) as out:
                        while chunk := stream.read(CHUNK):
                            if out is not None:
                                out.write(chunk)
            # Read to the end: a chunk after the tar's end, or a missing last chunk, is refused too.
            while opener.read(CHUNK):
                pass
        except (tarfile.TarError, zstandard.ZstdError, EOFError):
            raise _not_backup(file.name) from None
    if DB_FILE not in names:
        raise _not_backup(file.name)
    return names


# -- restoring -------------------------------------------------------------------------------------


def _in_use(path: Path) -> bool:
    """Whether another program (the TUI, ``station sync --watch``) has the database open.

    A connection that wants the file to itself (exclusive locking mode) is refused with "locked"
    while any other connection holds it open in WAL mode, even idle; free, the probe gets as far as
    reading the first page, which it cannot decrypt without the key: no key is needed to tell.
    """
    conn = sqlcipher.connect(str(path), timeout=0.2, isolation_level=None)
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("COMMIT")
        return False
    except sqlcipher.OperationalError as exc:
        return "locked" in str(exc) or "busy" in str(exc)
    except sqlcipher.DatabaseError:
        return False
    finally:
        conn.close()


def restore_backup(
    data_dir: Path,
    file: Path,
    passphrase: str,
    *,
    force: bool = False,
    progress: Progress | None = None,
    now: Callable[[], dt.datetime] = utc_now,
) -> RestoreResult:
    """Put the station of backup ``file`` in place in ``data_dir``, marked restored until the hub confirms.

    The file is decrypted and checked in full (every chunk authenticated, the database's
    integrity and its station id, the station key unwrapped) into a folder beside the data
    before anything of the station changes; what it replaces is renamed ``…before-restore-STAMP``,
    never deleted. An enrolled station is then marked restored (``meta.restored``): it writes and
    seals nothing until the hub has confirmed its chain (docs/protocol.md, "A station restored
    from a backup").

    Raises:
        PassphraseError: the passphrase does not open the backup (exit 2).
        InputError: not a backup, or a station is in the folder and ``force`` is not given.
        StoreError: damaged, or the station is in use by another program.
    """
    data_dir, file = Path(data_dir), Path(file)
    header = read_header(file)
    database = data_dir / DB_FILE
    if database.exists() and not force:
        raise InputError(
            zh=f"{data_dir} 中已有代办点数据；确需用备份替换时加 --force（原数据将改名保留在旁边）",
            en=f"{data_dir} already holds a station; add --force to replace it with the backup "
            "(the current data is kept aside, renamed)",
            field="force",
            code="backup.not_empty",
        )
    private_folder(data_dir)
    stamp = now()
    staging = data_dir / f".restore-{stamp:%Y%m%dT%H%M%S%f}"
    staging.mkdir(mode=0o700)
    try:
        (staging / datakey.DATA_KEY_FILE).write_bytes(header.wrapped_key)
        key = datakey.open_data_key(staging, passphrase)  # PassphraseError: nothing was changed
        datakey.forget(staging)
        _read_body(file, key, staging, progress)
        _check_restored(staging, key, header, passphrase, file.name)
        if database.exists() and _in_use(database):
            raise StoreError(
                zh=f"{database} 正被另一个程序（终端界面或“station sync --watch”）使用；请先关闭它们再恢复",
                en=f"{database} is open in another program (the TUI, 'station sync --watch'); close them, then restore",
                field="data_dir",
                code="store.busy",
            )
        aside = _move_aside(data_dir, stamp)
        for path in sorted(staging.rglob("*"), key=lambda p: len(p.parts)):
            target = data_dir / path.relative_to(staging)
            if path.is_dir():
                target.mkdir(mode=0o700, exist_ok=True)
            else:
                os.replace(path, target)
        sync_folder(data_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    datakey.forget(data_dir)
    with Station.open(data_dir, passphrase=passphrase, now=now) as station:  # upgrades an older backup's schema
        enrolled = bool(station.meta.hub_id)
        if enrolled:
            with write_txn(station.db):
                Meta(station.db).update(
                    {
                        "restored": json.dumps(
                            {
                                "at": iso_utc(stamp),
                                "backup_at": header.created_at,
                                "head_seq": header.head_seq,
                                "feed_seq": header.feed_seq,
                            }
                        )
                    }
                )
    return RestoreResult(header=header, aside=aside, enrolled=enrolled)


def _check_restored(staging: Path, key: bytes, header: BackupHeader, passphrase: str, name: str) -> None:
    conn = connect(staging / DB_FILE, key)
    try:
        intact = conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        row = conn.execute("SELECT value FROM meta WHERE key = 'station_id'").fetchone()
        content_digest(conn)  # every row of every table reads
    except DatabaseError:
        intact, row = False, None
    finally:
        conn.close()
    if not intact or row is None or row[0] != header.station_id:
        raise _damaged(name)
    if (staging / KEY_FILE).exists():
        load_keypair(staging, passphrase)  # the station key opens with the same passphrase
    fsync_file(staging / DB_FILE)


def _move_aside(data_dir: Path, stamp: dt.datetime) -> list[Path]:
    """Rename what a restore replaces (the database with its WAL, key files, TUI files) beside it."""
    suffix = f"{ASIDE_SUFFIX}{stamp:%Y%m%dT%H%M%SZ}"
    moved: list[Path] = []
    names = [DB_FILE, DB_FILE + "-wal", DB_FILE + "-shm", datakey.DATA_KEY_FILE, *_FILES, *_FOLDERS]
    for name in names:
        path = data_dir / name
        if path.exists():
            # A -wal left beside the restored database would be replayed into it: it goes with its own.
            target = path.with_name(path.name + suffix)
            os.replace(path, target)
            moved.append(target)
    return moved
