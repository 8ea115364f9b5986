"""HubStore's part for people: users, browser sessions, API tokens, failed logins and the audit log."""

from __future__ import annotations

from typing import Any

import msgspec

from hub.store.base import StoreBase

__all__ = ("AccountStoreMixin", "SessionRow", "TokenRow", "UserRow")


class UserRow(msgspec.Struct, frozen=True, kw_only=True):
    """An account (``users``): an administrator, a department's or a township's staff member."""

    user_id: int
    name: str
    role: str
    department: str | None
    password_hash: str
    created_at: str
    disabled_at: str | None = None
    township: str | None = None
    """A township clerk's township (12-digit code ending 000)."""
    head: int = 0
    """1: the department's or township's head (负责人): overdue cases reach this account too."""
    email: str | None = None
    """Where the daily alert digest goes (SMTP backend); None: the file backend only."""


class SessionRow(msgspec.Struct, frozen=True, kw_only=True):
    """A browser session (``sessions``), found by the SHA-256 of its cookie."""

    token_hash: str
    user_id: int
    csrf: str
    created_at: str
    last_seen: str
    ip: str | None = None


class TokenRow(msgspec.Struct, frozen=True, kw_only=True):
    """An API bearer token (``api_tokens``); the token itself is never stored."""

    token_id: str
    user_id: int
    token_hash: str
    created_at: str
    expires_at: str | None = None
    revoked_at: str | None = None
    last_used_at: str | None = None
    user_name: str = ""


def _one(cls: type[Any], cursor: Any) -> Any:
    row = cursor.fetchone()
    return None if row is None else cls(**dict(zip([d[0] for d in cursor.description], row)))


def _all(cls: type[Any], cursor: Any) -> list[Any]:
    columns = [d[0] for d in cursor.description]
    return [cls(**dict(zip(columns, row))) for row in cursor.fetchall()]


