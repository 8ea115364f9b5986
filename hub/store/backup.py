"""Copying the hub database while it serves (SQLite's online backup) and checking a copy before it is used."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from sync.errors import StoreError

__all__ = ("PAGES_PER_STEP", "DatabaseFacts", "check_copy", "checkpoint", "online_copy")

PAGES_PER_STEP = 1024
"""Pages copied per backup step (4 MiB at SQLite's default page size): the progress shown moves in these."""

Progress = Callable[[int, int], None]
"""Called after each step with (pages copied, pages in all)."""


def online_copy(source: Path, target: Path, *, progress: Progress | None = None) -> None:
    """Copy the database ``source`` to a new file ``target`` with SQLite's online backup API.

    The copy is one consistent moment of the database although it is made in steps while the hub
    serves: the source connection holds one read transaction for the whole copy, so in WAL mode
    it reads one snapshot throughout and writers are never blocked (a step without it would
    restart whenever the hub commits a set, and might never finish on a busy day).

    Raises:
        StoreError: the source cannot be read or the target cannot be written.
    """
    try:
        src = sqlite3.connect(str(source), timeout=30.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise _unreadable(source, exc) from exc
    try:
        dst = sqlite3.connect(str(target))
        try:
            src.execute("BEGIN")
            src.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # the snapshot starts here

            def step(_status: int, remaining: int, total: int) -> None:
                if progress is not None:
                    progress(total - remaining, total)

            src.backup(dst, pages=PAGES_PER_STEP, progress=step, sleep=0)
            src.execute("COMMIT")
            # The copy stands alone: one file, no WAL beside it (it goes into an archive as is).
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise StoreError(
            zh=f"县平台数据库无法备份到 {target}：{exc}；请检查目标位置的空间和权限",
            en=f"the hub database could not be copied to {target}: {exc}; check the space and permissions there",
            field="file",
        ) from exc
    finally:
        src.close()


def checkpoint(path: Path) -> None:
    """Fold the write-ahead log of ``path`` into the file, so the file alone holds every commit."""
    try:
        conn = sqlite3.connect(str(path), timeout=30.0)
    except sqlite3.Error as exc:
        raise _unreadable(path, exc) from exc
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error as exc:
        raise _unreadable(path, exc) from exc
    finally:
        conn.close()


class DatabaseFacts:
    """What :func:`check_copy` found in a copy: its migrations and a few counts (for the manifest)."""

    def __init__(self, migrations: list[str], counts: dict[str, int]) -> None:
        self.migrations = migrations
        self.counts = counts


_COUNTED = ("stations", "cases", "sets_in", "feed_sets")


def check_copy(path: Path) -> DatabaseFacts:
    """``PRAGMA integrity_check`` on a copy, and that it is a hub database; its migrations and counts.

    Raises:
        StoreError: the file is damaged, or not a hub database.
    """
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise _unreadable(path, exc) from exc
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
        if result != ["ok"]:
            raise StoreError(
                zh=f"数据库副本 {path.name} 未通过完整性检查（{'; '.join(result[:3])}）",
                en=f"the database copy {path.name} fails its integrity check ({'; '.join(result[:3])})",
                field="file",
                code="backup.damaged",
            )
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"meta", *_COUNTED} <= tables:
            raise StoreError(
                zh=f"{path.name} 不是县平台数据库",
                en=f"{path.name} is not a hub database",
                field="file",
                code="backup.not_hub",
            )
        migrations = (
            [
                row[0]
                for row in conn.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = 'hub' ORDER BY id")
            ]
            if "_sqlite_migrations" in tables
            else []
        )
        counts = {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in _COUNTED}
        return DatabaseFacts(migrations, counts)
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            zh=f"数据库副本 {path.name} 无法读取（{exc}）",
            en=f"the database copy {path.name} cannot be read ({exc})",
            field="file",
            code="backup.damaged",
        ) from exc
    finally:
        conn.close()


def _unreadable(path: Path, exc: Exception) -> StoreError:
    return StoreError(
        zh=f"无法打开县平台数据库 {path}：{exc}",
        en=f"cannot open the hub database {path}: {exc}",
        field="data_dir",
    )
