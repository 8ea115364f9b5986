"""``POST /api/v1/scans``: one chunk of a scanned page, sealed to the hub, placed by the page's signed hash.

Signed like the exchange (``X-Sync``, hub.web.sync_api); the body is a :class:`sync.protocol.ScanPut`,
the answer a :class:`sync.protocol.ScanAnswer` (msgpack, array-encoded). Only pages a signed record of
the station's village announced are taken (hub.scans); docs/protocol.md, "Scanned pages".
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import RawBody

from hub.scans import ScanRefused, receive_chunk
from hub.store import HubStore
from hub.web.api_models import error_responses
from hub.web.auth import check_protocol, refusals_recorded
from hub.web.deps import Clock, HubSettings, Identity
from hub.web.errors import HubHTTPError
from hub.web.sync_api import _check_media, _no_content_type, _signer
from sync.protocol import MEDIA_TYPE, SCANS_PATH, ScanPut
from sync.protocol.scans import MAX_CHUNK

__all__ = ("MAX_BODY", "scans")

MAX_BODY = MAX_CHUNK + 1024
"""A chunk sealed, with its header: a longer body is refused before it is decoded."""

_PUT = msgspec.msgpack.Decoder(ScanPut)
_ENCODER = msgspec.msgpack.Encoder()


@post(
    SCANS_PATH,
    status_code=200,
    sync_to_thread=True,
    middleware=[_no_content_type],
    responses=error_responses(400, 401, 403, 409, 413, 415, protocol=True),
)
def scans(
    request: Request[Any, Any, Any],
    body: RawBody,
    store: NamedDependency[HubStore],
    settings: HubSettings,
    identity: Identity,
    clock: Clock,
) -> Response[bytes]:
    """A chunk of a page up (or, empty, where the page stands); the answer says what the hub holds of it."""
    _check_media(request)
    signer = _signer(request, store, identity, body, clock())
    with refusals_recorded(store, signer, clock):
        if len(body) > MAX_BODY:
            raise HubHTTPError(
                "too_large", zh=f"数据块超过 {MAX_BODY} 字节", en=f"a chunk request over {MAX_BODY} bytes"
            )
        try:
            put = _PUT.decode(body)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise HubHTTPError("malformed", zh="数据块请求格式错误", en=f"not a scan chunk ({exc})") from None
        check_protocol(put.protocol)
    try:
        answer = receive_chunk(
            store, settings.data_dir, signer.station, signer.key, list(identity.box_privates), put, clock()
        )
    except ScanRefused as exc:
        raise HubHTTPError(exc.code, zh=exc.zh, en=exc.en, status=exc.status) from None
    return Response(_ENCODER.encode(answer), media_type=MEDIA_TYPE, status_code=200)
