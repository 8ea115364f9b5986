"""The hub's HTTP app (Litestar): enrolment, health, and the wiring of everything else.

The exchange (and 0.3's push and feed, gone), the dashboard, desk, JSON API, metrics and OpenAPI
schema are wired in from the other modules of hub.web (sync_api, pages, admin, desk, api, metrics).
"""

from __future__ import annotations

import datetime as dt
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import RawBody

from hub.enroll import admit_enrolment, enroll
from hub.keys import IdentityFile, load_identity
from hub.notify.daily import lifespans as alert_lifespans
from hub.settings import Settings
from hub.store import HubStore
from hub.store import close_pool as close_store_pool
from hub.store import open_pool as open_store_pool
from hub.throttle import Throttled
from hub.web import admin, api, desk, joint, pages, scans_api, sequential_deps, sync_api, township
from hub.web.access_log import redact_access_log
from hub.web.api_models import error_responses
from hub.web.deps import DEPENDENCIES, Clock, HubSettings, Identity, close_idle
from hub.web.errors import EXCEPTION_HANDLERS, HubHTTPError, throttled_response
from hub.web.guards import AuthError, auth_error_handler, client_ip
from hub.web.metrics import HubMetrics, MetricsMiddleware
from hub.web.ratings_routes import RATING_ROUTERS
from hub.web.security_headers import SecurityHeadersMiddleware
from hub.web.upstream_api import PROVINCE_PAGES, UPSTREAM, province_only_desk, start_forwarder, stop_forwarder
from sync.protocol import MEDIA_TYPE, PROTOCOL_VERSION, EnrollRequest, ProtocolError, software_ok
from sync.timeutil import utc_now

__all__ = ("app_from_env", "create_app")

_ENCODER = msgspec.msgpack.Encoder()
_ENROLL = msgspec.msgpack.Decoder(EnrollRequest)


def _msgpack(data: Any) -> Response[bytes]:
    return Response(_ENCODER.encode(data), media_type=MEDIA_TYPE, status_code=200)


ENROLL_MAX_INFLATED = 64 * 1024
"""An enrolment request inflates to at most this (it is about 200 bytes): its proof, the code's MAC,
is inside the body, so it is the one body inflated before it is authenticated."""


