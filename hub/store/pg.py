"""The PostgreSQL backend of HubStore: psycopg 3 connections that run the store's SQL as it is written.

:class:`PgDatabase` stands where the SQLite backend has its ``sqlite_utils.Database``: ``execute(sql,
params)`` takes the store's statements (``?`` placeholders, SQLite's spelling) through
:func:`hub.store.dialect.translate` and answers with a cursor of plain tuples, as sqlite3 does. Values are
bound on the server (psycopg's default cursor): a text goes as of unknown type, so PostgreSQL types it from
where it stands, as a quoted literal would be; the store's SQL never asks the server to type a ``?`` from
nothing (``? IS NULL`` would need a cast). A statement run a few times on a connection becomes a prepared
statement there (psycopg's ``prepare_threshold``): the server parses and plans it once, not at each
exchange (``HUB_DATABASE_PREPARE=off`` turns that off, for a connection pooler that cannot keep them).
Connections autocommit outside :meth:`PgDatabase.transaction`, which is one ``BEGIN … COMMIT`` (nested
use joins it, as on SQLite).

Schema migrations: the numbered list of hub.store.schema, each statement through
:func:`hub.store.dialect.translate_ddl`, recorded in ``schema_migrations`` and applied under a
transaction-level advisory lock, so two workers starting at once migrate once (:func:`migrate`).

``hub serve`` keeps one ``psycopg_pool.ConnectionPool`` per worker process (:func:`open_pool`); a store
then borrows a connection when it first runs a statement, in the thread that runs it, and gives it back
at ``close``. CLI commands open one connection each.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import psycopg
import psycopg.errors
from psycopg import _queries
from psycopg.adapt import Dumper, Loader

from hub.store.base import TransactionConflict
from hub.store.dialect import ORD, NotPortable, translate, translate_ddl
from sync.errors import StoreError

__all__ = (
    "LOCK_SPACE",
    "MIGRATIONS_TABLE",
    "ROW_ERRORS",
    "PgDatabase",
    "applied",
    "close_pool",
    "connect",
    "migrate",
    "open_pool",
    "pending",
    "pool_for",
    "reset_identities",
)

LOCK_SPACE = 0x48554231
"""First key of every advisory lock the hub takes ("HUB1"), so they never meet another program's."""
_MIGRATION_LOCK = 1
"""Second key of the lock the migrations run under; named locks use hashtext(name) there (:meth:`PgDatabase.lock`)."""

MIGRATIONS_TABLE = "schema_migrations"

# psycopg (3.3, pinned) keeps how a query splits around its parameters in a cache of 128
# queries, but only for queries of at most 50 parameters and 4,096 bytes. A set's new rows go in as statements
# of many rows (the five cases of a village's day: ~100 parameters), which it split anew at every exchange:
# about a millisecond of the hub's CPU each. Raised so that those are kept too; a backlog's statements of
# thousands of parameters still are not (a kept split holds a part per parameter: 1,000 parts, ~150 KB).
# Should a later psycopg rename these, nothing breaks: the queries are split each time, as before.
CACHED_STATEMENT_PARAMS = 1_000
_queries.MAX_CACHED_STATEMENT_PARAMS = max(_queries.MAX_CACHED_STATEMENT_PARAMS, CACHED_STATEMENT_PARAMS)
_queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, 32_768)

APPLICATION = "proxyapp-hub"
"""``application_name`` of the hub's connections (``/pid`` added): pg_stat_activity tells the workers apart."""

POOL_MAX_ENV = "HUB_DATABASE_POOL"
POOL_MAX = 8
"""Connections one ``hub serve`` worker keeps at most (``HUB_DATABASE_POOL``): requests beyond wait for one.
On a 2-core server more connections only queue inside PostgreSQL instead."""

POOL_WAIT_S = 30.0
"""How long a request waits for a pooled connection before it is answered 503 busy."""

POOL_CHECK_IDLE_S = 2.0
"""A pooled connection that waited longer than this since a request gave it back is checked (an empty query,
a round trip) before the next request gets it: a server restarted or a connection cut meanwhile is replaced,
not handed over. One given back moments ago worked then: in a burst (the county's day) checking each would
cost every request a round trip."""

