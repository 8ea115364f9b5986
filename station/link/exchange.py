"""Up and down in one round trip per batch (``POST /api/v1/sync``, docs/protocol.md "Exchange").

The exchange is the station's one way to the hub: every hub within the support window (0.4 on)
has it. A hub without it (0.3, or a wrong address) is told apart and reported as such
(docs/protocol.md, "Support window").
"""

from __future__ import annotations

import httpx
import msgspec

from station.catalog_notice import catalog_failure
from station.errors import SyncError
from station.feed import feed_position
from station.hubhttp import SYNC_PATH, hub_error
from station.link.budget import FEED_BYTES, PUSH_BYTES, read_budgets, select_sets, shrink_both
from station.link.session import ATTEMPTS, MAX_RESTARTS, Link
from sync.protocol import PROTOCOL_VERSION, STATION_FEATURES, PushResponse, SyncRequest, SyncResponse
from sync.version import OLDEST_PEER

__all__ = ("exchange", "hub_too_old")


def hub_too_old(hub_url: str) -> SyncError:
    """The hub answered the exchange 404 or 405: it is older than the support window, or not a hub at all."""
    return SyncError(
        zh=f"县平台 {hub_url} 没有 POST /api/v1/sync：其软件早于 {OLDEST_PEER} 版（或地址有误），本站已不支持；"
        f"数据保存在本站。请县管理员将县平台升级到 {OLDEST_PEER} 或更新的版本",
        en=f"the hub at {hub_url} has no POST /api/v1/sync: it runs a release older than {OLDEST_PEER} (or the "
        f"address is wrong), which this station no longer supports; the data stays here. Ask the county "
        f"administrator to upgrade the hub to {OLDEST_PEER} or newer",
        code="hub_too_old",
    )


def exchange(link: Link, *, push: bool) -> None:
    """Push every unacknowledged set (when ``push``) and pull the feed to its end, one request per batch.

    A hub that answers 404 or 405 (no exchange: older than the support window) stops the round
    with ``hub_too_old``; nothing is lost, and the next round asks again.
    """
    up, down = read_budgets(link.db, ("push_bytes", PUSH_BYTES), ("feed_bytes", FEED_BYTES))
    cursor = link.first_unacknowledged() if push else None
    restarts = failures = timeouts = 0
    sent: set[int] = set()
    try:
        while True:
            rows = select_sets(link.db, cursor, up.value) if cursor is not None else []
            if not rows:
                cursor = None
            # Where the feed stands and any catalogue failure to report, read together (one statement).
            stored = link.station.meta.several("feed_seq", "catalog_failed", "catalog_failure")
            after = stored["feed_seq"]
            body = SyncRequest(
                PROTOCOL_VERSION,
                [msgspec.Raw(envelope) for _, envelope in rows],
                after,
                down.value,
                STATION_FEATURES,
                catalog_failure(link.station, link.features, stored=stored),
            ).encode()
            try:
                response, local_ms, seconds = link.send("POST", SYNC_PATH, body=body)
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
                raise link.fail(hub_too_old(link.pins.url))
            if response.status_code == 413 and len(rows) > 1:
                up.value = max(up.low, min(up.value, sum(len(e) for _, e in rows) // 2))
                continue
            if response.status_code != 200:
                if link.retired(response):  # the key change reached the hub: again, under the new key
                    continue
                raise link.answer_error(response)
            failures = timeouts = 0
            try:
                answer = msgspec.msgpack.decode(response.content, type=SyncResponse)
            except (msgspec.DecodeError, ValueError, RecursionError) as exc:
                raise link.malformed("sync", exc) from None
            link.contact(answer.hub_ms, local_ms, answer.feed_last_seq, answer.features)
            link.hub_next_seq = answer.next_seq
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
            else:
                link.save_contact()  # stored with the receipts when sets went up (link.results)
            applied = link.apply_feed(answer.feed)
            lost = link.lost_by_hub(answer.next_seq) if push and cursor is None else None
            if lost is not None:
                # The hub needs a set it had acknowledged: restored from a backup, it lost the sets after
                # it. This station keeps every set it sealed, so it sends them again (docs/protocol.md).
                restarts += 1
                if restarts > MAX_RESTARTS:
                    raise link.gap_error(lost)
                link.report.notes.append(f"the hub had lost sets from {lost} on (restored from a backup?): sent again")
                cursor = lost
                continue
            # No feed set in the answer: the position is where this request said it stood.
            position = feed_position(link.station) if answer.feed else after
            progress |= position != after
            down.grow(limited=position < answer.feed_last_seq, moved=len(response.content), seconds=seconds)
            if cursor is None and position >= answer.feed_last_seq:
                return
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
