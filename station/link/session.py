"""One round's link to the hub: signed requests, retries with backoff, and what every answer is checked for.

The exchange (:mod:`station.link.exchange`) speaks through a :class:`Link`: it signs and sends, notes
the hub's clock, stores receipts and applies feed sets, and files every failure in the round's report.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import msgspec

from station.errors import FeedError, SyncError
from station.feed import apply_feed_set, record_fork, record_revoked
from station.hubhttp import hub_error, unreachable, url
from station.identity import HubPins, StationKeys, bump_counter, require_pins
from station.link.report import Stop, SyncReport, issue
from station.rekey import request_keys, settle
from station.sealing import HUB_FEATURES_META, head, head_and_unsealed, hub_features, record_receipt
from station.store import Station
from station.store.db import write_txn
from sync.crypto import KeyPair
from sync.errors import ProxyAppError
from sync.protocol import (
    FEATURE_REQUEST_MAC,
    FEATURE_SIGNED_HEADERS,
    HEADER_SYNC,
    PushResponse,
    compact_auth,
    request_mac_key,
    sign_request,
)
from sync.timeutil import iso_utc
from sync.version import SOFTWARE_VERSION

__all__ = ("ATTEMPTS", "MAX_RESTARTS", "Link", "Sleep")

ATTEMPTS = 4
"""Tries per request within one round when the connection is cut (with backoff between)."""
MAX_RESTARTS = 3
"""Times one round follows the hub's ``next_seq`` back before giving up (a hub restored from backup)."""

Sleep = Callable[[float], None]


