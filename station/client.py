"""Syncing with the hub: one synchronous round (seal, push, pull) for CLI, TUI worker and tests, and a loop."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import msgspec

from station.db import write_txn
from station.errors import FeedError, SyncError
from station.feed import apply_feed_set, feed_position, record_fork, record_revoked
from station.hubhttp import DEFAULT_TIMEOUT, FEED_PATH, PUSH_PATH, hub_error, make_client, unreachable, url
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
from station.sealing import head, record_receipt, seal_pending, unsealed_count
from station.store import Station
from sync.crypto import KeyPair
from sync.errors import ProxyAppError
from sync.protocol import MEDIA_TYPE, PROTOCOL_VERSION, FeedResponse, PushRequest, PushResponse, sign_request
from sync.timeutil import iso_utc
from sync.version import SOFTWARE_VERSION

__all__ = ("FEED_LIMIT", "SyncIssue", "SyncReport", "sync_once", "watch")

FEED_LIMIT = 20
START_BATCH, MAX_BATCH = 20, 100
"""Sets per push request: start at 20, halve on a timeout or 413, double after a clean answer."""
ATTEMPTS = 4
"""Tries per request within one round when the connection is cut (with backoff between)."""
MAX_RESTARTS = 3
"""Times one round follows the hub's ``next_seq`` back before giving up (a hub restored from backup)."""

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


class _Stop(Exception):
    """Ends the round early; the issue is already in the report."""


