"""The township desk pages: the township's cases of the items it reviews, one case, the decision posts."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from hub.escalation import principal_alerts
from hub.store import HubStore
from hub.township import FORWARD, decide_for_township, township_actions, township_case_view, township_list
from hub.web.deps import Now
from hub.web.desk_common import form_missing, list_cases, render_case_page
from hub.web.guards import principal_of, requires
from hub.web.pages import error_page, page, page_lang, page_number
from sync.errors import IllegalTransition, InputError, NotFoundError, ProxyAppError
from sync.lifecycle import Status
from sync.timeutil import business_date

__all__ = ("PAGE_SIZE", "ROUTER")

PAGE_SIZE = 50
BASE = "/township"


def _not_found(request: Request[Any, Any, Any], case_no: str) -> Template:
    return error_page(request, 404, f"本乡镇没有编号为 {case_no} 的待审办件", f"No case {case_no} for your township")


@get("/", sync_to_thread=True)
def township_page(
    request: Request[Any, Any, Any],
    store: NamedDependency[HubStore],
    now: Now,
    status: FromQuery[str | None] = None,
    overdue: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None,
    page_no: FromQuery[str | None] = None,
) -> Template:
    """The township's cases (items it decides or reviews first), newest first, ID numbers masked."""
    number = page_number(request, page_no)
    if not isinstance(number, int):
        return number
    principal = principal_of(request)
    today = business_date(now).isoformat()
    status = status if status in {s.value for s in Status} else None
    rows = township_list(
        store,
        principal,
        status=status,
        overdue_before=today if overdue else None,
        case_no=(q or "").strip() or None,
        limit=PAGE_SIZE + 1,
        offset=(number - 1) * PAGE_SIZE,
    )
    tree = store.divisions()
    try:
        township = tree.township(principal.township or "")
        name = township.name_zh
        villages = {v.code: v.name_zh for v in township.villages}
    except ProxyAppError:
        name, villages = principal.township or "", {}
    return page(
        request,
        "township.html.j2",
        {
            "township_name": name,
            "township_code": principal.township,
            "cases": list_cases(store, rows[:PAGE_SIZE], today=today, villages=villages),
            "more": len(rows) > PAGE_SIZE,
            "page": number,
            "statuses": [s.value for s in Status if s is not Status.DRAFT],
            "filters": {"status": status, "overdue": bool(overdue), "q": q},
            "alerts": principal_alerts(store, principal, business_date(now)),
            "base": BASE,
        },
    )


def _case_page(
    request: Request[Any, Any, Any],
    store: HubStore,
    case_no: str,
    now: dt.datetime,
    *,
    reveal: bool = False,
    error: str = "",
    done: str = "",
    status_code: int = 200,
) -> Template:
    return render_case_page(
        request,
        store,
        case_no,
        now,
        view=township_case_view,
        actions=lambda case, lang: township_actions(case["status"], case["level"], lang),
        not_found=_not_found,
        base=BASE,
        reveal=reveal,
        error=error,
        done=done,
        status_code=status_code,
    )


@get("/cases/{case_no:str}", sync_to_thread=True)
def township_case_page(
    request: Request[Any, Any, Any],
    case_no: FromPath[str],
    store: NamedDependency[HubStore],
    now: Now,
    reveal: FromQuery[str | None] = None,
    done: FromQuery[str | None] = None,
) -> Template:
    """One case of the township; ``?reveal=1`` shows the full ID and phone numbers and is audited."""
    shown = done if done in {s.value for s in Status} | {FORWARD} else ""
    return _case_page(request, store, case_no, now, reveal=bool(reveal), done=shown)


@post("/cases/{case_no:str}/decision", status_code=200, sync_to_thread=True)
def township_decision(
    request: Request[Any, Any, Any],
    case_no: FromPath[str],
    data: URLEncodedBody[dict[str, Any]],
    store: NamedDependency[HubStore],
    now: Now,
) -> Response[Any]:
    """A decision or forward form (CSRF-checked by the guard), then back to the case."""
    principal = principal_of(request)
    lang, _ = page_lang(request)
    missing = form_missing(data)
    wanted = str(data.get("status", ""))
    try:
        decide_for_township(
            store,
            principal,
            case_no,
            wanted,
            reason=str(data.get("reason") or "") or None,
            outcome=str(data.get("outcome") or "") or None,
            missing=missing,
            now=now,
        )
    except NotFoundError:
        return _not_found(request, case_no)
    except IllegalTransition as exc:
        return _case_page(request, store, case_no, now, error=exc.message(lang), status_code=409)
    except (InputError, ProxyAppError) as exc:
        return _case_page(request, store, case_no, now, error=exc.message(lang), status_code=400)
    return Redirect(f"{BASE}/cases/{quote(case_no.strip())}?done={quote(wanted.strip().upper())}", status_code=303)


ROUTER = Router(
    BASE,
    route_handlers=[township_page, township_case_page, township_decision],
    guards=[requires("township")],
    include_in_schema=False,
)
"""The township desk, all under /township and all for the township role."""
