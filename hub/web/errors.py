"""HTTP errors of the hub: one JSON shape {"error", "detail", "detail_zh"}, never a bare 500."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from hub.throttle import Throttled
from hub.web.security_headers import security_headers
from sync.errors import IllegalTransition, InputError, NotFoundError, ProxyAppError, StoreError
from sync.protocol import ProtocolError

__all__ = ("EXCEPTION_HANDLERS", "STATUS_FOR_CODE", "HubHTTPError", "error_response", "throttled_response")

log = logging.getLogger("hub")

STATUS_FOR_CODE: dict[str, int] = {
    "malformed": 400,
    "protocol_version": 400,
    "bad_input": 400,
    "unauthenticated": 401,
    "unknown_key": 401,
    "revoked_key": 403,
    "retired_key": 403,
    "wrong_origin": 403,
    "enroll_code": 403,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "replay": 409,
    "illegal_transition": 409,
    "peer_too_old": 410,
    "too_large": 413,
    "unsupported_media_type": 415,
    "busy": 503,
    "internal": 500,
}
"""HTTP status of each error code (docs/protocol.md, "Errors")."""

_CODE_FOR_STATUS = {
    400: "malformed",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    503: "busy",
}


class HubHTTPError(ProxyAppError):
    """An error answered with its status and the protocol's JSON error body.

    One of the project's errors on purpose (``except ProxyAppError`` catches it too); ``code`` is the
    protocol's error code, and the HTTP status is the one :data:`STATUS_FOR_CODE` gives it unless
    ``status`` says otherwise.
    """

    def __init__(
        self, code: str, *, zh: str, en: str, status: int | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(zh=zh, en=en, code=code)
        self.status = status or STATUS_FOR_CODE.get(code, 400)
        self.extra = extra or {}


def error_response(status: int, code: str, *, zh: str, en: str, extra: dict[str, Any] | None = None) -> Response[Any]:
    """The one error shape of every hub endpoint (declared in the OpenAPI schema as hub.web.api_models.ErrorBody)."""
    return Response(
        {"error": code, "detail": en, "detail_zh": zh, **(extra or {})}, status_code=status, media_type=MediaType.JSON
    )


def throttled_response(_: Request[Any, Any, Any], exc: Throttled) -> Response[Any]:
    """The API's JSON error shape with status 429 and a ``Retry-After`` header."""
    response = error_response(429, exc.code, zh=exc.zh, en=exc.en, extra={"retry_after": exc.retry_after})
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _hub_error(_: Request[Any, Any, Any], exc: HubHTTPError) -> Response[Any]:
    return error_response(exc.status, exc.code, zh=exc.zh, en=exc.en, extra=exc.extra)


def _protocol_error(_: Request[Any, Any, Any], exc: ProtocolError) -> Response[Any]:
    return error_response(STATUS_FOR_CODE.get(exc.code, 400), exc.code, zh=exc.zh, en=exc.en)


def _app_error(request: Request[Any, Any, Any], exc: ProxyAppError) -> Response[Any]:
    if isinstance(exc, HubHTTPError):
        return _hub_error(request, exc)
    if isinstance(exc, ProtocolError):
        return _protocol_error(request, exc)
    if isinstance(exc, IllegalTransition):
        return error_response(
            409,
            "illegal_transition",
            zh=exc.zh,
            en=exc.en,
            extra={"from_status": exc.from_status, "to_status": exc.to_status},
        )
    if isinstance(exc, NotFoundError):
        return error_response(404, "not_found", zh=exc.zh, en=exc.en)
    if isinstance(exc, InputError):
        return error_response(400, "bad_input", zh=exc.zh, en=exc.en, extra={"field": exc.field, "reason": exc.code})
    if isinstance(exc, StoreError) and exc.code == "store.busy":
        return error_response(503, "busy", zh=exc.zh, en=exc.en)
    log.error("hub error %s on %s %s", exc.code, request.method, request.url.path)
    return error_response(500, "internal", zh="县平台无法完成该请求", en="the hub could not complete the request")


def _decode_error(_: Request[Any, Any, Any], exc: msgspec.DecodeError | UnicodeDecodeError) -> Response[Any]:
    return error_response(
        400, "malformed", zh=f"请求内容格式错误（{exc}）", en=f"the body is not of the expected shape ({exc})"
    )


