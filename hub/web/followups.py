"""The department desk's follow-ups of bad ratings (差评整改): the list, and the form posts of each step."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from hub.ratings import record_step
from hub.store import HubStore
from hub.web.deps import Now
from hub.web.guards import principal_of, requires
from hub.web.pages import page, page_lang
from sync.errors import ProxyAppError
from sync.ratings import channel_label, level_label
from sync.timeutil import business_date

__all__ = ("ROUTER",)


def _list_page(
    request: Request[Any, Any, Any],
    store: HubStore,
    now: dt.datetime,
    *,
    show_all: bool = False,
    error: str = "",
    done: bool = False,
    status_code: int = 200,
) -> Template:
    principal = principal_of(request)
    lang, _ = page_lang(request)
    today = business_date(now).isoformat()
    catalog = store.catalog()
    names = {item.code: item.name_zh for item in catalog.items}
    villages = {v.code: f"{v.township_name_zh} {v.name_zh}" for v in store.divisions().villages()}
    rows = store.department_followups(principal.department or "", open_only=not show_all, limit=200)
    followups = [
        {
            **row,
            "item_name": names.get(row["item_code"], ""),
            "place": villages.get(row["village_code"], row["village_code"]),
            "level_label": level_label(row["level"], lang),
            "channel_label": channel_label(row["channel"], lang),
            "overdue": row["answered_at"] is None and row["due_date"] < today,
        }
        for row in rows
    ]
    return page(
        request,
        "followups.html.j2",
        {
            "followups": followups,
            "department": principal.department or "",
            "show_all": show_all,
            "error": error,
            "done": done,
        },
        status_code=status_code,
    )


@get("/", sync_to_thread=True)
def followups_page(
    request: Request[Any, Any, Any],
    store: NamedDependency[HubStore],
    now: Now,
    all: FromQuery[str | None] = None,
    done: FromQuery[str | None] = None,
) -> Template:
    """The department's open follow-ups of bad ratings, soonest due first (``?all=1``: answered ones too)."""
    return _list_page(request, store, now, show_all=bool(all), done=bool(done))


@post("/step", status_code=200, sync_to_thread=True)
def followup_step(
    request: Request[Any, Any, Any],
    data: URLEncodedBody[dict[str, Any]],
    store: NamedDependency[HubStore],
    now: Now,
) -> Response[Any]:
    """A step of a follow-up (CSRF-checked by the guard): call, fix, or answer with its text."""
    principal = principal_of(request)
    lang, _ = page_lang(request)
    try:
        record_step(
            store,
            department=principal.department or "",
            rating_id=str(data.get("rating_id", "")),
            step=str(data.get("step", "")),
            by=principal.name,
            now=now,
            answer=str(data.get("answer") or "") or None,
        )
    except ProxyAppError as exc:
        return _list_page(request, store, now, error=exc.message(lang), status_code=400)
    return Redirect("/desk/followups?done=1", status_code=303)


ROUTER = Router(
    "/desk/followups",
    route_handlers=[followups_page, followup_step],
    guards=[requires("department")],
    include_in_schema=False,
)
"""Follow-ups of bad ratings, on the department desk."""
