"""The JSON API behind the dashboard, the desk and ``hub status`` (bearer token or session), and /metrics."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.dto import MsgspecDTO
from litestar.params import Body, FromPath, FromQuery, QueryParameter

from hub.dashboard import (
    SORT_KEYS,
    STATES,
    Thresholds,
    filter_rows,
    sort_rows,
    station_detail,
    station_rows,
    status_report,
    to_csv,
)
from hub.departments import departments
from hub.desk import actions_for, admin_case_summary, case_view, decide_for_department, department_case_summary
from hub.figures import county_figures
from hub.settings import Settings
from hub.store import HubStore
from hub.upstream import is_province
from hub.views import station_summary
from hub.web.api_models import (
    AuditEntry,
    CaseDetail,
    CaseSummary,
    DecisionRequest,
    DepartmentInfo,
    Figures,
    Me,
    StationDetail,
    StatusReport,
    error_responses,
)
from hub.web.deps import HubSettings, Metrics, Now
from hub.web.errors import HubHTTPError
from hub.web.guards import client_ip, principal_of, requires
from hub.web.metrics import CONTENT_TYPE
from hub.web.upstream_api import province_status
from sync.text import spreadsheet_cell
from sync.timeutil import business_date

__all__ = ("ROUTER", "DecisionRequest", "metrics")

_ADMIN, _DEPARTMENT, _ANYONE = [requires("admin")], [requires("department")], [requires()]

# The errors each operation can answer, declared in the OpenAPI schema (every one is hub.web.api_models.ErrorBody):
# 401 from the guards, 403 where a role is needed, 400 wherever a parameter can be of the wrong type,
# 503 wherever the database is read (the guards read it too).
_ANYONE_ERRORS = error_responses(401, 503)
_ADMIN_ERRORS = error_responses(401, 403, 503)
_ADMIN_QUERY_ERRORS = error_responses(400, 401, 403, 503)
_ANY_QUERY_ERRORS = error_responses(400, 401, 503)
_DECISION = msgspec.json.Decoder(DecisionRequest)


class _DecisionBody(MsgspecDTO[DecisionRequest]):
    """Declares the decision's body in the OpenAPI schema; decodes it with msgspec's typed JSON decoder, as before."""

    __schema_name__ = "DecisionRequest"

    def decode_bytes(self, value: bytes) -> DecisionRequest:
        """JSON whatever the content type says, strictly typed: a wrong type or an unknown field is refused at
        its first byte (400 malformed, with msgspec's reason), where Litestar's own JSON path decodes untyped
        first and a body nested a hundred thousand deep raised RecursionError (a 500)."""
        return _DECISION.decode(value)


def _limits(settings: Settings, warn_days: float | None, danger_days: float | None) -> Thresholds:
    limits = Thresholds.from_settings(settings, warn_days, danger_days)
    if not 0 <= limits.warn_days <= limits.danger_days <= 3650:  # also refuses inf and nan
        raise HubHTTPError(
            "bad_input", zh="须满足 0 ≤ warn_days ≤ danger_days ≤ 3650", en="need 0 <= warn_days <= danger_days <= 3650"
        )
    return limits


def _checked(state: str | None, sort: str, order: str) -> None:
    if state not in (None, "", "problems", *STATES) or sort not in SORT_KEYS or order not in ("asc", "desc"):
        raise HubHTTPError(
            "bad_input",
            zh="state、sort 或 order 参数无效",
            en=f"state is one of {', '.join(STATES)}, problems; sort one of {', '.join(SORT_KEYS)}; order asc or desc",
        )


@get("/me", guards=_ANYONE, sync_to_thread=False, responses=_ANYONE_ERRORS)
def me(request: Request[Any, Any, Any]) -> Me:
    """The account behind this request (any role)."""
    p = principal_of(request)
    return Me(name=p.name, role=p.role, department=p.department, via=p.via)


@get("/departments", guards=_ANYONE, sync_to_thread=True, responses=_ANYONE_ERRORS)
def list_departments(store: NamedDependency[HubStore]) -> list[DepartmentInfo]:
    """Department keys (item-code prefixes of the newest catalogue) and their names."""
    return [msgspec.convert(msgspec.to_builtins(d), DepartmentInfo) for d in departments(store.catalog())]


@get("/status", guards=_ADMIN, sync_to_thread=True, responses=_ADMIN_QUERY_ERRORS)
def status(
    store: NamedDependency[HubStore],
    settings: HubSettings,
    now: Now,
    township: FromQuery[str | None] = None,
    state_filter: Annotated[str | None, QueryParameter(name="state")] = None,
    sort: FromQuery[str] = "village",
    order: FromQuery[str] = "asc",
    warn_days: FromQuery[float | None] = None,
    danger_days: FromQuery[float | None] = None,
) -> StatusReport:
    """The station table (every village; its stations or "not enrolled"), the township roll-up and a summary.

    ``state`` is one of danger, warning, never, ok, revoked, not_enrolled, or problems (stations needing
    attention). Thresholds default to the hub's settings (3 and 7 days).
    """
    _checked(state_filter, sort, order)
    if is_province(store):  # no stations of its own: its counties, rolled up (hub.web.upstream_api)
        return province_status(store, now=now, limits=_limits(settings, warn_days, danger_days), sort=sort, order=order)
    report = status_report(
        store,
        now=now,
        limits=_limits(settings, warn_days, danger_days),
        township=township or None,
        state=state_filter or None,
        sort=sort,
        descending=order == "desc",
    )
    return msgspec.convert(report, StatusReport)


@get("/status.csv", guards=_ADMIN, sync_to_thread=True, media_type="text/csv", responses=_ADMIN_QUERY_ERRORS)
def status_csv(
    store: NamedDependency[HubStore],
    settings: HubSettings,
    now: Now,
    township: FromQuery[str | None] = None,
    state_filter: Annotated[str | None, QueryParameter(name="state")] = None,
    sort: FromQuery[str] = "village",
    order: FromQuery[str] = "asc",
    lang: FromQuery[str] = "zh",
) -> Response[str]:
    """The station table as CSV (UTF-8 with BOM, China time), with the same filters as the page."""
    _checked(state_filter, sort, order)
    limits = _limits(settings, None, None)
    rows = sort_rows(
        filter_rows(
            station_rows(store, now=now, limits=limits),
            township=township or None,
            state=state_filter or None,
        ),
        sort,
        descending=order == "desc",
    )
    # Every text cell defused: a station's software string or error reads "=HYPERLINK(...)" as a
    # formula in a spreadsheet (OWASP's rule: a leading apostrophe); numbers stay numbers.
    cells = [{key: spreadsheet_cell(value) for key, value in row.items()} for row in rows]
    return Response(
        to_csv(cells, "en" if lang == "en" else "zh"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="stations.csv"'},
    )


@get(
    "/status/stations/{station_id:str}",
    guards=_ADMIN,
    sync_to_thread=True,
    responses=error_responses(400, 401, 403, 404, 503),
)
def status_station(
    station_id: FromPath[str], store: NamedDependency[HubStore], settings: HubSettings, now: Now
) -> StationDetail:
    """One station's row with its last 100 contacts, open forks and rejected changes (codes only)."""
    detail = station_detail(store, station_id, now=now, limits=_limits(settings, None, None))
    if detail is None:
        raise HubHTTPError("not_found", zh=f"没有代办点 {station_id}", en=f"no station {station_id}")
    return msgspec.convert(detail, StationDetail)


@get("/figures", guards=_ADMIN, sync_to_thread=True, responses=_ADMIN_ERRORS)
def figures(store: NamedDependency[HubStore], now: Now) -> Figures:
    """County figures without personal data, by department and township, and open 容缺 commitments.

    Received, accepted, completed, completion rate, overdue, average working days to decision.
    """
    return msgspec.convert(county_figures(store, today=business_date(now)), Figures)


@get("/audit", guards=_ADMIN, sync_to_thread=True, responses=_ADMIN_QUERY_ERRORS)
def audit(
    store: NamedDependency[HubStore],
    user: FromQuery[str | None] = None,
    case_no: FromQuery[str | None] = None,
    limit: FromQuery[int] = 200,
    offset: FromQuery[int] = 0,
) -> list[AuditEntry]:
    """The audit log, newest first: who viewed full ID numbers of which case (never the numbers)."""
    if not 1 <= limit <= 1000 or not 0 <= offset < 2**31:  # an offset SQLite cannot hold was a 500
        raise HubHTTPError(
            "bad_input",
            zh="limit 应在 1 到 1000 之间，offset 应在 0 到 2147483647 之间",
            en="limit must be 1..1000 and offset 0..2147483647",
        )
    return [AuditEntry(**e) for e in store.audit_entries(limit=limit, offset=offset, user_name=user, case_no=case_no)]


@get("/stations", guards=_ADMIN, sync_to_thread=True, responses=_ADMIN_ERRORS)
def list_stations(store: NamedDependency[HubStore], settings: HubSettings) -> list[dict[str, Any]]:
    """Enrolled stations with their contact records (as ``hub station list --json``)."""
    return [station_summary(store, s, settings.clock_skew_ms) for s in store.stations()]


@get("/cases", guards=[requires("admin", "department")], sync_to_thread=True, responses=_ANY_QUERY_ERRORS)
def list_cases(
    request: Request[Any, Any, Any],
    store: NamedDependency[HubStore],
    now: Now,
    village: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    limit: FromQuery[int] = 100,
    offset: FromQuery[int] = 0,
) -> list[CaseSummary]:
    """Cases, newest first, as the caller's role may see them.

    An administrator gets numbers, statuses and dates only; a department its own cases with the
    applicant's name and masked ID and phone.
    """
    if not 1 <= limit <= 1000 or not 0 <= offset < 2**31:
        raise HubHTTPError(
            "bad_input", zh="limit 应在 1 到 1000 之间，offset 不能为负", en="limit must be 1..1000 and offset >= 0"
        )
    principal = principal_of(request)
    wanted = status.upper() if status else None
    if principal.role == "admin":
        rows = store.list_cases(village_code=village, status=wanted, limit=limit, offset=offset)
        return [CaseSummary(**admin_case_summary(r)) for r in rows]
    today = business_date(now).isoformat()
    rows = store.department_cases(
        principal.department or "", status=wanted, village=village, limit=limit, offset=offset
    )
    return [CaseSummary(**department_case_summary(r, today)) for r in rows]


@get(
    "/cases/{case_no:str}",
    guards=_DEPARTMENT,
    sync_to_thread=True,
    responses=error_responses(400, 401, 403, 404, 503),
)
def case_detail(
    request: Request[Any, Any, Any],
    case_no: FromPath[str],
    store: NamedDependency[HubStore],
    now: Now,
    reveal: FromQuery[bool] = False,
) -> CaseDetail:
    """One case of the caller's department.

    ``reveal=true`` adds the full ID and phone numbers and is written to the audit log.
    """
    view = case_view(store, principal_of(request), case_no, reveal=reveal, ip=client_ip(request), now=now)
    return msgspec.convert({**view, "actions": actions_for(view["status"], "en")}, CaseDetail)


@post(
    "/cases/{case_no:str}/decision",
    guards=_DEPARTMENT,
    status_code=200,
    sync_to_thread=True,
    dto=_DecisionBody,
    return_dto=None,
    responses=error_responses(400, 401, 403, 404, 409, 413, 503),
)
def post_decision(
    request: Request[Any, Any, Any],
    case_no: FromPath[str],
    store: NamedDependency[HubStore],
    now: Now,
    data: Annotated[
        DecisionRequest,
        Body(
            description="The decision; a field not listed is refused (400 malformed)",
            schema_extra={"additionalProperties": False},
        ),
    ],
) -> dict[str, Any]:
    """A department's decision on one of its cases, sent down the village's feeds.

    The lifecycle decides (an illegal move: 409). With a session cookie, send the CSRF token as
    ``X-CSRF-Token``.
    """
    decision = decide_for_department(
        store,
        principal_of(request),
        case_no,
        data.status,
        reason=data.reason,
        outcome=data.outcome,
        missing=data.missing,
        now=now,
    )
    return msgspec.to_builtins(decision)


@get("/metrics", sync_to_thread=True, media_type=MediaType.TEXT, responses=error_responses(401, 503))
def metrics(request: Request[Any, Any, Any], settings: HubSettings, metrics: Metrics) -> Response[bytes]:
    """Prometheus text format; no personal data.

    Contacts, ingested sets and changes, rejected, forks, stations by state, request latency. Open
    unless the hub was started with HUB_METRICS_TOKEN.
    """
    expected = settings.metrics_token
    if expected:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), expected):
            raise HubHTTPError("unauthenticated", zh="需要指标令牌", en="/metrics needs the metrics bearer token")
    return Response(metrics.render(), media_type=CONTENT_TYPE)


ROUTER = Router(
    "/api/v1",
    route_handlers=[
        me,
        list_departments,
        status,
        status_csv,
        status_station,
        figures,
        audit,
        list_stations,
        list_cases,
        case_detail,
        post_decision,
    ],
)
"""The JSON API under /api/v1 (each operation names the role it needs); /metrics is served with the station
protocol, open or behind its own token (hub.web.app)."""