_SOURCES = {
    "query": ("query parameter", "查询参数"),
    "path": ("path parameter", "路径参数"),
    "header": ("header", "请求头"),
    "cookie": ("cookie", "Cookie"),
    "body": ("body field", "请求内容字段"),
}


def _invalid_parameters(exc: ValidationException) -> tuple[str, str]:
    """Which parameters Litestar refused and why, in both languages; never the values sent (nor the query
    string Litestar's own detail repeats), which may hold what a person typed."""
    problems = [p for p in exc.extra if isinstance(p, dict)] if isinstance(exc.extra, list) else []
    if not problems:  # "Missing required query parameter 'x' for path /…?…": the query string is cut off
        reason = str(exc.detail).split(" for path ")[0]
        return reason, f"请求参数无效（{reason}）"
    en, zh = [], []
    for problem in problems:
        key, message = str(problem.get("key", "")), str(problem.get("message", ""))
        source = problem.get("source", "")
        source = getattr(source, "value", source)  # Litestar's ParamType, a plain Enum
        if (source, key) == ("body", "data"):  # Litestar found no body at all (an empty one)
            en.append("the body is missing (send a JSON object)")
            zh.append("缺少请求内容（应为 JSON 对象）")
            continue
        source_en, source_zh = _SOURCES.get(str(source), ("parameter", "参数"))
        en.append(f"{source_en} {key}: {message}")
        zh.append(f"{source_zh} {key}：{message}")
    return (
        "invalid request: " + "; ".join(en) + " (the types are in /schema/openapi.json)",
        "请求参数无效：" + "；".join(zh) + "（类型见 /schema/openapi.json）",
    )


_DETAIL_ZH = {
    404: "县平台没有这个地址",
    405: "该地址不接受这种请求方法",
}
"""Litestar's own details are English ("Not Found"): ``detail_zh`` says it in Chinese."""


def _wants_page(request: Request[Any, Any, Any]) -> bool:
    """A person's browser asking for a page (it accepts HTML), not the API, a station or a script."""
    path = request.url.path
    return (
        "text/html" in request.headers.get("accept", "")
        and not path.startswith("/api/")
        and path not in ("/metrics", "/healthz")
        and "authorization" not in request.headers
    )


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    code = _CODE_FOR_STATUS.get(exc.status_code, "internal" if exc.status_code >= 500 else "bad_input")
    if exc.status_code in (404, 405) and _wants_page(request):
        # A mistyped address in the browser: the hub's own page with a way home, not a JSON body.
        from hub.web.pages import error_page  # hub.web.pages imports this module (through hub.web.guards)

        zh = _DETAIL_ZH[exc.status_code]
        en = "the hub has no such address" if exc.status_code == 404 else "this address does not take that method"
        page = error_page(request, exc.status_code, zh + "：" + request.url.path, en + ": " + request.url.path)
        page.headers.update(security_headers(request))
        return page  # type: ignore[return-value]
    if exc.status_code == 413:
        response = error_response(
            413, code, zh="请求内容超过大小限制（8 MB）", en="the body is over the size limit (8 MB)"
        )
    elif isinstance(exc, ValidationException):
        en, zh = _invalid_parameters(exc)
        response = error_response(exc.status_code, code, zh=zh, en=en)
    else:
        zh = _DETAIL_ZH.get(exc.status_code, str(exc.detail))
        response = error_response(exc.status_code, code, zh=zh, en=str(exc.detail))
    # An unknown path or method never reaches the route middleware that adds these (hub.web.security_headers).
    response.headers.update(security_headers(request))
    return response


def _sqlite_error(request: Request[Any, Any, Any], exc: sqlite3.Error) -> Response[Any]:
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return error_response(503, "busy", zh="县平台数据库正忙；请稍后重试", en="the hub database is busy; try again")
    return _internal(request, exc)


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # Logged with the traceback for the operator; the client gets the JSON shape and the hub keeps serving.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", zh="县平台无法完成该请求", en="the hub could not complete the request")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    HubHTTPError: _hub_error,
    ProtocolError: _protocol_error,
    ProxyAppError: _app_error,
    msgspec.DecodeError: _decode_error,
    UnicodeDecodeError: _decode_error,  # msgspec raises it for a string that is not UTF-8
    HTTPException: _http_exception,
    sqlite3.Error: _sqlite_error,
    Exception: _internal,
}
"""Matched through each exception's MRO, most specific first."""
