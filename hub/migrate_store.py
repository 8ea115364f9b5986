"""``hub migrate --to postgresql://…``: a stopped SQLite hub copied into an empty PostgreSQL database, verified.

The order is what keeps "nothing written" true on every refusal: the URL is checked, the source hub
opened, the data folder's serve lock taken (no ``hub serve`` may run while its database moves), the
server reached and the target found empty, and only then is anything written, all of it in one
transaction of the target: the schema (the PostgreSQL store's own migrations), every table's rows,
and the checks (row counts per table, every station's chain head and feed head, the stations'
counters). A failed check rolls the whole copy back. The SQLite file is left as it was; the URL is
recorded in the data folder (``database.url``, as ``hub init --database`` records it), so that the hub
opens PostgreSQL from then on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hub.backup import LOCK_FILE
from hub.settings import DATABASE_URL_ENV, DatabaseURL, check_database_reachable
from hub.store import DB_FILE, pgcopy
from hub.store.db import open_db
from hub.store.location import DATABASE_FILE, record_database_url
from hub.store.schema import migrate as apply_migrations
from sync.errors import InputError, StoreError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no serve lock to honour
    fcntl = None  # type: ignore[assignment]

__all__ = ("OPTION", "MigrateResult", "migrate_to_postgresql", "target_problem")

OPTION = "--to"

Progress = Callable[[str, int, int], None]
"""(stage or table, done, total): "schema", each table's rows, "verify"."""


@dataclasses.dataclass(frozen=True)
class MigrateResult:
    """What was copied and checked."""

    database: DatabaseURL
    rows: dict[str, int]
    """Rows per table, equal on both sides."""
    stations: int
    chain_heads: int
    feed_heads: int

    @property
    def setting(self) -> str:
        """The line for the hub's environment, password masked."""
        return f"{DATABASE_URL_ENV}={self.database.redacted}"


