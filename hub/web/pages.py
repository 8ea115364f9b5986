"""The HTML side: templates (Jinja, autoescaped), language and time helpers, login, logout and the home page."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import pass_context
from jinja2.runtime import Context
from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie, State
from litestar.di import NamedDependency
from litestar.params import URLEncodedBody
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from hub.accounts import LoginFailed, LoginThrottled, login_guard, logout
from hub.catalog_report import failure_label
from hub.settings import Settings
from hub.store import HubStore
from hub.views import china_time, clock_offset_text, duration_text, fork_reason
from hub.web.deps import HubSettings, Now
from hub.web.guards import CSRF_FIELD, LANG_COOKIE, SESSION_COOKIE, client_ip, current_principal, requires
from sync.i18n import label
from sync.lifecycle import actor_label, status_label

__all__ = (
    "MAX_PAGE_NO",
    "ROUTER",
    "STATE_LABELS",
    "age_text",
    "error_page",
    "page",
    "page_lang",
    "page_number",
    "template_config",
)

TEMPLATES = Path(__file__).parent / "templates"
LOGIN_COOKIE = "hub_login"
"""Double-submit token of the login form (there is no session yet to hold a CSRF token)."""

STATE_LABELS = {
    "ok": ("正常", "ok"),
    "warning": ("警告", "warning"),
    "danger": ("危险", "danger"),
    "never": ("从未联系", "never contacted"),
    "revoked": ("已吊销", "revoked"),
    "not_enrolled": ("未注册", "not enrolled"),
}
_ATTENTION_LABELS = {
    "stale": ("久未联系", "no recent contact"),
    "never": ("从未联系", "never contacted"),
    "fork": ("分叉", "fork"),
    "clock": ("时钟偏差", "clock"),
    "error": ("上次出错", "last contact failed"),
    "behind": ("本地落后于平台", "station behind hub"),
    "waiting": ("数据久未送达", "data waiting long"),
    "key_old": ("密钥使用过久", "key due for change"),
    "catalog_old": ("事项目录未更新", "old catalogue"),
}

_CONTACT_KINDS = {
    "push": ("上传", "push"),
    "pull": ("下载", "pull"),
    "import": ("导入文件", "file imported"),
    "export": ("导出文件", "file exported"),
    "refused": ("被拒", "refused"),
}


@pass_context
def _contact_kind(context: Context, kind: str) -> str:
    zh, en = _CONTACT_KINDS.get(kind, (kind, kind))
    return en if context.get("lang") == "en" else zh


@pass_context
def age_text(context: Context, seconds: int | None) -> str:
    """An age in its two largest units, ``3 天 4 小时`` / ``3 d 4 h``; "" for none."""
    return duration_text(seconds, "en" if context.get("lang") == "en" else "zh")


@pass_context
def _offset(context: Context, ms: int | None) -> str:
    return clock_offset_text(ms, "en" if context.get("lang") == "en" else "zh")


@pass_context
def _reasons(context: Context, row: dict[str, Any]) -> list[str]:
    """Why a station has its status, worst first, each with its measure: ``时钟偏差 快 2 小时``.

    The flag that only repeats the status ("never" under 从未联系) is left out: one word once.
    """
    en = context.get("lang") == "en"
    lang = "en" if en else "zh"
    detail = {
        "stale": duration_text(row.get("contact_age_s"), lang),
        "clock": clock_offset_text(row.get("clock_offset_ms"), lang),
        "waiting": duration_text(row.get("waiting_age_s"), lang),
        "key_old": duration_text(row.get("key_age_s"), lang),
        "catalog_old": ("v" if en else "第 ")
        + (str(row["catalog_version"]) if row.get("catalog_version") else "0")
        + ("" if en else " 版")
        + f" {duration_text(row.get('catalog_behind_s'), lang)}"
        + (f" {failure_label(row['catalog_failure'], lang)}" if row.get("catalog_failure") else ""),
        "fork": str(row.get("forks") or ""),
        "error": label("error", row.get("last_error"), lang),
        "behind": f"{-(row.get('gap') or 0)} {'sets' if en else '批'}" if (row.get("gap") or 0) < 0 else "",
    }
    order = {flag: i for i, flag in enumerate(_REASON_ORDER)}
    shown = []
    for flag in sorted(row.get("attention") or (), key=lambda f: order.get(f, len(order))):
        if flag == row.get("state"):
            continue  # "never": the status already says it
        zh, en_label = _ATTENTION_LABELS.get(flag, (flag, flag))
        extra = detail.get(flag, "")
        shown.append(f"{en_label if en else zh} {extra}".strip())
    return shown


_REASON_ORDER = ("fork", "behind", "stale", "never", "waiting", "error", "clock", "key_old", "catalog_old")
"""Reasons worst first: what loses data, then silence, then what only warns."""


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _days(value: float) -> str:
    return f"{value:g}"


@pass_context
def _paren(context: Context, value: object) -> str:
    # Full-width brackets in Chinese text, ASCII ones (after a space) in English.
    return f" ({value})" if context.get("lang") == "en" else f"（{value}）"


@pass_context
def _t(context: Context, zh: str, en: str) -> str:
    return en if context.get("lang") == "en" else zh


@pass_context
def _state_label(context: Context, state: str) -> str:
    zh, en = STATE_LABELS.get(state, (state, state))
    return en if context.get("lang") == "en" else zh


@pass_context
def _attention_label(context: Context, flag: str) -> str:
    zh, en = _ATTENTION_LABELS.get(flag, (flag, flag))
    return en if context.get("lang") == "en" else zh


@pass_context
def _label(context: Context, kind: str, code: str | None) -> str:
    return label(kind, code, "en" if context.get("lang") == "en" else "zh")


@pass_context
def _actor_label(context: Context, actor: str) -> str:
    try:
        return actor_label(actor, "en" if context.get("lang") == "en" else "zh")
    except ValueError:
        return actor


@pass_context
def _fork_reason(context: Context, reason: str) -> str:
    return fork_reason(reason, "en" if context.get("lang") == "en" else "zh")


@pass_context
def _status_label(context: Context, status: str) -> str:
    try:
        return status_label(status, context.get("lang", "zh"))
    except ValueError:
        return status


def _configure(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.globals.update(
        t=_t,
        state_label=_state_label,
        attention_label=_attention_label,
        status_label=_status_label,
        reasons=_reasons,
        contact_kind=_contact_kind,
        code_label=_label,
        actor_label=_actor_label,
        fork_reason=_fork_reason,
    )
    env.filters.update(china_time=china_time, age=age_text, offset=_offset, percent=_percent, days=_days, paren=_paren)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Templates from hub/web/templates; Litestar's Jinja environment autoescapes (station and user data)."""
    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_configure)


