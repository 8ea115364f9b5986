"""The desk's scanned pages: the viewer (zoom, next/previous, rotate, without script) and each page's bytes, audited."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from hub.desk import case_view, for_page
from hub.desk_scans import ZOOMS, case_pages, view_page
from hub.store import HubStore
from hub.web.deps import HubSettings, Now
from hub.web.guards import client_ip, principal_of
from hub.web.pages import error_page, page
from sync.errors import NotFoundError

__all__ = ("desk_scan_bytes", "desk_scans_page")


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.lstrip("-").isdigit() and len(value) < 6 else default


@get("/cases/{case_no:str}/scans", sync_to_thread=True)
def desk_scans_page(
    request: Request[Any, Any, Any],
    case_no: FromPath[str],
    store: NamedDependency[HubStore],
    now: Now,
    material: FromQuery[str | None] = None,
    page_no: FromQuery[str | None] = None,
    zoom: FromQuery[str | None] = None,
    rotate: FromQuery[str | None] = None,
) -> Template:
    """A case's scanned pages beside its checklist: one page at a time, with zoom, next/previous and rotate links."""
    principal = principal_of(request)
    try:
        case = case_view(store, principal, case_no, reveal=False, ip=client_ip(request), now=now)
        pages = case_pages(store, principal, case_no)
    except NotFoundError:
        return error_page(request, 404, f"本部门没有编号为 {case_no} 的办件", f"No case {case_no} for your department")
    shown = material if material in pages else next(iter(pages), None)
    chosen = pages.get(shown or "", [])
    number = min(max(_int(page_no, 1), 1), len(chosen)) if chosen else 0
    zoom_value = _int(zoom, 100)
    zoom_value = zoom_value if zoom_value in ZOOMS else 100
    turn = _int(rotate, 0) % 360 // 90 * 90
    current = chosen[number - 1] if chosen else None
    base = f"/desk/cases/{quote(case['case_no'])}/scans"

    def link(**changes: Any) -> str:
        values = {"material": shown or "", "page_no": number, "zoom": zoom_value, "rotate": turn, **changes}
        return base + "?" + "&".join(f"{k}={quote(str(v))}" for k, v in values.items())

    step = ZOOMS.index(zoom_value)
    return page(
        request,
        "desk_scans.html.j2",
        {
            "case": for_page(case),
            "pages": pages,
            "material": shown,
            "current": current,
            "number": number,
            "count": len(chosen),
            "zoom": zoom_value,
            "rotate": turn,
            "image": f"/desk/cases/{quote(case['case_no'])}/scans/{current['sha256']}" if current else "",
            "links": {
                "previous": link(page_no=number - 1) if number > 1 else "",
                "next": link(page_no=number + 1) if number < len(chosen) else "",
                "zoom_in": link(zoom=ZOOMS[step + 1]) if step + 1 < len(ZOOMS) else "",
                "zoom_out": link(zoom=ZOOMS[step - 1]) if step > 0 else "",
                "left": link(rotate=(turn - 90) % 360),
                "right": link(rotate=(turn + 90) % 360),
                "material": {name: link(material=name, page_no=1) for name in pages},
            },
        },
    )


@get("/cases/{case_no:str}/scans/{sha256:str}", sync_to_thread=True)
def desk_scan_bytes(
    request: Request[Any, Any, Any],
    case_no: FromPath[str],
    sha256: FromPath[str],
    store: NamedDependency[HubStore],
    settings: HubSettings,
    now: Now,
) -> Response[bytes]:
    """One page's bytes (a view, written to the audit log like a full-ID view); never cached by the browser."""
    principal = principal_of(request)
    try:
        data, media = view_page(store, settings.data_dir, principal, case_no, sha256, ip=client_ip(request), now=now)
    except NotFoundError as exc:
        return Response(exc.message("en").encode(), status_code=404, media_type="text/plain")
    return Response(data, media_type=media, headers={"Cache-Control": "no-store"})
