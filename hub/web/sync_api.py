"""``POST /api/v1/sync``: one round trip that pushes a station's sets and brings back its feed.

The station's one way to the hub (docs/protocol.md, "Exchange"): one signed request carries the
station's sets and its feed position in an array-encoded body, authenticated by one compact header
(``X-Sync``); the answer carries the results and the feed sets that follow, within the bytes the
station asks for. The sets are handled by the same code as a file (:func:`hub.ingest.ingest_sets`),
the feed by the same code as a down file (:func:`hub.feed.read_feed`).

0.3's separate ``POST /api/v1/sync/push`` and ``GET /api/v1/sync/feed`` are older than the support
window (docs/protocol.md, "Support window"): they answer 410 ``peer_too_old``, saying which release
to install, and a station's own signed request there is recorded as a refused contact, so the
dashboard shows which stations still need the upgrade.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import RawBody
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from hub.catalog_report import note_catalog_failure
from hub.feed import glance, note_position, read_feed
from hub.ingest import ingest_sets
from hub.keys import HubIdentity
from hub.recovery import recover_if_behind
from hub.rotation import catch_up, note_held
from hub.store import ExchangeGlance, HubStore, KeyRow, StationRow
from hub.web.api_models import error_responses
from hub.web.auth import Signer, check_protocol, path_qs, refusals_recorded, verify_request
from hub.web.deps import Clock, HubSettings, Identity
from hub.web.errors import HubHTTPError
from sync.protocol import (
    FEATURE_CATALOG_REPORT,
    FEATURE_SHORT_RECEIPTS,
    HEADER_SYNC,
    HUB_FEATURES,
    MAX_SEQ,
    MEDIA_TYPE,
    SyncRequest,
    SyncResponse,
    SyncResult,
    check_sets,
    expand_auth,
    request_mac_key,
    short_receipt,
    sync_auth_key,
)
from sync.timeutil import iso_utc
from sync.version import OLDEST_PEER, within_window

__all__ = ("DEFAULT_FEED_BYTES", "FEED_PATH", "MAX_FEED_BYTES", "PUSH_PATH", "SYNC_PATH", "exchange", "feed", "push")

SYNC_PATH = "/api/v1/sync"
PUSH_PATH = "/api/v1/sync/push"
FEED_PATH = "/api/v1/sync/feed"
"""0.3's separate push and feed: gone (410) since 0.6."""
DEFAULT_FEED_BYTES = 64 * 1024
"""Feed bytes per answer when the station does not say (``feed_bytes`` = 0)."""
MAX_FEED_BYTES = 4 * 1024 * 1024
"""A larger ``feed_bytes`` is taken as this: one answer stays a bounded piece of work."""

_REQUEST = msgspec.msgpack.Decoder(SyncRequest)
_ENCODER = msgspec.msgpack.Encoder()


def _check_media(request: Request[Any, Any, Any]) -> None:
    """The body is msgpack: no Content-Type needed, but a different one is refused (415), as is any encoding."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("", MEDIA_TYPE):
        raise HubHTTPError(
            "unsupported_media_type",
            zh=f"请求类型应为 {MEDIA_TYPE}",
            en=f"send {MEDIA_TYPE} (or no Content-Type), not {media}",
        )
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise HubHTTPError(
            "unsupported_media_type",
            zh="此接口不接受内容编码：数据集已在内部压缩",
            en="no content encoding here: the sets are compressed inside",
        )


def _signer(
    request: Request[Any, Any, Any], store: HubStore, identity: HubIdentity, body: bytes, now: dt.datetime
) -> Signer:
    """Who signed: from ``X-Sync`` (the station found by its key id), else from the long headers.

    A request may be authenticated by a MAC under the key the station and the hub share
    (``FEATURE_REQUEST_MAC``) instead of a signature.
    """

    def mac_key(row: KeyRow) -> list[bytes]:
        # One per hub key generation: a station pins the one its feed has reached (hub.rotation).
        return [request_mac_key(private, row.box_public) for private in identity.box_privates]

    headers: Any = request.headers
    key: KeyRow | None = None
    station: StationRow | None = None
    compact = request.headers.get(HEADER_SYNC.lower())
    if compact is not None:
        key, station = store.key_and_station(sync_auth_key(compact))
        if key is None:
            raise HubHTTPError(
                "unknown_key",
                zh=f"县平台不认识密钥 {sync_auth_key(compact)}",
                en=f"key {sync_auth_key(compact)} is not known to this hub",
            )
        headers = expand_auth(compact, key.station_id)
    return verify_request(
        store,
        method=request.method,
        path_qs=path_qs(request.scope),
        headers=headers,
        body=body,
        now=now,
        mac_key_for=mac_key,
        known_key=key,
        known_station=station,
    )


def _no_content_type(app: ASGIApp) -> ASGIApp:
    """Drop Content-Type from a 200 answer (39 bytes): the exchange answers msgpack, always. Errors keep
    theirs (JSON)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-type"]
                message = {**message, "headers": headers}  # type: ignore[typeddict-item]
            await send(message)

        await app(scope, receive, sending)

    return middleware


