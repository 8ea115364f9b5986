"""Scanned pages up, chunk by chunk, after the records and never ahead of one (docs/protocol.md, "Scanned pages").

A round first brings the records in step (the exchange); then each page whose record the hub holds goes
up in chunks sized to what the link carries in :data:`SCAN_SECONDS`, each sealed to the hub and placed by
the page's hash and offset. Before every chunk the outbox is looked at: a record made meanwhile is sealed
and exchanged first, so it waits at most for the chunk in flight. The hub answers every chunk with how
much of the page it holds; the station keeps that (``scan_blobs.hub_held``) and starts from there, so a
cut loses the chunk in flight only, and a chunk whose answer was lost (``in_flight``) is not sent again
before the hub has said where it stands.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import msgspec

from station.hubhttp import hub_error
from station.link.budget import Budget
from station.link.report import SyncIssue
from station.link.session import ATTEMPTS, Link
from station.scans.store import REFUSED, backlog
from station.sealing import unsealed_count
from station.store.db import write_txn
from sync.protocol import FEATURE_SCANS, PROTOCOL_VERSION, SCANS_PATH, ScanAnswer, ScanPut, seal_chunk
from sync.protocol.scans import MAX_CHUNK
from sync.timeutil import iso_utc

__all__ = ("SCAN_BYTES", "SCAN_SECONDS", "upload_scans")

SCAN_BYTES = (16 * 1024, 2 * 1024, 64 * 1024)
"""Bytes of page per chunk: (start, floor, ceiling); kept in ``meta`` as ``scan_bytes``. The ceiling keeps the
first chunk on a link slower than the last one measured (a PC moved from 3G to EDGE) within a few seconds."""
SCAN_SECONDS = 1.5
"""A chunk should take no longer than this on the wire at the rate the link was measured at (or twice the
round trip, where that is longer): a record made meanwhile waits for the chunk in flight, then goes (aim:
under 3 s on EDGE)."""

_ANSWER = msgspec.msgpack.Decoder(ScanAnswer)

# Pages whose record the hub holds (acknowledged in a set, and not refused) and whose bytes are here,
# oldest first.
_READY = (
    "SELECT b.sha256, b.size, b.hub_held, b.in_flight FROM scan_blobs b "
    "WHERE b.acked_at IS NULL AND b.data IS NOT NULL AND EXISTS ("
    "SELECT 1 FROM attachments a JOIN outbox o ON o.entity = 'attachments' AND o.entity_id = a.attachment_id "
    "JOIN sets_out s ON s.seq = o.set_seq "
    f"WHERE a.sha256 = b.sha256 AND a.dropped = 0 AND s.acked_at IS NOT NULL AND NOT {REFUSED}) "
    "ORDER BY b.stored_at, b.sha256"
)


class _Pace:
    """The chunk size (a Budget kept in ``meta``) and the link's round trip, measured on this round's
    first question (an empty chunk: ~150 bytes each way), so the rate a chunk measures is the link's and
    not its latency: on EDGE a round trip is ~0.7 s, as long as half a chunk."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.rtt: float | None = None


class _Done(Exception):
    """Scans stop for this round (the reason is in the report's ``scan_errors``, or there is none)."""


def upload_scans(link: Link, records: Callable[[], None]) -> None:
    """Send the waiting pages' bytes; ``records()`` seals and exchanges records made meanwhile.

    Failures go to ``report.scan_errors``: they never make the records' round fail. A ``Stop`` from
    ``records()`` (the records' own exchange failed) ends the round as it would have.
    """
    if not link.features & FEATURE_SCANS:
        return
    ready = link.db.execute(_READY).fetchall()
    if not ready and link.scan_progress is None:
        return  # nothing to send and nobody to tell: the round's end reports the backlog (round._finish)
    pace = _Pace(Budget.read(link.db, "scan_bytes", SCAN_BYTES))
    try:
        skipped: set[str] = set()
        first = True
        while True:
            row = next((r for r in ready if r[0] not in skipped), None)
            if row is None:
                return
            sha, size, held, flying = row
            # The round's first page starts with a question: where the hub stands on it, and the round trip.
            if not _page(link, pace, records, sha, size, held, flying or first):
                skipped.add(sha)
            first = False
            ready = link.db.execute(_READY).fetchall()
    except _Done:
        return
    finally:
        pace.budget.save()
        _progress(link)


def _page(link: Link, pace: _Pace, records: Callable[[], None], sha: str, size: int, held: int, flying: int) -> bool:
    """Send one page from where the hub stands; False when the hub will not take it this round."""
    digest = bytes.fromhex(sha)
    failures = tries = 0
    lost = bool(flying)
    while True:
        asking = lost
        if lost:  # a chunk's answer was lost: ask the hub where the page stands before sending anything
            answer = _send(link, pace, ScanPut(PROTOCOL_VERSION, digest, held), failures=failures)
        else:
            if held >= size:
                return True
            if unsealed_count(link.station, link.features):
                records()  # records first, always: one made during the upload goes now, not after the pages
            sealed = seal_chunk(
                _read(link, sha, held, min(pace.budget.value, MAX_CHUNK)),
                station_id=link.station.station_id,
                sha256=digest,
                offset=held,
                station_box_private=link.keys.box_private,
                hub_box_public=link.pins.box_public,
            )
            with write_txn(link.db):
                link.db.execute("UPDATE scan_blobs SET in_flight = 1 WHERE sha256 = ?", [sha])
            answer = _send(link, pace, ScanPut(PROTOCOL_VERSION, digest, held, sealed), failures=failures)
        if answer is None:
            return False
        if isinstance(answer, _Again):  # cut on the way, or refused (a chunk altered): again, from where the hub is
            failures, lost, tries = answer.failures, answer.lost, tries + 1
            if tries > 4 * ATTEMPTS:
                _issue(link, "scan_refused", f"page {sha[:16]}: refused again and again", f"页面 {sha[:16]} 屡次被拒")
                return False
            held = int(link.db.execute("SELECT hub_held FROM scan_blobs WHERE sha256 = ?", [sha]).fetchone()[0])
            continue
        before, lost, failures = held, False, 0
        held = _note(link, sha, answer)
        if held > before and not asking:  # what this chunk added at the hub (an answer to a question adds none)
            link.report.scan_bytes_sent += min(held, answer.held) - before
        _progress(link)
        if answer.complete:
            return True


