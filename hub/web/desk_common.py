"""What the department and township desk pages share: the list's query and page, the case page, the decision post."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeAlias

from litestar import Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery, SkipValidation, URLEncodedBody
from litestar.response import Redirect, Template

from hub.decisions import Decision
from hub.desk import department_case_summary, for_page
from hub.escalation import principal_alerts
from hub.levels import levels_of
from hub.store import HubStore
from hub.web.deps import Now
from hub.web.guards import client_ip, principal_of
from hub.web.pages import page, page_lang, page_number
from sync.errors import IllegalTransition, NotFoundError, ProxyAppError
from sync.lifecycle import Status
from sync.timeutil import business_date

__all__ = (
    "DESK_LIST",
    "PAGE_SIZE",
    "CaseActions",
    "CaseView",
    "Decide",
    "DeskList",
    "DeskListing",
    "case_routes",
    "form_list",
    "form_missing",
    "list_cases",
    "list_page",
    "provide_desk_list",
    "render_case_page",
)

PAGE_SIZE = 50
"""Cases on one page of a desk's list."""

CaseView = Callable[..., dict[str, Any]]
"""A desk's view of one case: ``(store, principal, case_no, *, reveal, ip, now)``; NotFoundError if not its own."""
CaseActions = Callable[[dict[str, Any], str], list[dict[str, str]]]
"""The decisions the desk may take on a case viewed, with labels in ``lang``."""
Decide = Callable[..., Decision]
"""A desk's decision: ``(store, principal, case_no, status, *, reason, outcome, missing, now)``."""
NotFound = Callable[[Request[Any, Any, Any], str], Template]
"""A desk's 404 page for a case number that is not its own."""


@dataclass(frozen=True)
class DeskList:
    """A desk list's query, checked: the filters as sent, the page asked for and the business day."""

    status: str | None
    """A lifecycle status to show only, or None (anything else sent is dropped)."""
    overdue: bool
    q: str | None
    """The case number searched for, as typed."""
    page: int
    day: dt.date
    """The business day (China time) that due dates count overdue from."""

    def selection(self) -> dict[str, Any]:
        """The store's keywords for this page's rows (one more than a page: whether there are more)."""
        return {
            "status": self.status,
            "overdue_before": self.day.isoformat() if self.overdue else None,
            "case_no": (self.q or "").strip() or None,
            "limit": PAGE_SIZE + 1,
            "offset": (self.page - 1) * PAGE_SIZE,
        }


def provide_desk_list(
    request: Request[Any, Any, Any],
    now: Now,
    status: FromQuery[str | None] = None,
    overdue: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None,
    page_no: FromQuery[str | None] = None,
) -> DeskList | Template:
    """A desk list's query parameters, checked; the 400 page for a page number out of range (never an
    offset SQLite cannot hold, a 500)."""
    number = page_number(request, page_no)
    if not isinstance(number, int):
        return number
    return DeskList(
        status=status if status in {s.value for s in Status} else None,
        overdue=bool(overdue),
        q=q,
        page=number,
        day=business_date(now),
    )


DeskListing: TypeAlias = NamedDependency[SkipValidation[DeskList | Template]]
"""A desk list handler's ``listing`` parameter: the checked query, or the 400 page to answer with."""
DESK_LIST = {"listing": Provide(provide_desk_list, sync_to_thread=False)}
"""The dependency a desk list handler names ``listing``."""


def list_page(
    request: Request[Any, Any, Any],
    store: HubStore,
    listing: DeskList,
    rows: list[dict[str, Any]],
    template: str,
    *,
    villages: dict[str, str],
    filters: dict[str, Any] | None = None,
    **context: Any,
) -> Template:
    """A desk's list page: a page of ``rows`` (fetched with ``listing.selection()``), the filters, the alerts."""
    return page(
        request,
        template,
        {
            "cases": list_cases(store, rows[:PAGE_SIZE], today=listing.day.isoformat(), villages=villages),
            "more": len(rows) > PAGE_SIZE,
            "page": listing.page,
            "statuses": [s.value for s in Status if s is not Status.DRAFT],
            "filters": {"status": listing.status, "overdue": listing.overdue, "q": listing.q, **(filters or {})},
            "alerts": principal_alerts(store, principal_of(request), listing.day),
            **context,
        },
    )