def _issue(exc: ProxyAppError) -> SyncIssue:
    return SyncIssue(exc.code, exc.en, exc.zh)


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

    def fail(self, exc: ProxyAppError, *, fatal: bool = False) -> _Stop:
        self.report.errors.append(_issue(exc))
        self.report.fatal |= fatal
        return _Stop()

    def _now_ms(self) -> int:
        return int(self.station.now().timestamp() * 1000)

    # -- one signed request -------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict[str, int] | None = None, body: bytes = b"",
                retry_timeouts: bool = True) -> tuple[httpx.Response, int]:
        """Send one signed request; retry a cut connection with backoff and a replayed counter once.

        Returns the response and the local time (ms) halfway through, for the clock estimate.
        """
        at_least = 0
        replayed = False
        attempt = 0
        while True:
            counter = bump_counter(self.db, at_least=at_least)
            request = self.client.build_request(
                method, url(self.pins.url, path), params=params, content=body,
                headers={"Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE},
            )
            sent = self._now_ms()
            # Sign exactly the path and query that go on the wire.
            request.headers.update(sign_request(
                sign_private=self.keys.sign_private, sign_public=self.keys.sign_public, method=method,
                path_qs=request.url.raw_path.decode("ascii"), station_id=self.station.station_id, counter=counter,
                station_ms=sent, body=body, head_seq=head(self.station)[0],
                outbox_length=unsealed_count(self.station), software=SOFTWARE_VERSION,
            ))
            try:
                response = self.client.send(request)
            except httpx.TimeoutException:
                if not retry_timeouts:
                    raise
                attempt = self._backoff(attempt, None)
                continue
            except httpx.TransportError as exc:
                attempt = self._backoff(attempt, exc)
                continue
            if response.status_code == 409 and not replayed:
                error = hub_error(response)
                if error.code == "replay":
                    # Our counter fell behind the hub's (a restored folder): jump past it, sign anew.
                    replayed = True
                    at_least = int(error.data.get("last_counter") or 0)
                    continue
            if response.status_code in (502, 503, 504):
                attempt = self._backoff(attempt, hub_error(response))
                continue
            return response, (sent + self._now_ms()) // 2

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

    def _contact(self, hub_ms: int, local_ms: int, hub_feed_seq: int | None = None) -> None:
        """Note what the hub's answer says about its clock (invariant 8) and its feed, for status."""
        offset = hub_ms - local_ms
        self.report.clock_offset_ms = offset
        values: dict[str, int | str | None] = {"clock_offset_ms": offset, "clock_checked_at": iso_utc(self.station.now())}
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

    # -- up -----------------------------------------------------------------------------------

    def push(self) -> None:
        """Send unacknowledged sets in seq order until the hub holds them all."""
        batch = int(get_meta(self.db, "push_batch", str(START_BATCH)) or START_BATCH)
        first = self.db.execute("SELECT MIN(seq) FROM sets_out WHERE acked_at IS NULL").fetchone()[0]
        cursor = first
        restarts = 0
        sent: set[int] = set()
        timeouts = 0
        while cursor is not None:
            rows = self.db.execute(
                "SELECT seq, envelope FROM sets_out WHERE seq >= ? ORDER BY seq LIMIT ?", [cursor, batch]
            ).fetchall()
            if not rows:
                break
            body = msgspec.msgpack.encode(PushRequest(
                protocol=PROTOCOL_VERSION, station_id=self.station.station_id,
                sets=[msgspec.Raw(bytes(envelope)) for _, envelope in rows],
            ))
            try:
                response, local_ms = self.request("POST", PUSH_PATH, body=body, retry_timeouts=False)
            except httpx.TimeoutException:
                # The link is slower than the batch: smaller requests get through where big ones time out.
                timeouts += 1
                if batch == 1 and timeouts >= ATTEMPTS:
                    raise self.fail(unreachable(self.pins.url, TimeoutError())) from None
                batch = max(1, batch // 2)
                continue
            if response.status_code == 413 and batch > 1:
                batch = max(1, batch // 2)
                continue
            if response.status_code != 200:
                raise self._answer_error(response)
            try:
                answer = msgspec.msgpack.decode(response.content, type=PushResponse)
            except (msgspec.DecodeError, ValueError) as exc:
                raise self.fail(SyncError(f"the hub's push answer is malformed ({exc})",
                                          f"县平台的上报答复格式错误（{exc}）", code="malformed")) from None
            self._contact(answer.hub_ms, local_ms)
            sent.update(seq for seq, _ in rows)
            self.report.pushed = len(sent)
            cursor, clean = self._results(answer, rows[-1][0], cursor)
            if cursor is None:
                break
            if clean:
                batch = min(MAX_BATCH, batch * 2)
            else:
                restarts += 1
                if restarts > MAX_RESTARTS:
                    raise self.fail(SyncError(
                        f"the hub keeps asking for set {cursor}; try again later or call the county administrator",
                        f"县平台反复要求数据集 {cursor}；请稍后重试或联系县管理员", code="gap"))
        with write_txn(self.db):
            set_meta(self.db, {"push_batch": batch})

    def _results(self, answer: PushResponse, last_sent: int, cursor: int) -> tuple[int | None, bool]:
        """Handle the per-set results; returns (where to send from next or None when done, clean)."""
        for result in answer.results:
            if result.status in ("accepted", "duplicate"):
                if result.receipt is None:
                    raise self.fail(SyncError(f"the hub accepted set {result.seq} without a receipt",
                                              f"县平台接收了数据集 {result.seq}，但没有回执", code="malformed"))
                was_acked = self.db.execute("SELECT acked_at FROM sets_out WHERE seq = ?", [result.seq]).fetchone()
                try:
                    record_receipt(self.station, self.pins, result.receipt, seq=result.seq)
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

    # -- down ---------------------------------------------------------------------------------

    def pull(self) -> None:
        """Fetch and apply feed sets until this station holds the hub's newest."""
        while True:
            after = feed_position(self.station)
            response, local_ms = self.request("GET", FEED_PATH, params={"after": after, "limit": FEED_LIMIT})
            if response.status_code != 200:
                raise self._answer_error(response)
            try:
                answer = msgspec.msgpack.decode(response.content, type=FeedResponse)
            except (msgspec.DecodeError, ValueError) as exc:
                raise self.fail(SyncError(f"the hub's feed answer is malformed ({exc})",
                                          f"县平台的下发答复格式错误（{exc}）", code="malformed")) from None
            self._contact(answer.hub_ms, local_ms, answer.last_seq)
            for data in answer.sets:
                try:
                    outcome = apply_feed_set(self.station, bytes(data), self.keys, pins=self.pins)
                except FeedError as exc:
                    raise self.fail(exc, fatal=exc.code == "fork") from None
                self.report.pulled += int(outcome.applied)
                self.report.notes += outcome.notes
                if outcome.revoked:
                    raise self.fail(SyncError(
                        "the county revoked this station's key: syncing has stopped; call the county administrator",
                        "县平台已吊销本站密钥：同步已停止；请联系县管理员", code="revoked_key"), fatal=True)
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
        try:
            with make_client(transport, timeout) as client:
                sync_round = _Round(station, keys, pins, client, sleep or time.sleep, rng, report)
                _run(station, sync_round)
        finally:
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
        else:
            sync_round.push()
        sync_round.pull()
    except _Stop:
        pass
    except ProxyAppError as exc:  # a store error mid-round (disk full): reported, not raised
        sync_round.report.errors.append(_issue(exc))


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
    busy_seconds: float = 5.0,
    max_backoff: float = 900.0,
    sleep: Sleep | None = None,
    rng: Callable[[], float] = random.random,
) -> SyncReport | None:
    """Keep syncing while the link comes and goes, until stopped; returns the last report.

    After a failed round it waits a random time up to an exponentially growing cap (full
    jitter: 395 stations coming back together do not all knock at once); with work pending it
    comes back after ``busy_seconds``, otherwise after ``idle_seconds`` (sooner when new
    changes appear). Stops on Ctrl-C, when ``should_stop()`` says so (a TUI worker being
    cancelled), or after a fatal report (fork, revoked key).
    """
    last: SyncReport | None = None
    sleep = sleep or time.sleep
    with _opened(target) as station:
        try:
            keys = _keys(station, keys)
            failures = 0
            while True:
                last = sync_once(station, hub_url=hub_url, transport=transport, timeout=timeout, keys=keys,
                                 sleep=sleep, rng=rng)
                if on_report is not None:
                    on_report(last)
                if last.fatal or (should_stop is not None and should_stop()):
                    return last
                if last.errors:
                    failures += 1
                    delay = rng() * min(max_backoff, busy_seconds * 2**failures)
                else:
                    failures = 0
                    delay = busy_seconds if not last.in_step else idle_seconds
                if _wait(station, delay, busy_seconds, sleep, should_stop, failures == 0):
                    return last
        except KeyboardInterrupt:
            return last


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
