"""County → province over HTTP: the province's enrolment and sync endpoints, its dashboard, the read-only desk,
and the county's forwarder that runs inside ``hub serve``."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromQuery, RawBody
from litestar.response import Redirect, Template

from hub.dashboard import Thresholds
from hub.province import UpstreamRefused, enrol_county, ingest_upstream, require_province
from hub.province_auth import check_signer, county_signer
from hub.province_view import ProvinceStatus, province_report
from hub.settings import Settings
from hub.store import HubStore
from hub.upstream import UpstreamError, is_province
from hub.upstream_link import SYNC_PATH, sign_answer, sync_upstream
from hub.web.api_models import StatusFilters, StatusReport, StatusSummary, StatusThresholds, error_responses
from hub.web.deps import Clock, HubSettings, Identity, Now
from hub.web.errors import HubHTTPError, error_response
from hub.web.guards import client_ip, requires
from hub.web.pages import page, page_number
from sync.errors import ProxyAppError
from sync.protocol import MEDIA_TYPE, ProtocolError
from sync.protocol.upstream import HEADER_COUNTY, HEADER_COUNTY_SIGNATURE, CountyEnrollRequest, UpstreamRequest
from sync.timeutil import iso_utc, utc_now

__all__ = ("PROVINCE_PAGES", "UPSTREAM", "province_only_desk", "province_status", "start_forwarder", "stop_forwarder")

log = logging.getLogger("hub")
_ENCODER = msgspec.msgpack.Encoder()
_ENROLL = msgspec.msgpack.Decoder(CountyEnrollRequest)
_REQUEST = msgspec.msgpack.Decoder(UpstreamRequest)
ENROLL_MAX_BYTES = 64 * 1024
FORWARD_SECONDS_ENV = "HUB_UPSTREAM_SECONDS"
"""Seconds between two forwarding rounds of ``hub serve`` at a county enrolled upstream (default 60; 0 = off)."""


def _msgpack_body(request: Request[Any, Any, Any], body: bytes, limit: int) -> bytes:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != MEDIA_TYPE:
        raise HubHTTPError("unsupported_media_type", zh=f"请求类型应为 {MEDIA_TYPE}", en=f"send {MEDIA_TYPE}")
    if len(body) > limit:
        raise HubHTTPError("too_large", zh="请求内容过大", en=f"the body is larger than {limit} bytes")
    return body


def _decode(decoder: msgspec.msgpack.Decoder[Any], data: bytes, what: str) -> Any:
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise ProtocolError(
            zh=f"{what}格式错误", en=f"the {what} request is malformed ({exc})", code="malformed"
        ) from None


@post(
    "/api/v1/upstream/enroll",
    status_code=200,
    sync_to_thread=True,
    responses=error_responses(400, 403, 413, 415, 429, protocol=True),
)
def county_enroll(
    request: Request[Any, Any, Any],
    state: State,
    body: RawBody,
    store: NamedDependency[HubStore],
    settings: HubSettings,
    identity: Identity,
    clock: Clock,
) -> Response[Any]:
    """A county hub enrols at this province with a one-time code (``hub county add``)."""
    from hub.enroll import admit_enrolment  # the per-address limit stations have, shared

    admit_enrolment(state, settings, client_ip(request), now=clock())
    enrol = _decode(_ENROLL, _msgpack_body(request, body, ENROLL_MAX_BYTES), "登记")
    try:
        answer = enrol_county(store, identity, enrol, now=clock())
    except UpstreamRefused as exc:
        return error_response(exc.status, exc.code, zh=exc.zh, en=exc.en)
    return Response(_ENCODER.encode(answer), media_type=MEDIA_TYPE)


@post(
    "/api/v1/upstream/sync",
    status_code=200,
    sync_to_thread=True,
    responses=error_responses(400, 401, 403, 404, 409, 413, 415, 503, protocol=True),
)
def county_sync(
    request: Request[Any, Any, Any],
    body: RawBody,
    store: NamedDependency[HubStore],
    settings: HubSettings,
    identity: Identity,
    clock: Clock,
) -> Response[Any]:
    """A county's sets, in seq order: each verified (its own signature, every station set's, the disclosed
    keys, the receipts) and kept in its own transaction; a refused set answers 4xx with ``next_seq``."""
    if not is_province(store):
        raise HubHTTPError("not_found", zh="这不是省级平台", en="this hub is not a province", status=404)
    data = _msgpack_body(request, body, settings.max_body_bytes)
    try:
        # Every byte checked before one is read.
        signer = county_signer(
            store, request.headers.get(HEADER_COUNTY), request.headers.get(HEADER_COUNTY_SIGNATURE), SYNC_PATH, data
        )
        upstream = _decode(_REQUEST, data, "上报")
        check_signer(store, signer, upstream.county)
        answer = ingest_upstream(store, identity, upstream, via="http", now=clock())
    except UpstreamRefused as exc:
        return error_response(exc.status, exc.code, zh=exc.zh, en=exc.en, extra={"next_seq": exc.next_seq})
    if upstream.signed_answer:  # signed with the province's key and bound to this request, as the county asks
        return Response(sign_answer(identity, upstream.county, answer, request=body), media_type=MEDIA_TYPE)
    return Response(_ENCODER.encode(answer), media_type=MEDIA_TYPE)


UPSTREAM = Router("/", route_handlers=[county_enroll, county_sync], security=[{}])
"""The county-to-province protocol (signed sets and enrolment codes, no bearer token)."""


@get("/api/v1/province", guards=[requires("admin")], sync_to_thread=True, responses=error_responses(400, 401, 403, 503))
def province_counties(
    store: NamedDependency[HubStore], settings: HubSettings, now: Now, county: FromQuery[str | None] = None
) -> ProvinceStatus:
    """The province's counties: link, lag, stations rolled up, case figures (no personal data)."""
    require_province(store)
    return province_report(
        store, now=now, warn_days=settings.warn_after_days, danger_days=settings.danger_after_days, county=county
    )


