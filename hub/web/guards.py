"""Who may call what: session cookies for pages, bearer tokens for the API and CLI, role guards, CSRF."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import anyio
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect

from hub.accounts import Principal, session_principal, token_principal
from hub.store import HubStore
from hub.web.errors import error_response
from hub.web.security_headers import client_address

__all__ = (
    "CSRF_FIELD",
    "LANG_COOKIE",
    "SESSION_COOKIE",
    "AuthError",
    "auth_error_handler",
    "client_ip",
    "current_principal",
    "principal_of",
    "requires",
    "wants_json",
)

SESSION_COOKIE = "hub_session"
LANG_COOKIE = "hub_lang"
CSRF_FIELD = "csrf"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


class AuthError(Exception):
    """Not logged in (401), the wrong role (403) or a form without its CSRF token (403)."""

    def __init__(self, status: int, code: str, *, zh: str, en: str) -> None:
        super().__init__(en)
        self.status, self.code, self.en, self.zh = status, code, en, zh


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The client's address: the peer's, or the one a trusted proxy forwarded (hub.web.security_headers.client_address)."""
    return client_address(connection)


def wants_json(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """API and metrics answer errors as JSON; pages answer with a redirect to the login or an HTML page."""
    path = connection.scope["path"]
    return path.startswith("/api/") or path == "/metrics" or "authorization" in connection.headers


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def current_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """Who is asking (a bearer token, else the session cookie), or None; the guards call it, and so may pages."""
    state = connection.app.state
    settings, now = state["settings"], state["now"]()
    token = _bearer(connection)
    cookie = None if token or "authorization" in connection.headers else connection.cookies.get(SESSION_COOKIE)
    if not token and not cookie:
        return None

    def look_up() -> Principal | None:
        # Off the event loop: SQLite and, for sessions, at most one small write per minute.
        with HubStore.open(settings.data_dir, migrate=False) as store:
            if token:
                return token_principal(store, token, now=now)
            return session_principal(store, cookie or "", now=now, settings=settings)

    return await anyio.to_thread.run_sync(look_up)


async def _check_csrf(connection: ASGIConnection[Any, Any, Any, Any], principal: Principal) -> None:
    # Only cookie-authenticated writes can be forged by another site; a bearer token is never sent by a browser.
    # ASGIConnection has no .method (a WebSocket has none); every connection guarded here is HTTP.
    if connection.scope.get("method") in _SAFE or principal.via != "session":
        return
    sent = connection.headers.get("x-csrf-token")
    if sent is None and isinstance(connection, Request):
        media = connection.headers.get("content-type", "")
        if media.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = (await connection.form()).get(CSRF_FIELD)
    if not sent or not principal.csrf or not hmac.compare_digest(str(sent), principal.csrf):
        raise AuthError(
            403,
            "csrf",
            zh="表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试",
            en="the form is stale or forged (CSRF token missing or wrong); reload the page",
        )


def requires(*roles: str) -> Guard:
    """A guard: the caller is logged in (cookie or bearer token) and has one of ``roles`` (any when none).

    The principal is left in ``connection.state["principal"]`` for the handler.
    """

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        """Authenticate, check the role, then the CSRF token of a session's form post."""
        if getattr(handler, "http_methods", None) == {"OPTIONS"}:
            # Litestar's own OPTIONS answer (204 and the Allow header, no data): a router's guards reach it,
            # a handler's never did; no handler here answers OPTIONS itself.
            return
        principal = await current_principal(connection)
        if principal is None:
            raise AuthError(
                401, "unauthenticated", zh="请先登录，或提供有效的令牌", en="log in, or send a valid bearer token"
            )
        # Known before the role is checked, so that the 403 page shows who is logged in (and the way out).
        connection.state["principal"] = principal
        if roles and principal.role not in roles:
            raise AuthError(
                403,
                "forbidden",
                zh=f"无权访问：需要{'或'.join({'admin': '管理员', 'department': '部门', 'township': '乡镇'}[r] for r in roles)}账号",
                en=f"this needs the role {' or '.join(roles)}",
            )
        await _check_csrf(connection, principal)

    guard.__name__ = f"requires_{'_'.join(roles) or 'user'}"
    return guard


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    """The principal a guard put on the request."""
    return request.state["principal"]


def auth_error_handler(request: Request[Any, Any, Any], exc: AuthError) -> Response[Any]:
    """JSON for the API; for pages, a redirect to the login form (401) or a short HTML page (403)."""
    if wants_json(request):
        return error_response(exc.status, exc.code, zh=exc.zh, en=exc.en)
    if exc.status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/login?next={quote(target, safe='/')}", status_code=303)
    # The page template (autoescaped; the language cookie read through hub.web.page_lang, "zh" or "en" only).
    from hub.web.pages import error_page  # hub.web.pages imports this module

    return error_page(request, exc.status, exc.zh, exc.en)
