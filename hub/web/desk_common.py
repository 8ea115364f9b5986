"""What the department and township desk pages share: the form's missing-material list and the case page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from litestar import Request
from litestar.response import Template

from hub.desk import department_case_summary, for_page
from hub.levels import levels_of
from hub.store import HubStore
from hub.web.guards import client_ip, principal_of
from hub.web.pages import page, page_lang
from sync.errors import NotFoundError

__all__ = ("CaseActions", "CaseView", "form_list", "form_missing", "list_cases", "render_case_page")

CaseView = Callable[..., dict[str, Any]]
"""A desk's view of one case: ``(store, principal, case_no, *, reveal, ip, now)``; NotFoundError if not its own."""
CaseActions = Callable[[dict[str, Any], str], list[dict[str, str]]]
"""The decisions the desk may take on a case viewed, with labels in ``lang``."""


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
    not_found: Callable[[Request[Any, Any, Any], str], Template],
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
