"""One synchronous sync round (seal, then the exchange), for CLI, TUI worker and tests."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec

from station.errors import SyncError
from station.feed import feed_position
from station.forks import record_again
from station.hubhttp import DEFAULT_TIMEOUT, make_client
from station.identity import StationKeys, load_keypair, passphrase, require_pins
from station.link.exchange import exchange
from station.link.report import Stop, SyncReport, issue
from station.link.scans import upload_scans
from station.link.session import Link, Sleep
from station.rekey import pending, rekey_keys, stale_keys
from station.restore import confirm
from station.scans.store import ScanBacklog, backlog, held_pages, retain, store_bytes
from station.sealing import HUB_FEATURES_META, features_of, seal_pending, standing, unsealed_count
from station.store import Station
from station.store.db import write_txn
from station.syncstate import last_refusal_id, refusals
from sync.crypto import KeyPair
from sync.errors import ProxyAppError
from sync.timeutil import iso_utc

__all__ = ("opened", "sync_once", "unlocked_keys")


@contextlib.contextmanager
def opened(target: Path | str | Station) -> Iterator[Station]:
    """The Station itself, or the one in a data folder, opened here and closed on the way out."""
    if isinstance(target, Station):
        yield target
        return
    station = Station.open(target)
    try:
        yield station
    finally:
        station.close()


def unlocked_keys(station: Station, keys: KeyPair | None) -> KeyPair:
    """``keys``, or the station's own unwrapped with the passphrase."""
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
    scans: bool = True,
    scan_progress: Callable[[int, int], None] | None = None,
) -> SyncReport:
    """One sync round: seal the outbox, push unacknowledged sets, pull the feed, then send scanned pages
    with what is left (station.link.scans). Synchronous.

    Args:
        target: a data folder (opened and closed here: use this form in a worker thread) or an
            open Station (used as is, in the caller's thread).
        hub_url: another address for the hub this round (a relay); the pinned keys still apply.
        transport: an httpx transport (tests, a proxy); the network when None.
        keys: the unwrapped key pair; unwrapped from ``station.key`` with the passphrase
            (``$STATION_PASSPHRASE`` or a prompt) when None.
        sleep, rng: backoff between retries (``time.sleep`` and ``random.random`` by default).
        scans: send scanned pages once the records are in step (False: records only).
        scan_progress: told (bytes the hub holds, bytes in all) of the waiting pages as they go up.

    Returns:
        A SyncReport; network and protocol failures are in ``errors``, never raised.

    Raises:
        NotEnrolledError, PassphraseError, StoreError: nothing could be attempted.
    """
    with opened(target) as station:
        pins = require_pins(station.db)
        keys = unlocked_keys(station, keys)
        # The settings that steer the round, read together (one statement), and again once an exchange may
        # have changed them (a fork recorded or resolved, a restore confirmed: station.feed, station.forks).
        start = station.meta.several("revoked", "fork", "restored", "rekey", HUB_FEATURES_META)
        stale = stale_keys(station, keys, start["rekey"] if isinstance(start["rekey"], dict) else None)
        if stale is not None:
            raise stale
        if hub_url:
            pins = msgspec.structs.replace(pins, url=hub_url.strip())
        report = SyncReport(started_at=iso_utc(station.now()))
        mark = last_refusal_id(station)
        link: Link | None = None
        try:
            with make_client(transport, timeout) as client:
                features = features_of(start[HUB_FEATURES_META])
                link = Link(station, keys, pins, client, sleep or time.sleep, rng, report, features=features)
                link.scan_progress = scan_progress
                _run(station, link, start, scans=scans)
        finally:
            report.refused = refusals(station, after=mark)
            _finish(station, report, link.features if link is not None else None)
        return report


def _run(station: Station, link: Link, start: dict[str, Any], *, scans: bool = True) -> None:
    revoked = start["revoked"]
    if revoked:
        link.fail(
            SyncError(
                zh=f"本站密钥 {revoked['key_id']} 已被吊销：同步已停止；请联系县管理员",
                en=f"this station's key {revoked['key_id']} was revoked: syncing has stopped; call the county administrator",
                code="revoked_key",
            ),
            fatal=True,
        )
        return
    fork = start["fork"]
    restored = bool(start["restored"])
    # No key change on its way (nearly every round): requests are signed by the keys as they are, with no
    # key change to read, settle or hand over to in this round unless the round makes one itself.
    link.no_key_change = not isinstance(start["rekey"], dict) and not restored
    try:
        link.settle_keys()  # a key change the hub acknowledged before a crash: finished now
        # Restored from a backup: nothing is sealed until the hub has confirmed the chain (station.restore).
        link.report.sealed = 0 if restored else len(_seal(station, link))
        # A fork: nothing more goes up until the county resolves it; the feed still comes down, and may
        # bring the resolution (station.forks).
        exchange(link, push=not fork)
        if not fork and not restored and unsealed_count(station, link.features):
            # Rows held back for a feature (sync.tables) the hub said it reads in this exchange: up now.
            link.report.sealed += len(_seal(station, link))
            exchange(link, push=True)
        now = _steering(station)
        if fork and not now["fork"] and not now["restored"]:
            exchange(link, push=True)  # resolved keeping this station's chain: its sets go up again
            now = _steering(station)
        if now["rekey_after_fork"] and not now["fork"] and not now["restored"]:
            _rekey_kept_branch(station, link)
            now = _steering(station)
        if scans and not now["fork"] and not now["restored"] and not link.report.errors:
            upload_scans(link, lambda: _records(station, link))  # records first: scans get what is left
    except Stop:
        pass
    except ProxyAppError as exc:  # a store error mid-round (disk full): reported, not raised
        link.report.errors.append(issue(exc))
    end = station.meta.several("fork", "restored")
    if fork and end["fork"]:
        link.fail(SyncError(zh=fork.get("detail_zh", fork["detail"]), en=fork["detail"], code="fork"), fatal=True)
    if restored or end["restored"]:  # restored from a backup, or a fork resolved keeping the hub's chain
        _confirm_restore(station, link)