@contextlib.contextmanager
def hub_stopped(data_dir: Path) -> Iterator[None]:
    """Hold the data folder's serve lock exclusively (as ``hub restore`` does): StoreError while any
    ``hub serve`` holds it, and none can start until the copy is over."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(Path(data_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(
                zh=f"县平台正在运行（{data_dir} 被“hub serve”占用）：请先停止服务"
                "（systemctl stop proxyapp-hub），再迁移数据库",
                en=f"the hub is running ({data_dir} is held by 'hub serve'): stop it first "
                "(systemctl stop proxyapp-hub), then migrate",
                field="data_dir",
                code="store.busy",
            ) from None
        yield
    finally:
        os.close(fd)


def target_problem(tables: dict[str, list[str]], database: DatabaseURL) -> InputError | None:
    """An InputError (exit 2) when the target database already holds tables; None when it is empty."""
    if not tables:
        return None
    names = sorted(tables)
    shown = ", ".join(names[:5]) + (f" … (+{len(names) - 5})" if len(names) > 5 else "")
    return InputError(
        zh=f"{OPTION}：目标数据库 {database.dbname}（{database.where}）不是空的，已有 {len(names)} 个表（{shown}）。"
        f"迁移只写入空数据库：请新建一个（createdb -O 用户 {database.dbname}_hub），或确认无用后清空它",
        en=f"{OPTION}: the target database {database.dbname} at {database.where} is not empty: it holds "
        f"{len(names)} table(s) ({shown}). The migration writes only into an empty database: create one "
        f"(createdb -O USER {database.dbname}_hub), or empty this one if it is not needed",
        field="to",
        code="target_not_empty",
    )


def _connect(database: DatabaseURL) -> Any:
    from hub.store import pg

    return pg.connect(database.url, where=database.where)


def _create_schema(conn: Any) -> None:
    """The PostgreSQL store's tables, by its own migrations, on ``conn`` inside the copy's transaction."""
    from hub.store import pg

    pg.migrate(conn)


def _check(what: str, source: Any, target: Any, database: DatabaseURL) -> None:
    if source == target:
        return
    raise StoreError(
        zh=f"迁移校验失败：{what} 与 SQLite 原库不一致；已全部回滚，{database.dbname} 中未写入任何内容",
        en=f"the migration's check failed: {what} differ(s) from the SQLite hub; everything was rolled back, "
        f"nothing was written to {database.dbname}",
        field="to",
        code="migrate_mismatch",
    )


def migrate_to_postgresql(data_dir: Path, database: DatabaseURL, *, progress: Progress | None = None) -> MigrateResult:
    """Copy the SQLite hub of ``data_dir`` into the empty PostgreSQL ``database`` and verify it.

    Raises:
        StoreError: no hub in ``data_dir``, or ``hub serve`` runs on it (exit 1); a check failed after
            the copy (rolled back).
        InputError: the server cannot be reached, or the target is not empty (exit 2; nothing written).
    """
    recorded = Path(data_dir) / DATABASE_FILE
    if recorded.exists():
        raise InputError(
            zh=f"此县平台已使用 PostgreSQL（{recorded} 记有其地址），无需迁移",
            en=f"this hub already keeps its store in PostgreSQL ({recorded} names it): there is nothing to migrate",
            field="data_dir",
            code="already_postgresql",
        )
    source = Path(data_dir) / DB_FILE
    if not source.exists():
        raise StoreError(
            zh=f"此处没有 SQLite 县平台数据：缺少 {source}；请用 --data-dir 指明要迁移的数据目录",
            en=f"no SQLite hub here: {source} is missing; name the data folder to migrate with --data-dir",
            field="data_dir",
            code="store.not_initialised",
        )
    with hub_stopped(data_dir):
        # The SQLite file itself (never HUB_DATABASE_URL's store), its schema brought up to date first.
        db = open_db(source)
        try:
            apply_migrations(db)
        finally:
            db.close()
        check_database_reachable(database, option=OPTION)
        src = pgcopy.open_source(source)
        try:
            conn = _connect(database)
            try:
                problem = target_problem(pgcopy.target_tables(conn), database)
                if problem is not None:
                    raise problem
                with conn.transaction():
                    result = _copy(src, conn, database, progress)
            finally:
                conn.close()
        finally:
            src.close()
        # As `hub init --database` does: every hub command and `hub serve` now open PostgreSQL, so the hub
        # cannot run on, and stations sync into, the SQLite file the county has left.
        record_database_url(data_dir, database.url)
    return result


def _copy(src: Any, conn: Any, database: DatabaseURL, progress: Progress | None) -> MigrateResult:
    if progress:
        progress("schema", 0, 1)
    _create_schema(conn)
    if progress:
        progress("schema", 1, 1)
    plans = pgcopy.plan_tables(src, pgcopy.target_tables(conn))
    rows = {plan.name: pgcopy.copy_table(src, conn, plan, progress) for plan in plans}
    from hub.store import pg

    pg.reset_identities(conn)
    if progress:
        progress("verify", 0, len(plans) + 3)
    for n, plan in enumerate(plans, 1):
        _check(
            f"table {plan.name} ({rows[plan.name]} rows)", rows[plan.name], pgcopy.row_count(conn, plan.name), database
        )
        if progress:
            progress("verify", n, len(plans) + 3)
    chain, feed = pgcopy.chain_heads(src), pgcopy.feed_heads(src)
    _check("the stations' chain heads", chain, pgcopy.chain_heads(conn), database)
    _check("the stations' feed heads", feed, pgcopy.feed_heads(conn), database)
    columns = next(p.columns for p in plans if p.name == "stations")
    stations = pgcopy.station_rows(src, columns)
    _check("the stations' counters and heads", stations, pgcopy.station_rows(conn, columns), database)
    if progress:
        progress("verify", len(plans) + 3, len(plans) + 3)
    return MigrateResult(database, rows, len(stations), len(chain), len(feed))