class AccountStoreMixin(StoreBase):
    """Users, sessions, tokens, login throttling and the audit log. Mixed into :class:`hub.store.HubStore`."""

    # -- users -----------------------------------------------------------------------------------

    def add_user(self, *, name: str, role: str, department: str | None, password_hash: str, at: str) -> int:
        """Create an account; returns its id (RowError when the name is taken, in any case)."""
        with self.savepoint("add_user"):  # a name taken already (in any case) is RowError
            row = self.db.execute(
                "INSERT INTO users (name, role, department, password_hash, created_at) VALUES (?, ?, ?, ?, ?) "
                "RETURNING user_id",
                [name, role, department, password_hash, at],
            ).fetchone()
        return int(row[0])

    def user(self, user_id: int) -> UserRow | None:
        """The account with this id, or None."""
        return _one(UserRow, self.db.execute("SELECT * FROM users WHERE user_id = ?", [user_id]))

    def user_named(self, name: str) -> UserRow | None:
        """The account with this name (case-insensitive), or None."""
        return _one(UserRow, self.db.execute("SELECT * FROM users WHERE lower(name) = lower(?)", [name]))

    def users(self) -> list[UserRow]:
        """Every account, by name."""
        return _all(UserRow, self.db.execute("SELECT * FROM users ORDER BY lower(name)"))

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace an account's password hash (a new password, or a rehash with stronger parameters)."""
        self.db.execute("UPDATE users SET password_hash = ? WHERE user_id = ?", [password_hash, user_id])

    def disable_user(self, user_id: int, at: str) -> None:
        """Disable an account and end its sessions and tokens at once."""
        self.db.execute("UPDATE users SET disabled_at = ? WHERE user_id = ?", [at, user_id])
        self.drop_user_sessions(user_id)
        self.db.execute("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", [at, user_id])

    # -- sessions --------------------------------------------------------------------------------

    def add_session(self, row: SessionRow) -> None:
        """Record a new browser session."""
        self.db.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf, created_at, last_seen, ip) VALUES (?, ?, ?, ?, ?, ?)",
            [row.token_hash, row.user_id, row.csrf, row.created_at, row.last_seen, row.ip],
        )

    def session(self, token_hash: str) -> SessionRow | None:
        """The session with this cookie hash, or None."""
        return _one(SessionRow, self.db.execute("SELECT * FROM sessions WHERE token_hash = ?", [token_hash]))

    def touch_session(self, token_hash: str, at: str) -> None:
        """Note that the session was used (its idle time restarts)."""
        self.db.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", [at, token_hash])

    def drop_session(self, token_hash: str) -> None:
        """End a session (logout, expiry)."""
        self.db.execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash])

    def drop_user_sessions(self, user_id: int) -> None:
        """End every session of an account (a new password, a disabled account)."""
        self.db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id])

    def drop_sessions_before(self, last_seen_before: str, created_before: str) -> None:
        """Forget sessions idle or old past their limits, so the table does not grow without end."""
        self.db.execute(
            "DELETE FROM sessions WHERE last_seen < ? OR created_at < ?", [last_seen_before, created_before]
        )

    # -- API tokens ------------------------------------------------------------------------------

    def add_token(self, row: TokenRow) -> None:
        """Record a new API token (its hash only)."""
        self.db.execute(
            "INSERT INTO api_tokens (token_id, user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            [row.token_id, row.user_id, row.token_hash, row.created_at, row.expires_at],
        )

    def token(self, token_id: str) -> TokenRow | None:
        """The token with this id, or None."""
        return _one(
            TokenRow,
            self.db.execute(
                "SELECT t.*, u.name AS user_name FROM api_tokens t JOIN users u USING (user_id) WHERE t.token_id = ?",
                [token_id],
            ),
        )

    def tokens(self, user_id: int | None = None) -> list[TokenRow]:
        """Tokens (of one user, or all), newest first."""
        sql = "SELECT t.*, u.name AS user_name FROM api_tokens t JOIN users u USING (user_id)"
        params: list[Any] = []
        if user_id is not None:
            sql += " WHERE t.user_id = ?"
            params.append(user_id)
        return _all(TokenRow, self.db.execute(sql + " ORDER BY t.created_at DESC, t.token_id", params))

    def revoke_token(self, token_id: str, at: str) -> bool:
        """Revoke a token; False when there is no such token or it was revoked already."""
        cursor = self.db.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL", [at, token_id]
        )
        return cursor.rowcount == 1

    def token_used(self, token_id: str, at: str) -> None:
        """Note when a token was last used (shown by 'hub token list')."""
        self.db.execute("UPDATE api_tokens SET last_used_at = ? WHERE token_id = ?", [at, token_id])

    # -- failed logins ---------------------------------------------------------------------------

    def login_failures(self, name: str, ip: str) -> tuple[int, str | None]:
        """(failures, locked_until) for an account name and client address; read and then written
        inside one write transaction by the login (hub.accounts.reserve_login), so none is lost."""
        row = self._one(
            "SELECT failures, locked_until FROM login_failures WHERE name = ? AND ip = ?", [name.lower(), ip]
        )
        return (int(row[0]), row[1]) if row else (0, None)

    def record_login_failure(self, name: str, ip: str, *, failures: int, at: str, locked_until: str | None) -> None:
        """Store the failure count and back-off of an account name and address."""
        self.db.execute(
            "INSERT INTO login_failures (name, ip, failures, last_at, locked_until) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (name, ip) DO UPDATE SET failures = excluded.failures, last_at = excluded.last_at, "
            "locked_until = excluded.locked_until",
            [name.lower(), ip, failures, at, locked_until],
        )

    def login_failures_row(self, name: str, ip: str) -> tuple[int, str | None, str | None]:
        """(failures, last checked attempt, locked_until) for an account name and client address."""
        row = self._one(
            "SELECT failures, last_at, locked_until FROM login_failures WHERE name = ? AND ip = ?", [name.lower(), ip]
        )
        return (int(row[0]), row[1], row[2]) if row else (0, None, None)

    def count_refused_login(self, name: str, ip: str) -> None:
        """Count an attempt refused while locked; ``last_at`` stays the last attempt that was checked."""
        self.db.execute(
            "UPDATE login_failures SET failures = failures + 1 WHERE name = ? AND ip = ?", [name.lower(), ip]
        )

    def prune_login_failures(self, quiet_since: str, now: str) -> int:
        """Forget (name, address) rows with no attempt since ``quiet_since`` and no lock running; how many."""
        cursor = self.db.execute(
            "DELETE FROM login_failures WHERE last_at < ? AND (locked_until IS NULL OR locked_until <= ?)",
            [quiet_since, now],
        )
        return int(cursor.rowcount)

    def clear_login_failures(self, name: str, ip: str) -> None:
        """A successful login forgets the failures of that name and address."""
        self.db.execute("DELETE FROM login_failures WHERE name = ? AND ip = ?", [name.lower(), ip])

    # -- audit log -------------------------------------------------------------------------------

    def add_audit(self, *, at: str, user: UserRow, action: str, case_no: str, fields: str, ip: str | None) -> None:
        """Record that a user saw personal data of a case in full (which fields, never their values)."""
        self.db.execute(
            "INSERT INTO audit_log (at, user_id, user_name, department, action, case_no, fields, ip) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [at, user.user_id, user.name, user.department, action, case_no, fields, ip],
        )

    def audit_entries(
        self, *, limit: int = 200, offset: int = 0, user_name: str | None = None, case_no: str | None = None
    ) -> list[dict[str, Any]]:
        """Audit entries, newest first, optionally of one user or one case."""
        sql, params = "SELECT at, user_name, department, action, case_no, fields, ip FROM audit_log WHERE 1 = 1", []
        if user_name:
            sql += " AND user_name = ?"
            params.append(user_name)
        if case_no:
            sql += " AND case_no = ?"
            params.append(case_no)
        return self._dicts(sql + " ORDER BY id DESC LIMIT ? OFFSET ?", [*params, limit, offset])
