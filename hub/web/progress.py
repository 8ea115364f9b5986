"""The public progress-query page ``GET /q`` (a form, and ``?case=CASE_NO&code=CODE``) and its JSON twin
``GET /api/v1/q`` that stations ask (docs/hub.md, "Progress queries"). No login: the query code is the proof.

Every answer that finds nothing (no such case, a wrong code, a draft) is the same bytes, so the page
cannot tell an asker which of the two was wrong; a throttled query never reaches the lookup."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, Router, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template

from hub.progress import admit_query, lookup
from hub.store import HubStore
from hub.throttle import Throttled
from hub.web.api_models import error_responses
from hub.web.deps import HubSettings, Now
from hub.web.errors import error_response
from hub.web.guards import client_ip
from hub.web.pages import page, page_lang
from sync.progress import QUERY_PATH, ProgressAnswer, holder_label

__all__ = ("ROUTER",)

_NOT_FOUND = (
    "没有查到：办件编号或查询码不对。请核对收件回执上的办件编号和查询码。",
    "Nothing found: the case number or the query code is wrong. Check both on your receipt.",
)


def _page(
    request: Request[Any, Any, Any],
    asked_case: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Template:
    def url_with(**changes: Any) -> str:
        # The language link never carries the code (a link is copied, logged and sent on).
        return "/q?" + urlencode(changes)

    return page(
        request,
        "progress.html.j2",
        {"asked_case": asked_case, "url_with": url_with, **context},
        status_code=status_code,
        headers=headers,
    )


@get("/q", sync_to_thread=True, include_in_schema=False)
def progress_page(
    request: Request[Any, Any, Any],
    state: State,
    store: NamedDependency[HubStore],
    settings: HubSettings,
    now: Now,
    case: FromQuery[str | None] = None,
    code: FromQuery[str | None] = None,
) -> Template:
    """The form; with ``case`` and ``code`` also the case's status, the level holding it, its due date and
    what is missing. 404 with one message for an unknown case and a wrong code alike; 429 past the limit."""
    lang, _ = page_lang(request)
    asked = (case or "").strip()[:64]
    if not asked or not (code or "").strip():
        return _page(request, asked)
    try:
        admit_query(state, settings, client_ip(request), asked, now=now)
    except Throttled as exc:
        return _page(
            request,
            asked,
            message=exc.en if lang == "en" else exc.zh,
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    answer = lookup(store, asked, code or "", ip=client_ip(request), channel="page", now=now)
    if answer is None:
        return _page(request, asked, message=_NOT_FOUND[1] if lang == "en" else _NOT_FOUND[0], status_code=404)
    return _page(request, asked, answer=answer, holder=holder_label(answer.holder, lang))


@get(QUERY_PATH, sync_to_thread=True, responses=error_responses(400, 404, 429), security=[{}])
def progress_api(
    request: Request[Any, Any, Any],
    state: State,
    store: NamedDependency[HubStore],
    settings: HubSettings,
    now: Now,
    case: FromQuery[str] = "",
    code: FromQuery[str] = "",
) -> ProgressAnswer | Response[Any]:
    """A resident's progress query by case number and query code (what a station asks for a case of another
    village): no personal data. 404 ``not_found`` for an unknown case and a wrong code alike; 429 past the
    per-address or per-case limit."""
    asked = case.strip()[:64]
    admit_query(state, settings, client_ip(request), asked, now=now)
    answer = lookup(store, asked, code, ip=client_ip(request), channel="api", now=now)
    if answer is None:
        return error_response(404, "not_found", zh=_NOT_FOUND[0], en=_NOT_FOUND[1])
    return answer


ROUTER = Router("/", route_handlers=[progress_page, progress_api])
"""The public progress query: the page (not in the API schema) and the JSON answer."""
