"""Syncing with the hub: one synchronous round (seal, push, pull) for CLI, TUI worker and tests, and a loop.

A round pushes and pulls in one round trip per batch (``POST /api/v1/sync``, docs/protocol.md
"Exchange"), in batches sized to what the link was seen to carry; against a hub without the
exchange it pushes and pulls separately. ``watch`` keeps going while the link comes and goes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec

from station.db import write_txn
from station.errors import FeedError, SyncError
from station.feed import apply_feed_set, feed_position, record_fork, record_revoked
from station.hubhttp import (
    DEFAULT_TIMEOUT,
    FEED_PATH,
    HEALTH_PATH,
    PUSH_PATH,
    SYNC_PATH,
    hub_error,
    make_client,
    unreachable,
    url,
)
from station.identity import (
    HubPins,
    bump_counter,
    get_meta,
    get_meta_json,
    load_keypair,
    passphrase,
    require_pins,
    set_meta,
)
from station.sealing import HUB_FEATURES_META, head, hub_features, record_receipt, seal_pending, unsealed_count
from station.store import Station
from station.syncstate import Refusal, last_refusal_id, refusals
from sync.crypto import KeyPair
from sync.errors import ProxyAppError
from sync.protocol import (
    FEATURE_REQUEST_MAC,
    FEATURE_SIGNED_HEADERS,
    HEADER_SYNC,
    MEDIA_TYPE,
    PROTOCOL_VERSION,
    STATION_FEATURES,
    FeedResponse,
    PushRequest,
    PushResponse,
    SyncRequest,
    SyncResponse,
    compact_auth,
    request_mac_key,
    sign_request,
)
from sync.timeutil import iso_utc, parse_iso
from sync.version import SOFTWARE_VERSION

__all__ = ("FEED_LIMIT", "SyncIssue", "SyncReport", "sync_once", "watch")

FEED_LIMIT = 20
"""Feed sets per ``GET /api/v1/sync/feed`` (a hub without the exchange)."""
PUSH_BYTES = (32 * 1024, 0, 1024 * 1024)
"""Bytes of sets per request: (start, floor, ceiling). A request carries at least one set, whatever its size
(a budget of 0: one set a request)."""
FEED_BYTES = (64 * 1024, 4 * 1024, 1024 * 1024)
"""Bytes of feed sets the station asks for per answer: (start, floor, ceiling)."""
TARGET_SECONDS = 8.0
"""A request should not take longer than this at the rate the link was measured at: a cut then loses little."""
MAX_SETS_PER_REQUEST = 200
ATTEMPTS = 4
"""Tries per request within one round when the connection is cut (with backoff between)."""
MAX_RESTARTS = 3
"""Times one round follows the hub's ``next_seq`` back before giving up (a hub restored from backup)."""
RETRY_EXCHANGE_AFTER = dt.timedelta(days=1)
"""After a hub answered that it has no ``POST /api/v1/sync``, push and pull separately this long, then ask again."""
PROBE_SECONDS, PROBE_MAX_SECONDS = 2.0, 12.0
"""While the hub cannot be reached, ``watch`` knocks (GET /healthz) after 2 s, doubling to at most 12 s, jittered."""

Sleep = Callable[[float], None]


class SyncIssue(msgspec.Struct, frozen=True):
    """One thing that went wrong in a round, in both languages, without personal data."""

    code: str
    en: str
    zh: str

    def message(self, lang: str = "zh") -> str:
        return self.en if lang.startswith("en") else self.zh


class SyncReport(msgspec.Struct, kw_only=True):
    """What one round did and where both sides stand."""

    started_at: str
    sealed: int = 0
    """Sets sealed from the outbox in this round."""
    pushed: int = 0
    """Sets sent to the hub in this round."""
    acknowledged: int = 0
    """Sets the hub acknowledged (receipt stored) in this round."""
    pulled: int = 0
    """Feed sets applied in this round."""
    unacknowledged: int = 0
    """Sealed sets still without a receipt, after the round."""
    unsealed: int = 0
    """Changes not yet sealed, after the round (made while it ran)."""
    feed_seq: int = 0
    hub_feed_seq: int | None = None
    """The hub's newest feed seq for this station; None when the hub was not reached."""
    clock_offset_ms: int | None = None
    """Hub clock minus ours, estimated from this round (None when the hub was not reached)."""
    in_step: bool = False
    """Both sides hold everything: nothing unacknowledged or unsealed, feed caught up, no error."""
    fatal: bool = False
    """Retrying will not help (fork, revoked key, refused set): a person must act."""
    errors: list[SyncIssue] = []
    notes: list[str] = []
    """Feed items kept aside (English, no personal data)."""
    requests: int = 0
    """HTTP requests sent in this round (round trips), retries included."""
    refused: list[Refusal] = []
    """The county's refusals of this station's changes that came down in this round (each names its case)."""


