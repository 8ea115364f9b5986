"""The department desk pages: the department's cases, one case with its decision forms, the form posts."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Router, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template

from hub.decisions import Decision
from hub.departments import Department, departments
from hub.desk import actions_for, case_view, decide_for_department
from hub.store import HubStore
from hub.web.desk_common import DESK_LIST, PAGE_SIZE, DeskListing, case_routes, list_page
from hub.web.desk_scans import desk_scan_bytes, desk_scans_page
from hub.web.guards import principal_of, requires
from hub.web.pages import error_page
from sync.lifecycle import Status

__all__ = ("PAGE_SIZE", "ROUTER")


def _not_found(request: Request[Any, Any, Any], case_no: str) -> Template:
    return error_page(request, 404, f"本部门没有编号为 {case_no} 的办件", f"No case {case_no} for your department")


@get("/", sync_to_thread=True, dependencies=DESK_LIST)
def desk_page(
    request: Request[Any, Any, Any],
    store: NamedDependency[HubStore],
    listing: DeskListing,
    township: FromQuery[str | None] = None,
) -> Template:
    """The department's cases, newest first, with the applicant's name and the ID number masked."""
    if isinstance(listing, Template):
        return listing
    key = principal_of(request).department or ""
    # A key the newest catalogue no longer has still shows its cases (they keep their catalogue version).
    department = next(
        (d for d in departments(store.catalog()) if d.key == key),
        Department(key=key, name_zh=key, name_en=key, names_zh=(), items=()),
    )
    rows = store.department_cases(department.key, township=township or None, **listing.selection())
    tree = store.divisions()
    # Township and village apart, so a narrow column breaks between them rather than inside a name.
    villages = {v.code: f"{v.township_name_zh} {v.name_zh}" for v in tree.villages()}
    return list_page(
        request,
        store,
        listing,
        rows,
        "desk.html.j2",
        villages=villages,
        filters={"township": township},
        department=department,
        townships=tree.townships,
        joint_pending=len(store.joint_requests_for(department.key)),
    )


def _done_url(decision: Decision, wanted: str) -> str:
    return f"/desk/cases/{quote(decision.case_no)}?done={decision.status}"


_CASE_ROUTES = case_routes(
    base="/desk",
    view=case_view,
    actions=lambda case, lang: actions_for(case["status"], lang, case["level"]),
    not_found=_not_found,
    decide=decide_for_department,  # through hub.decisions.decide
    confirms=frozenset(s.value for s in Status),
    done_url=_done_url,
)


ROUTER = Router(
    "/desk",
    route_handlers=[desk_page, *_CASE_ROUTES, desk_scans_page, desk_scan_bytes],
    guards=[requires("department")],
    include_in_schema=False,
)
"""The department desk, all under /desk and all for the department role."""
