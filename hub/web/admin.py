"""The administrator's pages: the sync-status dashboard, a station's detail, county figures, the audit log."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, Router, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Template

from hub.county_grid import county_grid
from hub.dashboard import (
    SORT_KEYS,
    STATES,
    Thresholds,
    filter_rows,
    report_from_rows,
    station_detail,
    station_rows,
    summary,
    worst_first,
)
from hub.figures import county_figures
from hub.ratings import satisfaction
from hub.store import HubStore
from hub.upstream import fork_error, held_aside_advice, link_status
from hub.web.charts import figure_charts
from hub.web.deps import HubSettings, Now
from hub.web.guards import requires
from hub.web.pages import STATE_LABELS, error_page, page, page_lang, page_number
from sync.timeutil import business_date

__all__ = ("ROUTER", "SORT_LABELS")

SORT_LABELS = (
    ("village", "按乡镇、村", "township and village"),
    ("state", "状态（最差在前）", "state (worst first)"),
    ("last_contact", "最近联系", "last contact"),
    ("sets_waiting", "待收批次", "sets waiting"),
    ("changes_waiting", "未封批变更", "changes waiting"),
    ("waiting_age", "最早待收", "oldest waiting"),
    ("clock", "时钟偏差", "clock offset"),
    ("forks", "分叉", "forks"),
    ("rejected", "拒收", "rejected"),
    ("station", "代办点编号", "station id"),
)
assert tuple(key for key, _, _ in SORT_LABELS) == SORT_KEYS


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


@get("/", sync_to_thread=True)
def dashboard_page(
    request: Request[Any, Any, Any],
    store: NamedDependency[HubStore],
    settings: HubSettings,
    now: Now,
    township: FromQuery[str | None] = None,
    state_filter: Annotated[str | None, QueryParameter(name="state")] = None,
    sort: FromQuery[str] = "village",
    order: FromQuery[str] = "asc",
) -> Template:
    """Problems first: counts that filter, the stations needing attention, then every village and station."""
    state = _choice(state_filter, (*STATES, "problems"))
    sort = _choice(sort, SORT_KEYS) or "village"
    limits = Thresholds.from_settings(settings)
    rows = station_rows(store, now=now, limits=limits)
    tree = store.divisions()
    chosen = next((tw for tw in tree.townships if tw.code == township), None)
    report = report_from_rows(
        rows,
        tree,
        now=now,
        limits=limits,
        township=township or None,
        state=state,
        sort=sort,
        descending=order == "desc",
    )
    # The counts and the attention list are of the chosen township (the whole county when none), so a
    # count box links to exactly as many rows as it says.
    local = filter_rows(rows, township=township or None)
    counts = summary(local)
    en = page_lang(request)[0] == "en"
    labels = {key: en_label if en else zh for key, (zh, en_label) in STATE_LABELS.items()}
    labels["problems"] = "Need attention" if en else "需关注"
    labels[""] = "All" if en else "全部"
    count_links = [
        ("problems", labels["problems"], counts["attention"]),
        *((key, labels[key], counts[key]) for key in STATES),
        ("", labels[""], len(local)),
    ]
    query = {k: v for k, v in (("township", township), ("state", state), ("sort", sort), ("order", order)) if v}
    return page(
        request,
        "dashboard.html.j2",
        {
            "report": report,
            "filters": report["filters"],
            "states": STATES,
            "sort_keys": SORT_LABELS,
            "grouped": sort == "village",
            "refresh_seconds": settings.refresh_seconds,
            "csv_url": "/api/v1/status.csv" + (f"?{urlencode(query)}" if query else ""),
            "counts": counts,
            "count_links": count_links,
            "chosen_label": labels.get(state or "", ""),
            "township_name": chosen.name_zh if chosen else "",
            "attention": worst_first(local),
            # The whole county whatever the filters: the picture is the overview the table is not.
            "county_grid": county_grid(rows),
            "upstream": _province_link(store),
        },
    )


def _province_link(store: HubStore) -> dict[str, Any] | None:
    """A county's forwarding to its province for the dashboard (None when not enrolled upstream): the link's
    state, a county fork with what to do, and each station whose sets the province holds aside with what to do."""
    status = link_status(store)
    if status is None:
        return None
    county = str(status["county"])
    fork = fork_error(county, int(status["fork_seq"])) if status["fork_seq"] is not None else None
    return {
        **status,
        "fork_advice": (fork.zh, fork.en) if fork else None,
        "held_aside": [(notice, *held_aside_advice(county, notice)) for notice in status["station_forks"]],
    }


@get("/stations/{station_id:str}", sync_to_thread=True)
def station_page(
    request: Request[Any, Any, Any],
    station_id: FromPath[str],
    store: NamedDependency[HubStore],
    settings: HubSettings,
    now: Now,
) -> Template:
    """One station: its whole contact record, recent contacts, open forks and rejected changes."""
    row = station_detail(store, station_id, now=now, limits=Thresholds.from_settings(settings))
    if row is None:
        return error_page(request, 404, f"没有代办点 {station_id}", f"No station {station_id}")
    return page(request, "station.html.j2", {"row": row})


@get("/figures", sync_to_thread=True)
def figures_page(
    request: Request[Any, Any, Any], store: NamedDependency[HubStore], settings: HubSettings, now: Now
) -> Template:
    """County figures: counts, rates and averages only, no personal data; charts of weeks, overdue, sync lag."""
    today = business_date(now)
    figures = county_figures(store, today=today)
    charts = figure_charts(
        store, figures, today=today, now=now, limits=Thresholds.from_settings(settings), lang=page_lang(request)[0]
    )
    return page(
        request,
        "figures.html.j2",
        {"figures": figures, "charts": charts, "satisfaction": satisfaction(store, today=today)},
    )


@get("/audit", sync_to_thread=True)
def audit_page(
    request: Request[Any, Any, Any],
    store: NamedDependency[HubStore],
    user: FromQuery[str | None] = None,
    case_no: FromQuery[str | None] = None,
    page_no: FromQuery[str | None] = None,
) -> Template:
    """Who viewed full ID numbers of which case and when (never the numbers)."""
    number = page_number(request, page_no)
    if not isinstance(number, int):
        return number  # the 400 page: never an offset SQLite cannot hold (a 500)
    entries = store.audit_entries(limit=101, offset=(number - 1) * 100, user_name=user or None, case_no=case_no or None)
    return page(
        request,
        "audit.html.j2",
        {
            "entries": entries[:100],
            "more": len(entries) > 100,
            "page": number,
            "filters": {"user": user, "case_no": case_no},
        },
    )


ROUTER = Router(
    "/dashboard",
    route_handlers=[dashboard_page, station_page, figures_page, audit_page],
    guards=[requires("admin")],
    include_in_schema=False,
)
"""The administrator's pages, all under /dashboard and all for the admin role."""
