"""Parallel review on the desks: the lead asks a department for its opinion, the department answers."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from hub.desk import case_for_department, for_page
from hub.joint import answer_opinion, request_opinion
from hub.levels import case_level
from hub.store import HubStore
from hub.township import case_for_township
from hub.web.deps import Now
from hub.web.guards import principal_of, requires
from hub.web.pages import error_page, page
from sync.errors import InputError, NotFoundError
from sync.levels import Level

__all__ = ("DESK_ROUTER", "TOWNSHIP_ROUTER")


def _days(data: dict[str, Any]) -> int:
    raw = str(data.get("days", "")).strip()
    return int(raw) if raw.isdigit() else 0


def _ask(
    request: Request[Any, Any, Any], store: HubStore, case: dict[str, Any], data: dict[str, Any], base: str, now: Any
) -> Response[Any]:
    try:
        request_opinion(store, principal_of(request), case, str(data.get("department", "")), _days(data), now=now)
    except InputError as exc:
        return error_page(request, 400, exc.message("zh"), exc.message("en"))
    return Redirect(f"{base}/cases/{quote(case['case_no'])}", status_code=303)


@post("/cases/{case_no:str}/joint", status_code=200, sync_to_thread=True)
def desk_ask(
    request: Request[Any, Any, Any], case_no: FromPath[str], data: URLEncodedBody[dict[str, Any]],
    store: NamedDependency[HubStore], now: Now,
) -> Response[Any]:  # fmt: skip
    """The lead department asks another for its opinion on one of its cases (CSRF-checked by the guard)."""
    try:
        case = case_for_department(store, principal_of(request), case_no)
    except NotFoundError:
        return error_page(request, 404, f"本部门没有编号为 {case_no} 的办件", f"No case {case_no} for your department")
    if case_level(store, case) is not Level.COUNTY:
        return error_page(request, 409, "办件在乡镇办理中", "The township holds this case")
    return _ask(request, store, case, data, "/desk", now)


@post("/cases/{case_no:str}/joint", status_code=200, sync_to_thread=True)
def township_ask(
    request: Request[Any, Any, Any], case_no: FromPath[str], data: URLEncodedBody[dict[str, Any]],
    store: NamedDependency[HubStore], now: Now,
) -> Response[Any]:  # fmt: skip
    """A township leading a joint review (a homestead's 联审) asks a county department for its opinion."""
    try:
        case = case_for_township(store, principal_of(request), case_no)
    except NotFoundError:
        return error_page(
            request, 404, f"本乡镇没有编号为 {case_no} 的待审办件", f"No case {case_no} for your township"
        )
    if case_level(store, case) not in (Level.TOWNSHIP, Level.TOWNSHIP_INITIAL):
        return error_page(request, 409, "已转报县级部门", "Forwarded to the county department")
    return _ask(request, store, case, data, "/township", now)


@get("/joint", sync_to_thread=True)
def joint_page(request: Request[Any, Any, Any], store: NamedDependency[HubStore]) -> Template:
    """The requests for this department's opinion: case numbers, items and due dates, no personal data."""
    principal = principal_of(request)
    names = {item.code: item.name_zh for item in store.catalog().items}
    requests = []
    for row in store.joint_requests_for(principal.department or "", pending_only=False):
        case = store.row("cases", row["case_no"]) or {}
        requests.append(
            {**row, "item_code": case.get("item_code", ""), "item_name": names.get(case.get("item_code", ""), "")}
        )
    return page(request, "joint.html.j2", {"requests": for_page(requests)})


@post("/joint/{case_no:str}", status_code=200, sync_to_thread=True)
def joint_answer(
    request: Request[Any, Any, Any], case_no: FromPath[str], data: URLEncodedBody[dict[str, Any]],
    store: NamedDependency[HubStore], now: Now,
) -> Response[Any]:  # fmt: skip
    """This department's opinion on a case it was asked about (CSRF-checked by the guard)."""
    try:
        answer_opinion(
            store,
            principal_of(request),
            case_no,
            str(data.get("opinion", "")),
            str(data.get("reason") or "") or None,
            now=now,
        )
    except NotFoundError as exc:
        return error_page(request, 404, exc.message("zh"), exc.message("en"))
    except InputError as exc:
        return error_page(request, 400, exc.message("zh"), exc.message("en"))
    return Redirect("/desk/joint", status_code=303)


DESK_ROUTER = Router(
    "/desk",
    route_handlers=[desk_ask, joint_page, joint_answer],
    guards=[requires("department")],
    include_in_schema=False,
)
"""Parallel review for departments: ask (as the lead), the requests page and the answer form."""

TOWNSHIP_ROUTER = Router(
    "/township", route_handlers=[township_ask], guards=[requires("township")], include_in_schema=False
)
"""Parallel review for townships leading a joint review: ask."""
