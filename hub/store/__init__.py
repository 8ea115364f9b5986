"""HubStore: the one storage interface of the hub, on SQLite (the default) or PostgreSQL (docs/postgresql.md)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import msgspec

from hub.store.accounts import AccountStoreMixin, SessionRow, TokenRow, UserRow
from hub.store.base import RowError, TransactionConflict
from hub.store.calendar import CalendarStoreMixin, CalendarVersionRow, YearRow
from hub.store.cases import CaseStoreMixin
from hub.store.catalog import CatalogDelivery, CatalogStoreMixin, CatalogVersionRow
from hub.store.catalog_reports import CatalogReportStoreMixin
from hub.store.dashboard import DashboardStoreMixin
from hub.store.db import open_db
from hub.store.forks import ForkStoreMixin, ResolvedForkRow
from hub.store.interface import HubStoreProtocol
from hub.store.keys import KeyStoreMixin
from hub.store.location import database_url, redacted
from hub.store.locks import LockStoreMixin
from hub.store.province import ProvinceStoreMixin
from hub.store.province_forks import ProvinceForkStoreMixin
from hub.store.ratings import RatingStoreMixin
from hub.store.scans import ScanRow, ScanStoreMixin, StationScans
from hub.store.schema import migrate as apply_migrations
from hub.store.stations import Contact, EnrolmentRow, KeyRow, StationRow, StationStoreMixin
from hub.store.sync import ExchangeGlance, FeedSetRow, ForkRow, SyncStoreMixin
from hub.store.township import TownshipStoreMixin
from hub.store.upstream import UpstreamStoreMixin
from sync.catalog import Catalog
from sync.divisions import DivisionTree, load_divisions
from sync.errors import StoreError
from sync.hlc import HybridClock
from sync.timeutil import iso_utc
from sync.workdays import WorkCalendar, YearTable

__all__ = (
    "DB_FILE",
    "CalendarVersionRow",
    "CatalogDelivery",
    "CatalogVersionRow",
    "Contact",
    "EnrolmentRow",
    "ExchangeGlance",
    "FeedSetRow",
    "ForkRow",
    "HubStore",
    "HubStoreProtocol",
    "KeyRow",
    "ResolvedForkRow",
    "RowError",
    "ScanRow",
    "SessionRow",
    "StationRow",
    "StationScans",
    "TokenRow",
    "TransactionConflict",
    "UserRow",
    "YearRow",
)

DB_FILE = "hub.db"

AUTO = "auto"
"""``HubStore.open(database=AUTO)``: the store :func:`hub.store.location.database_url` finds for the folder."""

# Reference data is immutable per version, so a process-wide cache keyed by (database, version)
# saves decoding the catalogue, calendar and 395-village tree on every request.
_CACHE: dict[tuple[str, str, Any], Any] = {}
_CACHE_LOCK = threading.Lock()


class HubStore(
    StationStoreMixin,
    SyncStoreMixin,
    CaseStoreMixin,
    AccountStoreMixin,
    DashboardStoreMixin,
    CalendarStoreMixin,
    CatalogStoreMixin,
    CatalogReportStoreMixin,
    KeyStoreMixin,
    ForkStoreMixin,
    UpstreamStoreMixin,
    ProvinceStoreMixin,
    ProvinceForkStoreMixin,
    TownshipStoreMixin,
    ScanStoreMixin,
    RatingStoreMixin,
    LockStoreMixin,
):
    """Everything the hub keeps, behind methods; no other module writes SQL.

    One HubStore holds one connection and belongs to one request or command at a time. Writes
    that must hold together run inside :meth:`transaction`; the methods themselves never commit
    on their own when a transaction is open.
    """

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        data_dir: Path | str,
        *,
        check_same_thread: bool = True,
        migrate: bool = True,
        database: str | None = AUTO,
    ) -> HubStore:
        """Open the hub's store (schema upgraded when ``migrate``).

        Args:
            database: a ``postgresql://`` URL, None for the SQLite file ``hub.db`` in ``data_dir``, or
                :data:`AUTO`: ``HUB_DATABASE_URL``, else the URL ``hub init --database`` recorded in the
                folder, else the SQLite file.
            check_same_thread: SQLite only: False for a connection opened on the event loop and used by
                a worker thread (one owner at a time still).
        """
        url = database_url(data_dir) if database == AUTO else database
        if url:
            return cls._open_postgresql(data_dir, url, migrate=migrate)
        path = Path(data_dir) / DB_FILE
        db = open_db(path, check_same_thread=check_same_thread)
        if migrate:
            apply_migrations(db)
        return cls(db, path)

    @classmethod
    def _open_postgresql(cls, data_dir: Path | str, url: str, *, migrate: bool) -> HubStore:
        from hub.store import pg

        where = redacted(url)
        # hub serve's pool when this process has one (borrowed at the first statement); else a connection.
        db = pg.PgDatabase(url, where=where, pool=pg.pool_for(url))
        try:
            if migrate:
                pg.migrate(db.conn)
        except BaseException:
            db.close()
            raise
        return cls(db, Path(data_dir) / DB_FILE, where=where)

    @classmethod
    def open_existing(
        cls, data_dir: Path | str, *, check_same_thread: bool = True, database: str | None = AUTO
    ) -> HubStore:
        """Open an initialised hub; StoreError (telling the operator to run ``hub init``) otherwise."""
        url = database_url(data_dir) if database == AUTO else database
        if url:
            store = cls._open_postgresql(data_dir, url, migrate=False)
            if store.holds_hub():
                from hub.store import pg

                try:
                    pg.migrate(store.db.conn)  # a newer release's migrations, as on SQLite
                except BaseException:
                    store.close()
                    raise
                return store
            where = store.where
            store.close()
            raise StoreError(
                zh=f"PostgreSQL 数据库 {where} 中没有县平台数据；请先运行“hub init --database URL”",
                en=f"no hub in the PostgreSQL database {where}; run 'hub init --database URL' first",
                field="database",
                code="store.not_initialised",
            )
        path = Path(data_dir) / DB_FILE
        if not path.exists():
            raise StoreError(
                zh=f"此处没有县平台数据：缺少 {path}；请先运行“hub init”",
                en=f"no hub here: {path} is missing; run 'hub init' first",
                field="data_dir",
                code="store.not_initialised",
            )
        return cls.open(data_dir, check_same_thread=check_same_thread, database=None)

    def holds_hub(self) -> bool:
        """Whether the database holds a hub's tables at all (an empty PostgreSQL database does not)."""
        if self.dialect == "postgresql":
            from hub.store import pg

            return bool(pg.applied(self.db.conn))
        return self._one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'") is not None

    def close(self) -> None:
        """Close the connection (on PostgreSQL under hub serve: give it back to the pool)."""
        self.db.close()

    def __enter__(self) -> HubStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- settings and the hub's clock ------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A hub setting, or None."""
        row = self._one("SELECT value FROM meta WHERE key = ?", [key])
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Set a hub setting."""
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    def tick_clock(self, wall_ms: int) -> int:
        """A new hybrid-logical-clock stamp of the hub, persisted (call inside a transaction)."""
        self.lock("hlc")  # two workers never read the same last stamp
        last = self.get_meta("hlc_last")
        clock = HybridClock(int(last) if last else 0)
        stamp = clock.tick(wall_ms)
        self.set_meta("hlc_last", str(stamp))
        return stamp

    # -- reference data: catalogue, calendar, division tree --------------------------------------

    def _cached(self, kind: str, version: Any, build: Any) -> Any:
        key = (self.where, kind, version)
        with _CACHE_LOCK:
            if key in _CACHE:
                return _CACHE[key]
        value = build()
        with _CACHE_LOCK:
            _CACHE[key] = value
        return value

    def publish_catalog(self, catalog: Catalog, now: dt.datetime) -> None:
        """Store a catalogue version (immutable once published)."""
        self.db.execute(
            "INSERT INTO catalogs (version, body, published_at) VALUES (?, ?, ?)",
            [catalog.version, msgspec.json.encode(catalog).decode(), iso_utc(now)],
        )

    def catalog_version(self) -> int | None:
        """The newest catalogue version, or None before ``hub init``."""
        row = self._one("SELECT MAX(version) FROM catalogs")
        return row[0] if row else None

    def catalog_body(self, version: int | None = None) -> tuple[int, bytes]:
        """(version, JSON bytes) of a catalogue version (the newest when None), as stations store it."""
        version = self.catalog_version() if version is None else version
        row = self._one("SELECT version, body FROM catalogs WHERE version = ?", [version])
        if row is None:
            raise StoreError(
                zh=f"县平台没有目录版本 {version}",
                en=f"catalogue version {version} is not held by this hub",
                field="catalog_version",
            )
        return row[0], row[1].encode()

    def catalog(self, version: int | None = None) -> Catalog:
        """A catalogue version, decoded (the newest when None); the body is read only on a cache miss."""
        number = self.catalog_version() if version is None else version
        return self._cached("catalog", number, lambda: msgspec.json.decode(self.catalog_body(number)[1], type=Catalog))

    def put_calendar_year(self, table: YearTable, now: dt.datetime) -> None:
        """Store a year table; a lower version never replaces a higher one."""
        self.db.execute(
            "INSERT INTO calendar_years (year, version, source, body, published_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(year) DO UPDATE SET version = excluded.version, source = excluded.source, "
            "body = excluded.body, published_at = excluded.published_at WHERE excluded.version >= calendar_years.version",
            [table.year, table.version, table.source, msgspec.json.encode(table).decode(), iso_utc(now)],
        )

    def calendar_tables(self, from_year: int = 0) -> list[YearTable]:
        """The year tables from ``from_year`` on, oldest first."""
        rows = self.db.execute("SELECT body FROM calendar_years WHERE year >= ? ORDER BY year", [from_year])
        return [msgspec.json.decode(body, type=YearTable) for (body,) in rows.fetchall()]

    def calendar(self) -> WorkCalendar:
        """The hub's working-day calendar: the binding one for due dates (invariant 8)."""
        versions = tuple(self.db.execute("SELECT year, version FROM calendar_years ORDER BY year").fetchall())
        return self._cached("calendar", versions, lambda: WorkCalendar(self.calendar_tables()))

    def put_divisions(self, data: dict[str, Any], version: int, now: dt.datetime) -> None:
        """Store the division tree in its JSON form (check it with sync.divisions.load_divisions first)."""
        self.db.execute(
            "INSERT INTO documents (kind, version, body, published_at) VALUES ('divisions', ?, ?, ?) "
            "ON CONFLICT(kind) DO UPDATE SET version = excluded.version, body = excluded.body, "
            "published_at = excluded.published_at",
            [version, json.dumps(data, ensure_ascii=False), iso_utc(now)],
        )

    def divisions_body(self) -> tuple[int, bytes]:
        """(version, JSON bytes) of the division tree."""
        row = self._one("SELECT version, body FROM documents WHERE kind = 'divisions'")
        if row is None:
            raise StoreError(
                zh="县平台没有行政区划表；请运行“hub init”",
                en="the hub has no division tree; run 'hub init'",
                code="store.not_initialised",
            )
        return row[0], row[1].encode()

    def divisions(self) -> DivisionTree:
        """The county's division tree (villages are checked against it)."""
        row = self._one("SELECT version FROM documents WHERE kind = 'divisions'")
        version = row[0] if row else None
        return self._cached("divisions", version, lambda: load_divisions(json.loads(self.divisions_body()[1])))


def open_pool(data_dir: Path | str) -> str | None:
    """At ``hub serve``'s startup: this process's connection pool for the folder's PostgreSQL store, which
    every :meth:`HubStore.open` then borrows from. Returns the URL to give :func:`close_pool` (None for the
    SQLite file: each request opens it, which costs nothing)."""
    url = database_url(data_dir)
    if url:
        from hub.store import pg

        pg.open_pool(url)
    return url


def close_pool(url: str | None) -> None:
    """At shutdown: close the pool :func:`open_pool` opened (nothing for SQLite)."""
    if url:
        from hub.store import pg

        pg.close_pool(url)


def _implements(store: HubStore) -> HubStoreProtocol:
    return store  # mypy checks here that HubStore matches the protocol method for method