_RETURNED_AT: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
"""When each pooled connection was last given back (time.monotonic), for :func:`_check_if_idle`."""


def _check_if_idle(conn: psycopg.Connection[Any]) -> None:
    """The pool's check of a connection about to be lent: a round trip only for one idle a while."""
    from psycopg_pool import ConnectionPool

    returned = _RETURNED_AT.get(conn)
    if returned is None or time.monotonic() - returned > POOL_CHECK_IDLE_S:
        ConnectionPool.check_connection(conn)


class _BoolAsInt(Dumper):
    # SQLite stores True as 1: the store's columns are bigint, where a PostgreSQL boolean would not go. Dumped
    # here, for the few bool values, instead of a pass in Python over every value of every statement.
    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return str(int(obj)).encode()


class _Number(Loader):
    # SUM() of bigint is numeric in PostgreSQL; the store's callers expect SQLite's int (or float).
    def load(self, data: Any) -> int | float:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


def _reason(exc: BaseException, url: str = "", redacted: str = "") -> str:
    """libpq's first line (what failed), without the password."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return " ".join(first.split()).replace(url, redacted) if url else " ".join(first.split())


def _unavailable(where: str, exc: BaseException) -> StoreError:
    return StoreError(
        zh=f"县平台的 PostgreSQL 数据库 {where} 暂时无法使用（{_reason(exc)}）；请稍后重试，并请管理员检查数据库服务器",
        en=f"the hub's PostgreSQL database {where} is not available ({_reason(exc)}); try again, and have the "
        "operator check the database server",
        field="database",
        code="store.busy",
    )


def _busy(exc: BaseException) -> StoreError:
    return StoreError(
        zh=f"县平台数据库正忙（{_reason(exc)}）；请稍后重试",
        en=f"the hub database is busy ({_reason(exc)}); try again",
        code="store.busy",
    )


def _conflict(exc: BaseException) -> TransactionConflict:
    return TransactionConflict(
        zh=f"县平台数据库正忙（{_reason(exc)}）；请稍后重试",
        en=f"the hub database is busy ({_reason(exc)}); try again",
        code="store.busy",
    )


PREPARE_ENV = "HUB_DATABASE_PREPARE"
"""``off`` (or ``0``, ``no``): no prepared statements (PgBouncer before 1.21 in transaction mode cannot keep
them); values are still bound on the server."""
PREPARE_AFTER = 5
"""Runs of a statement on a connection before it is prepared there (psycopg's default): a statement of
every exchange is prepared within seconds of the hub starting, one an operator's page runs once is not."""


def prepare_threshold() -> int | None:
    """:data:`PREPARE_AFTER`, or None when :data:`PREPARE_ENV` turns prepared statements off."""
    if os.environ.get(PREPARE_ENV, "").strip().lower() in ("off", "0", "no", "false"):
        return None
    return PREPARE_AFTER


def configure(conn: psycopg.Connection[Any]) -> None:
    """What every hub connection needs: autocommit outside transactions, UTC, SUM() as int, prepared
    statements (unless turned off)."""
    conn.autocommit = True
    conn.prepare_threshold = prepare_threshold()
    conn.adapters.register_loader("numeric", _Number)
    # Registered for bool, a dumper with an oid also becomes the one for that oid (COPY's set_types picks by
    # oid: hub migrate --to): int8's own is put back there, so only a bool is dumped by _BoolAsInt.
    int8 = conn.adapters.get_dumper_by_oid(_BoolAsInt.oid, psycopg.pq.Format.TEXT)
    conn.adapters.register_dumper(bool, _BoolAsInt)
    conn.adapters.register_dumper(None, int8)
    conn.execute("SET TIME ZONE 'UTC'")


def connect(url: str, *, where: str = "") -> psycopg.Connection[Any]:
    """One connection for the store (StoreError with libpq's reason when the server cannot be reached)."""
    try:
        conn = psycopg.connect(
            url,
            connect_timeout=10,
            application_name=f"{APPLICATION}/{os.getpid()}",
        )
    except psycopg.Error as exc:
        raise _unavailable(where, exc) from None
    configure(conn)
    return conn


# -- pools: one per URL per process (hub serve) ------------------------------------------------------

_POOLS: dict[str, tuple[Any, int]] = {}
"""URL → (pool, how many apps of this process opened it): the last close closes it."""
_POOLS_LOCK = threading.Lock()


def open_pool(url: str, *, max_size: int | None = None) -> Any:
    """The process's pool for ``url``, opened now if it is not yet (``hub serve`` at startup)."""
    from psycopg_pool import ConnectionPool

    with _POOLS_LOCK:
        pool, users = _POOLS.get(url, (None, 0))
        if pool is None:
            size = max_size or int(os.environ.get(POOL_MAX_ENV, "") or POOL_MAX)
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=max(1, size),
                kwargs={
                    "connect_timeout": 10,
                    "application_name": f"{APPLICATION}/{os.getpid()}",
                },
                configure=configure,
                # One that waited a while is checked when borrowed: if a server restart broke it, it is
                # replaced, not handed to a request.
                check=_check_if_idle,
                timeout=POOL_WAIT_S,
                open=False,
                name="hub",
            )
            pool.open(wait=False)
        _POOLS[url] = (pool, users + 1)
        return pool


