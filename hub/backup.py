"""``hub backup`` and ``hub restore``: the hub's database and key in one compressed, verified file.

A backup file is a zstd-compressed tar archive (``tar --zstd -tf FILE`` lists it) of three members,
in this order (docs/hub.md, "Backups"):

- ``manifest.json``: what the file is (``format``, ``version``), when it was made, by which
  software, for which hub, and the database's size, SHA-256, migrations and a few counts;
- ``hub.db``: the database as one consistent moment, copied with SQLite's online backup API while
  the hub serves, and passed ``PRAGMA integrity_check`` before it was written;
- ``hub.key``: the hub's keys (stations pinned them: a hub rebuilt without them cannot serve).

A restore reads the file into a folder beside the database, checks the manifest, the SHA-256 and
the integrity again, and only then puts it in place; the database it replaces is kept aside
(``hub.db.before-restore-STAMP``). ``hub serve`` holds a lock on the data folder so that a restore
never replaces the database under a running hub.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import zstandard

from hub.feed import RESTORED_META, hold_feeds
from hub.keys import KEY_FILE, load_identity
from hub.store import DB_FILE, HubStore
from hub.store.backup import check_copy, checkpoint, online_copy
from hub.store.location import DATABASE_FILE, database_url, redacted
from sync.archive import Counting, Progress, add_bytes, add_file, backup_file, zstd_tar
from sync.errors import InputError, StoreError
from sync.timeutil import iso_utc, utc_now
from sync.version import SOFTWARE_VERSION

try:  # POSIX: the hub's servers; Windows has no fcntl, and no lock is taken there
    import fcntl
except ImportError:  # pragma: no cover - not on the county's Linux servers
    fcntl = None  # type: ignore[assignment]

__all__ = (
    "FORMAT",
    "FORMAT_VERSION",
    "LOCK_FILE",
    "BackupResult",
    "Manifest",
    "RestoreResult",
    "make_backup",
    "read_manifest",
    "restore_backup",
    "serving",
)

FORMAT = "proxyapp-hub-backup"
FORMAT_VERSION = 1
LOCK_FILE = "hub.lock"
"""Held (shared) by every ``hub serve`` of the data folder; ``hub restore`` needs it alone."""
MANIFEST = "manifest.json"
ASIDE_SUFFIX = ".before-restore-"
_CHUNK = 1024 * 1024
_MAX_MANIFEST = 64 * 1024
_FIX_ZH, _FIX_EN = "请检查空间和权限", "check the space and permissions"


@dataclass(frozen=True)
class Manifest:
    """What a backup file says about itself."""

    created_at: str
    software: str
    hub_id: str
    db_bytes: int
    db_sha256: str
    migrations: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "created_at": self.created_at,
                "software": self.software,
                "hub_id": self.hub_id,
                "database": {
                    "file": DB_FILE,
                    "bytes": self.db_bytes,
                    "sha256": self.db_sha256,
                    "integrity": "ok",
                    "migrations": self.migrations,
                    "counts": self.counts,
                },
                "key_file": KEY_FILE,
            },
            indent=2,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes, name: str) -> Manifest:
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise _not_backup(name)
            if raw.get("version") != FORMAT_VERSION:
                raise InputError(
                    zh=f"{name} 是第 {raw.get('version')} 版备份格式，本软件只读第 {FORMAT_VERSION} 版；请用更新的软件恢复",
                    en=f"{name} is backup format {raw.get('version')}; this software reads format {FORMAT_VERSION}: "
                    "restore it with newer software",
                    field="file",
                    code="backup.version",
                )
            db = raw["database"]
            if db.get("engine") == "postgresql":
                raise InputError(
                    zh=f"{name} 是一个使用 PostgreSQL 的县平台的密钥备份，不含数据库：请用 pg_restore 从 pg_dump 备份恢复"
                    f"数据库，再取出密钥放回数据目录（tar --zstd -xf {name} {KEY_FILE}）",
                    en=f"{name} holds the key of a hub whose store is PostgreSQL, not its database: restore the "
                    f"database with pg_restore from its pg_dump file, then put the key back in the data folder "
                    f"(tar --zstd -xf {name} {KEY_FILE})",
                    field="file",
                    code="backup.postgresql",
                )
            return cls(
                created_at=str(raw["created_at"]),
                software=str(raw["software"]),
                hub_id=str(raw["hub_id"]),
                db_bytes=int(db["bytes"]),
                db_sha256=str(db["sha256"]),
                migrations=[str(m) for m in db.get("migrations", [])],
                counts={str(k): int(v) for k, v in db.get("counts", {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise _not_backup(name) from None


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    manifest: Manifest
    postgresql: str | None = None
    """The hub's PostgreSQL database (URL without the password): not in the file, backed up with pg_dump."""


