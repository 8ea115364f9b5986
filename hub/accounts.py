"""Accounts: Argon2 passwords, browser sessions, API tokens and the login back-off (no sleeping)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import math
import secrets
import sqlite3

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.departments import find_department
from hub.settings import Settings
from hub.store import HubStore, SessionRow, TokenRow, UserRow
from sync.errors import InputError, NotFoundError
from sync.timeutil import iso_utc, parse_iso

__all__ = (
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "IssuedToken",
    "LoginFailed",
    "LoginThrottled",
    "Principal",
    "add_user",
    "create_token",
    "disable_user",
    "hasher_for",
    "login",
    "logout",
    "revoke_token",
    "session_principal",
    "set_password",
    "token_principal",
)

ROLES = ("admin", "department")
MIN_PASSWORD_LENGTH = 10
_TOUCH_EVERY = dt.timedelta(minutes=1)
"""A session's last use is written at most this often: a dashboard refresh is not a database write."""


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is asking, and how they proved it (a session cookie or a bearer token)."""

    user_id: int
    name: str
    role: str
    department: str | None
    via: str
    """``session`` or ``token``: only sessions need a CSRF token on form posts."""
    csrf: str | None = None


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    """A new API token: shown once, stored only as its hash."""

    token: str
    token_id: str
    user: str
    expires_at: str | None


class LoginFailed(Exception):
    """Wrong name or password (which of the two is never said)."""


class LoginThrottled(Exception):
    """Too many wrong passwords from this address for this account: try again after ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


@functools.lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


def hasher_for(settings: Settings) -> PasswordHasher:
    """The Argon2id hasher for new hashes, with the settings' cost."""
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib)


@functools.lru_cache(maxsize=8)
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Checked against when the name is unknown, so an unknown name costs the same time as a wrong password.
    return hasher.hash(secrets.token_urlsafe(16))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 64 or any(ch.isspace() or not ch.isprintable() for ch in name):
        raise InputError("a user name is 1-64 printable characters without spaces",
                         "用户名应为 1 至 64 个可打印字符，不含空格", field="name")
    return name


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"a password has at least {MIN_PASSWORD_LENGTH} characters",
                         f"密码至少 {MIN_PASSWORD_LENGTH} 个字符", field="password")


def _user(store: HubStore, name: str) -> UserRow:
    user = store.user_named(name.strip())
    if user is None:
        raise NotFoundError(f"no user {name!r}; list them with 'hub user list'",
                            f"没有用户 {name!r}；可用“hub user list”查看", field="name")
    return user


def add_user(store: HubStore, name: str, role: str, password: str, *, department: str | None = None,
             hasher: PasswordHasher, now: dt.datetime) -> UserRow:
    """Create an account: ``admin`` (watches sync, sees no personal data) or ``department`` (with its key).

    Raises:
        InputError: bad name, short password, unknown role or department, a department for an admin,
            or the name is taken.
    """
    name = _check_name(name)
    if role not in ROLES:
        raise InputError(f"role must be admin or department, not {role!r}", f"角色应为 admin 或 department，而不是 {role!r}",
                         field="role")
    if role == "department":
        if not department:
            raise InputError("a department account needs --department KEY (see 'hub department list')",
                             "部门账号须指定 --department（见“hub department list”）", field="department")
        department = find_department(store.catalog(), department).key
    elif department:
        raise InputError("an admin account belongs to no department", "管理员账号不属于任何部门", field="department")
    _check_password(password)
    digest = hasher.hash(password)
    try:
        with store.transaction():
            user_id = store.add_user(name=name, role=role, department=department, password_hash=digest,
                                     at=iso_utc(now))
    except sqlite3.IntegrityError:
        raise InputError(f"user {name!r} exists already", f"用户 {name!r} 已存在", field="name") from None
    user = store.user(user_id)
    assert user is not None
    return user


def set_password(store: HubStore, name: str, password: str, *, hasher: PasswordHasher) -> UserRow:
    """Give an account a new password; its sessions end (a stolen cookie dies with the old password)."""
    user = _user(store, name)
    _check_password(password)
    digest = hasher.hash(password)
    with store.transaction():
        store.set_password_hash(user.user_id, digest)
        store.drop_user_sessions(user.user_id)
    return user


def disable_user(store: HubStore, name: str, *, now: dt.datetime) -> UserRow:
    """Disable an account: its sessions end and its tokens are revoked at once."""
    user = _user(store, name)
    with store.transaction():
        store.disable_user(user.user_id, iso_utc(now))
    return user


def _principal(user: UserRow, via: str, csrf: str | None = None) -> Principal:
    return Principal(user_id=user.user_id, name=user.name, role=user.role, department=user.department, via=via,
                     csrf=csrf)


# -- API tokens ------------------------------------------------------------------------------------