class _Again(msgspec.Struct, frozen=True):
    failures: int
    lost: bool
    """The chunk may have reached the hub (its answer did not come back): ask before sending it again."""


def _read(link: Link, sha: str, offset: int, length: int) -> bytes:
    # substr() on a BLOB counts bytes from 1: only the chunk is read, not the page.
    row = link.db.execute("SELECT substr(data, ?, ?) FROM scan_blobs WHERE sha256 = ?", [offset + 1, length, sha])
    return bytes(row.fetchone()[0])


def _note(link: Link, sha: str, answer: ScanAnswer) -> int:
    """Keep what the hub said it holds of the page; returns it."""
    with write_txn(link.db):
        link.db.execute(
            "UPDATE scan_blobs SET hub_held = ?, in_flight = 0, acked_at = CASE WHEN ? THEN ? ELSE acked_at END "
            "WHERE sha256 = ?",
            [answer.held, int(answer.complete), iso_utc(link.station.now()), sha],
        )
    if answer.complete:
        link.report.scan_pages_sent += 1
    return answer.held if not answer.complete else answer.size


def _send(link: Link, pace: _Pace, put: ScanPut, *, failures: int) -> ScanAnswer | _Again | None:
    """One chunk request: the hub's answer; _Again when the chunk should be sent again; None when this page
    waits for another round. Raises _Done when scans stop for the round."""
    body = msgspec.msgpack.encode(put)
    budget = pace.budget
    while True:
        try:
            response, _, seconds = link.send("POST", SCANS_PATH, body=body)
        except httpx.TransportError as exc:
            if not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
                budget.shrink()  # cut or slow mid-way: the next chunk is smaller
            if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
                budget.shrink()  # far slower than measured: a quarter
            failures += 1
            if failures >= ATTEMPTS:
                _issue(link, "unreachable", f"scans stopped: {type(exc).__name__}", "扫描件上传中断：连接失败")
                raise _Done from None
            link.sleep(link.rng() * min(8.0, 0.5 * 2**failures))
            return _Again(failures, True)
        if response.status_code == 200:
            try:
                answer = _ANSWER.decode(response.content)
            except (msgspec.DecodeError, ValueError) as exc:
                _issue(link, "malformed", f"the hub's scan answer is malformed ({exc})", "县平台的扫描件答复格式错误")
                raise _Done from None
            if answer.sha256 != put.sha256:
                _issue(link, "malformed", "the hub answered for another page", "县平台答复的页面不符")
                raise _Done from None
            if not put.sealed:
                pace.rtt = seconds if pace.rtt is None else min(pace.rtt, seconds)
            elif len(body) >= 4096:
                budget.grow(limited=True)
                # SCAN_SECONDS on the wire at the rate this chunk went (its round trip apart), or twice the round
                # trip where that is longer (GPRS), so a chunk never spends most of its time waiting.
                wire = max(seconds - (pace.rtt or 0.0), seconds / 4, 0.01)
                target = max(SCAN_SECONDS, 2 * (pace.rtt or 0.0))
                budget.value = max(budget.low, min(budget.value, int(len(body) / wire * target)))
            return answer
        error = hub_error(response)
        if response.status_code in (502, 503, 504) or error.code in ("bad_box", "scan_mismatch", "unauthenticated"):
            # Altered on the way (the request's MAC or the chunk's box did not check: nothing stored) or thrown
            # away whole: sent again, from where the hub is. A station the hub truly does not know fails its
            # records' exchange first, and never gets here.
            failures += 1
            if error.code == "scan_mismatch":
                with write_txn(link.db):
                    link.db.execute(
                        "UPDATE scan_blobs SET hub_held = 0, in_flight = 0 WHERE sha256 = ?", [put.sha256.hex()]
                    )
            link.report.notes.append(f"scan chunk refused ({error.code}): sent again")
            if failures >= ATTEMPTS:
                _issue(link, error.code, error.en, error.zh)
                raise _Done
            return _Again(failures, False)
        if error.code == "scan_unannounced":
            _issue(link, error.code, error.en, error.zh)
            return None
        _issue(link, error.code, error.en, error.zh)  # the hub takes no scans now (too old, refusing): next round
        raise _Done


def _issue(link: Link, code: str, en: str, zh: str) -> None:
    link.report.scan_errors.append(SyncIssue(code, en, zh))


def _progress(link: Link) -> None:
    waiting = backlog(link.station)
    link.report.scans_pages, link.report.scans_total, link.report.scans_waiting = (
        waiting.pages,
        waiting.total,
        waiting.waiting,
    )
    if link.scan_progress is not None:
        link.scan_progress(waiting.total - waiting.waiting, waiting.total)