def _encoding(request: Request[Any, Any, Any]) -> str:
    """The body's content encoding, "identity" or "gzip", once its media type is msgpack (415 otherwise)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != MEDIA_TYPE:
        raise HubHTTPError(
            "unsupported_media_type", zh=f"请求类型应为 {MEDIA_TYPE}", en=f"send {MEDIA_TYPE}, not {media or 'nothing'}"
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return "identity"
    if encoding != "gzip":
        raise HubHTTPError(
            "unsupported_media_type",
            zh=f"不支持的内容编码 {encoding!r}（请使用 gzip）",
            en=f"content encoding {encoding!r} is not accepted (use gzip)",
        )
    return encoding


def _inflated(state: State, settings: Settings, body: bytes, encoding: str, limit: int) -> bytes:
    """The body as msgpack bytes: gzip inflated with a hard cap (413), a few bodies at a time (503 when
    the gate stays shut), so concurrent bombs cannot add up."""
    if encoding == "identity":
        return body
    gate: threading.BoundedSemaphore = state["inflating"]
    if not gate.acquire(timeout=settings.inflate_wait_seconds):
        raise HubHTTPError(
            "busy",
            zh="县平台正在处理其他压缩数据；请稍后重试",
            en="the hub is inflating other bodies; try again shortly",
        )
    try:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            # max_length stops a decompression bomb after limit + 1 bytes, whatever it would grow to.
            data = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise HubHTTPError("malformed", zh="gzip 压缩内容已损坏", en=f"the gzip body is damaged ({exc})") from None
    finally:
        gate.release()
    if len(data) > limit or inflater.unconsumed_tail:
        raise HubHTTPError("too_large", zh="解压后的内容超过大小限制", en=f"the body inflates past {limit} bytes")
    if not inflater.eof:
        raise HubHTTPError("malformed", zh="gzip 压缩内容不完整", en="the gzip body is truncated")
    return data


def _body(request: Request[Any, Any, Any], state: State, settings: Settings, body: bytes, *, limit: int) -> bytes:
    """The request body as msgpack bytes: media type checked (415), gzip inflated with a hard cap (413)."""
    return _inflated(state, settings, body, _encoding(request), limit)


@get("/healthz", sync_to_thread=False)
def healthz(identity: Identity) -> dict[str, Any]:
    """Liveness: the hub answers with its id and protocol version."""
    return {"status": "ok", "hub_id": identity.hub_id, "protocol": PROTOCOL_VERSION}


@post(
    "/api/v1/enroll",
    status_code=200,
    sync_to_thread=True,
    responses=error_responses(400, 403, 413, 415, 429, protocol=True),
)
def enroll_station(
    request: Request[Any, Any, Any],
    state: State,
    body: RawBody,
    store: NamedDependency[HubStore],
    settings: HubSettings,
    identity: Identity,
    clock: Clock,
) -> Response[bytes]:
    """A station enrols with a one-time code (docs/protocol.md, Enrolment); 429 past the per-address limit."""
    admit_enrolment(state, settings, client_ip(request), now=clock())
    try:
        enrol_request = _ENROLL.decode(_body(request, state, settings, body, limit=ENROLL_MAX_INFLATED))
    except RecursionError:
        raise ProtocolError(zh="请求内容嵌套过深", en="the body is nested too deep", code="malformed") from None
    if not software_ok(enrol_request.software):
        # Not under the code's MAC: kept only in a shape that no terminal, sheet or page acts on.
        enrol_request = msgspec.structs.replace(enrol_request, software="")
    return _msgpack(enroll(store, identity, enrol_request, now=clock))


SYNC = Router(
    "/",
    route_handlers=[
        healthz,
        enroll_station,
        sync_api.exchange,
        scans_api.scans,
        sync_api.push,
        sync_api.feed,
        api.metrics,
    ],
    # No bearer token here: a station signs each request (or shows its enrolment code); /metrics has its own token.
    security=[{}],
)
"""The station protocol (enrolment, the exchange, 0.3's push and feed answering 410), liveness and the Prometheus metrics."""


def create_app(settings: Settings, *, now: Callable[[], dt.datetime] = utc_now) -> Litestar:
    """The hub's ASGI app over an initialised data folder.

    Args:
        settings: data folder and limits.
        now: the hub's clock (tests pass a fixed one).

    Raises:
        StoreError: the folder holds no hub (run ``hub init``).
    """
    identity = load_identity(settings.data_dir)
    HubStore.open_existing(settings.data_dir).close()  # schema upgraded once, here, not per request
    sequential_deps.install()  # no task group per request (hub.web.sequential_deps)
    metrics = HubMetrics(settings, now)
    pool = _StorePool(settings.data_dir)
    return Litestar(
        route_handlers=[
            SYNC,
            api.ROUTER,
            pages.ROUTER,
            admin.ROUTER,
            desk.ROUTER,
            township.ROUTER,
            joint.DESK_ROUTER,
            joint.TOWNSHIP_ROUTER,
            UPSTREAM,
            PROVINCE_PAGES,
            *RATING_ROUTERS,
        ],
        dependencies=DEPENDENCIES,
        exception_handlers={**EXCEPTION_HANDLERS, AuthError: auth_error_handler, Throttled: throttled_response},
        middleware=[MetricsMiddleware(metrics), SecurityHeadersMiddleware(settings)],
        before_request=province_only_desk,  # a province hub is read-only for cases (hub.web.upstream_api)
        # The PostgreSQL store's connection pool first (nothing for SQLite), then forwarding to the province.
        on_startup=[pool.open, start_forwarder],
        on_shutdown=[stop_forwarder, pool.close],
        state=State(
            {
                "settings": settings,
                "identity": identity,
                "identity_file": IdentityFile(settings.data_dir, identity),
                "now": now,
                "metrics": metrics,
                "inflating": threading.BoundedSemaphore(settings.max_concurrent_inflations),
            }
        ),
        template_config=pages.template_config(),
        lifespan=alert_lifespans(settings.data_dir, now),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=_openapi(),
        debug=settings.debug,
    )


class _StorePool:
    """The app's lifespan hooks for the store's connection pool (PostgreSQL; nothing on SQLite)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.url: str | None = None

    def open(self) -> None:
        self.url = open_store_pool(self.data_dir)

    def close(self) -> None:
        close_store_pool(self.url)
        self.url = None
        close_idle(self.data_dir)  # the SQLite stores kept open between requests


def _openapi() -> OpenAPIConfig:
    # The schema describes the API's shape and holds no data, so it is public; only JSON (no UI that
    # would load scripts from a CDN a county LAN may not reach).
    return OpenAPIConfig(
        title="County hub API",
        version="1",
        path="/schema",
        use_handler_docstrings=True,
        render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
        components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}),
        security=[{"bearer": []}],
    )


def app_from_env() -> Litestar:
    """The uvicorn factory: ``uvicorn --factory hub.app:app_from_env`` (data folder from HUB_DATA_DIR)."""
    redact_access_log()
    return create_app(Settings.from_env())