@dataclass(frozen=True)
class RestoreResult:
    manifest: Manifest
    aside: list[Path]
    """Where the files it replaced were moved (empty when the folder held no hub)."""
    postgresql: str | None = None
    """A hub on PostgreSQL (URL without the password): its database was restored with pg_restore."""


# -- the lock ``hub serve`` holds ------------------------------------------------------------------


@contextlib.contextmanager
def serving(data_dir: Path) -> Iterator[None]:
    """Hold the data folder's lock shared while the hub serves (several servers may share it)."""
    with _locked(data_dir, exclusive=False):
        yield


@contextlib.contextmanager
def _locked(data_dir: Path, *, exclusive: bool) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    fd = os.open(Path(data_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(
                zh=f"县平台正在运行（{data_dir} 被“hub serve”占用）：请先停止服务"
                "（systemctl stop proxyapp-hub），再恢复备份",
                en=f"the hub is running ({data_dir} is held by 'hub serve'): stop it first "
                "(systemctl stop proxyapp-hub), then restore",
                field="data_dir",
                code="store.busy",
            ) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# -- writing a backup ------------------------------------------------------------------------------


def make_backup(
    data_dir: Path,
    file: Path,
    *,
    progress: Progress | None = None,
    now: Callable[[], dt.datetime] = utc_now,
    level: int = 6,
) -> BackupResult:
    """Write a backup of the hub in ``data_dir`` to ``file`` while it may be serving.

    The database is copied (online backup API, one consistent moment) to a private file in the
    data folder, checked (``integrity_check``), hashed, then written with the key and the manifest
    to ``file.partial``, read back and checked against the manifest, and only then renamed to
    ``file``: an interrupted backup never looks like a finished one.

    Raises:
        StoreError: no hub here, the copy fails its check, or the file cannot be written.
        InputError: ``file`` is inside the data folder or is a folder.
    """
    data_dir, file = Path(data_dir), Path(file)
    identity = load_identity(data_dir)  # no hub: "run hub init", in the user's language
    url = database_url(data_dir)
    if url:
        return _key_backup(data_dir, file, identity.hub_id, redacted(url), now(), level)
    source = data_dir / DB_FILE
    if not source.exists():
        HubStore.open_existing(data_dir).close()  # raises the usual "no hub here"
    if file.is_dir():
        raise InputError(
            zh=f"{file} 是文件夹；请给出备份文件名，例如 {file / 'hub-backup.tar.zst'}",
            en=f"{file} is a folder; name the backup file, e.g. {file / 'hub-backup.tar.zst'}",
            field="file",
        )
    stamp = now()
    copy = data_dir / f".backup-{stamp:%Y%m%dT%H%M%S%f}.db"
    with backup_file(file, fix_zh=_FIX_ZH, fix_en=_FIX_EN, scratch=copy) as partial:
        _private(copy)
        online_copy(source, copy, progress=(lambda done, total: progress("copy", done, total)) if progress else None)
        facts = check_copy(copy)
        manifest = Manifest(
            created_at=iso_utc(stamp),
            software=SOFTWARE_VERSION,
            hub_id=identity.hub_id,
            db_bytes=copy.stat().st_size,
            db_sha256=_sha256(copy),
            migrations=facts.migrations,
            counts=facts.counts,
        )
        _private(partial)
        _write_archive(partial, manifest, copy, data_dir / KEY_FILE, progress, level)
        _verify_archive(partial, progress)
    return BackupResult(path=file, bytes=file.stat().st_size, manifest=manifest)


def _key_backup(data_dir: Path, file: Path, hub_id: str, where: str, stamp: dt.datetime, level: int) -> BackupResult:
    """A hub on PostgreSQL: the file holds what the data folder holds (the key, the database's address);
    the database itself is the server's to back up (pg_dump), with the tools the county already runs."""
    if file.is_dir():
        raise InputError(
            zh=f"{file} 是文件夹；请给出备份文件名，例如 {file / 'hub-key.tar.zst'}",
            en=f"{file} is a folder; name the backup file, e.g. {file / 'hub-key.tar.zst'}",
            field="file",
        )
    with HubStore.open_existing(data_dir) as store:
        counts = {table: store.count_rows(table) for table in ("cases",)}
        counts["stations"] = len(store.stations())
    manifest = json.dumps(
        {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "created_at": iso_utc(stamp),
            "software": SOFTWARE_VERSION,
            "hub_id": hub_id,
            "database": {"engine": "postgresql", "where": where, "backup": "pg_dump", "counts": counts},
            "key_file": KEY_FILE,
        },
        indent=2,
    ).encode()
    members = [(MANIFEST, manifest)] + [
        (name, (data_dir / name).read_bytes()) for name in (KEY_FILE, DATABASE_FILE) if (data_dir / name).is_file()
    ]
    with backup_file(file, fix_zh=_FIX_ZH, fix_en=_FIX_EN) as partial:
        _private(partial)
        with open(partial, "wb") as raw:
            with zstd_tar(raw, level=level) as tar:
                for name, data in members:
                    add_bytes(tar, name, data, stamp.timestamp())
            raw.flush()
            os.fsync(raw.fileno())
    facts = Manifest(created_at=iso_utc(stamp), software=SOFTWARE_VERSION, hub_id=hub_id, db_bytes=0, db_sha256="")
    facts.counts.update(counts)
    return BackupResult(path=file, bytes=file.stat().st_size, manifest=facts, postgresql=where)


def _private(path: Path) -> None:
    """Create ``path`` empty and owner-only: it will hold every case of the county and the hub's key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_archive(
    target: Path, manifest: Manifest, database: Path, key_file: Path, progress: Progress | None, level: int
) -> None:
    mtime = dt.datetime.fromisoformat(manifest.created_at).timestamp()
    with open(target, "wb") as raw:
        with zstd_tar(raw, level=level, threads=-1) as tar:
            add_bytes(tar, MANIFEST, manifest.to_json(), mtime)
            add_file(tar, DB_FILE, database, mtime, progress, size=manifest.db_bytes)
            add_bytes(tar, KEY_FILE, key_file.read_bytes(), mtime)
        raw.flush()
        os.fsync(raw.fileno())


# -- reading a backup ------------------------------------------------------------------------------


def _not_backup(name: str) -> InputError:
    return InputError(
        zh=f"{name} 不是县平台备份文件（应为“hub backup”写出的 .tar.zst 文件），或已损坏",
        en=f"{name} is not a hub backup (a .tar.zst file written by 'hub backup'), or it is damaged",
        field="file",
        code="backup.unreadable",
    )


def _members(file: Path, progress: Progress | None) -> Iterator[tuple[str, IO[bytes], int]]:
    """Each member of the archive in order, as (name, stream, size); only the three known names, only files."""
    total = file.stat().st_size
    with open(file, "rb") as raw:
        counted = io.BufferedReader(Counting(raw, total, "read", progress), _CHUNK)
        reader = zstandard.ZstdDecompressor().stream_reader(counted)
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                for info in tar:
                    if info.name not in (MANIFEST, DB_FILE, KEY_FILE) or not info.isreg():
                        raise _not_backup(file.name)
                    stream = tar.extractfile(info)
                    assert stream is not None  # a regular file
                    yield info.name, stream, info.size
        except (tarfile.TarError, zstandard.ZstdError, EOFError):
            raise _not_backup(file.name) from None


def read_manifest(file: Path) -> Manifest:
    """The manifest of a backup file (its first member), without reading the rest."""
    for name, stream, size in _members(Path(file), None):
        if name != MANIFEST or size > _MAX_MANIFEST:
            break
        return Manifest.from_json(stream.read(), Path(file).name)
    raise _not_backup(Path(file).name)


def _read_archive(file: Path, into: Path | None, progress: Progress | None) -> Manifest:
    """Read the whole archive, checking the database against the manifest; write the members into ``into``."""
    try:
        return _read_members(file, into, progress)
    except (tarfile.TarError, zstandard.ZstdError, EOFError):
        raise _not_backup(file.name) from None


def _read_members(file: Path, into: Path | None, progress: Progress | None) -> Manifest:
    manifest: Manifest | None = None
    seen: set[str] = set()
    for name, stream, size in _members(file, progress):
        if name in seen or (manifest is None and name != MANIFEST):
            raise _not_backup(file.name)
        seen.add(name)
        if name == MANIFEST:
            if size > _MAX_MANIFEST:
                raise _not_backup(file.name)
            manifest = Manifest.from_json(stream.read(), file.name)
            continue
        digest = hashlib.sha256()
        target = into / name if into is not None else None
        with _private_writer(target) if target is not None else contextlib.nullcontext() as out:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
                if out is not None:
                    out.write(chunk)
            if out is not None:
                out.flush()
                os.fsync(out.fileno())
        if name == DB_FILE and digest.hexdigest() != manifest.db_sha256:  # type: ignore[union-attr]
            raise StoreError(
                zh=f"{file.name} 中的数据库与其清单不符（SHA-256 不同）：文件已损坏，请换用另一份备份",
                en=f"the database in {file.name} does not match its manifest (SHA-256 differs): the file is "
                "damaged; use another backup",
                field="file",
                code="backup.damaged",
            )
    if manifest is None or seen != {MANIFEST, DB_FILE, KEY_FILE}:
        raise _not_backup(file.name)
    return manifest


def _private_writer(path: Path) -> IO[bytes]:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def _verify_archive(file: Path, progress: Progress | None) -> None:
    """Read a freshly written archive back: it decompresses, and its database matches the manifest."""
    _read_archive(file, None, progress)


# -- restoring -------------------------------------------------------------------------------------


def restore_backup(
    data_dir: Path,
    file: Path,
    *,
    force: bool = False,
    progress: Progress | None = None,
    now: Callable[[], dt.datetime] = utc_now,
) -> RestoreResult:
    """Put the hub of backup ``file`` in place in ``data_dir``.

    Refused while ``hub serve`` runs on the folder, and, without ``force``, when the folder holds
    a hub already or the backup is of another hub (another key). The file is read and checked in
    full (manifest, SHA-256, ``integrity_check``) before anything in the folder changes; the
    database (and a key) it replaces is renamed ``…before-restore-STAMP`` beside it, never
    deleted. The restored database is then opened once, which upgrades its schema when the
    backup is older than this software.

    Raises:
        InputError: not a backup, or a hub is in the way and ``force`` is not given (exit 2).
        StoreError: the hub is running, or the backup is damaged (nothing changed).
    """
    data_dir, file = Path(data_dir), Path(file)
    url = database_url(data_dir)
    if url:
        return _after_pg_restore(data_dir, file, redacted(url), force=force, stamp=now())
    if not file.is_file():
        raise InputError(zh=f"找不到备份文件 {file}", en=f"no backup file at {file}", field="file")
    database, key_file = data_dir / DB_FILE, data_dir / KEY_FILE
    with _locked(data_dir, exclusive=True):
        if database.exists() and not force:
            raise InputError(
                zh=f"{data_dir} 中已有县平台数据库；确需用备份替换时加 --force（原库将改名保留在旁边）",
                en=f"{data_dir} already holds a hub database; add --force to replace it with the backup "
                "(the current one is kept aside, renamed)",
                field="force",
                code="backup.not_empty",
            )
        stamp = now()
        staging = data_dir / f".restore-{stamp:%Y%m%dT%H%M%S%f}"
        staging.mkdir(mode=0o700)
        try:
            manifest = _read_archive(file, staging, progress)
            check_copy(staging / DB_FILE)
            held_identity = load_identity(data_dir) if key_file.exists() else None
            restored_identity = load_identity(staging)
            held = held_identity.hub_id if held_identity is not None else None
            restored = restored_identity.hub_id
            # The same hub before or after a `hub key rotate` shares a key generation: not another hub.
            same = held_identity is None or bool(held_identity.key_ids & restored_identity.key_ids)
            if not same and not force:
                raise InputError(
                    zh=f"备份属于县平台 {restored}，而此处是县平台 {held}：各代办点固定的是此处的密钥；"
                    "确需替换时加 --force",
                    en=f"the backup is of hub {restored}, this folder is hub {held}, whose key the stations "
                    "pinned; add --force to replace it all the same",
                    field="file",
                    code="backup.other_hub",
                )
            # The folder's key file stays unless it is another hub's, or the same hub's older generations.
            newer = held_identity is not None and same and restored_identity.gen > held_identity.gen
            aside = _move_aside(data_dir, stamp, replace_key=held_identity is not None and (not same or newer))
            os.replace(staging / DB_FILE, database)
            if not key_file.exists():
                os.replace(staging / KEY_FILE, key_file)
            _sync_folder(data_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        with HubStore.open(data_dir) as store, store.transaction():  # upgrades an older backup's schema
            store.set_meta(RESTORED_META, iso_utc(stamp))
            store.set_meta("restored_from", manifest.created_at)
            # Its stations may have applied feed sets this copy never sealed: none is sealed for one by
            # file before it has said how far it got (hub.feed, docs/protocol.md).
            hold_feeds(store, [s.station_id for s in store.stations(enrolled_only=True)])
    return RestoreResult(manifest=manifest, aside=aside)


def _key_members(file: Path) -> dict[str, bytes]:
    """The members of a PostgreSQL hub's key backup (manifest, key, database address); {} for any other file."""
    found: dict[str, bytes] = {}
    try:
        with (
            open(file, "rb") as raw,
            zstandard.ZstdDecompressor().stream_reader(raw) as reader,
            tarfile.open(fileobj=reader, mode="r|") as tar,
        ):
            for info in tar:
                stream = tar.extractfile(info) if info.isreg() and info.size <= _MAX_MANIFEST else None
                if stream is None or info.name not in (MANIFEST, KEY_FILE, DATABASE_FILE):
                    return {}
                found[info.name] = stream.read()
    except (OSError, tarfile.TarError, zstandard.ZstdError, EOFError):
        return {}
    try:
        manifest = json.loads(found.get(MANIFEST, b""))
        engine = manifest["database"]["engine"]
    except (ValueError, KeyError, TypeError):
        return {}
    return found if engine == "postgresql" and manifest.get("format") == FORMAT and KEY_FILE in found else {}


def _after_pg_restore(data_dir: Path, file: Path, where: str, *, force: bool, stamp: dt.datetime) -> RestoreResult:
    """A hub on PostgreSQL: its database is restored with pg_restore (the server's tool); ``hub restore`` then
    takes the key file of ``hub backup``, checks that the database holds the same hub, puts the key back if
    the folder lost it, and tells the hub it was restored (its stations' feeds held, as after a SQLite restore)."""
    refusal = InputError(
        zh=f"本县平台的数据库在 PostgreSQL（{where}）：请先用 pg_restore 从 pg_dump 备份恢复数据库，再用 hub backup "
        f"写下的密钥文件运行 hub restore 文件（或手工取出密钥：tar --zstd -xf 文件 {KEY_FILE}）",
        en=f"this hub's store is PostgreSQL ({where}): restore the database with pg_restore from its pg_dump file "
        f"first, then run hub restore FILE with the key file 'hub backup' wrote (or take the key out by hand: "
        f"tar --zstd -xf FILE {KEY_FILE})",
        field="file",
        code="backup.postgresql",
    )
    members = _key_members(file) if file.is_file() else {}
    if not members:
        raise refusal
    manifest = json.loads(members[MANIFEST])
    key_file = data_dir / KEY_FILE
    with _locked(data_dir, exclusive=True):
        try:
            store = HubStore.open_existing(data_dir)
        except StoreError:
            raise refusal from None
        with store:
            held = store.get_meta("hub_id")
            if held != manifest.get("hub_id") and not force:
                raise InputError(
                    zh=f"数据库中是县平台 {held}，密钥文件属于县平台 {manifest.get('hub_id')}；确需如此时加 --force",
                    en=f"the database holds hub {held}, the key file is of hub {manifest.get('hub_id')}; add --force "
                    "to go on all the same",
                    field="file",
                    code="backup.other_hub",
                )
            if not key_file.exists():
                with _private_writer(key_file) as out:
                    out.write(members[KEY_FILE])
            with store.transaction():
                store.set_meta(RESTORED_META, iso_utc(stamp))
                store.set_meta("restored_from", str(manifest.get("created_at", "")))
                hold_feeds(store, [s.station_id for s in store.stations(enrolled_only=True)])
    facts = Manifest(
        created_at=str(manifest.get("created_at", iso_utc(stamp))),
        software=str(manifest.get("software", "")),
        hub_id=str(manifest.get("hub_id", "")),
        db_bytes=0,
        db_sha256="",
    )
    return RestoreResult(manifest=facts, aside=[], postgresql=where)


def _move_aside(data_dir: Path, stamp: dt.datetime, *, replace_key: bool) -> list[Path]:
    """Rename the database (with its WAL, folded in first) and, when it is replaced, the key."""
    suffix = f"{ASIDE_SUFFIX}{stamp:%Y%m%dT%H%M%SZ}"
    database = data_dir / DB_FILE
    moved: list[Path] = []
    if database.exists():
        checkpoint(database)
    names = [DB_FILE, DB_FILE + "-wal", DB_FILE + "-shm"] + ([KEY_FILE] if replace_key else [])
    for name in names:
        path = data_dir / name
        if path.exists():
            # A -wal left beside the restored file would be replayed into it: it goes with its database.
            target = path.with_name(path.name + suffix)
            os.replace(path, target)
            moved.append(target)
    return moved


def _sync_folder(folder: Path) -> None:
    if os.name == "nt":  # pragma: no cover
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