def _before_the_feed(
    store: HubStore, identity: HubIdentity, signer: Signer, sync: SyncRequest, *, applied_seq: int, clock: Clock
) -> ExchangeGlance | None:
    """What comes between the sets and the feed: a restored hub's restart point, a catalogue failure the
    station reports (recorded, and the version queued whole) or no longer reports (cleared), what a restored
    station lost (queued again: hub.recovery). Returns the station's feed as read before them in one
    statement, for read_feed, or None when one of them changed it (read_feed reads it again).
    """
    station_id = signer.station.station_id
    seen = glance(store, station_id)
    changed = False
    if seen.restored:  # after a hub restore the feed goes on after the position the station signed
        note_position(store, station_id, sync.feed_after)
        changed = True
    if sync.features & FEATURE_CATALOG_REPORT and (sync.catalog_failure is not None or seen.catalog_failure):
        changed |= note_catalog_failure(store, station_id, sync.catalog_failure, at=iso_utc(clock())) is not None
    if signer.fields_signed:
        changed |= (
            recover_if_behind(store, identity, station_id, signer.head_seq, now=clock(), applied_seq=applied_seq) > 0
        )
    return None if changed else seen


@post(
    SYNC_PATH,
    status_code=200,
    sync_to_thread=True,
    middleware=[_no_content_type],
    responses=error_responses(400, 401, 403, 409, 413, 415, 503, protocol=True),
)
def exchange(
    request: Request[Any, Any, Any],
    body: RawBody,
    store: NamedDependency[HubStore],
    settings: HubSettings,
    identity: Identity,
    clock: Clock,
) -> Response[bytes]:
    """A station's sets up and its feed down in one round trip (docs/protocol.md, "Exchange")."""
    _check_media(request)
    signer = _signer(request, store, identity, body, clock())
    station_id = signer.station.station_id
    with refusals_recorded(store, signer, clock):
        check_sets(body, array_like=True)  # walked before decoding: no set is decoded past the limit
        sync = _REQUEST.decode(body)  # nests no deeper than the walk that just went through it
        check_protocol(sync.protocol)
        if not (0 <= sync.feed_after <= MAX_SEQ and 0 <= sync.feed_bytes <= MAX_SEQ and 0 <= sync.features < 2**31):
            raise HubHTTPError(
                "malformed",
                zh=f"feed_after 与 feed_bytes 应在 0 到 {MAX_SEQ} 之间，features 应在 0 到 2^31 之间",
                en=f"feed_after and feed_bytes must be 0 to {MAX_SEQ}, features 0 to 2^31",
            )
    if sync.features != signer.station.features:
        with store.transaction():
            store.set_features(station_id, sync.features)  # before the feed is sealed for it, below
    if identity.gen > 1:  # the hub key handovers it lacks, once it reads them (hub.rotation)
        with store.transaction():
            if signer.mac_index is not None:  # the generation its MAC names (a restored hub relearns it)
                note_held(store, identity, station_id, signer.mac_index, position=sync.feed_after, at=iso_utc(clock()))
            catch_up(store, identity, station_id, at=iso_utc(clock()))
    # The sets as views of the body: ingest copies one set at a time, not all of them at once.
    pushed = ingest_sets(
        store,
        identity,
        sync.sets,
        station_id=station_id,
        via="http",
        now=clock,
        lean=True,
        feed_after=sync.feed_after,
        known=signer.station,
    )
    seen = _before_the_feed(store, identity, signer, sync, applied_seq=pushed.next_seq - 1, clock=clock)
    feed_bytes = min(sync.feed_bytes or DEFAULT_FEED_BYTES, MAX_FEED_BYTES)
    rows, feed = read_feed(
        store,
        identity,
        station_id,
        after=sync.feed_after,
        limit=settings.feed_limit_max,
        max_bytes=feed_bytes,
        now=clock(),
        seen=seen,
    )
    failed = next((r for r in pushed.results if r.status not in ("accepted", "duplicate")), None)
    contacts = []
    if sync.sets:
        code = failed.code if failed else None
        contacts.append(signer.contact(clock(), "push", ok=failed is None, code=code, sets=len(pushed.results)))
    contacts.append(signer.contact(clock(), "pull", ok=True, sets=len(rows), feed_after=sync.feed_after))
    with store.alone():  # one statement on PostgreSQL, atomic by itself: no BEGIN and COMMIT round trips
        store.record_contacts(station_id, contacts)
    results = [SyncResult.of(r) for r in pushed.results]
    if sync.features & FEATURE_SHORT_RECEIPTS:
        results = [
            msgspec.structs.replace(r, receipt=short_receipt(r.receipt, answer_ms=pushed.hub_ms)) if r.receipt else r
            for r in results
        ]
    answer = SyncResponse(
        results=results,
        next_seq=pushed.next_seq,
        hub_ms=pushed.hub_ms,
        feed=feed.sets,
        feed_last_seq=feed.last_seq,
        features=HUB_FEATURES,
    )
    return Response(_ENCODER.encode(answer), media_type=MEDIA_TYPE, status_code=200)


