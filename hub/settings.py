"""Hub settings: where the data lives, the limits the HTTP endpoints enforce, dashboard thresholds, accounts."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs

from hub.throttle import Rule

__all__ = ("MAX_BODY_BYTES", "Settings", "default_data_dir")

MAX_BODY_BYTES = 8 * 1024 * 1024
"""A request body over this is refused (413 too_large) before it is read in full."""


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``HUB_DATA_DIR`` if set, else the per-user data folder of this OS ("proxyapp-hub")."""
    env = os.environ if environ is None else environ
    if env.get("HUB_DATA_DIR"):
        return Path(env["HUB_DATA_DIR"])
    return Path(platformdirs.user_data_dir("proxyapp-hub", appauthor=False))


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
    throttle_max_keys: int = 10_000
    """Addresses or names each in-process throttle remembers at most (least recently used forgotten first)."""
    debug: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from the environment (what ``hub serve`` passes to the uvicorn factory).

        ``HUB_DATA_DIR``, ``HUB_WARN_DAYS``, ``HUB_DANGER_DAYS``, ``HUB_COOKIE_SECURE`` (1/true),
        ``HUB_METRICS_TOKEN``, ``HUB_TRUSTED_PROXIES`` (comma-separated addresses or networks).
        """
        env = os.environ if environ is None else environ
        return cls(
            data_dir=default_data_dir(env),
            warn_after_days=_float(env, "HUB_WARN_DAYS", 3.0),
            danger_after_days=_float(env, "HUB_DANGER_DAYS", 7.0),
            cookie_secure=env.get("HUB_COOKIE_SECURE", "").strip().lower() in ("1", "true", "yes"),
            metrics_token=env.get("HUB_METRICS_TOKEN") or None,
            trusted_proxies=tuple(p.strip() for p in env.get("HUB_TRUSTED_PROXIES", "").split(",") if p.strip()),
        )
