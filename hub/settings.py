"""Hub settings: where the data lives, the limits the HTTP endpoints enforce, dashboard thresholds, accounts."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs

from hub.store.location import DATABASE_FILE, DATABASE_URL_ENV, database_url, redacted
from hub.throttle import Rule
from sync.errors import InputError

__all__ = (
    "DATABASE_URL_ENV",
    "MAX_BODY_BYTES",
    "DatabaseURL",
    "Settings",
    "check_database_reachable",
    "database_for",
    "database_from_env",
    "default_data_dir",
    "parse_database_url",
    "require_available_store",
)

MAX_BODY_BYTES = 8 * 1024 * 1024
"""A request body over this is refused (413 too_large) before it is read in full."""


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``HUB_DATA_DIR`` if set, else the per-user data folder of this OS ("proxyapp-hub")."""
    env = os.environ if environ is None else environ
    if env.get("HUB_DATA_DIR"):
        return Path(env["HUB_DATA_DIR"])
    return Path(platformdirs.user_data_dir("proxyapp-hub", appauthor=False))


_URL_FORM = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
_SCHEMES = ("postgresql://", "postgres://")


_redacted = redacted


@dataclasses.dataclass(frozen=True)
class DatabaseURL:
    """A PostgreSQL connection URL, checked by :func:`parse_database_url`; ``str()`` hides the password."""

    url: str = dataclasses.field(repr=False)
    """As given, password included: for the driver only (not in the repr)."""
    dbname: str
    host: str
    """The host(s) as written; empty for libpq's default (the local unix socket)."""
    port: str

    @property
    def redacted(self) -> str:
        """The URL with its password replaced by ``***``: what messages and logs show."""
        return _redacted(self.url)

    @property
    def where(self) -> str:
        """Host and port for a message ("local socket" when the URL names no host)."""
        return f"{self.host or 'localhost'}:{self.port or 5432}"

    def __str__(self) -> str:
        return self.redacted


def _bad_url(url: str, option: str, zh: str, en: str) -> InputError:
    return InputError(
        zh=f"{option}：{_redacted(url)} 不是可用的 PostgreSQL 地址（{zh}）。请写成 {_URL_FORM}，"
        f"或不指定它以使用内置的 SQLite 数据库",
        en=f"{option}: {_redacted(url)} is not a usable PostgreSQL URL ({en}). Write it as {_URL_FORM}, "
        "or leave it out for the built-in SQLite store",
        field="database",
        code="database_url",
    )


def parse_database_url(url: str, *, option: str = "--database") -> DatabaseURL:
    """Check a ``postgresql://`` URL without connecting: scheme, database name, ports, libpq's own parse.

    ``option`` names where the URL came from (``--database`` or ``HUB_DATABASE_URL``) in the InputError
    (exit 2) that a bad one raises; the message never shows the password.
    """
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    text = url.strip()
    if not text.lower().startswith(_SCHEMES):
        raise _bad_url(text, option, "须以 postgresql:// 开头", "it must start with postgresql://")
    if any(ch.isspace() for ch in text):
        raise _bad_url(text, option, "含有空白字符", "it contains white space")
    try:
        parts = conninfo_to_dict(text)
    except ProgrammingError:
        # libpq's own reason may quote the password: say what to check instead.
        raise _bad_url(
            text,
            option,
            "无法解析：检查特殊字符是否已百分号编码、查询参数是否有效",
            "libpq cannot parse it: percent-encode special characters, use only valid query parameters",
        ) from None
    dbname = str(parts.get("dbname") or "")
    if not dbname:
        raise _bad_url(text, option, "缺少数据库名", "no database name after the host")
    port = str(parts.get("port") or "")
    for one in filter(None, port.split(",")):
        if not one.isdigit() or not 1 <= int(one) <= 65535:
            raise _bad_url(text, option, f"端口 {one} 无效", f"port {one} is not a number from 1 to 65535")
    return DatabaseURL(url=text, dbname=dbname, host=str(parts.get("host") or ""), port=port)


