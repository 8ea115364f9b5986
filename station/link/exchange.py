"""Up and down in one round trip per batch (``POST /api/v1/sync``, docs/protocol.md "Exchange").

Also remembers a hub that answered it has no exchange, so the next day's rounds push and pull
separately (:mod:`station.link.legacy`) without asking again.
"""

from __future__ import annotations

import datetime as dt

import httpx
import msgspec

from station.errors import SyncError
from station.feed import feed_position
from station.hubhttp import SYNC_PATH, hub_error
from station.link.budget import FEED_BYTES, PUSH_BYTES, Budget, select_sets, shrink_both
from station.link.session import ATTEMPTS, MAX_RESTARTS, Link
from station.store import Station
from station.store.db import write_txn
from sync.protocol import PROTOCOL_VERSION, STATION_FEATURES, PushResponse, SyncRequest, SyncResponse
from sync.timeutil import iso_utc, parse_iso

__all__ = ("RETRY_EXCHANGE_AFTER", "exchange", "exchange_missing", "note_exchange")

RETRY_EXCHANGE_AFTER = dt.timedelta(days=1)
"""After a hub answered that it has no ``POST /api/v1/sync``, push and pull separately this long, then ask again."""


def exchange(link: Link, *, push: bool) -> bool:
    """Push every unacknowledged set (when ``push``) and pull the feed to its end, one request per batch.

    Returns False, having sent nothing that counts, when the hub has no exchange (an older
    hub: the caller pushes and pulls separately).
    """
    up = Budget(link.db, "push_bytes", PUSH_BYTES)
    down = Budget(link.db, "feed_bytes", FEED_BYTES)
    cursor = link.first_unacknowledged() if push else None
    restarts = failures = timeouts = 0
    sent: set[int] = set()
    try:
        while True:
            rows = select_sets(link.db, cursor, up.value) if cursor is not None else []
            if not rows:
                cursor = None
            after = feed_position(link.station)
            body = msgspec.msgpack.encode(
                SyncRequest(
                    PROTOCOL_VERSION,
                    [msgspec.Raw(envelope) for _, envelope in rows],
                    after,
                    down.value,
                    STATION_FEATURES,
                )
            )
            try:
                response, local_ms, seconds = link.send("POST", SYNC_PATH, body=body, compact=True)
            except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
                # Through to the hub, but the link is slower than the request: ask for less at a
                # time and try again at once (this is not the link being down).
                timeouts += 1
                if timeouts <= 2 * ATTEMPTS and shrink_both(up, down, rows):
                    link.sleep(link.rng() * 0.5)
                    continue
                failures = link.backoff(failures, exc)
                continue
            except httpx.TransportError as exc:
                if not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
                    # Cut mid-way (or closed at once): the next try asks for less, so a link that
                    # drops long transfers still gets the work through in pieces.
                    shrink_both(up, down, rows)
                failures = link.backoff(failures, exc)
                continue
            if response.status_code in (502, 503, 504):
                failures = link.backoff(failures, hub_error(response))
                continue
            if response.status_code in (404, 405):
                return False
            if response.status_code == 413 and len(rows) > 1:
                up.value = max(up.low, min(up.value, sum(len(e) for _, e in rows) // 2))
                continue
            if response.status_code != 200:
                raise link.answer_error(response)
            failures = timeouts = 0
            try:
                answer = msgspec.msgpack.decode(response.content, type=SyncResponse)
            except (msgspec.DecodeError, ValueError, RecursionError) as exc:
                raise link.malformed("sync", exc) from None
            link.contact(answer.hub_ms, local_ms, answer.feed_last_seq, answer.features)
            progress = False
            if rows:
                assert cursor is not None  # sets are only selected from a cursor
                sent.update(seq for seq, _ in rows)
                link.report.pushed = len(sent)
                before = cursor
                cursor, clean = link.results(
                    PushResponse(
                        results=[r.as_set_result() for r in answer.results],
                        next_seq=answer.next_seq,
                        hub_ms=answer.hub_ms,
                    ),
                    rows[-1][0],
                    cursor,
                )
                progress = cursor != before
                if not clean:
                    restarts += 1
                    if restarts > MAX_RESTARTS:
                        raise link.gap_error(cursor)
                up.grow(limited=clean and cursor is not None, moved=len(body), seconds=seconds)
            applied = link.apply_feed(answer.feed)
            position = feed_position(link.station)
            progress |= position != after
            down.grow(limited=position < answer.feed_last_seq, moved=len(response.content), seconds=seconds)
            if cursor is None and position >= answer.feed_last_seq:
                return True
            if not rows and not progress and not applied:
                raise link.fail(
                    SyncError(
                        zh=f"县平台有至 {answer.feed_last_seq} 的下发数据集，但未发送 {after} 之后的",
                        en=f"the hub has feed sets up to {answer.feed_last_seq} but sent none after {after}",
                        code="feed_stalled",
                    )
                )
    finally:
        up.save()
        down.save()


def exchange_missing(station: Station) -> bool:
    """True while a hub that answered it has no ``POST /api/v1/sync`` is not asked again (a day)."""
    since = station.meta.exchange_missing_at
    if not since:
        return False
    try:
        return station.now() - parse_iso(since) < RETRY_EXCHANGE_AFTER
    except ValueError:
        return False


def note_exchange(station: Station, *, missing: bool) -> None:
    known = station.meta.exchange_missing_at
    if missing and not exchange_missing(station):
        with write_txn(station.db):
            station.meta.update({"exchange_missing_at": iso_utc(station.now())})
    elif not missing and known:
        with write_txn(station.db):
            station.meta.update({"exchange_missing_at": ""})
