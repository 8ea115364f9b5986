"""Test support: play the county's part on a station without a hub, by applying a reviewer's move directly.

Not product code (the station applies county decisions only from the hub's signed feed, station/feed.py):
tests that are about screens, lists and due dates use it to put a case in a decided state quickly.
Tests about sync should drive a real hub decision and its feed set (tests/integration/county.py).
A move that the lifecycle does not allow from the case's current state is refused with IllegalTransition
and changes nothing.
"""

from __future__ import annotations

import datetime as dt

from station.cases import case_row, refresh_due
from station.store import Station
from station.store.db import write_txn
from station.store.outbox import ChangeRecorder
from sync.changes import StatusChange
from sync.hlc import HybridClock
from sync.lifecycle import Actor, Status, check_transition
from sync.timeutil import business_date, iso_utc, parse_iso

__all__ = ("apply_status_change", "decision")


def decision(
    station: Station,
    case_no: str,
    to_status: Status | str,
    *,
    actor: Actor | str = Actor.DEPARTMENT,
    at: dt.datetime | None = None,
    reason: str | None = None,
    outcome: str | None = None,
    by: str | None = None,
    origin: str = "hub",
) -> StatusChange:
    """Build the StatusChange a reviewer's decision on ``case_no`` would carry (from its current state)."""
    case = case_row(station, case_no)
    moment = at or station.now()
    row = station.db.execute("SELECT value FROM meta WHERE key = 'hlc_last'").fetchone()
    stamp = HybridClock(int(row[0]) if row else 0).tick(int(moment.timestamp() * 1000))
    return StatusChange(
        event_id=f"{origin}:{stamp}",
        case_no=case["case_no"],
        from_status=case["status"],
        to_status=Status(to_status).value,
        actor=Actor(actor).value,
        hlc=stamp,
        at=iso_utc(moment),
        reason=reason,
        outcome=outcome,
        by=by,
    )


def apply_status_change(station: Station, change: StatusChange) -> bool:
    """Apply a move received from elsewhere; False when it was already applied (same event id).

    Raises:
        NotFoundError: the case is not at this station.
        IllegalTransition: the move is not allowed from the case's current state for its actor.
    """
    with write_txn(station.db):
        if station.db.execute("SELECT 1 FROM case_events WHERE event_id = ?", [change.event_id]).fetchone():
            return False
        case = case_row(station, change.case_no)
        check_transition(case["status"], change.to_status, change.actor)
        row = station.db.execute("SELECT value FROM meta WHERE key = 'hlc_last'").fetchone()
        clock = HybridClock(int(row[0]) if row else 0)
        clock.observe(change.hlc, int(station.now().timestamp() * 1000))
        station.db.execute(
            "INSERT INTO case_events (event_id, case_no, from_status, to_status, actor, by, at, hlc, reason, outcome,"
            " origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                change.event_id,
                change.case_no,
                case["status"],
                change.to_status,
                change.actor,
                change.by,
                change.at,
                change.hlc,
                change.reason,
                change.outcome,
                change.origin or change.event_id.split(":")[0],
            ],
        )
        fields = {"status": change.to_status, "updated_at": iso_utc(station.now())}
        if change.outcome is not None:
            fields["outcome"] = change.outcome
        if change.to_status == Status.ACCEPTED:
            # The legal clock starts on the day of acceptance as the reviewer recorded it.
            fields["accepted_date"] = business_date(parse_iso(change.at)).isoformat()
        station.db.execute(
            f"UPDATE cases SET {', '.join(f'{c} = ?' for c in fields)} WHERE case_no = ?",
            [*fields.values(), change.case_no],
        )
        station.db.execute(
            "INSERT INTO meta (key, value) VALUES ('hlc_last', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [str(clock.last)],
        )
        case.update(fields)
        recorder = ChangeRecorder(station.db, clock, station.now(), station.station_id)
        refresh_due(station, recorder, case)
    return True