def check_database_reachable(database: DatabaseURL, *, option: str = "--database", timeout_s: int = 5) -> None:
    """Connect once (no query) and close: InputError (exit 2) when the server cannot be reached or refuses
    the user, password or database, with the server's reason (which never contains the password)."""
    import psycopg

    try:
        psycopg.connect(database.url, connect_timeout=timeout_s).close()
    except psycopg.Error as exc:
        # libpq's first line says what failed ("… port 5432 failed: Connection refused", "… password
        # authentication failed for user …"); the lines after it are hints the message gives itself.
        reason = " ".join((str(exc).strip().splitlines() or [type(exc).__name__])[0].split())
        reason = reason.removeprefix("connection failed: ").replace(database.url, database.redacted)
        raise InputError(
            zh=f"{option}：无法连接 PostgreSQL 服务器 {database.where}（{reason}）。请确认服务器正在运行、地址和端口正确、"
            f"用户名和密码正确，且数据库 {database.dbname} 已创建（createdb {database.dbname}）",
            en=f"{option}: cannot connect to the PostgreSQL server at {database.where} ({reason}). Check that it "
            f"runs, the host and port, the user and password, and that database {database.dbname} exists "
            f"(createdb {database.dbname})",
            field="database",
            code="database_unreachable",
        ) from None


def require_available_store(database: DatabaseURL | None, *, option: str = "--database") -> None:
    """Nothing for the SQLite store (no URL); a PostgreSQL URL is checked by connecting once, so that a
    server that cannot be reached stops the command at once (exit 2, the reason and what to check)."""
    if database is None:
        return
    check_database_reachable(database, option=option)


def database_from_env(env: Mapping[str, str]) -> DatabaseURL | None:
    """``HUB_DATABASE_URL`` checked (InputError naming it when bad); None when unset or empty (SQLite)."""
    value = env.get(DATABASE_URL_ENV, "").strip()
    return parse_database_url(value, option=DATABASE_URL_ENV) if value else None