def pool_for(url: str) -> Any | None:
    """The process's pool for ``url``, or None (CLI commands: one connection each)."""
    entry = _POOLS.get(url)
    return entry[0] if entry else None


def close_pool(url: str) -> None:
    """Close the process's pool for ``url`` once every app that opened it has closed it (shutdown)."""
    with _POOLS_LOCK:
        pool, users = _POOLS.get(url, (None, 0))
        if pool is None:
            return
        if users > 1:
            _POOLS[url] = (pool, users - 1)
            return
        del _POOLS[url]
    pool.close()


# -- the connection the store's parts use ------------------------------------------------------------


ORD_BYTES = ORD.encode()


class _Rows:
    """A result without the backend's own ``ord`` column (``SELECT *`` gives the same columns as on SQLite)."""

    def __init__(self, cursor: psycopg.Cursor[Any], names: list[bytes | None], keep: list[int]) -> None:
        self._cursor = cursor
        self._keep = keep
        # What the store reads of a description: each kept column's name first (DB-API's 7 items). Not psycopg's
        # cursor.description, which builds a Column object per column at each reading.
        self.description = [((names[i] or b"").decode(), None, None, None, None, None, None) for i in keep]
        self.rowcount = cursor.rowcount

    def _pick(self, row: Sequence[Any] | None) -> tuple[Any, ...] | None:
        return None if row is None else tuple(row[i] for i in self._keep)

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._pick(self._cursor.fetchone())

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row[i] for i in self._keep) for row in self._cursor.fetchall()]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for row in self._cursor:
            yield tuple(row[i] for i in self._keep)


ROW_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.IntegrityError,
    psycopg.DataError,
    psycopg.errors.DatatypeMismatch,
    OverflowError,
)
"""Driver errors about a row's values: :meth:`hub.store.base.StoreBase.savepoint` makes them RowError.
(psycopg's own "cannot adapt" ProgrammingError, raised before the server sees the row, is added there.)"""

_TRANSIENT = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable)
_CONFLICT = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)
"""SQLSTATE 40001 and 40P01: PostgreSQL rolled the transaction back; running it again is safe."""


def _looked_up(value: Any) -> Any:
    # PostgreSQL's text cannot hold NUL, so no stored text has one: a key with NUL (a hostile pk) is looked up
    # as U+FFFD, which finds nothing as SQLite finds nothing, instead of failing the whole request.
    return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value