PROVINCE_PAGE_ROWS = 50
"""Counties on one page of /province (a province of 100 counties takes two; problems come first)."""


@get("/province", guards=[requires("admin")], sync_to_thread=True, include_in_schema=False)
def province_page(
    request: Request[Any, Any, Any],
    store: NamedDependency[HubStore],
    settings: HubSettings,
    now: Now,
    page_no: FromQuery[str | None] = None,
) -> Template:
    """The province dashboard: one row per county, problems first, paginated by county."""
    require_province(store)
    number = page_number(request, page_no)
    if not isinstance(number, int):
        return number  # the 400 page
    report = province_report(store, now=now, warn_days=settings.warn_after_days, danger_days=settings.danger_after_days)
    order = {"fork": 0, "revoked": 1, "danger": 2, "lagging": 3, "never": 4, "ok": 5}
    rows = sorted(report.counties, key=lambda r: (order.get(r.state, 6), r.county))
    pages = max(1, -(-len(rows) // PROVINCE_PAGE_ROWS))
    current = min(number, pages)
    shown = rows[(current - 1) * PROVINCE_PAGE_ROWS : current * PROVINCE_PAGE_ROWS]
    return page(request, "province.html.j2", {"report": report, "rows": shown, "page_no": current, "pages": pages})


PROVINCE_PAGES = Router("/", route_handlers=[province_counties, province_page])


def province_status(store: HubStore, *, now: dt.datetime, limits: Thresholds, sort: str, order: str) -> StatusReport:
    """``GET /api/v1/status`` at a province: the county shape (no stations of its own) with ``province`` filled."""
    empty = dict.fromkeys(StatusSummary.__struct_fields__, 0)
    return StatusReport(
        generated_at=iso_utc(now),
        thresholds=msgspec.convert(limits, StatusThresholds, from_attributes=True),
        filters=StatusFilters(township=None, state=None, sort=sort, order=order),
        summary=StatusSummary(**empty),
        townships=[],
        stations=[],
        province=province_report(store, now=now, warn_days=limits.warn_days, danger_days=limits.danger_days),
    )


def province_only_desk(request: Request[Any, Any, Any]) -> Redirect | None:
    """Before every request: at a province the desk and decisions are refused (departments decide at their
    county), and the county's station dashboard, which a province has no stations for, leads to /province."""
    path = request.url.path
    deciding = path.startswith("/desk") or (path.startswith("/api/v1/cases/") and path.endswith("/decision"))
    if not deciding and path not in ("/dashboard", "/dashboard/"):
        return None
    state = request.app.state
    role = state.get("hub_role")
    if role is None:
        with HubStore.open(state["settings"].data_dir, check_same_thread=False, migrate=False) as store:
            role = "province" if is_province(store) else "county"
        state["hub_role"] = role
    if role != "province":
        return None
    if not deciding:
        return Redirect("/province")
    raise HubHTTPError(
        "forbidden",
        zh="省级平台只读：办件由各县（区）部门在县级平台审批，请到所属县级平台办理",
        en="the province hub is read-only for cases: departments decide at their county's hub",
        status=403,
    )


# -- the forwarder inside `hub serve` ---------------------------------------------------------------


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get(FORWARD_SECONDS_ENV, "60")))
    except ValueError:
        return 60.0


def _forward_loop(settings: Settings, identity_source: Any, stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        try:
            with HubStore.open(settings.data_dir, check_same_thread=False, migrate=False) as store:
                if is_province(store) or store.upstream_link() is None:
                    continue
                sync_upstream(store, identity_source.current(), now=utc_now())
        except UpstreamError as exc:  # kept in the link's last_error; codes only in the log
            log.warning("upstream forwarding: %s", exc.code)
        except ProxyAppError as exc:
            log.warning("upstream forwarding failed: %s", exc.code)
        except Exception:  # a background task must never die silently or take the server down
            log.exception("upstream forwarding failed")


def start_forwarder(app: Litestar) -> None:
    """Litestar startup hook: forward to the province every ``HUB_UPSTREAM_SECONDS`` (a daemon thread)."""
    app_state = app.state
    every = _interval()
    if not every:
        return
    stop = threading.Event()
    thread = threading.Thread(
        target=_forward_loop,
        args=(app_state["settings"], app_state["identity_file"], stop, every),
        name="hub-upstream",
        daemon=True,
    )
    app_state["upstream_stop"] = (stop, thread)
    thread.start()


def stop_forwarder(app: Litestar) -> None:
    """Litestar shutdown hook: stop the forwarder and wait for a round in flight."""
    running = app.state.get("upstream_stop")
    if running:
        stop, thread = running
        stop.set()
        thread.join(30)