def _steering(station: Station) -> dict[str, Any]:
    """The settings that decide what else the round does, as the exchange left them."""
    return station.meta.several("fork", "restored", "rekey_after_fork")


def _seal(station: Station, link: Link) -> list[int]:
    """Seal what waits, with what the round holds of the hub (its features and pinned keys)."""
    return seal_pending(station, link.keys, features=link.features, pins=link.pins)


def _records(station: Station, link: Link) -> None:
    """Records made while pages go up: sealed and exchanged at once, ahead of the next chunk."""
    link.report.sealed += len(_seal(station, link))
    exchange(link, push=True)


def _confirm_restore(station: Station, link: Link) -> None:
    wants_rekey = bool((station.meta.restored or {}).get("rekey"))
    confirmed = confirm(station, link.hub_next_seq)
    if confirmed:
        link.report.notes.append("restored from a backup: the hub confirmed this station's chain; work goes on")
        link.settle_keys()  # a key change that went up after the backup (station.restore): the new key from now
        if wants_rekey:
            _rekey_after_fork(station, link)
        again = record_again(station)  # a fork resolved keeping the hub's chain: this branch's work, on top of it
        if again:
            link.report.notes.append(f"{again} changes of the branch the county did not keep recorded again")
        # What waited in the outbox from before the backup goes up now (the hub takes what it holds as duplicates).
        link.report.sealed = len(_seal(station, link))
        if link.report.sealed:
            try:
                exchange(link, push=True)
            except Stop:
                pass
    elif confirmed is False:
        link.report.errors.append(
            issue(
                SyncError(
                    zh=f"本站从备份恢复：县平台持有本站至数据集 {(link.hub_next_seq or 1) - 1} 的数据，尚未全部发回；"
                    "请再次同步",
                    en=f"restored from a backup: the hub holds this station's sets up to "
                    f"{(link.hub_next_seq or 1) - 1} and has not sent all of them back yet; sync again",
                    code="restore_unconfirmed",
                )
            )
        )


def _rekey_after_fork(station: Station, link: Link) -> None:
    """A fork resolved keeping the hub's chain, for a folder that was copied with its key: a new key pair
    first, so the branch recorded again after it (and every later set) is signed by a key no copy holds."""
    if not isinstance(link.keys, StationKeys) or pending(station) is not None:
        return  # keys not unlocked from station.key (nothing to hand over to), or a change already on its way
    link.no_key_change = False  # from here on, requests read the change this makes
    try:
        result, link.keys = rekey_keys(station, link.keys)
    except ProxyAppError as exc:  # the hub has not said it takes a new key: the branch goes up under the old one
        link.report.notes.append(f"fork resolved: this station's key was not changed ({exc.code}: {exc.en})")
        return
    link.report.notes.append(f"fork resolved: this station's key changed ({result.old_key_id} -> {result.new_key_id})")


def _rekey_kept_branch(station: Station, link: Link) -> None:
    """A fork resolved keeping this station's chain: once its sets are up (they are signed by the key the copy
    held too), a new key pair, and the change goes up in the same round; any copy of the folder is refused
    from then on (``retired_key``), as after a resolution keeping the hub's chain."""
    if station.db.execute("SELECT 1 FROM sets_out WHERE acked_at IS NULL").fetchone():
        return  # the branch is not all up yet: the next round
    _rekey_after_fork(station, link)
    with write_txn(station.db):
        station.meta.update({"rekey_after_fork": None})
    if pending(station) is not None:
        link.report.sealed += len(_seal(station, link))
        exchange(link, push=True)


def _finish(station: Station, report: SyncReport, features: int | None) -> None:
    """The round's end: scan bytes the hub holds let go, where the station stands, and the round logged.
    ``features``: what the hub reads as the round left it (None: the round did not get that far)."""
    # A station that holds no page bytes (most rounds of a station that scans nothing) has nothing to let go
    # and none waiting: both read only pages whose bytes are held.
    pages, held = held_pages(station)
    waiting = ScanBacklog()
    if pages:
        # The bytes of pages the hub holds, of cases closed long enough, go (hash and metadata stay).
        if retain(station):
            held = store_bytes(station)
        waiting = backlog(station)
    report.scans_pages, report.scans_total, report.scans_waiting = waiting.pages, waiting.total, waiting.waiting
    report.scan_store_bytes = held
    report.unacknowledged, report.unsealed = standing(station, features)
    report.feed_seq = feed_position(station)
    report.in_step = (
        not report.errors
        and report.unacknowledged == 0
        and report.unsealed == 0
        and report.hub_feed_seq is not None
        and report.feed_seq >= report.hub_feed_seq
    )
    # Codes and counts only: no personal data ever reaches the log.
    detail = "; ".join(f"{e.code}: {e.en}" for e in report.errors) or ("in step" if report.in_step else "behind")
    with write_txn(station.db):
        station.db.execute(
            "INSERT INTO sync_log (at, kind, ok, pushed, pulled, detail) VALUES (?, 'sync', ?, ?, ?, ?)",
            [iso_utc(station.now()), int(not report.errors), report.pushed, report.pulled, detail],
        )