class PgDatabase:
    """The store's connection to PostgreSQL: ``execute`` as sqlite3's, ``transaction``, ``close``.

    The connection is taken on first use (from the pool, or opened), so a store opened on the event
    loop and used by a worker thread never blocks the loop waiting for a pooled connection.
    """

    dialect = "postgresql"

    def __init__(self, url: str, *, where: str, pool: Any | None = None) -> None:
        self.url = url
        self.where = where
        self._pool = pool
        self._conn: psycopg.Connection[Any] | None = None
        self._depth = 0
        self.held_locks: list[str] = []
        """The advisory locks this transaction holds, in the order taken (taking one again is no statement)."""

    @property
    def conn(self) -> psycopg.Connection[Any]:
        """The connection, taken now if the store has none yet."""
        if self._conn is None:
            if self._pool is not None:
                from psycopg_pool import PoolTimeout

                try:
                    self._conn = self._pool.getconn()
                except (PoolTimeout, psycopg.Error) as exc:  # every connection busy, or the server gone
                    raise _unavailable(self.where, exc) from None
            else:
                self._conn = connect(self.url, where=self.where)
        return self._conn

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run one statement of the store (SQLite's spelling) and return its cursor."""
        text = translate(sql)
        # A list, even empty: psycopg reads placeholders (and translate's doubled %) only when given one.
        values = [_looked_up(v) for v in params] if params and text.lstrip()[:6].upper() == "SELECT" else params or []
        try:
            cursor = self.conn.execute(text, values)
        except _TRANSIENT as exc:
            raise _busy(exc) from exc
        except psycopg.OperationalError as exc:
            raise _unavailable(self.where, exc) from exc
        result = cursor.pgresult
        if result is not None and result.nfields:
            # The column names straight from the result: cursor.description would build a Column per column.
            names = [result.fname(i) for i in range(result.nfields)]
            if ORD_BYTES in names:
                return _Rows(cursor, names, [i for i, name in enumerate(names) if name != ORD_BYTES])
        return cursor

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN … COMMIT`` (rolled back on an error); nested use joins the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        conn = self.conn
        self._depth = 1
        try:
            with conn.transaction():
                yield
        except StoreError as exc:
            # A statement's deadlock or serialisation failure (made store.busy by execute), seen here after
            # the rollback: the whole transaction is gone, so the caller may run it again.
            if isinstance(exc.__cause__, _CONFLICT) and not isinstance(exc, TransactionConflict):
                raise _conflict(exc.__cause__) from exc.__cause__
            raise
        except _CONFLICT as exc:  # at COMMIT
            raise _conflict(exc) from exc
        except _TRANSIENT as exc:
            raise _busy(exc) from exc
        except psycopg.OperationalError as exc:
            raise _unavailable(self.where, exc) from exc
        finally:
            self._depth = 0
            self.held_locks.clear()  # committed or rolled back: PostgreSQL let them go

    def lock(self, *keys: str) -> None:
        """Hold the named advisory locks until the transaction ends (another transaction asking waits), taken
        in the order given, in one statement; one this transaction holds already is not asked for again."""
        if not self._depth:
            raise RuntimeError("PgDatabase.lock outside a transaction")  # it would be released at once
        wanted = [key for key in dict.fromkeys(keys) if key not in self.held_locks]
        if not wanted:
            return
        # The server evaluates a select list from left to right: the locks are taken in the order given.
        calls = ", ".join(["pg_advisory_xact_lock(?, hashtext(?))"] * len(wanted))
        self.execute(f"SELECT {calls}", [value for key in wanted for value in (LOCK_SPACE, key)])
        self.held_locks.extend(wanted)

    def close(self) -> None:
        """Give the connection back (pool) or close it."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._pool is not None:
            _RETURNED_AT[conn] = time.monotonic()
            self._pool.putconn(conn)
        else:
            conn.close()


# -- migrations --------------------------------------------------------------------------------------

_WRITABLE_SCHEMA = re.compile(r"(?i)^\s*PRAGMA\s+(writable_schema|schema_version)\s*(=.*)?$")
_WIDEN_CHECK = re.compile(
    r"""(?is)^\s*UPDATE\s+sqlite_master\s+SET\s+sql\s*=\s*replace\(\s*sql\s*,\s*(["'])(.*?)\1\s*,\s*(["'])(.*?)\3\s*\)"""
    r"""\s+WHERE\s+type\s*=\s*'table'\s+AND\s+name\s*=\s*'(\w+)'\s*$"""
)
_CHECK_COLUMN = re.compile(r"(?is)^\s*CHECK\s*\(\s*(\w+)\b")


class _Cursor:
    """What a migration's ``db.execute`` gives back when PostgreSQL has nothing to say."""

    def __init__(self, row: tuple[Any, ...] | None = None) -> None:
        self._row = row

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._row

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [self._row] if self._row else []


class _MigrationDb:
    """The ``db`` a migration function is given on PostgreSQL: its statements translated and run on ``conn``."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any], name: str) -> None:
        self.conn = conn
        self.name = name

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        if _WRITABLE_SCHEMA.match(sql):
            # SQLite's documented way to widen a CHECK (edit sqlite_master under writable_schema, bump the
            # schema version); on PostgreSQL the UPDATE below is the whole change.
            return _Cursor((0,)) if "=" not in sql else _Cursor()
        if match := _WIDEN_CHECK.match(sql):
            self._replace_check(match[5], match[2], match[4])
            return _Cursor()
        if params:
            # SQLite stores True as 1; quoted on the client here, where _BoolAsInt may not be registered.
            values = [int(v) if isinstance(v, bool) else v for v in params]
            return psycopg.ClientCursor(self.conn).execute(translate(sql), values)
        cursor: Any = _Cursor()
        for statement in translate_ddl(sql):
            cursor = self.conn.execute(statement.encode())  # bytes: psycopg leaves a % in it alone
        return cursor

    def _replace_check(self, table: str, old: str, new: str) -> None:
        column = _CHECK_COLUMN.match(old)
        if column is None or not _CHECK_COLUMN.match(new):
            raise NotPortable(f"migration {self.name}: only a CHECK clause can be replaced in sqlite_master", old)
        found = self.conn.execute(
            "SELECT c.conname FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid "
            "AND a.attnum = ANY (c.conkey) WHERE c.conrelid = %s::regclass AND c.contype = 'c' AND a.attname = %s",
            [table, column[1]],
        ).fetchall()
        if len(found) != 1:
            raise NotPortable(f"migration {self.name}: no single CHECK on {table}.{column[1]} to replace", old)
        name = found[0][0]
        self.conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'.encode())
        self.conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {translate_ddl(new)[0]}'.encode())


def applied(conn: psycopg.Connection[Any]) -> list[str]:
    """The names of the migrations applied to the database, in the order they were applied."""
    exists = conn.execute("SELECT to_regclass(%s)", [MIGRATIONS_TABLE]).fetchone()
    if not exists or exists[0] is None:
        return []
    return [name for (name,) in conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY applied_at, name")]


def pending(conn: psycopg.Connection[Any]) -> list[str]:
    """The names of the hub's migrations not applied to the database yet."""
    from hub.store.schema import migrations

    done = set(applied(conn))
    return [m.name for m in migrations._migrations if m.name not in done]


def migrate(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply the pending migrations in one transaction (a savepoint inside the caller's), under the
    migrations' advisory lock; returns the names applied. Two processes at once: the second waits,
    then finds nothing left to do."""
    from hub.store.schema import migrations

    if not pending(conn):
        return []
    done: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_SPACE, _MIGRATION_LOCK])
        conn.execute(f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name text PRIMARY KEY, applied_at text NOT NULL)")
        held = set(applied(conn))
        for migration in migrations._migrations:
            if migration.name in held:
                continue
            migration.fn(_MigrationDb(conn, migration.name))  # type: ignore[arg-type]
            # Microseconds and the name: migrations applied in one run keep their order.
            at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (%s, %s)", [migration.name, at])
            done.append(migration.name)
    return done


def reset_identities(conn: psycopg.Connection[Any]) -> None:
    """Move every identity counter past the largest value its column holds (after rows were copied in
    with their own numbers, as ``hub migrate --to`` does)."""
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    for table, column in rows:
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
            f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)".encode()
        )
