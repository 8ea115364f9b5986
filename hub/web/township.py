"""The township desk pages: the township's cases of the items it reviews, one case, the decision posts."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Router, get
from litestar.di import NamedDependency
from litestar.response import Template

from hub.decisions import Decision
from hub.store import HubStore
from hub.township import FORWARD, decide_for_township, township_actions, township_case_view, township_list
from hub.web.desk_common import DESK_LIST, PAGE_SIZE, DeskListing, case_routes, list_page
from hub.web.guards import principal_of, requires
from hub.web.pages import error_page
from sync.errors import ProxyAppError
from sync.lifecycle import Status

__all__ = ("PAGE_SIZE", "ROUTER")

BASE = "/township"


def _not_found(request: Request[Any, Any, Any], case_no: str) -> Template:
    return error_page(request, 404, f"本乡镇没有编号为 {case_no} 的待审办件", f"No case {case_no} for your township")


@get("/", sync_to_thread=True, dependencies=DESK_LIST)
def township_page(request: Request[Any, Any, Any], store: NamedDependency[HubStore], listing: DeskListing) -> Template:
    """The township's cases (items it decides or reviews first), newest first, ID numbers masked."""
    if isinstance(listing, Template):
        return listing
    principal = principal_of(request)
    rows = township_list(store, principal, **listing.selection())
    tree = store.divisions()
    try:
        township = tree.township(principal.township or "")
        name = township.name_zh
        villages = {v.code: v.name_zh for v in township.villages}
    except ProxyAppError:
        name, villages = principal.township or "", {}
    return list_page(
        request,
        store,
        listing,
        rows,
        "township.html.j2",
        villages=villages,
        township_name=name,
        township_code=principal.township,
        base=BASE,
    )


def _done_url(decision: Decision, wanted: str) -> str:
    # The status sent, not the case's: a forward leaves the case in progress but says it was forwarded.
    return f"{BASE}/cases/{quote(decision.case_no)}?done={quote(wanted.strip().upper())}"


_CASE_ROUTES = case_routes(
    base=BASE,
    view=township_case_view,
    actions=lambda case, lang: township_actions(case["status"], case["level"], lang),
    not_found=_not_found,
    decide=decide_for_township,  # a decision, or a forward to the county department
    confirms=frozenset({s.value for s in Status} | {FORWARD}),
    done_url=_done_url,
)


ROUTER = Router(
    BASE,
    route_handlers=[township_page, *_CASE_ROUTES],
    guards=[requires("township")],
    include_in_schema=False,
)
"""The township desk, all under /township and all for the township role."""