class Link:
    """One sync round over one HTTP client."""

    def __init__(
        self,
        station: Station,
        keys: KeyPair,
        pins: HubPins,
        client: httpx.Client,
        sleep: Sleep,
        rng: Callable[[], float],
        report: SyncReport,
        *,
        features: int | None = None,
    ) -> None:
        self.station = station
        self.db = station.db
        self.keys = keys
        self.pins = pins
        self.client = client
        self.sleep = sleep
        self.rng = rng
        self.report = report
        self.monotonic = time.monotonic
        self._request_mac_key: tuple[tuple[bytes, bytes], bytes] | None = None
        self._contact: dict[str, int | str | None] = {}
        """What the last answer said of the hub (``contact``), not yet stored."""
        self.no_key_change = False
        """No key change was on its way when the round began, and the round made none: requests are signed
        by ``keys`` with nothing to settle (station.rekey), as reading the change would say (set by the round)."""
        self.retired_hint = False
        """The hub answered ``retired_key`` to the current key while a key change was on its way: the
        change reached it (the answer was lost). Requests go out under the new key (station.rekey)."""
        self.features = hub_features(station) if features is None else features
        """What the hub reads (sync.protocol FEATURE_* bits): as stored at the round's start, then as each
        answer says (``contact``, which stores it too); ``features`` when the caller read them already."""
        self.hub_next_seq: int | None = None
        """The seq the hub last said it needs next from this station (a restored station's confirmation)."""
        self.scan_progress: Callable[[int, int], None] | None = None
        """Told (bytes the hub holds, bytes in all) of the waiting pages as they go up (a progress bar)."""

    def fail(self, exc: ProxyAppError, *, fatal: bool = False) -> Stop:
        self.report.errors.append(issue(exc))
        self.report.fatal |= fatal
        return Stop()

    def _now_ms(self) -> int:
        return int(self.station.now().timestamp() * 1000)

    # -- one signed request -------------------------------------------------------------------

    def send(self, method: str, path: str, *, body: bytes = b"") -> tuple[httpx.Response, int, float]:
        """Send one signed request; a replayed counter is moved past once. Transport errors are raised.

        Authenticated with the one ``X-Sync`` header and without Content-Type (the exchange is msgpack
        by definition). Returns the response, the local time (ms) halfway through (for the clock
        estimate) and the seconds it took.
        """
        at_least = 0
        replayed = False
        while True:
            counter = bump_counter(self.db, at_least=at_least)
            request = self.client.build_request(method, url(self.pins.url, path), content=body)
            sent = self._now_ms()
            # Sign exactly the path that goes on the wire: with the 16-byte MAC once the hub has said it
            # takes one (48 bytes less than a signature), with the signature until then (the first
            # exchange of a folder upgraded from 0.3, or enrolled with a hub that did not say).
            signer = (
                self.keys if self.no_key_change else request_keys(self.station, self.keys, hinted=self.retired_hint)
            )
            head_seq, outbox_length = head_and_unsealed(self.station, self.features)
            signed = sign_request(
                sign_private=signer.sign_private,
                sign_public=signer.sign_public,
                method=method,
                path_qs=request.url.raw_path.decode("ascii"),
                station_id=self.station.station_id,
                counter=counter,
                station_ms=sent,
                body=body,
                head_seq=head_seq,
                outbox_length=outbox_length,
                software=SOFTWARE_VERSION,
                mac_key=self._mac_key(signer.box_private),
                cover=bool(self.features & FEATURE_SIGNED_HEADERS),  # every field signed, once it checks them
            )
            request.headers[HEADER_SYNC] = compact_auth(signed)
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

    def _mac_key(self, box_private: bytes) -> bytes | None:
        if not self.features & FEATURE_REQUEST_MAC:
            return None
        # The pair's key: this station's box key and the hub's, either of which a key change replaces.
        pair = (box_private, self.pins.box_public)
        if self._request_mac_key is None or self._request_mac_key[0] != pair:
            self._request_mac_key = (pair, request_mac_key(*pair))
        return self._request_mac_key[1]

    def settle_keys(self) -> None:
        """Once the hub acknowledged this station's key change: go on under the new key (station.rekey)."""
        if isinstance(self.keys, StationKeys) and not self.no_key_change:
            self.keys = settle(self.station, self.keys)

    def retired(self, response: httpx.Response) -> bool:
        """True (and requests go under the new key from now) when the hub answered ``retired_key`` to the
        old key while this station's key change was on its way: the change reached the hub."""
        if response.status_code != 403 or self.retired_hint:
            return False
        if hub_error(response).code != "retired_key":
            return False
        record = self.station.meta.rekey
        # Restored from a backup taken between `station rekey` and the sync that sealed the change: the
        # PC sealed it after the backup, so it reached the hub though this copy holds it unsealed.
        if not record or (record.get("seq") is None and not self.station.meta.restored):
            return False
        self.retired_hint = True
        self.no_key_change = False
        self.report.notes.append("the hub already holds this station's new key: requests go under it")
        return True

    def backoff(self, attempt: int, exc: Exception | None) -> int:
        """Count a failed try and sleep before the next; after ATTEMPTS, file the failure and stop the round."""
        attempt += 1
        if attempt >= ATTEMPTS:
            if isinstance(exc, ProxyAppError):
                raise self.fail(exc)
            raise self.fail(unreachable(self.pins.url, exc or TimeoutError()))
        # Full jitter: sleep anywhere up to the doubling cap, so stations that lost the link
        # together do not all come back in the same second.
        self.sleep(self.rng() * min(8.0, 0.5 * 2**attempt))
        return attempt

    # -- what every answer says ---------------------------------------------------------------

    def contact(
        self, hub_ms: int, local_ms: int, hub_feed_seq: int | None = None, hub_reads: int | None = None
    ) -> None:
        """Note what the hub's answer says about its clock (invariant 8), its feed (for status) and
        what it reads (``hub_reads``: the exchange's FEATURE_* bits, for sealing and requests).

        Kept here at once, stored in ``meta`` by :meth:`save_contact`: with the answer's receipts, in
        their transaction (:meth:`results`), or on its own when the answer carries none."""
        offset = hub_ms - local_ms
        self.report.clock_offset_ms = offset
        values: dict[str, int | str | None] = {
            "clock_offset_ms": offset,
            "clock_checked_at": iso_utc(self.station.now()),
        }
        if hub_reads is not None:
            values[HUB_FEATURES_META] = hub_reads
            self.features = hub_reads
        if hub_feed_seq is not None:
            self.report.hub_feed_seq = hub_feed_seq
            values["hub_feed_seq"] = hub_feed_seq
        self._contact = values

    def save_contact(self) -> None:
        """Store what the last answer said (:meth:`contact`); inside a write transaction, or in one of its own."""
        if self._contact:
            with write_txn(self.db):
                self.station.meta.update(self._contact)
            self._contact = {}

    def answer_error(self, response: httpx.Response) -> Stop:
        error = hub_error(response)
        if error.code == "revoked_key":
            record_revoked(self.station, self.keys.key_id)
            return self.fail(
                SyncError(
                    zh="县平台告知本站密钥已被吊销：同步已停止；请联系县管理员",
                    en="the hub says this station's key was revoked: syncing has stopped; call the county administrator",
                    code="revoked_key",
                ),
                fatal=True,
            )
        # Fatal: what only the county, or an upgrade of this PC (peer_too_old), can mend.
        return self.fail(error, fatal=error.code in ("unknown_key", "wrong_origin", "protocol_version", "peer_too_old"))

    def malformed(self, what: str, exc: Exception) -> Stop:
        return self.fail(
            SyncError(
                zh=f"县平台的同步答复格式错误（{exc}）",
                en=f"the hub's {what} answer is malformed ({exc})",
                code="malformed",
            )
        )

    def gap_error(self, cursor: int | None) -> Stop:
        return self.fail(
            SyncError(
                zh=f"县平台反复要求数据集 {cursor}；请稍后重试或联系县管理员",
                en=f"the hub keeps asking for set {cursor}; try again later or call the county administrator",
                code="gap",
            )
        )

    # -- sets up: receipts ----------------------------------------------------------------------

    def first_unacknowledged(self) -> int | None:
        return self.db.execute("SELECT MIN(seq) FROM sets_out WHERE acked_at IS NULL").fetchone()[0]

    def lost_by_hub(self, next_seq: int) -> int | None:
        """``next_seq`` when the hub asks for a set it had acknowledged (a hub restored from a backup) and
        this station holds it to send again; None otherwise. Nothing a station sealed is ever dropped."""
        row = self.db.execute(
            "SELECT 1 FROM sets_out WHERE seq = ? AND acked_at IS NOT NULL AND length(envelope) > 0", [next_seq]
        ).fetchone()
        return next_seq if row is not None else None

    def results(self, answer: PushResponse, last_sent: int, cursor: int) -> tuple[int | None, bool]:
        """Handle the per-set results; returns (where to send from next or None when done, clean).

        The answer's receipts and what it said of the hub (:meth:`contact`) are stored in one write
        transaction (one commit an answer, not one a receipt); a failure is raised once it committed,
        so the receipts before it, and a fork recorded, are kept."""
        with write_txn(self.db):
            self.save_contact()
            ended = self._receipts(answer, cursor)
        if isinstance(ended, Stop):
            raise ended
        if ended is None:  # a gap: send again from where the hub says
            return answer.next_seq, False
        cursor = ended
        self.settle_keys()
        if cursor > last_sent:
            return (
                cursor if self.db.execute("SELECT 1 FROM sets_out WHERE seq >= ?", [cursor]).fetchone() else None
            ), True
        # The hub stopped early without saying why (it commits set by set): resume where it says.
        return max(answer.next_seq, cursor), False

    def _receipts(self, answer: PushResponse, cursor: int) -> int | Stop | None:
        """Store each accepted set's receipt (inside the caller's transaction); returns the next seq to
        send, None on a gap, or the Stop of the first failure (filed in the report, a fork recorded)."""
        for result in answer.results:
            if result.status in ("accepted", "duplicate"):
                if result.receipt is None:
                    return self.fail(
                        SyncError(
                            zh=f"县平台接收了数据集 {result.seq}，但没有回执",
                            en=f"the hub accepted set {result.seq} without a receipt",
                            code="malformed",
                        )
                    )
                try:
                    _, newly = record_receipt(
                        self.station, self.pins, result.receipt, seq=result.seq, answer_ms=answer.hub_ms
                    )
                except SyncError as exc:
                    if exc.code == "fork":
                        record_fork(self.station, exc)
                    return self.fail(exc, fatal=exc.code == "fork")
                self.report.acknowledged += newly
                cursor = result.seq + 1
            elif result.status == "gap":
                if answer.next_seq > head(self.station)[0] + 1:
                    error = SyncError(
                        zh=f"县平台已有至数据集 {answer.next_seq - 1}，多于本站封装的（数据目录是否从旧备份恢复？）；"
                        "请联系县管理员",
                        en=f"the hub already holds sets up to {answer.next_seq - 1}, more than this station has sealed "
                        "(was the data folder restored from an old backup?); call the county administrator",
                        code="fork",
                    )
                    record_fork(self.station, error)
                    return self.fail(error, fatal=True)
                return None
            elif result.status == "fork":
                error = SyncError(
                    zh=f"县平台收到的本站数据集 {result.seq} 与本站不同（数据目录被复制或从备份恢复？）；"
                    "已停止上报，数据没有丢失：请联系县管理员",
                    en=f"the hub holds a different set {result.seq} for this station (a copied or restored data "
                    "folder?); sending has stopped, nothing is lost: call the county administrator",
                    code="fork",
                )
                record_fork(self.station, error)
                return self.fail(error, fatal=True)
            else:
                return self.fail(
                    SyncError(
                        zh=f"县平台拒收数据集 {result.seq}（{result.code}）",
                        en=f"the hub refused set {result.seq} ({result.code}): {result.detail or ''}".rstrip(": "),
                        code=result.code or "refused",
                    ),
                    fatal=True,
                )
        return cursor

    # -- sets down: the feed --------------------------------------------------------------------

    def apply_feed(self, sets: list[msgspec.Raw]) -> int:
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
            if outcome.hub_rekeyed:  # the hub's next key generation: every later check is against it
                self.pins = msgspec.structs.replace(require_pins(self.db), url=self.pins.url)
            if outcome.revoked:
                raise self.fail(
                    SyncError(
                        zh="县平台已吊销本站密钥：同步已停止；请联系县管理员",
                        en="the county revoked this station's key: syncing has stopped; call the county administrator",
                        code="revoked_key",
                    ),
                    fatal=True,
                )
        return applied