def page_lang(request: Request[Any, Any, Any]) -> tuple[str, bool]:
    """(language, whether to remember it): ``?lang=en|zh`` switches and sets a cookie; else the cookie; else zh."""
    asked = request.query_params.get("lang")
    if asked in ("zh", "en"):
        return asked, True
    return ("en" if request.cookies.get(LANG_COOKIE) == "en" else "zh"), False


def page(
    request: Request[Any, Any, Any],
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    cookies: list[Cookie] | None = None,
    headers: dict[str, str] | None = None,
) -> Template:
    """Render a page with the language, the principal, its CSRF token and a URL helper in the context."""
    lang, remember = page_lang(request)
    principal = request.state.get("principal")
    query = {k: v for k, v in request.query_params.items() if k != "lang"}

    def url_with(**changes: Any) -> str:
        merged = {**query, **changes}
        return request.url.path + (
            "?" + urlencode({k: v for k, v in merged.items() if v not in (None, "")}) if merged else ""
        )

    jar = list(cookies or [])
    if remember:
        jar.append(Cookie(key=LANG_COOKIE, value=lang, max_age=365 * 86400, httponly=True, samesite="lax"))
    return Template(
        template_name=name,
        status_code=status_code,
        cookies=jar,
        headers=headers,
        context={
            "lang": lang,
            "principal": principal,
            "csrf": principal.csrf if principal else "",
            "url_with": url_with,
            **context,
        },
    )


def error_page(request: Request[Any, Any, Any], status: int, zh: str, en: str) -> Template:
    """A short HTML error page (a page's 404 or 400 is not the API's JSON)."""
    lang, _ = page_lang(request)
    return page(request, "error.html.j2", {"status": status, "message": en if lang == "en" else zh}, status_code=status)


MAX_PAGE_NO = 100_000
"""The highest ``page_no`` of a list page (50 to 100 rows a page: far past any county's cases)."""


