"""The hub's HTTP API (Litestar): enrolment, push, feed, health, and the admin case API."""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, RawBody

from hub.auth import Signer, path_qs, require_admin, verify_request
from hub.views import case_summary, station_summary
from hub.decisions import decide
from hub.enroll import enroll
from hub.errors import EXCEPTION_HANDLERS, HubHTTPError
from hub.feed import read_feed
from hub.ingest import ingest_sets
from hub.keys import HubIdentity, load_identity
from hub.settings import Settings
from hub.store import HubStore
from sync.protocol import MEDIA_TYPE, PROTOCOL_VERSION, EnrollRequest, ProtocolError, PushRequest
from sync.timeutil import utc_now

__all__ = ("DecisionRequest", "app_from_env", "create_app")

_ENCODER = msgspec.msgpack.Encoder()
_PUSH = msgspec.msgpack.Decoder(PushRequest)
_ENROLL = msgspec.msgpack.Decoder(EnrollRequest)


class DecisionRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/cases/{case_no}/decision`` (admin JSON: unknown fields are refused)."""

    status: str
    reason: str | None = None
    outcome: str | None = None
    missing: list[str] = []
    actor: str = "department"
    by: str | None = None


def _settings(request: Request[Any, Any, Any]) -> Settings:
    return request.app.state["settings"]


def _identity(request: Request[Any, Any, Any]) -> HubIdentity:
    return request.app.state["identity"]


def _now(request: Request[Any, Any, Any]) -> dt.datetime:
    return request.app.state["now"]()


def provide_store(state: State) -> Iterator[HubStore]:
    """One connection per request. Opened on the event loop and used by the handler's worker
    thread, hence ``check_same_thread=False``; one owner at a time."""
    store = HubStore.open(state["settings"].data_dir, check_same_thread=False, migrate=False)
    try:
        yield store
    finally:
        store.close()


def _msgpack(data: Any) -> Response[bytes]:
    return Response(_ENCODER.encode(data), media_type=MEDIA_TYPE, status_code=200)


def _body(request: Request[Any, Any, Any], body: bytes) -> bytes:
    """The request body as msgpack bytes: media type checked (415), gzip inflated with a hard cap (413)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != MEDIA_TYPE:
        raise HubHTTPError("unsupported_media_type", f"send {MEDIA_TYPE}, not {media or 'nothing'}",
                           f"请求类型应为 {MEDIA_TYPE}")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise HubHTTPError("unsupported_media_type", f"content encoding {encoding!r} is not accepted (use gzip)",
                           f"不支持的内容编码 {encoding!r}（请使用 gzip）")
    limit = _settings(request).max_inflated_bytes
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        # max_length stops a decompression bomb after limit + 1 bytes, whatever it would grow to.
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise HubHTTPError("malformed", f"the gzip body is damaged ({exc})", "gzip 压缩内容已损坏") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise HubHTTPError("too_large", f"the body inflates past {limit} bytes", "解压后的内容超过大小限制")
    if not inflater.eof:
        raise HubHTTPError("malformed", "the gzip body is truncated", "gzip 压缩内容不完整")
    return data


def _signer(request: Request[Any, Any, Any], store: HubStore, body: bytes) -> Signer:
    return verify_request(store, method=request.method, path_qs=path_qs(request.scope), headers=request.headers,
                          body=body, now=_now(request))