def database_for(data_dir: Path, env: Mapping[str, str] | None = None) -> tuple[DatabaseURL | None, str]:
    """The hub's store as every command opens it (hub.store.location): ``HUB_DATABASE_URL``, else the URL
    ``hub init --database`` recorded in the folder, else None (SQLite); checked, and where it came from
    (the option name a message gives)."""
    env = os.environ if env is None else env
    if env.get(DATABASE_URL_ENV, "").strip():
        return database_from_env(env), DATABASE_URL_ENV
    recorded = database_url(data_dir, {})
    option = str(Path(data_dir) / DATABASE_FILE)
    return (parse_database_url(recorded, option=option) if recorded else None), option


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name, "").strip()
    return float(value) if value else default


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """What :func:`hub.web.app.create_app` needs; build it with :meth:`from_env` under uvicorn."""

    data_dir: Path
    """The hub data folder made by ``hub init`` (hub.key, hub.db)."""
    max_body_bytes: int = MAX_BODY_BYTES
    max_concurrent_inflations: int = 4
    """gzip bodies inflated at once (enrolment's, each up to 64 KiB); more wait, then get 503 busy."""
    inflate_wait_seconds: float = 10.0
    """How long a gzip body waits for its turn to be inflated before 503 busy."""
    feed_limit_max: int = 200
    """Feed sets in one exchange answer at most (within the bytes the station asks for)."""
    clock_skew_ms: int = 5 * 60 * 1000
    """A station whose clock is off by more than this is flagged to administrators (invariant 8)."""
    warn_after_days: float = 3.0
    """No contact for longer than this colours a station's row as a warning (CommCare's threshold)."""
    danger_after_days: float = 7.0
    """No contact for longer than this colours a station's row as danger."""
    key_max_age_days: float = 365.0
    """A station key older than this (since enrolment or its last ``station rekey``) is flagged on the
    dashboard and in ``hub station list``: time to change it."""
    catalog_behind_days: float = 7.0
    """A station still on an older catalogue this many days after a newer one was published (or after its
    enrolment) is flagged on the dashboard (``catalog_old``): it has not synced, or not applied the feed."""
    refresh_seconds: int = 60
    """The dashboard page reloads itself this often (``<meta http-equiv="refresh">``)."""
    session_idle_hours: float = 8.0
    """A browser session unused this long is over; the user logs in again."""
    session_max_hours: float = 24.0
    """A browser session ends this long after login, however busy."""
    cookie_secure: bool = False
    """Mark every cookie ``Secure`` even over plain HTTP (cookies are marked so anyway over HTTPS)."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks of reverse proxies whose X-Forwarded-For/-Proto are believed; none by default."""
    metrics_token: str | None = None
    """When set, ``GET /metrics`` needs ``Authorization: Bearer <this>``; by default it is open to the LAN."""
    login_free_attempts: int = 3
    """Wrong passwords allowed per account and address before the exponential back-off starts."""
    login_max_delay_s: int = 15 * 60
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    """Argon2id cost of new password hashes (argon2-cffi's defaults; tests lower them)."""
    login_hashes_at_once: int = 1
    """Password checks run at once, in the login's own threads (each takes argon2_memory_kib and up to 4 cores)."""
    login_queue: int = 8
    """Logins that may wait for a password check; past that a login is answered 429 at once."""
    login_per_address: Rule = Rule(burst=10, per_minute=10)
    """Login attempts per client address (any names): a burst, then a rate; a right password gives its token back."""
    login_per_name: Rule = Rule(burst=10, per_minute=5)
    """Login attempts per account name (known or not), from any address."""
    enrol_per_address: Rule = Rule(burst=10, per_minute=6)
    """Enrolment attempts per client address (429 with Retry-After past it)."""
    query_per_address: Rule = Rule(burst=10, per_minute=6)
    """Residents' progress queries (``/q``) per client address (429 with Retry-After past it)."""
    query_per_case: Rule = Rule(burst=10, per_minute=3)
    """Progress queries about one case number from any address: many addresses guessing one code together."""
    throttle_max_keys: int = 10_000
    """Addresses or names each in-process throttle remembers at most (least recently used forgotten first)."""
    debug: bool = False
    database: DatabaseURL | None = None
    """The PostgreSQL store (``HUB_DATABASE_URL``); None: the SQLite file ``hub.db`` in the data folder."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from the environment (what ``hub serve`` passes to the uvicorn factory).

        ``HUB_DATA_DIR``, ``HUB_WARN_DAYS``, ``HUB_DANGER_DAYS``, ``HUB_KEY_MAX_AGE_DAYS``, ``HUB_COOKIE_SECURE`` (1/true),
        ``HUB_METRICS_TOKEN``, ``HUB_TRUSTED_PROXIES`` (comma-separated addresses or networks), ``HUB_CATALOG_DAYS``,
        ``HUB_DATABASE_URL`` (``postgresql://…``; a bad one raises InputError naming it).
        """
        env = os.environ if environ is None else environ
        return cls(
            data_dir=default_data_dir(env),
            warn_after_days=_float(env, "HUB_WARN_DAYS", 3.0),
            danger_after_days=_float(env, "HUB_DANGER_DAYS", 7.0),
            key_max_age_days=_float(env, "HUB_KEY_MAX_AGE_DAYS", 365.0),
            catalog_behind_days=_float(env, "HUB_CATALOG_DAYS", 7.0),
            cookie_secure=env.get("HUB_COOKIE_SECURE", "").strip().lower() in ("1", "true", "yes"),
            metrics_token=env.get("HUB_METRICS_TOKEN") or None,
            trusted_proxies=tuple(p.strip() for p in env.get("HUB_TRUSTED_PROXIES", "").split(",") if p.strip()),
            database=database_for(default_data_dir(env), env)[0],
        )
