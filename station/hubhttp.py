"""HTTP plumbing shared by enrolment and sync: the client, the hub's URLs, its JSON error bodies."""

from __future__ import annotations

import json

import httpx

from station.errors import HubError, SyncError

__all__ = (
    "DEFAULT_TIMEOUT",
    "ENROLL_PATH",
    "HEALTH_PATH",
    "MAX_ANSWER_BYTES",
    "SYNC_PATH",
    "hub_error",
    "make_client",
    "unreachable",
    "url",
)

DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for the hub; village links are slow, but a hung request must end."""

ENROLL_PATH = "/api/v1/enroll"
SYNC_PATH = "/api/v1/sync"
"""The one-round-trip exchange (sets up, feed down): the one way every hub within the support window
is spoken to (0.3's separate push and feed are gone since 0.6: docs/protocol.md, "Support window")."""
HEALTH_PATH = "/healthz"


MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""An answer longer than this is cut off and taken as a broken link: the hub sends at most a few
megabytes (the feed bytes the station asks for, or one large feed set), and whoever sits on the
network path must not be able to fill a village PC's memory."""

_UNSENT = ("User-Agent", "Accept", "Accept-Encoding", "Connection")
"""httpx's default request headers: ~100 bytes a request that tell the hub nothing (HTTP/1.1 keeps the
connection alive without being asked; the hub answers msgpack uncompressed whatever we accept)."""


def make_client(transport: httpx.BaseTransport | None, timeout: float) -> httpx.Client:
    """A client for one round; ``transport`` lets tests (or a relay) stand in for the network.

    It sends only the headers a request needs (Host, Content-Length and the protocol's own).
    """
    client = httpx.Client(
        transport=transport, timeout=timeout, follow_redirects=False, event_hooks={"response": [_bounded]}
    )
    for name in _UNSENT:
        client.headers.pop(name, None)
    return client


class _Capped(httpx.SyncByteStream):
    """An answer's body, read until MAX_ANSWER_BYTES and no further."""

    def __init__(self, stream: httpx.SyncByteStream, request: httpx.Request) -> None:
        self.stream = stream
        self.request = request

    def __iter__(self):
        size = 0
        for chunk in self.stream:
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise httpx.ReadError(f"the answer is longer than {MAX_ANSWER_BYTES} bytes", request=self.request)
            yield chunk

    def close(self) -> None:
        self.stream.close()


def _bounded(response: httpx.Response) -> None:
    """Run on every answer before its body is read (httpx's response hook)."""
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_ANSWER_BYTES:
        raise httpx.ReadError(f"the answer says {length} bytes, more than {MAX_ANSWER_BYTES}", request=response.request)
    response.stream = _Capped(response.stream, response.request)  # type: ignore[arg-type]


def url(hub_url: str, path: str) -> str:
    return hub_url.rstrip("/") + path


def hub_error(response: httpx.Response) -> HubError:
    """The hub's error answer (``{"error", "detail", "detail_zh"}``) as a HubError with its code.

    Anything else (a proxy's HTML page, an empty body) becomes ``http_STATUS``.
    """
    try:
        data = json.loads(response.content)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        detail = str(data.get("detail") or data["error"])
        detail_zh = str(data.get("detail_zh") or detail)
        return HubError(
            zh=f"县平台答复 {response.status_code} {data['error']}：{detail_zh}",
            en=f"the hub answered {response.status_code} {data['error']}: {detail}",
            code=data["error"],
            status=response.status_code,
            data=data,
        )
    return HubError(
        zh=f"县平台返回 HTTP {response.status_code}，没有说明原因；请检查县平台地址是否正确",
        en=f"the hub answered HTTP {response.status_code} without an explanation; is the hub address right?",
        code=f"http_{response.status_code}",
        status=response.status_code,
    )


def unreachable(hub_url: str, exc: Exception) -> SyncError:
    """A cut or refused connection: nothing is lost, the next attempt resumes."""
    return SyncError(
        zh=f"无法连接县平台 {hub_url}（{type(exc).__name__}）；数据保存在本站，下次同步时继续上报",
        en=f"cannot reach the hub at {hub_url} ({type(exc).__name__}); the data stays here and is sent next time",
        code="unreachable",
    )
