"""Up and down separately (``POST /api/v1/sync/push``, ``GET /api/v1/sync/feed``), for a hub without the exchange."""

from __future__ import annotations

import httpx
import msgspec

from station.errors import SyncError
from station.feed import feed_position
from station.hubhttp import FEED_PATH, PUSH_PATH, unreachable
from station.link.budget import PUSH_BYTES, Budget, select_sets
from station.link.session import ATTEMPTS, MAX_RESTARTS, Link
from sync.protocol import PROTOCOL_VERSION, FeedResponse, PushRequest, PushResponse

__all__ = ("FEED_LIMIT", "pull", "push")

FEED_LIMIT = 20
"""Feed sets per ``GET /api/v1/sync/feed`` (a hub without the exchange)."""


def push(link: Link) -> None:
    """Send unacknowledged sets in seq order until the hub holds them all."""
    budget = Budget(link.db, "push_bytes", PUSH_BYTES)
    cursor = link.first_unacknowledged()
    restarts = timeouts = 0
    sent: set[int] = set()
    try:
        while cursor is not None:
            rows = select_sets(link.db, cursor, budget.value)
            if not rows:
                break
            body = msgspec.msgpack.encode(
                PushRequest(
                    protocol=PROTOCOL_VERSION,
                    station_id=link.station.station_id,
                    sets=[msgspec.Raw(envelope) for _, envelope in rows],
                )
            )
            try:
                response, local_ms = link.request("POST", PUSH_PATH, body=body, retry_timeouts=False)
            except httpx.TimeoutException:
                # The link is slower than the batch: smaller requests get through where big ones time out.
                timeouts += 1
                if len(rows) == 1 and timeouts >= ATTEMPTS:
                    raise link.fail(unreachable(link.pins.url, TimeoutError())) from None
                budget.shrink()
                if len(rows) > 1:
                    budget.value = min(budget.value, sum(len(e) for _, e in rows[:-1]))
                continue
            if response.status_code == 413 and len(rows) > 1:
                budget.value = max(budget.low, min(budget.value, len(body) // 2))
                continue
            if response.status_code != 200:
                raise link.answer_error(response)
            try:
                answer = msgspec.msgpack.decode(response.content, type=PushResponse)
            except (msgspec.DecodeError, ValueError, RecursionError) as exc:
                raise link.malformed("push", exc) from None
            link.contact(answer.hub_ms, local_ms)
            sent.update(seq for seq, _ in rows)
            link.report.pushed = len(sent)
            cursor, clean = link.results(answer, rows[-1][0], cursor)
            if cursor is None:
                break
            if clean:
                budget.grow(limited=True)
            else:
                restarts += 1
                if restarts > MAX_RESTARTS:
                    raise link.gap_error(cursor)
    finally:
        budget.save()


def pull(link: Link) -> None:
    """Fetch and apply feed sets until this station holds the hub's newest."""
    while True:
        after = feed_position(link.station)
        response, local_ms = link.request("GET", FEED_PATH, params={"after": after, "limit": FEED_LIMIT})
        if response.status_code != 200:
            raise link.answer_error(response)
        try:
            answer = msgspec.msgpack.decode(response.content, type=FeedResponse)
        except (msgspec.DecodeError, ValueError, RecursionError) as exc:
            raise link.malformed("feed", exc) from None
        link.contact(answer.hub_ms, local_ms, answer.last_seq)
        link.apply_feed(answer.sets)
        position = feed_position(link.station)
        if position >= answer.last_seq:
            return
        if position == after:
            raise link.fail(
                SyncError(
                    zh=f"县平台有至 {answer.last_seq} 的下发数据集，但未发送 {after} 之后的",
                    en=f"the hub has feed sets up to {answer.last_seq} but sent none after {after}",
                    code="feed_stalled",
                )
            )
