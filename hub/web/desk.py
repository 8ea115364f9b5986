"""The department desk pages: the department's cases, one case with its decision forms, the form posts."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from hub.departments import Department, departments
from hub.desk import actions_for, case_view, decide_for_department
from hub.escalation import principal_alerts
from hub.store import HubStore
from hub.web.deps import Now
from hub.web.desk_common import form_missing, list_cases, render_case_page
from hub.web.desk_scans import desk_scan_bytes, desk_scans_page
from hub.web.guards import principal_of, requires
from hub.web.pages import error_page, page, page_lang, page_number
from sync.errors import IllegalTransition, InputError, NotFoundError, ProxyAppError
from sync.lifecycle import Status
from sync.timeutil import business_date

__all__ = ("PAGE_SIZE", "ROUTER")

PAGE_SIZE = 50


def _not_found(request: Request[Any, Any, Any], case_no: str) -> Template:
    return error_page(request, 404, f"本部门没有编号为 {case_no} 的办件", f"No case {case_no} for your department")


@get("/", sync_to_thread=True)
def desk_page(
    request: Request[Any, Any, Any],
    store: NamedDependency[HubStore],
    now: Now,
    status: FromQuery[str | None] = None,
    township: FromQuery[str | None] = None,
    overdue: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None,
    page_no: FromQuery[str | None] = None,
) -> Template:
    """The department's cases, newest first, with the applicant's name and the ID number masked."""
    number = page_number(request, page_no)
    if not isinstance(number, int):
        return number  # the 400 page: never an offset SQLite cannot hold (a 500)
    principal = principal_of(request)
    key = principal.department or ""
    # A key the newest catalogue no longer has still shows its cases (they keep their catalogue version).
    department = next(
        (d for d in departments(store.catalog()) if d.key == key),
        Department(key=key, name_zh=key, name_en=key, names_zh=(), items=()),
    )
    today = business_date(now).isoformat()
    status = status if status in {s.value for s in Status} else None
    rows = store.department_cases(
        department.key,
        status=status,
        township=township or None,
        overdue_before=today if overdue else None,
        case_no=(q or "").strip() or None,
        limit=PAGE_SIZE + 1,
        offset=(number - 1) * PAGE_SIZE,
    )
    tree = store.divisions()
    # Township and village apart, so a narrow column breaks between them rather than inside a name.
    villages = {v.code: f"{v.township_name_zh} {v.name_zh}" for v in tree.villages()}
    return page(
        request,
        "desk.html.j2",
        {
            "department": department,
            "cases": list_cases(store, rows[:PAGE_SIZE], today=today, villages=villages),
            "more": len(rows) > PAGE_SIZE,
            "page": number,
            "statuses": [s.value for s in Status if s is not Status.DRAFT],
            "townships": tree.townships,
            "filters": {"status": status, "township": township, "overdue": bool(overdue), "q": q},
            "alerts": principal_alerts(store, principal, business_date(now)),
            "joint_pending": len(store.joint_requests_for(department.key)),
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
        view=case_view,
        actions=lambda case, lang: actions_for(case["status"], lang, case["level"]),
        not_found=_not_found,
        base="/desk",
        reveal=reveal,
        error=error,
        done=done,
        status_code=status_code,
    )


@get("/cases/{case_no:str}", sync_to_thread=True)
def desk_case_page(
    request: Request[Any, Any, Any],
    case_no: FromPath[str],
    store: NamedDependency[HubStore],
    now: Now,
    reveal: FromQuery[str | None] = None,
    done: FromQuery[str | None] = None,
) -> Template:
    """One case of the department; ``?reveal=1`` shows the full ID and phone numbers and is audited."""
    shown = done if done in {s.value for s in Status} else ""
    return _case_page(request, store, case_no, now, reveal=bool(reveal), done=shown)


@post("/cases/{case_no:str}/decision", status_code=200, sync_to_thread=True)
def desk_decision(
    request: Request[Any, Any, Any],
    case_no: FromPath[str],
    data: URLEncodedBody[dict[str, Any]],
    store: NamedDependency[HubStore],
    now: Now,
) -> Response[Any]:
    """A decision form (CSRF-checked by the guard): through hub.decisions.decide, then back to the case."""
    principal = principal_of(request)
    lang, _ = page_lang(request)
    missing = form_missing(data)
    try:
        decision = decide_for_department(
            store,
            principal,
            case_no,
            str(data.get("status", "")),
            reason=str(data.get("reason") or "") or None,
            outcome=str(data.get("outcome") or "") or None,
            missing=missing,
            now=now,
        )
    except NotFoundError:
        return _not_found(request, case_no)
    except (InputError, IllegalTransition) as exc:
        return _case_page(
            request,
            store,
            case_no,
            now,
            error=exc.message(lang),
            status_code=409 if isinstance(exc, IllegalTransition) else 400,
        )
    except ProxyAppError as exc:
        return _case_page(request, store, case_no, now, error=exc.message(lang), status_code=400)
    return Redirect(f"/desk/cases/{quote(decision.case_no)}?done={decision.status}", status_code=303)


ROUTER = Router(
    "/desk",
    route_handlers=[desk_page, desk_case_page, desk_decision, desk_scans_page, desk_scan_bytes],
    guards=[requires("department")],
    include_in_schema=False,
)
"""The department desk, all under /desk and all for the department role."""
