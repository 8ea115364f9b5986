"""Accounts: Argon2 passwords, browser sessions, API tokens, and logins counted and throttled before any hash.

Over 500 lines on purpose: the login path (gate, throttles, back-off, check, finish) reads best in one
place, in the order a login meets it (docs/security.md, "Accounts and enrolment codes").
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import math
import secrets
from typing import Any

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.departments import find_department
from hub.scope import check_scope
from hub.settings import Settings
from hub.store import HubStore, HubStoreProtocol, RowError, SessionRow, TokenRow, UserRow
from hub.throttle import KeyedLimiter, WorkGate, address_key, shared
from sync.errors import InputError, NotFoundError
from sync.timeutil import iso_utc, parse_iso

__all__ = (
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "IssuedToken",
    "LoginAttempt",
    "LoginFailed",
    "LoginGuard",
    "LoginThrottled",
    "Principal",
    "add_user",
    "check_password",
    "create_token",
    "disable_user",
    "finish_login",
    "hasher_for",
    "login",
    "login_guard",
    "logout",
    "reserve_login",
    "revoke_token",
    "session_principal",
    "set_password",
    "token_principal",
)

ROLES = ("admin", "department", "township")
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
    township: str | None = None
    """A township clerk's township (12-digit code): the desk shows only its villages' cases."""
    head: bool = False
    """The department's or township's head: overdue cases are listed for it too (hub.escalation)."""


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    """A new API token: shown once, stored only as its hash."""

    token: str
    token_id: str
    user: str
    expires_at: str | None


class LoginFailed(Exception):
    """Wrong name or password (which of the two is never said)."""


_THROTTLED = {
    "backoff": ("Too many wrong passwords. Try again in {n} s.", "密码错误次数过多，请 {n} 秒后再试。"),
    "busy": ("Too many logins at once. Try again in {n} s.", "同时登录的人太多，请 {n} 秒后再试。"),
    "address": (
        "Too many login attempts from this address. Try again in {n} s.",
        "来自此地址的登录尝试过多，请 {n} 秒后再试。",
    ),
    "name": (
        "Too many login attempts for this user name. Try again in {n} s.",
        "该用户名的登录尝试过多，请 {n} 秒后再试。",
    ),
}


class LoginThrottled(Exception):
    """Refused before the password is looked at: try again after ``retry_after`` s.

    ``reason``: ``backoff`` (wrong passwords from this address for this name), ``busy`` (too many
    logins at once), ``address`` or ``name`` (too many attempts from the address, or for the name).
    """

    def __init__(self, retry_after: int, *, reason: str = "backoff") -> None:
        super().__init__(f"retry after {retry_after} s ({reason})")
        self.retry_after = max(1, int(retry_after))
        self.reason = reason

    def message(self, lang: str) -> str:
        """What the login page says, in ``lang`` (``zh`` or ``en``)."""
        en, zh = _THROTTLED[self.reason]
        return (en if lang == "en" else zh).format(n=self.retry_after)


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
        raise InputError(
            zh="用户名应为 1 至 64 个可打印字符，不含空格",
            en="a user name is 1-64 printable characters without spaces",
            field="name",
        )
    return name


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(
            zh=f"密码至少 {MIN_PASSWORD_LENGTH} 个字符",
            en=f"a password has at least {MIN_PASSWORD_LENGTH} characters",
            field="password",
        )


def _user(store: HubStoreProtocol, name: str) -> UserRow:
    user = store.user_named(name.strip())
    if user is None:
        raise NotFoundError(
            zh=f"没有用户 {name!r}；可用“hub user list”查看",
            en=f"no user {name!r}; list them with 'hub user list'",
            field="name",
        )
    return user


def add_user(
    store: HubStoreProtocol,
    name: str,
    role: str,
    password: str,
    *,
    department: str | None = None,
    township: str | None = None,
    head: bool = False,
    email: str | None = None,
    hasher: PasswordHasher,
    now: dt.datetime,
) -> UserRow:
    """Create an account: ``admin`` (watches sync, sees no personal data), ``department`` (with its key)
    or ``township`` (with its township's code); ``head`` marks a department's or township's head.

    Raises:
        InputError: bad name, short password, unknown role, department or township, a department or
            township for the wrong role, a bad e-mail address, or the name is taken.
    """
    name = _check_name(name)
    if role not in ROLES:
        raise InputError(
            zh=f"角色应为 admin、department 或 township，而不是 {role!r}",
            en=f"role must be admin, department or township, not {role!r}",
            field="role",
        )
    township, email = check_scope(store, role, township=township, head=head, email=email)
    if role == "township":
        if department:
            raise InputError(
                zh="乡镇账号不属于县直部门（去掉 --department）",
                en="a township account belongs to no county department (drop --department)",
                field="department",
            )
    elif role == "department":
        if not department:
            raise InputError(
                zh="部门账号须指定 --department（见“hub department list”）",
                en="a department account needs --department KEY (see 'hub department list')",
                field="department",
            )
        department = find_department(store.catalog(), department).key
    elif department:
        raise InputError(
            zh="管理员账号不属于任何部门", en="an admin account belongs to no department", field="department"
        )
    _check_password(password)
    digest = hasher.hash(password)
    try:
        with store.transaction():
            user_id = store.add_user(name=name, role=role, department=department, password_hash=digest, at=iso_utc(now))
            if township or head or email:
                store.set_user_scope(user_id, township=township, head=head, email=email)
    except RowError:
        raise InputError(zh=f"用户 {name!r} 已存在", en=f"user {name!r} exists already", field="name") from None
    user = store.user(user_id)
    assert user is not None
    return user


def set_password(store: HubStoreProtocol, name: str, password: str, *, hasher: PasswordHasher) -> UserRow:
    """Give an account a new password; its sessions end (a stolen cookie dies with the old password)."""
    user = _user(store, name)
    _check_password(password)
    digest = hasher.hash(password)
    with store.transaction():
        store.set_password_hash(user.user_id, digest)
        store.drop_user_sessions(user.user_id)
    return user


def disable_user(store: HubStoreProtocol, name: str, *, now: dt.datetime) -> UserRow:
    """Disable an account: its sessions end and its tokens are revoked at once."""
    user = _user(store, name)
    with store.transaction():
        store.disable_user(user.user_id, iso_utc(now))
    return user


def _principal(user: UserRow, via: str, csrf: str | None = None) -> Principal:
    return Principal(
        user_id=user.user_id,
        name=user.name,
        role=user.role,
        department=user.department,
        via=via,
        csrf=csrf,
        township=user.township,
        head=bool(user.head),
    )


# -- API tokens ------------------------------------------------------------------------------------


def create_token(
    store: HubStoreProtocol, user_name: str, *, expires_days: float | None, now: dt.datetime
) -> IssuedToken:
    """Issue a bearer token for an account (``expires_days`` None or 0: it never expires)."""
    user = _user(store, user_name)
    if user.disabled_at:
        raise InputError(zh=f"用户 {user.name!r} 已停用", en=f"user {user.name!r} is disabled", field="user")
    if expires_days is not None and expires_days < 0:
        raise InputError(zh="--expires-days 不能为负数", en="--expires-days must be 0 or more", field="expires_days")
    token_id = secrets.token_hex(5)
    token = f"{token_id}.{secrets.token_urlsafe(32)}"
    expires = iso_utc(now + dt.timedelta(days=expires_days)) if expires_days else None
    with store.transaction():
        store.add_token(
            TokenRow(
                token_id=token_id,
                user_id=user.user_id,
                token_hash=_sha256(token),
                created_at=iso_utc(now),
                expires_at=expires,
            )
        )
    return IssuedToken(token=token, token_id=token_id, user=user.name, expires_at=expires)


def revoke_token(store: HubStoreProtocol, token_or_id: str, *, now: dt.datetime) -> TokenRow:
    """Revoke a token, named by its id (the part before the dot) or given whole."""
    token_id = token_or_id.strip().partition(".")[0]
    row = store.token(token_id)
    if row is None or row.revoked_at is not None:
        raise NotFoundError(
            zh=f"没有有效的令牌 {token_id!r}；可用“hub token list”查看",
            en=f"no active token {token_id!r}; list them with 'hub token list'",
            field="token",
        )
    with store.transaction():
        store.revoke_token(token_id, iso_utc(now))
    return row


def token_principal(store: HubStoreProtocol, token: str, *, now: dt.datetime) -> Principal | None:
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


class LoginAttempt(msgspec.Struct, frozen=True, kw_only=True):
    """An attempt reserved (counted as a failure until the password proves right), not yet checked."""

    key: str
    ip: str
    user: UserRow | None
    stored_hash: str | None
    """The account's hash; None for an unknown or disabled name, checked against a dummy hash instead
    (the same cost, so the time taken does not tell which names exist)."""


def _backoff(failures: int, last_lock_s: float, settings: Settings) -> int:
    """Seconds to lock after the ``failures``-th attempt is checked: none while attempts are free,
    then 1 s, then twice the last lock (``last_lock_s``) each time, capped."""
    if failures < settings.login_free_attempts:
        return 0
    return min(max(1, 2 * math.ceil(last_lock_s)), settings.login_max_delay_s)


_PRUNE_EVERY = dt.timedelta(minutes=10)
_KEEP_FAILURES = dt.timedelta(days=1)
_pruned: dict[str, dt.datetime] = {}


def reserve_login(store: HubStore, name: str, *, ip: str, now: dt.datetime, settings: Settings) -> LoginAttempt:
    """Count an attempt for (name, address) and set the back-off it would earn, in one write
    transaction, before any password is looked at.

    Reading the count before the hash and writing it after let 30 parallel guesses all be checked
    while the count rose by 4; here the count is taken under the write lock, so each attempt sees
    every earlier one, and the lock it would earn holds off the next ones while its hash runs. An
    attempt refused while locked is counted too, without lengthening the lock (a person who tries
    again a little early is not punished twice). Unknown names are counted and checked the same way.

    Raises:
        LoginThrottled: locked; nothing will be hashed.
    """
    key = name.strip()[:64]
    at = iso_utc(now)
    with store.transaction():
        failures, last_at, locked_until = store.login_failures_row(key, ip)
        locked = locked_until is not None and parse_iso(locked_until) > now
        if locked:
            store.count_refused_login(key, ip)  # counted; the lock it hit is not lengthened
        else:
            last_lock = (
                (parse_iso(locked_until) - parse_iso(last_at)).total_seconds() if locked_until and last_at else 0
            )
            delay = _backoff(failures + 1, last_lock, settings)
            locked_until = iso_utc(now + dt.timedelta(seconds=delay)) if delay else None
            store.record_login_failure(key, ip, failures=failures + 1, at=at, locked_until=locked_until)
        last = _pruned.get(store.where)
        if last is None or abs(now - last) > _PRUNE_EVERY:
            # Rows of names tried once and never again (a spray of made-up names) do not pile up.
            store.prune_login_failures(iso_utc(now - _KEEP_FAILURES), at)
            _pruned[store.where] = now
        user = None if locked or not key else store.user_named(key)
    if locked:
        assert locked_until is not None
        raise LoginThrottled(max(1, math.ceil((parse_iso(locked_until) - now).total_seconds())))
    usable = user is not None and not user.disabled_at
    return LoginAttempt(
        key=key, ip=ip, user=user if usable else None, stored_hash=user.password_hash if usable and user else None
    )


def check_password(attempt: LoginAttempt, password: str, hasher: PasswordHasher) -> tuple[bool, str | None]:
    """The costly part, with no database: (right, a new hash when the stored one is weaker than the settings')."""
    stored = attempt.stored_hash or _dummy_hash(hasher)
    try:
        hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False, None
    if attempt.user is None or attempt.stored_hash is None:
        return False, None
    return True, hasher.hash(password) if hasher.check_needs_rehash(stored) else None


def finish_login(
    store: HubStoreProtocol,
    attempt: LoginAttempt,
    right: bool,
    rehashed: str | None,
    *,
    now: dt.datetime,
    settings: Settings,
) -> tuple[str, Principal]:
    """Open a session after a right password (its failures forgotten); a wrong one stays counted.

    Raises:
        LoginFailed: wrong name or password, or a disabled account.
    """
    user = attempt.user
    if not right or user is None:
        raise LoginFailed()
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    at = iso_utc(now)
    with store.transaction():
        store.clear_login_failures(attempt.key, attempt.ip)
        if rehashed is not None:
            store.set_password_hash(user.user_id, rehashed)
        store.drop_sessions_before(
            iso_utc(now - dt.timedelta(hours=settings.session_idle_hours)),
            iso_utc(now - dt.timedelta(hours=settings.session_max_hours)),
        )
        store.add_session(
            SessionRow(
                token_hash=_sha256(cookie), user_id=user.user_id, csrf=csrf, created_at=at, last_seen=at, ip=attempt.ip
            )
        )
    return cookie, _principal(user, "session", csrf)


def login(
    store: HubStore, name: str, password: str, *, ip: str, now: dt.datetime, settings: Settings, hasher: PasswordHasher
) -> tuple[str, Principal]:
    """Check a password and open a session, in this thread; returns (cookie value, principal).

    The attempt is counted before the password is looked at (:func:`reserve_login`); while an
    account and address are backed off it is refused at once, no worker sleeps. The web form goes
    through :class:`LoginGuard`, which adds the per-address and per-name throttles and the cap on
    hashes at once.

    Raises:
        LoginThrottled: backed off; with the seconds to wait.
        LoginFailed: wrong name or password, or a disabled account.
    """
    attempt = reserve_login(store, name, ip=ip, now=now, settings=settings)
    right, rehashed = check_password(attempt, password, hasher)
    return finish_login(store, attempt, right, rehashed, now=now, settings=settings)


class LoginGuard:
    """What stands before a password check at the web form, in the order a login meets it:

    1. a place at the gate: at most ``login_hashes_at_once`` checks run and ``login_queue`` wait,
       else 429 at once (``busy``), so a flood costs a counter check, not a thread;
    2. a token from the client address's bucket and from the name's bucket, taken together
       (``address``, ``name``), the same for names that exist and names that do not;
    3. the per-(name, address) count and back-off in the database (:func:`reserve_login`);
    4. the Argon2 check, in the gate's own threads (never the ones station sync runs on).

    One per app (:func:`login_guard`); in process memory, like the single hub process itself.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hasher = hasher_for(settings)
        self.limiter = KeyedLimiter(
            {"address": settings.login_per_address, "name": settings.login_per_name},
            max_keys=settings.throttle_max_keys,
        )
        self.gate = WorkGate(settings.login_hashes_at_once, settings.login_queue)
        # The short database steps of a login run in two threads of their own as well (only admitted
        # logins get there, so nothing queues past the gate's own bound).
        self.db_gate = WorkGate(2, 0)

    async def login(self, name: str, password: str, *, ip: str, now: dt.datetime) -> tuple[str, Principal]:
        """Throttle, reserve, check and open a session (see the class); returns (cookie value, principal).

        Raises:
            LoginThrottled: refused before any hash, with the seconds to wait and why.
            LoginFailed: wrong name or password, or a disabled account.
        """
        settings = self.settings
        if not self.gate.enter():
            raise LoginThrottled(self.gate.wait_hint(), reason="busy")
        try:
            keys = {"address": address_key(ip), "name": name.strip()[:64].lower()}
            wait, rule = self.limiter.take(now.timestamp(), **keys)
            if rule is not None:
                raise LoginThrottled(math.ceil(wait), reason=rule)

            def reserve() -> LoginAttempt:
                with HubStore.open(settings.data_dir, migrate=False) as store:
                    return reserve_login(store, name, ip=ip, now=now, settings=settings)

            attempt = await self.db_gate.run(reserve)
            right, rehashed = await self.gate.run(lambda: check_password(attempt, password, self.hasher))

            def finish() -> tuple[str, Principal]:
                with HubStore.open(settings.data_dir, migrate=False) as store:
                    return finish_login(store, attempt, right, rehashed, now=now, settings=settings)

            result = await self.db_gate.run(finish)
            self.limiter.refund(now.timestamp(), address=keys["address"])  # a busy office behind one address
            return result
        finally:
            self.gate.leave()


def login_guard(state: Any, settings: Settings) -> LoginGuard:
    """The app's one :class:`LoginGuard` (made on first use)."""
    return shared(state, "login_guard", lambda: LoginGuard(settings))


def session_principal(
    store: HubStoreProtocol, cookie: str, *, now: dt.datetime, settings: Settings
) -> Principal | None:
    """Who a session cookie belongs to; None (and the session forgotten) when idle or old past its limits."""
    token_hash = _sha256(cookie)
    row = store.session(token_hash)
    if row is None:
        return None
    last_seen, created = parse_iso(row.last_seen), parse_iso(row.created_at)
    user = store.user(row.user_id)
    if (
        now - last_seen > dt.timedelta(hours=settings.session_idle_hours)
        or now - created > dt.timedelta(hours=settings.session_max_hours)
        or user is None
        or user.disabled_at
    ):
        with store.transaction():
            store.drop_session(token_hash)
        return None
    if now - last_seen > _TOUCH_EVERY:
        with store.transaction():
            store.touch_session(token_hash, iso_utc(now))
    return _principal(user, "session", row.csrf)


def logout(store: HubStoreProtocol, cookie: str) -> None:
    """End the session of this cookie (nothing happens for an unknown one)."""
    with store.transaction():
        store.drop_session(_sha256(cookie))