def page_number(request: Request[Any, Any, Any], value: str | None) -> int | Template:
    """``?page_no=`` of a list page as a number 1..MAX_PAGE_NO (1 when absent), else a 400 page saying so."""
    text = (value or "1").strip()
    if text.isascii() and text.isdigit() and len(text) <= len(str(MAX_PAGE_NO)) and 1 <= int(text) <= MAX_PAGE_NO:
        return int(text)
    return error_page(
        request,
        400,
        f"页码应为 1 到 {MAX_PAGE_NO} 之间的整数",
        f"page_no must be a whole number from 1 to {MAX_PAGE_NO}",
    )


def _home(role: str) -> str:
    return {"admin": "/dashboard", "township": "/township"}.get(role, "/desk")


def _safe_next(target: str | None) -> str | None:
    # Only a path on this hub: never an open redirect to another site.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@get("/")
async def home(request: Request[Any, Any, Any]) -> Redirect:
    """The dashboard for administrators, the desk for departments, else the login form."""
    principal = await current_principal(request)
    return Redirect(_home(principal.role) if principal else "/login", status_code=303)


def _login_page(
    request: Request[Any, Any, Any],
    settings: Settings,
    *,
    message: str = "",
    username: str = "",
    next_: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    token = secrets.token_urlsafe(24)
    cookie = Cookie(
        key=LOGIN_COOKIE,
        value=token,
        httponly=True,
        samesite="strict",
        path="/login",
        secure=settings.cookie_secure,
    )
    return page(
        request,
        "login.html.j2",
        {"message": message, "username": username, "next": next_, "login_csrf": token},
        status_code=status_code,
        cookies=[cookie],
        headers=headers,
    )


@get("/login", sync_to_thread=False)
def login_form(request: Request[Any, Any, Any], settings: HubSettings) -> Template:
    """The login form (plain HTML; works without JavaScript)."""
    return _login_page(request, settings, next_=request.query_params.get("next", ""))


@post("/login", status_code=200)
async def login_submit(
    request: Request[Any, Any, Any],
    state: State,
    settings: HubSettings,
    now: Now,
    data: URLEncodedBody[dict[str, Any]],
) -> Response[Any]:
    """Check the password; on success a session cookie (HttpOnly, SameSite=Lax) and a redirect home.

    Async on purpose: a login waiting for its password check (hub.accounts.LoginGuard) holds no
    worker thread, so a flood of logins never delays station sync; past the guard's queue it is
    answered 429 at once.
    """
    lang, _ = page_lang(request)
    en = lang == "en"
    name, password = str(data.get("username", "")), str(data.get("password", ""))
    next_ = str(data.get("next", ""))
    sent, kept = str(data.get(CSRF_FIELD, "")), request.cookies.get(LOGIN_COOKIE, "")
    if not sent or not kept or not hmac.compare_digest(sent, kept):
        return _login_page(
            request,
            settings,
            message="The form expired; please log in again." if en else "表单已过期，请重新登录。",
            username=name,
            next_=next_,
            status_code=403,
        )
    try:
        cookie, principal = await login_guard(state, settings).login(name, password, ip=client_ip(request), now=now)
    except LoginThrottled as exc:
        return _login_page(
            request,
            settings,
            message=exc.message(lang),
            username=name,
            next_=next_,
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    except LoginFailed:
        return _login_page(
            request,
            settings,
            message="Wrong user name or password." if en else "用户名或密码错误。",
            username=name,
            next_=next_,
            status_code=401,
        )
    session = Cookie(
        key=SESSION_COOKIE,
        value=cookie,
        httponly=True,
        samesite="lax",
        path="/",
        secure=settings.cookie_secure,
        max_age=int(settings.session_max_hours * 3600),
    )
    gone = Cookie(key=LOGIN_COOKIE, value="", max_age=0, path="/login")
    return Redirect(_safe_next(next_) or _home(principal.role), status_code=303, cookies=[session, gone])


@post("/logout", guards=[requires()], status_code=200, sync_to_thread=True)
def logout_submit(request: Request[Any, Any, Any], store: NamedDependency[HubStore]) -> Redirect:
    """End the session (a form post with the CSRF token) and return to the login form."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        logout(store, cookie)
    return Redirect("/login", status_code=303, cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/")])


ROUTER = Router("/", route_handlers=[home, login_form, login_submit, logout_submit], include_in_schema=False)
"""The home redirect, login and logout: pages, so not in the API's schema."""
"""The login routes; the admin pages are in hub.web.admin, the desk in hub.web.desk."""
