"""Test support: the county decides a case at a station, as a signed feed set applied through the station's feed path.

Not product code. Tests about screens, lists and due dates use it to put a case in a decided state
quickly: a hub double (tests/station/hubdouble.py) seals the reviewer's StatusChange and the hub's
CaseState that follows it (as hub/decisions.py queues them), and station.feed.apply_feed_set applies
the set, verified like any other. Tests about sync itself drive a real hub (tests/integration/county.py).
"""

from __future__ import annotations

import datetime as dt

from station.cases import case_row
from station.feed import apply_feed_set, feed_position
from station.identity import HubPins
from station.sealing import seal_pending
from station.store.db import write_txn
from sync.changes import StatusChange
from sync.crypto import KeyPair, key_id_of
from sync.hlc import HybridClock
from sync.lifecycle import Actor, Status, check_transition
from sync.protocol import GENESIS, CaseState
from sync.timeutil import business_date, iso_utc
from tests.station.hubdouble import HubDouble, at_ms

__all__ = ("County", "decide", "seal")


class County:
    """A hub double and the station key pair its feed sets are sealed to.

    The station need not be enrolled: the hub's pins are handed to apply_feed_set as enrolment
    would have stored them, so the station's meta (and what its screens show) stays as it was.
    """

    def __init__(self, hub: HubDouble | None = None, keys: KeyPair | None = None) -> None:
        self.hub = hub or HubDouble()
        self.keys = keys or KeyPair.generate()
        self.pins = HubPins(
            url="http://hub.test",
            hub_id=key_id_of(self.hub.keys.sign_public),
            sign_public=self.hub.keys.sign_public,
            box_public=self.hub.keys.box_public,
            enrolled_at="2026-09-28T02:00:00.000Z",
        )

    def send(self, station, *items: object, at: dt.datetime) -> None:
        """Seal ``items`` into the next set of the station's feed (continuing the chain it holds) and apply it."""
        self.hub.adopt(station.station_id, self.keys)
        self.hub.hub_ms = at_ms(at)
        position = feed_position(station)
        row = station.db.execute("SELECT hash FROM feed_in WHERE seq = ?", [position]).fetchone()
        prev = bytes(row[0]) if row else GENESIS
        envelope = self.hub.feed_set(*items, seq=position + 1, prev=prev, origin=self.hub.feed_origin)
        apply_feed_set(station, envelope, self.keys, pins=self.pins)

    def seal(self, station) -> list[int]:
        """The station seals its outbox to this county, as its next sync would; returns the set seqs.

        A move the county decides on a case it has received (a correction request, say) must come
        after the station's own sealed moves, or the station re-applies its unsent DRAFT→RECEIVED on
        top. The station stays unenrolled, so its screens show what they showed: the pins are stored
        for the sealing only, inside the same transaction, and the settings put back after it.
        """
        pins = {
            "hub_url": self.pins.url,
            "hub_id": self.pins.hub_id,
            "hub_sign_public": self.pins.sign_public.hex(),
            "hub_box_public": self.pins.box_public.hex(),
            "enrolled_at": self.pins.enrolled_at,
        }
        with write_txn(station.db):
            before = {key: getattr(station.meta, key) for key in pins}
            station.meta.update(pins)
            seqs = seal_pending(station, self.keys)
            station.meta.update(before)  # None deletes what was unset
        return seqs


_COUNTY: County | None = None


def _county() -> County:
    global _COUNTY
    if _COUNTY is None:
        _COUNTY = County()
    return _COUNTY


def seal(station, *, county: County | None = None) -> list[int]:
    """The station seals its outbox, as its next sync would (see :meth:`County.seal`)."""
    return (county or _county()).seal(station)


def decide(
    station,
    case_no: str,
    to_status: Status | str,
    *,
    actor: Actor | str = Actor.DEPARTMENT,
    at: dt.datetime | None = None,
    reason: str | None = None,
    outcome: str | None = None,
    by: str | None = None,
    county: County | None = None,
) -> StatusChange:
    """A reviewer moves ``case_no`` to ``to_status``; the station receives the move in its feed.

    The set holds what hub/decisions.py queues: the StatusChange (origin "hub") and the hub's
    CaseState after it. Returns the StatusChange.

    Raises:
        NotFoundError: the case is not at this station.
        IllegalTransition: the hub would refuse the move from the case's current state for ``actor``.
    """
    case = case_row(station, case_no)
    target = Status(to_status)
    check_transition(case["status"], target, Actor(actor))
    moment = at or station.now()
    row = station.db.execute("SELECT value FROM meta WHERE key = 'hlc_last'").fetchone()
    stamp = HybridClock(int(row[0]) if row else 0).tick(at_ms(moment))
    change = StatusChange(
        event_id=f"hub:{stamp}",
        case_no=case["case_no"],
        from_status=case["status"],
        to_status=target.value,
        actor=Actor(actor).value,
        hlc=stamp,
        at=iso_utc(moment),
        reason=reason,
        outcome=outcome,
        by=by,
        origin="hub",
    )
    # The hub has seen every set this station sealed; a move still in its outbox goes back on top.
    sealed = station.db.execute("SELECT MAX(set_seq) FROM outbox").fetchone()[0] or 0
    state = CaseState(
        case_no=case["case_no"],
        status=target.value,
        outcome=outcome if outcome is not None else case["outcome"],
        accepted_date=business_date(moment).isoformat() if target is Status.ACCEPTED else case["accepted_date"],
        through_seq=sealed,
    )
    (county or _county()).send(station, change, state, at=moment)
    return change