class _Stop(Exception):
    """Ends the round early; the issue is already in the report."""


def _issue(exc: ProxyAppError) -> SyncIssue:
    return SyncIssue(exc.code, exc.en, exc.zh)


class _Budget:
    """Bytes per request in one direction, adapted to the link and kept in ``meta`` between rounds.

    Halved on a timeout or a connection cut mid-request; doubled after a clean answer that it
    limited; and never above what the link was measured to carry in TARGET_SECONDS, so on a slow
    link a cut loses little and a request does not outlast the timeout.
    """

    def __init__(self, db: Any, name: str, limits: tuple[int, int, int]) -> None:
        start, self.low, self.high = limits
        self.db = db
        self.name = name
        stored = get_meta(db, name)
        self.value = min(max(int(stored), self.low), self.high) if stored and stored.isdigit() else start
        self.saved = self.value

    def shrink(self) -> None:
        self.value = max(self.low, self.value // 2)

    def grow(self, *, limited: bool, moved: int = 0, seconds: float = 0.0) -> None:
        if limited:
            self.value = min(self.high, max(self.value * 2, 1024))
        if moved >= 8 * 1024 and seconds >= 2.0:  # enough to measure the link, not its latency
            self.value = max(self.low, min(self.value, int(moved / seconds * TARGET_SECONDS)))

    def save(self) -> None:
        if self.value != self.saved:
            with write_txn(self.db):
                set_meta(self.db, {self.name: self.value})
            self.saved = self.value


class _Round:
    """One sync round over one HTTP client."""

    def __init__(self, station: Station, keys: KeyPair, pins: HubPins, client: httpx.Client, sleep: Sleep,
                 rng: Callable[[], float], report: SyncReport) -> None:
        self.station = station
        self.db = station.db
        self.keys = keys
        self.pins = pins
        self.client = client
        self.sleep = sleep
        self.rng = rng
        self.report = report
        self.monotonic = time.monotonic
        self._request_mac_key: bytes | None = None

    def fail(self, exc: ProxyAppError, *, fatal: bool = False) -> _Stop:
        self.report.errors.append(_issue(exc))
        self.report.fatal |= fatal
        return _Stop()

    def _now_ms(self) -> int:
        return int(self.station.now().timestamp() * 1000)

    # -- one signed request -------------------------------------------------------------------

    def send(self, method: str, path: str, *, params: dict[str, int] | None = None, body: bytes = b"",
             compact: bool = False) -> tuple[httpx.Response, int, float]:
        """Send one signed request; a replayed counter is moved past once. Transport errors are raised.

        ``compact``: authenticate with the one ``X-Sync`` header (the exchange) instead of the
        eight long ones, and send no Content-Type (the exchange is msgpack by definition).
        Returns the response, the local time (ms) halfway through (for the clock estimate) and
        the seconds it took.
        """
        at_least = 0
        replayed = False
        while True:
            counter = bump_counter(self.db, at_least=at_least)
            request = self.client.build_request(
                method, url(self.pins.url, path), params=params, content=body,
                headers=None if compact else {"Content-Type": MEDIA_TYPE},
            )
            sent = self._now_ms()
            # Sign exactly the path and query that go on the wire; on the exchange, with the
            # 16-byte MAC once the hub has said it takes one (48 bytes less than a signature).
            mac_key = self._mac_key() if compact else None
            signed = sign_request(
                sign_private=self.keys.sign_private, sign_public=self.keys.sign_public, method=method,
                path_qs=request.url.raw_path.decode("ascii"), station_id=self.station.station_id, counter=counter,
                station_ms=sent, body=body, head_seq=head(self.station)[0],
                outbox_length=unsealed_count(self.station), software=SOFTWARE_VERSION, mac_key=mac_key,
                cover=bool(hub_features(self.station) & FEATURE_SIGNED_HEADERS),  # every field signed, once it checks them
            )
            request.headers.update({HEADER_SYNC: compact_auth(signed)} if compact else signed)
            started = self.monotonic()
            self.report.requests += 1
            response = self.client.send(request)
            seconds = self.monotonic() - started
            if response.status_code == 409 and not replayed:
                error = hub_error(response)
                if error.code == "replay":
                    # Our counter fell behind the hub's (a restored folder): jump past it, sign anew.
                    replayed = True
                    at_least = int(error.data.get("last_counter") or 0)
                    continue
            return response, (sent + self._now_ms()) // 2, seconds

    def _mac_key(self) -> bytes | None:
        if not hub_features(self.station) & FEATURE_REQUEST_MAC:
            return None
        if self._request_mac_key is None:
            self._request_mac_key = request_mac_key(self.keys.box_private, self.pins.box_public)
        return self._request_mac_key

    def request(self, method: str, path: str, *, params: dict[str, int] | None = None, body: bytes = b"",
                retry_timeouts: bool = True) -> tuple[httpx.Response, int]:
        """:meth:`send`, retrying a cut connection or a 502-504 with backoff (the separate push and pull)."""
        attempt = 0
        while True:
            try:
                response, local_ms, _ = self.send(method, path, params=params, body=body)
            except httpx.TimeoutException:
                if not retry_timeouts:
                    raise
                attempt = self._backoff(attempt, None)
                continue
            except httpx.TransportError as exc:
                attempt = self._backoff(attempt, exc)
                continue
            if response.status_code in (502, 503, 504):
                attempt = self._backoff(attempt, hub_error(response))
                continue
            return response, local_ms

    def _backoff(self, attempt: int, exc: Exception | None) -> int:
        attempt += 1
        if attempt >= ATTEMPTS:
            if isinstance(exc, ProxyAppError):
                raise self.fail(exc)
            raise self.fail(unreachable(self.pins.url, exc or TimeoutError()))
        # Full jitter: sleep anywhere up to the doubling cap, so stations that lost the link
        # together do not all come back in the same second.
        self.sleep(self.rng() * min(8.0, 0.5 * 2**attempt))
        return attempt

    def _contact(self, hub_ms: int, local_ms: int, hub_feed_seq: int | None = None,
                 hub_reads: int | None = None) -> None:
        """Note what the hub's answer says about its clock (invariant 8), its feed (for status) and
        what it reads (``hub_reads``: the exchange's FEATURE_* bits, for sealing and requests)."""
        offset = hub_ms - local_ms
        self.report.clock_offset_ms = offset
        values: dict[str, int | str | None] = {"clock_offset_ms": offset, "clock_checked_at": iso_utc(self.station.now())}
        if hub_reads is not None:
            values[HUB_FEATURES_META] = hub_reads
        if hub_feed_seq is not None:
            self.report.hub_feed_seq = hub_feed_seq
            values["hub_feed_seq"] = hub_feed_seq
        with write_txn(self.db):
            set_meta(self.db, values)

    def _answer_error(self, response: httpx.Response) -> _Stop:
        error = hub_error(response)
        if error.code == "revoked_key":
            record_revoked(self.station, self.keys.key_id)
            return self.fail(SyncError(
                "the hub says this station's key was revoked: syncing has stopped; call the county administrator",
                "县平台告知本站密钥已被吊销：同步已停止；请联系县管理员",
                code="revoked_key",
            ), fatal=True)
        return self.fail(error, fatal=error.code in ("unknown_key", "wrong_origin", "protocol_version"))

    def _malformed(self, what: str, exc: Exception) -> _Stop:
        zh = {"push": "上报", "feed": "下发"}.get(what, "同步")
        return self.fail(SyncError(f"the hub's {what} answer is malformed ({exc})", f"县平台的{zh}答复格式错误（{exc}）",
                                   code="malformed"))

    def _select(self, cursor: int, budget: int) -> list[tuple[int, bytes]]:
        """Sets from ``cursor`` in seq order, as many as fit in ``budget`` bytes (at least one)."""
        rows: list[tuple[int, bytes]] = []
        size = 0
        for seq, envelope in self.db.execute(
            "SELECT seq, envelope FROM sets_out WHERE seq >= ? ORDER BY seq LIMIT ?", [cursor, MAX_SETS_PER_REQUEST]
        ):
            if rows and size + len(envelope) > budget:
                break
            rows.append((seq, bytes(envelope)))
            size += len(envelope)
        return rows

    def _first_unacknowledged(self) -> int | None:
        return self.db.execute("SELECT MIN(seq) FROM sets_out WHERE acked_at IS NULL").fetchone()[0]

    # -- up and down in one round trip (POST /api/v1/sync) ------------------------------------

    def exchange(self, *, push: bool) -> bool:
        """Push every unacknowledged set (when ``push``) and pull the feed to its end, one request per batch.

        Returns False, having sent nothing that counts, when the hub has no exchange (an older
        hub: the caller pushes and pulls separately).
        """
        up = _Budget(self.db, "push_bytes", PUSH_BYTES)
        down = _Budget(self.db, "feed_bytes", FEED_BYTES)
        cursor = self._first_unacknowledged() if push else None
        restarts = failures = timeouts = 0
        sent: set[int] = set()
        try:
            while True:
                rows = self._select(cursor, up.value) if cursor is not None else []
                if not rows:
                    cursor = None
                after = feed_position(self.station)
                body = msgspec.msgpack.encode(SyncRequest(
                    PROTOCOL_VERSION, [msgspec.Raw(envelope) for _, envelope in rows], after, down.value,
                    STATION_FEATURES))
                try:
                    response, local_ms, seconds = self.send("POST", SYNC_PATH, body=body, compact=True)
                except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
                    # Through to the hub, but the link is slower than the request: ask for less at a
                    # time and try again at once (this is not the link being down).
                    timeouts += 1
                    if timeouts <= 2 * ATTEMPTS and self._shrink(up, down, rows):
                        self.sleep(self.rng() * 0.5)
                        continue
                    failures = self._backoff(failures, exc)
                    continue
                except httpx.TransportError as exc:
                    if not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
                        # Cut mid-way (or closed at once): the next try asks for less, so a link that
                        # drops long transfers still gets the work through in pieces.
                        self._shrink(up, down, rows)
                    failures = self._backoff(failures, exc)
                    continue
                if response.status_code in (502, 503, 504):
                    failures = self._backoff(failures, hub_error(response))
                    continue
                if response.status_code in (404, 405):
                    return False
                if response.status_code == 413 and len(rows) > 1:
                    up.value = max(up.low, min(up.value, sum(len(e) for _, e in rows) // 2))
                    continue
                if response.status_code != 200:
                    raise self._answer_error(response)
                failures = timeouts = 0
                try:
                    answer = msgspec.msgpack.decode(response.content, type=SyncResponse)
                except (msgspec.DecodeError, ValueError, RecursionError) as exc:
                    raise self._malformed("sync", exc) from None
                self._contact(answer.hub_ms, local_ms, answer.feed_last_seq, answer.features)
                progress = False
                if rows:
                    sent.update(seq for seq, _ in rows)
                    self.report.pushed = len(sent)
                    before = cursor
                    cursor, clean = self._results(
                        PushResponse(results=[r.as_set_result() for r in answer.results], next_seq=answer.next_seq,
                                     hub_ms=answer.hub_ms),
                        rows[-1][0], cursor)
                    progress = cursor != before
                    if not clean:
                        restarts += 1
                        if restarts > MAX_RESTARTS:
                            raise self._gap_error(cursor)
                    up.grow(limited=clean and cursor is not None, moved=len(body), seconds=seconds)
                applied = self._apply_feed(answer.feed)
                position = feed_position(self.station)
                progress |= position != after
                down.grow(limited=position < answer.feed_last_seq, moved=len(response.content), seconds=seconds)
                if cursor is None and position >= answer.feed_last_seq:
                    return True
                if not rows and not progress and not applied:
                    raise self.fail(SyncError(
                        f"the hub has feed sets up to {answer.feed_last_seq} but sent none after {after}",
                        f"县平台有至 {answer.feed_last_seq} 的下发数据集，但未发送 {after} 之后的", code="feed_stalled"))
        finally:
            up.save()
            down.save()

    @staticmethod
    def _shrink(up: _Budget, down: _Budget, rows: list[tuple[int, bytes]]) -> bool:
        """Halve what a request carries up (when it carried more than one set) and may bring down; False
        when both are as small as they go (then only the link can be at fault)."""
        shrunk = False
        if len(rows) > 1:
            # Half, and at most all but the last set sent: the next request carries fewer sets.
            up.shrink()
            up.value = min(up.value, sum(len(e) for _, e in rows[:-1]))
            shrunk = True
        if down.value > down.low:
            down.shrink()
            shrunk = True
        return shrunk

    def _apply_feed(self, sets: list[msgspec.Raw]) -> int:
        """Apply feed sets in order (each atomically); returns how many were new."""
        applied = 0
        for data in sets:
            try:
                outcome = apply_feed_set(self.station, bytes(data), self.keys, pins=self.pins)
            except FeedError as exc:
                raise self.fail(exc, fatal=exc.code == "fork") from None
            applied += int(outcome.applied)
            self.report.pulled += int(outcome.applied)
            self.report.notes += outcome.notes
            if outcome.revoked:
                raise self.fail(SyncError(
                    "the county revoked this station's key: syncing has stopped; call the county administrator",
                    "县平台已吊销本站密钥：同步已停止；请联系县管理员", code="revoked_key"), fatal=True)
        return applied

    def _gap_error(self, cursor: int | None) -> _Stop:
        return self.fail(SyncError(
            f"the hub keeps asking for set {cursor}; try again later or call the county administrator",
            f"县平台反复要求数据集 {cursor}；请稍后重试或联系县管理员", code="gap"))

    # -- up, separately (a hub without the exchange) --------------------------------------------

    def push(self) -> None:
        """Send unacknowledged sets in seq order until the hub holds them all."""
        budget = _Budget(self.db, "push_bytes", PUSH_BYTES)
        cursor = self._first_unacknowledged()
        restarts = timeouts = 0
        sent: set[int] = set()
        try:
            while cursor is not None:
                rows = self._select(cursor, budget.value)
                if not rows:
                    break
                body = msgspec.msgpack.encode(PushRequest(
                    protocol=PROTOCOL_VERSION, station_id=self.station.station_id,
                    sets=[msgspec.Raw(envelope) for _, envelope in rows],
                ))
                try:
                    response, local_ms = self.request("POST", PUSH_PATH, body=body, retry_timeouts=False)
                except httpx.TimeoutException:
                    # The link is slower than the batch: smaller requests get through where big ones time out.
                    timeouts += 1
                    if len(rows) == 1 and timeouts >= ATTEMPTS:
                        raise self.fail(unreachable(self.pins.url, TimeoutError())) from None
                    budget.shrink()
                    if len(rows) > 1:
                        budget.value = min(budget.value, sum(len(e) for _, e in rows[:-1]))
                    continue
                if response.status_code == 413 and len(rows) > 1:
                    budget.value = max(budget.low, min(budget.value, len(body) // 2))
                    continue
                if response.status_code != 200:
                    raise self._answer_error(response)
                try:
                    answer = msgspec.msgpack.decode(response.content, type=PushResponse)
                except (msgspec.DecodeError, ValueError, RecursionError) as exc:
                    raise self._malformed("push", exc) from None
                self._contact(answer.hub_ms, local_ms)
                sent.update(seq for seq, _ in rows)
                self.report.pushed = len(sent)
                cursor, clean = self._results(answer, rows[-1][0], cursor)
                if cursor is None:
                    break
                if clean:
                    budget.grow(limited=True)
                else:
                    restarts += 1
                    if restarts > MAX_RESTARTS:
                        raise self._gap_error(cursor)
        finally:
            budget.save()

    def _results(self, answer: PushResponse, last_sent: int, cursor: int) -> tuple[int | None, bool]:
        """Handle the per-set results; returns (where to send from next or None when done, clean)."""
        for result in answer.results:
            if result.status in ("accepted", "duplicate"):
                if result.receipt is None:
                    raise self.fail(SyncError(f"the hub accepted set {result.seq} without a receipt",
                                              f"县平台接收了数据集 {result.seq}，但没有回执", code="malformed"))
                was_acked = self.db.execute("SELECT acked_at FROM sets_out WHERE seq = ?", [result.seq]).fetchone()
                try:
                    record_receipt(self.station, self.pins, result.receipt, seq=result.seq, answer_ms=answer.hub_ms)
                except SyncError as exc:
                    if exc.code == "fork":
                        record_fork(self.station, exc)
                    raise self.fail(exc, fatal=exc.code == "fork") from None
                if was_acked is not None and was_acked[0] is None:
                    self.report.acknowledged += 1
                cursor = result.seq + 1
            elif result.status == "gap":
                if answer.next_seq > head(self.station)[0] + 1:
                    error = SyncError(
                        f"the hub already holds sets up to {answer.next_seq - 1}, more than this station has sealed "
                        "(was the data folder restored from an old backup?); call the county administrator",
                        f"县平台已有至数据集 {answer.next_seq - 1}，多于本站封装的（数据目录是否从旧备份恢复？）；"
                        "请联系县管理员", code="fork")
                    record_fork(self.station, error)
                    raise self.fail(error, fatal=True)
                return answer.next_seq, False
            elif result.status == "fork":
                error = SyncError(
                    f"the hub holds a different set {result.seq} for this station (a copied or restored data "
                    "folder?); sending has stopped, nothing is lost: call the county administrator",
                    f"县平台收到的本站数据集 {result.seq} 与本站不同（数据目录被复制或从备份恢复？）；"
                    "已停止上报，数据没有丢失：请联系县管理员", code="fork")
                record_fork(self.station, error)
                raise self.fail(error, fatal=True)
            else:
                raise self.fail(SyncError(
                    f"the hub refused set {result.seq} ({result.code}): {result.detail or ''}".rstrip(": "),
                    f"县平台拒收数据集 {result.seq}（{result.code}）", code=result.code or "refused"), fatal=True)
        if cursor > last_sent:
            return (cursor if self.db.execute("SELECT 1 FROM sets_out WHERE seq >= ?", [cursor]).fetchone()
                    else None), True
        # The hub stopped early without saying why (it commits set by set): resume where it says.
        return max(answer.next_seq, cursor), False

    # -- down, separately -----------------------------------------------------------------------

    def pull(self) -> None:
        """Fetch and apply feed sets until this station holds the hub's newest."""
        while True:
            after = feed_position(self.station)
            response, local_ms = self.request("GET", FEED_PATH, params={"after": after, "limit": FEED_LIMIT})
            if response.status_code != 200:
                raise self._answer_error(response)
            try:
                answer = msgspec.msgpack.decode(response.content, type=FeedResponse)
            except (msgspec.DecodeError, ValueError, RecursionError) as exc:
                raise self._malformed("feed", exc) from None
            self._contact(answer.hub_ms, local_ms, answer.last_seq)
            self._apply_feed(answer.sets)
            position = feed_position(self.station)
            if position >= answer.last_seq:
                return
            if position == after:
                raise self.fail(SyncError(
                    f"the hub has feed sets up to {answer.last_seq} but sent none after {after}",
                    f"县平台有至 {answer.last_seq} 的下发数据集，但未发送 {after} 之后的", code="feed_stalled"))


@contextlib.contextmanager
def _opened(target: Path | str | Station) -> Iterator[Station]:
    if isinstance(target, Station):
        yield target
        return
    station = Station.open(target)
    try:
        yield station
    finally:
        station.close()


def _keys(station: Station, keys: KeyPair | None) -> KeyPair:
    return keys if keys is not None else load_keypair(station.data_dir, passphrase())


def sync_once(
    target: Path | str | Station,
    *,
    hub_url: str | None = None,
    transport: httpx.BaseTransport | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    keys: KeyPair | None = None,
    sleep: Sleep | None = None,
    rng: Callable[[], float] = random.random,
) -> SyncReport:
    """One sync round: seal the outbox, push unacknowledged sets, pull the feed. Synchronous.

    Args:
        target: a data folder (opened and closed here: use this form in a worker thread) or an
            open Station (used as is, in the caller's thread).
        hub_url: another address for the hub this round (a relay); the pinned keys still apply.
        transport: an httpx transport (tests, a proxy); the network when None.
        keys: the unwrapped key pair; unwrapped from ``station.key`` with the passphrase
            (``$STATION_PASSPHRASE`` or a prompt) when None.
        sleep, rng: backoff between retries (``time.sleep`` and ``random.random`` by default).

    Returns:
        A SyncReport; network and protocol failures are in ``errors``, never raised.

    Raises:
        NotEnrolledError, PassphraseError, StoreError: nothing could be attempted.
    """
    with _opened(target) as station:
        pins = require_pins(station.db)
        keys = _keys(station, keys)
        if hub_url:
            pins = msgspec.structs.replace(pins, url=hub_url.strip())
        report = SyncReport(started_at=iso_utc(station.now()))
        mark = last_refusal_id(station)
        try:
            with make_client(transport, timeout) as client:
                sync_round = _Round(station, keys, pins, client, sleep or time.sleep, rng, report)
                _run(station, sync_round)
        finally:
            report.refused = refusals(station, after=mark)
            _finish(station, report)
        return report


def _run(station: Station, sync_round: _Round) -> None:
    revoked = get_meta_json(station.db, "revoked")
    if revoked:
        sync_round.fail(SyncError(
            f"this station's key {revoked['key_id']} was revoked: syncing has stopped; call the county administrator",
            f"本站密钥 {revoked['key_id']} 已被吊销：同步已停止；请联系县管理员", code="revoked_key"), fatal=True)
        return
    fork = get_meta_json(station.db, "fork")
    try:
        sync_round.report.sealed = len(seal_pending(station, sync_round.keys))
        if fork:
            # Nothing more goes up until the county resolves it; the feed still comes down.
            sync_round.fail(SyncError(fork["detail"], fork.get("detail_zh", fork["detail"]), code="fork"), fatal=True)
        if _exchange_missing(station) or not sync_round.exchange(push=not fork):
            # A hub older than the exchange: the same sets and feed, in a push and a pull.
            _note_exchange(station, missing=True)
            if not fork:
                sync_round.push()
            sync_round.pull()
        else:
            _note_exchange(station, missing=False)
    except _Stop:
        pass
    except ProxyAppError as exc:  # a store error mid-round (disk full): reported, not raised
        sync_round.report.errors.append(_issue(exc))


def _exchange_missing(station: Station) -> bool:
    """True while a hub that answered it has no ``POST /api/v1/sync`` is not asked again (a day)."""
    since = get_meta(station.db, "exchange_missing_at")
    if not since:
        return False
    try:
        return station.now() - parse_iso(since) < RETRY_EXCHANGE_AFTER
    except ValueError:
        return False


def _note_exchange(station: Station, *, missing: bool) -> None:
    known = get_meta(station.db, "exchange_missing_at")
    if missing and not _exchange_missing(station):
        with write_txn(station.db):
            set_meta(station.db, {"exchange_missing_at": iso_utc(station.now())})
    elif not missing and known:
        with write_txn(station.db):
            set_meta(station.db, {"exchange_missing_at": ""})


def _finish(station: Station, report: SyncReport) -> None:
    report.unacknowledged = station.db.execute("SELECT COUNT(*) FROM sets_out WHERE acked_at IS NULL").fetchone()[0]
    report.unsealed = unsealed_count(station)
    report.feed_seq = feed_position(station)
    report.in_step = (
        not report.errors and report.unacknowledged == 0 and report.unsealed == 0
        and report.hub_feed_seq is not None and report.feed_seq >= report.hub_feed_seq
    )
    # Codes and counts only: no personal data ever reaches the log.
    detail = "; ".join(f"{e.code}: {e.en}" for e in report.errors) or ("in step" if report.in_step else "behind")
    with write_txn(station.db):
        station.db.execute(
            "INSERT INTO sync_log (at, kind, ok, pushed, pulled, detail) VALUES (?, 'sync', ?, ?, ?, ?)",
            [iso_utc(station.now()), int(not report.errors), report.pushed, report.pulled, detail],
        )


def watch(
    target: Path | str | Station,
    *,
    hub_url: str | None = None,
    transport: httpx.BaseTransport | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    keys: KeyPair | None = None,
    on_report: Callable[[SyncReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    idle_seconds: float = 60.0,
    idle_max_seconds: float = 900.0,
    busy_seconds: float = 5.0,
    max_backoff: float = 900.0,
    probe_seconds: float = PROBE_SECONDS,
    probe_max_seconds: float = PROBE_MAX_SECONDS,
    sleep: Sleep | None = None,
    rng: Callable[[], float] = random.random,
) -> SyncReport | None:
    """Keep syncing while the link comes and goes, until stopped; returns the last report.

    When the hub cannot be reached, it knocks cheaply (``GET /healthz``, a few hundred bytes)
    after ``probe_seconds``, then at doubling intervals capped at ``probe_max_seconds``, each
    jittered (between half and all of it, so 395 stations coming back together do not knock in
    step), and syncs as soon as the hub answers: a link that comes back is noticed within
    seconds. After any other failure (the hub busy or refusing) it waits a random time up to an
    exponentially growing cap (``max_backoff``). With work pending it comes back after
    ``busy_seconds``. In step, it asks the hub again after ``idle_seconds``, doubling after each
    round that brought nothing up to ``idle_max_seconds`` (a poll costs ~280 bytes: every minute
    that is ~130 kB a working day, far more than the day's cases); new changes wake it at once,
    and a round that moved anything starts again from ``idle_seconds``. Stops on Ctrl-C, when
    ``should_stop()`` says so (a TUI worker being cancelled), or after a fatal report (fork,
    revoked key).
    """
    last: SyncReport | None = None
    sleep = sleep or time.sleep
    with _opened(target) as station:
        try:
            keys = _keys(station, keys)
            failures = 0
            idle = idle_seconds
            while True:
                last = sync_once(station, hub_url=hub_url, transport=transport, timeout=timeout, keys=keys,
                                 sleep=sleep, rng=rng)
                if on_report is not None:
                    on_report(last)
                if last.fatal or (should_stop is not None and should_stop()):
                    return last
                if last.errors and all(e.code == "unreachable" for e in last.errors):
                    failures = 0
                    address = (hub_url or require_pins(station.db).url).strip()
                    if _await_link(address, transport, min(timeout, 10.0), probe_seconds, probe_max_seconds, sleep,
                                   rng, should_stop):
                        return last
                    continue
                if last.errors:
                    failures += 1
                    delay = rng() * min(max_backoff, busy_seconds * 2**failures)
                elif not last.in_step:
                    failures, idle = 0, idle_seconds
                    delay = busy_seconds
                elif last.pushed or last.pulled or last.sealed:
                    failures, idle = 0, idle_seconds
                    delay = idle
                else:  # in step and nothing moved: ask less often, up to idle_max_seconds
                    failures = 0
                    delay, idle = idle, min(idle_max_seconds, idle * 2)
                if _wait(station, delay, busy_seconds, sleep, should_stop, failures == 0):
                    return last
        except KeyboardInterrupt:
            return last


def _await_link(address: str, transport: httpx.BaseTransport | None, timeout: float, first: float, cap: float,
                sleep: Sleep, rng: Callable[[], float], should_stop: Callable[[], bool] | None) -> bool:
    """Knock at the hub until it answers; True when asked to stop meanwhile."""
    delay = first
    with make_client(transport, timeout) as client:
        while True:
            if _sleep_for(delay * (0.5 + 0.5 * rng()), sleep, should_stop):
                return True
            if _reachable(client, address):
                return False
            delay = min(cap, delay * 2)


def _reachable(client: httpx.Client, address: str) -> bool:
    """The hub answered ``GET /healthz`` (anything but a gateway's 502-504 counts: the link is up)."""
    try:
        response = client.get(url(address, HEALTH_PATH))
    except httpx.HTTPError:
        return False
    return response.status_code not in (502, 503, 504)


def _sleep_for(seconds: float, sleep: Sleep, should_stop: Callable[[], bool] | None) -> bool:
    """Sleep in slices of at most a second; True when asked to stop meanwhile."""
    waited = 0.0
    while waited < seconds:
        step = min(1.0, seconds - waited)
        sleep(step)
        waited += step
        if should_stop is not None and should_stop():
            return True
    return False


def _wait(station: Station, delay: float, busy: float, sleep: Sleep, should_stop: Callable[[], bool] | None,
          wake_on_changes: bool) -> bool:
    """Sleep ``delay`` seconds in short slices; True when asked to stop meanwhile."""
    waited = 0.0
    while waited < delay:
        step = min(1.0, delay - waited)
        sleep(step)
        waited += step
        if should_stop is not None and should_stop():
            return True
        if wake_on_changes and waited >= busy and unsealed_count(station) > 0:
            return False
    return False