def create_token(store: HubStore, user_name: str, *, expires_days: float | None, now: dt.datetime) -> IssuedToken:
    """Issue a bearer token for an account (``expires_days`` None or 0: it never expires)."""
    user = _user(store, user_name)
    if user.disabled_at:
        raise InputError(f"user {user.name!r} is disabled", f"用户 {user.name!r} 已停用", field="user")
    if expires_days is not None and expires_days < 0:
        raise InputError("--expires-days must be 0 or more", "--expires-days 不能为负数", field="expires_days")
    token_id = secrets.token_hex(5)
    token = f"{token_id}.{secrets.token_urlsafe(32)}"
    expires = iso_utc(now + dt.timedelta(days=expires_days)) if expires_days else None
    with store.transaction():
        store.add_token(TokenRow(token_id=token_id, user_id=user.user_id, token_hash=_sha256(token),
                                 created_at=iso_utc(now), expires_at=expires))
    return IssuedToken(token=token, token_id=token_id, user=user.name, expires_at=expires)


def revoke_token(store: HubStore, token_or_id: str, *, now: dt.datetime) -> TokenRow:
    """Revoke a token, named by its id (the part before the dot) or given whole."""
    token_id = token_or_id.strip().partition(".")[0]
    row = store.token(token_id)
    if row is None or row.revoked_at is not None:
        raise NotFoundError(f"no active token {token_id!r}; list them with 'hub token list'",
                            f"没有有效的令牌 {token_id!r}；可用“hub token list”查看", field="token")
    with store.transaction():
        store.revoke_token(token_id, iso_utc(now))
    return row


def token_principal(store: HubStore, token: str, *, now: dt.datetime) -> Principal | None:
    """Who a bearer token belongs to; None if unknown, wrong, revoked, expired, or the account is disabled."""
    token_id, dot, _ = token.strip().partition(".")
    row = store.token(token_id) if dot else None
    if row is None or not hmac.compare_digest(row.token_hash, _sha256(token.strip())):
        return None
    if row.revoked_at is not None or (row.expires_at is not None and parse_iso(row.expires_at) <= now):
        return None
    user = store.user(row.user_id)
    if user is None or user.disabled_at:
        return None
    if row.last_used_at is None or parse_iso(row.last_used_at) < now - _TOUCH_EVERY:
        with store.transaction():
            store.token_used(token_id, iso_utc(now))
    return _principal(user, "token")


# -- sessions and login ------------------------------------------------------------------------------


def _backoff(failures: int, settings: Settings) -> int:
    """Seconds locked after ``failures`` wrong passwords in a row: 1, 2, 4 … after the free ones, capped."""
    if failures < settings.login_free_attempts:
        return 0
    return min(2 ** (failures - settings.login_free_attempts), settings.login_max_delay_s)


def login(store: HubStore, name: str, password: str, *, ip: str, now: dt.datetime, settings: Settings,
          hasher: PasswordHasher) -> tuple[str, Principal]:
    """Check a password and open a session; returns (cookie value, principal).

    While an account and address are backed off, the attempt is refused before the password is
    looked at, so guessing gains nothing; the refusal is immediate, no worker sleeps.

    Raises:
        LoginThrottled: backed off; with the seconds to wait.
        LoginFailed: wrong name or password, or a disabled account.
    """
    key = name.strip()[:64]
    failures, locked_until = store.login_failures(key, ip)
    if locked_until is not None and parse_iso(locked_until) > now:
        raise LoginThrottled(max(1, math.ceil((parse_iso(locked_until) - now).total_seconds())))
    user = store.user_named(key) if key else None
    stored = user.password_hash if user is not None and not user.disabled_at else _dummy_hash(hasher)
    try:
        hasher.verify(stored, password)
        ok = user is not None and not user.disabled_at
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        failures += 1
        delay = _backoff(failures, settings)
        with store.transaction():
            store.record_login_failure(key, ip, failures=failures, at=iso_utc(now),
                                       locked_until=iso_utc(now + dt.timedelta(seconds=delay)) if delay else None)
        raise LoginFailed()
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    at = iso_utc(now)
    with store.transaction():
        store.clear_login_failures(key, ip)
        if hasher.check_needs_rehash(user.password_hash):
            store.set_password_hash(user.user_id, hasher.hash(password))
        store.drop_sessions_before(iso_utc(now - dt.timedelta(hours=settings.session_idle_hours)),
                                   iso_utc(now - dt.timedelta(hours=settings.session_max_hours)))
        store.add_session(SessionRow(token_hash=_sha256(cookie), user_id=user.user_id, csrf=csrf, created_at=at,
                                     last_seen=at, ip=ip))
    return cookie, _principal(user, "session", csrf)


def session_principal(store: HubStore, cookie: str, *, now: dt.datetime, settings: Settings) -> Principal | None:
    """Who a session cookie belongs to; None (and the session forgotten) when idle or old past its limits."""
    token_hash = _sha256(cookie)
    row = store.session(token_hash)
    if row is None:
        return None
    last_seen, created = parse_iso(row.last_seen), parse_iso(row.created_at)
    user = store.user(row.user_id)
    if (now - last_seen > dt.timedelta(hours=settings.session_idle_hours)
            or now - created > dt.timedelta(hours=settings.session_max_hours)
            or user is None or user.disabled_at):
        with store.transaction():
            store.drop_session(token_hash)
        return None
    if now - last_seen > _TOUCH_EVERY:
        with store.transaction():
            store.touch_session(token_hash, iso_utc(now))
    return _principal(user, "session", row.csrf)


def logout(store: HubStore, cookie: str) -> None:
    """End the session of this cookie (nothing happens for an unknown one)."""
    with store.transaction():
        store.drop_session(_sha256(cookie))