def form_list(value: Any) -> list[str]:
    """A form field as a list of strings."""
    # A repeated form field arrives as a list, a single one as a string.
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def form_missing(data: dict[str, Any]) -> list[str]:
    """The missing materials a decision form names: the ticked ones, then the typed ones that are not blank."""
    return form_list(data.get("missing")) + [m for m in form_list(data.get("missing_other")) if m.strip()]


def render_case_page(
    request: Request[Any, Any, Any],
    store: HubStore,
    case_no: str,
    now: dt.datetime,
    *,
    view: CaseView,
    actions: CaseActions,
    not_found: NotFound,
    base: str,
    reveal: bool = False,
    error: str = "",
    done: str = "",
    status_code: int = 200,
) -> Template:
    """One case on a desk (desk_case.html.j2), or the desk's 404 page when the case is not its own."""
    principal = principal_of(request)
    lang, _ = page_lang(request)
    try:
        case = view(store, principal, case_no, reveal=reveal, ip=client_ip(request), now=now)
    except NotFoundError:
        return not_found(request, case_no)
    return page(
        request,
        "desk_case.html.j2",
        {
            "case": for_page(case),
            "actions": actions(case, lang),
            "error": error,
            "done": done,
            "base": base,
        },
        status_code=status_code,
    )


def case_routes(
    *,
    base: str,
    view: CaseView,
    actions: CaseActions,
    not_found: NotFound,
    decide: Decide,
    confirms: frozenset[str],
    done_url: Callable[[Decision, str], str],
) -> list[HTTPRouteHandler]:
    """A desk's case page (``confirms`` names the ``?done=`` values it confirms) and its decision post.

    ``decide`` takes the form; then a 303 to ``done_url(decision, status sent)``, or the case page again
    with the refusal (409 for a move the lifecycle or the case's level refuses, 400 for a bad form).
    """
    case_page = partial(render_case_page, view=view, actions=actions, not_found=not_found, base=base)

    @get("/cases/{case_no:str}", sync_to_thread=True)
    def desk_case_page(
        request: Request[Any, Any, Any],
        case_no: FromPath[str],
        store: NamedDependency[HubStore],
        now: Now,
        reveal: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        """One case of the desk; ``?reveal=1`` shows the full ID and phone numbers and is audited."""
        shown = done if done in confirms else ""
        return case_page(request, store, case_no, now, reveal=bool(reveal), done=shown)

    @post("/cases/{case_no:str}/decision", status_code=200, sync_to_thread=True)
    def desk_decision(
        request: Request[Any, Any, Any],
        case_no: FromPath[str],
        data: URLEncodedBody[dict[str, Any]],
        store: NamedDependency[HubStore],
        now: Now,
    ) -> Response[Any]:
        """A decision form (CSRF-checked by the guard), then back to the case."""
        principal = principal_of(request)
        lang, _ = page_lang(request)
        wanted = str(data.get("status", ""))
        try:
            decision = decide(
                store,
                principal,
                case_no,
                wanted,
                reason=str(data.get("reason") or "") or None,
                outcome=str(data.get("outcome") or "") or None,
                missing=form_missing(data),
                now=now,
            )
        except NotFoundError:
            return not_found(request, case_no)
        except IllegalTransition as exc:
            return case_page(request, store, case_no, now, error=exc.message(lang), status_code=409)
        except ProxyAppError as exc:
            return case_page(request, store, case_no, now, error=exc.message(lang), status_code=400)
        return Redirect(done_url(decision, wanted), status_code=303)

    return [desk_case_page, desk_decision]


def list_cases(store: HubStore, rows: list[dict[str, Any]], *, today: str, villages: dict[str, str]) -> Any:
    """A desk list's rows for its page: the masked summary, the place, the item's name and the case's level."""
    names = {item.code: item.name_zh for item in store.catalog().items}
    levels = levels_of(store, rows)
    return for_page(
        [
            {
                **department_case_summary(row, today),
                "place": villages.get(row["village_code"], row["village_code"]),
                "item_name": names.get(row["item_code"], ""),
                "level": levels[row["case_no"]],
            }
            for row in rows
        ]
    )