@get("/healthz", sync_to_thread=False)
def healthz(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Liveness: the hub answers with its id and protocol version."""
    return {"status": "ok", "hub_id": _identity(request).hub_id, "protocol": PROTOCOL_VERSION}


@post("/api/v1/enroll", status_code=200, sync_to_thread=True)
def enroll_station(request: Request[Any, Any, Any], body: RawBody, store: NamedDependency[HubStore]) -> Response[bytes]:
    """A station enrols with a one-time code (docs/protocol.md, Enrolment)."""
    enrol_request = _ENROLL.decode(_body(request, body))
    return _msgpack(enroll(store, _identity(request), enrol_request, now=request.app.state["now"]))


@post("/api/v1/sync/push", status_code=200, sync_to_thread=True)
def push(request: Request[Any, Any, Any], body: RawBody, store: NamedDependency[HubStore]) -> Response[bytes]:
    """A station sends its change sets; each is handled in its own transaction."""
    payload = _body(request, body)
    # The signature covers the body as sent (compressed if gzip), so it is checked before inflating.
    signer = _signer(request, store, body)
    station_id = signer.station.station_id
    try:
        pushed = _PUSH.decode(payload)
        if pushed.protocol != PROTOCOL_VERSION:
            raise ProtocolError(f"protocol version {pushed.protocol} is not spoken here",
                                f"协议版本 {pushed.protocol} 不受支持", code="protocol_version")
        if pushed.station_id != station_id:
            raise HubHTTPError("wrong_origin", f"the push names {pushed.station_id}, but {station_id} signed it",
                               f"推送中的代办点 {pushed.station_id} 与签名者 {station_id} 不符")
    except (msgspec.DecodeError, UnicodeDecodeError, ProtocolError, HubHTTPError) as exc:
        code = getattr(exc, "code", "malformed")
        with store.transaction():
            store.record_contact(station_id, signer.contact(_now(request), "push", ok=False, code=code))
        raise
    response = ingest_sets(store, _identity(request), [bytes(s) for s in pushed.sets], station_id=station_id,
                           via="http", now=request.app.state["now"])
    failed = next((r for r in response.results if r.status not in ("accepted", "duplicate")), None)
    with store.transaction():
        store.record_contact(station_id, signer.contact(_now(request), "push", ok=failed is None,
                                                        code=failed.code if failed else None,
                                                        sets=len(response.results)))
    return _msgpack(response)


@get("/api/v1/sync/feed", sync_to_thread=True)
def feed(
    request: Request[Any, Any, Any], store: NamedDependency[HubStore], after: FromQuery[int] = 0,
    limit: FromQuery[int | None] = None,
) -> Response[bytes]:
    """The signer's own feed: sets after ``after`` (which acknowledges those), at most ``limit``."""
    signer = _signer(request, store, b"")
    settings = _settings(request)
    count = settings.feed_limit if limit is None else limit
    if not 0 <= after < 2**53 or not 1 <= count <= settings.feed_limit_max:
        raise HubHTTPError("malformed", f"after must be >= 0 and limit 1..{settings.feed_limit_max}",
                           f"after 不能为负数，limit 应在 1 到 {settings.feed_limit_max} 之间")
    rows, response = read_feed(store, _identity(request), signer.station.station_id, after=after, limit=count,
                               now=_now(request))
    with store.transaction():
        store.record_contact(signer.station.station_id,
                             signer.contact(_now(request), "pull", ok=True, sets=len(rows), feed_after=after))
    return _msgpack(response)


@get("/api/v1/cases", guards=[require_admin], sync_to_thread=True)
def list_cases(
    store: NamedDependency[HubStore], village: FromQuery[str | None] = None, status: FromQuery[str | None] = None,
    limit: FromQuery[int] = 100, offset: FromQuery[int] = 0,
) -> list[dict[str, Any]]:
    """Cases newest first; ID and phone numbers masked (invariant 11)."""
    if not 1 <= limit <= 1000 or not 0 <= offset < 2**31:
        raise HubHTTPError("bad_input", "limit must be 1..1000 and offset >= 0", "limit 应在 1 到 1000 之间，offset 不能为负")
    rows = store.list_cases(village_code=village, status=status.upper() if status else None, limit=limit,
                            offset=offset)
    return [case_summary(row) for row in rows]


@post("/api/v1/cases/{case_no:str}/decision", guards=[require_admin], status_code=200, sync_to_thread=True)
def post_decision(
    request: Request[Any, Any, Any], case_no: FromPath[str], body: RawBody, store: NamedDependency[HubStore]
) -> dict[str, Any]:
    """A department's decision on a case; the lifecycle decides (illegal move: 409)."""
    data = msgspec.json.decode(body, type=DecisionRequest)
    decision = decide(store, case_no, data.status, actor=data.actor, by=data.by, reason=data.reason,
                      outcome=data.outcome, missing=data.missing, now=request.app.state["now"])
    return msgspec.to_builtins(decision)


@get("/api/v1/stations", guards=[require_admin], sync_to_thread=True)
def list_stations(request: Request[Any, Any, Any], store: NamedDependency[HubStore]) -> list[dict[str, Any]]:
    """Stations with their contact records (what a dashboard shows)."""
    return [station_summary(store, s, _settings(request).clock_skew_ms) for s in store.stations()]


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
    return Litestar(
        route_handlers=[healthz, enroll_station, push, feed, list_cases, post_decision, list_stations],
        dependencies={"store": Provide(provide_store)},  # a generator: sync_to_thread does not apply
        exception_handlers=EXCEPTION_HANDLERS,
        state=State({"settings": settings, "identity": identity, "now": now}),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=None,
        debug=settings.debug,
    )


def app_from_env() -> Litestar:
    """The uvicorn factory: ``uvicorn --factory hub.app:app_from_env`` (data folder from HUB_DATA_DIR)."""
    return create_app(Settings.from_env())