# -- 0.3's push and feed: gone ---------------------------------------------------------------------


def _gone(request: Request[Any, Any, Any], store: HubStore, body: bytes, clock: Clock) -> HubHTTPError:
    """``peer_too_old`` (410), after recording a station's own signed request as a refused contact.

    Anyone is told (nothing is read or stored for a request that is not a station's); the body is
    never inflated or decoded. A station of 0.4 or 0.5 comes here only for a day after its hub
    skipped from 0.3 to this release (it remembered that hub had no exchange): it is told so, not
    told to upgrade.
    """
    software = None
    try:
        signer = verify_request(
            store,
            method=request.method,
            path_qs=path_qs(request.scope),
            headers=request.headers,
            body=body,
            now=clock(),
        )
    except HubHTTPError:
        pass  # unsigned, replayed, revoked (recorded as such): told all the same
    else:
        software = signer.software
        with store.transaction():
            store.record_contact(
                signer.station.station_id, signer.contact(clock(), "refused", ok=False, code="peer_too_old")
            )
    if within_window(software):
        return HubHTTPError(
            "peer_too_old",
            zh=f"县平台已不再提供 {request.url.path}；本站（{software}）会在一天内自动改用 POST /api/v1/sync，数据保存在本站",
            en=f"this hub no longer serves {request.url.path}; this station ({software}) turns to POST /api/v1/sync by "
            "itself within a day (it found a hub without it lately): the data stays at the station",
        )
    return HubHTTPError(
        "peer_too_old",
        zh=f"本站软件版本过旧，县平台已不再支持；请安装 {OLDEST_PEER} 或更新的版本（数据保存在本站，升级后继续上报）",
        en=f"this station's software is older than the hub supports; install release {OLDEST_PEER} or newer "
        "(the data stays at the station and goes up after the upgrade)",
    )


@post(PUSH_PATH, status_code=410, sync_to_thread=True, deprecated=True, responses=error_responses(410, protocol=True))
def push(request: Request[Any, Any, Any], body: RawBody, store: NamedDependency[HubStore], clock: Clock) -> None:
    """Gone: 0.3's push. A station of 0.4 or newer sends its sets with ``POST /api/v1/sync``."""
    raise _gone(request, store, body, clock)


@get(FEED_PATH, status_code=410, sync_to_thread=True, deprecated=True, responses=error_responses(410, protocol=True))
def feed(request: Request[Any, Any, Any], store: NamedDependency[HubStore], clock: Clock) -> None:
    """Gone: 0.3's feed request. A station of 0.4 or newer gets its feed with ``POST /api/v1/sync``."""
    raise _gone(request, store, b"", clock)
