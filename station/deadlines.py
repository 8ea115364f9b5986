"""Due dates at the station: a case's and a commitment's, kept as local derived columns, recomputed
when the county moves a case or publishes a calendar year.

The rules themselves (working days, pauses, acceptance) are shared with the hub in
:mod:`sync.deadlines` and :mod:`sync.workdays`; this module applies them to the station's rows.
It reads the :class:`~station.store.Station` it is given but imports nothing of the station at
run time, so the store facade can install a calendar year through it without an import cycle.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import msgspec
from sqlite_utils import Database

from sync.deadlines import case_due
from sync.timeutil import iso_utc
from sync.workdays import DueDate, YearTable, validate_year_table

if TYPE_CHECKING:
    from station.store.facade import Station
    from station.store.outbox import ChangeRecorder

__all__ = (
    "commitment_due",
    "compute_due",
    "install_calendar_year",
    "recompute_provisional",
    "refresh_commitment_due",
    "refresh_due",
    "store_year",
)


def compute_due(station: Station, case: dict[str, Any]) -> DueDate | None:
    """A case's due date from this station's calendar: promised days after acceptance, minus pauses.

    Before the county accepts, the receipt date stands in for acceptance (without a timely
    notice, an application counts as accepted on the day its materials were received, brief §6.1).
    """
    item = station.catalog_version(case["catalog_version"]).item(case["item_code"])
    events = station.db.execute(
        "SELECT to_status, at FROM case_events WHERE case_no = ? ORDER BY hlc", [case["case_no"]]
    ).fetchall()
    return case_due(
        station.calendar,
        item.promised_days,
        received_date=case["received_date"],
        accepted_date=case["accepted_date"],
        events=events,
        today=station.today(),
    )


def commitment_due(station: Station, received_date: str, due_days: int) -> DueDate:
    """A 容缺 commitment's due date: ``due_days`` working days after the intake's receipt date.

    The replicated fact is ``due_days`` from the receipt date; the date is derived locally, from
    this station's calendar.
    """
    return station.calendar.add_working_days(dt.date.fromisoformat(received_date), due_days)


def refresh_due(station: Station, rec: ChangeRecorder, case: dict[str, Any]) -> None:
    """Store the case's recomputed due date (a local, derived column)."""
    due = compute_due(station, case)
    rec.local_update(
        "cases",
        case["case_no"],
        {"due_date": due.date.isoformat() if due else None, "due_provisional": int(bool(due and due.provisional))},
    )


def refresh_commitment_due(station: Station, commitment_id: str) -> None:
    """Recompute one commitment's stored due date (after another replica changed it)."""
    row = station.db.execute(
        "SELECT c.due_days, i.received_date FROM commitments c JOIN intakes i ON i.intake_id = c.intake_id "
        "WHERE c.commitment_id = ?",
        [commitment_id],
    ).fetchone()
    if row is not None:
        due = commitment_due(station, row[1], row[0])
        station.db.execute(
            "UPDATE commitments SET due_date = ?, due_provisional = ? WHERE commitment_id = ?",
            [due.date.isoformat(), int(due.provisional), commitment_id],
        )


def recompute_provisional(station: Station) -> int:
    """Recompute every provisional due date (call inside a write transaction, after a calendar change)."""
    count = 0
    cursor = station.db.execute("SELECT * FROM cases WHERE due_provisional = 1")
    columns = [d[0] for d in cursor.description]
    for row in cursor.fetchall():
        case = dict(zip(columns, row))
        due = compute_due(station, case)
        station.db.execute(
            "UPDATE cases SET due_date = ?, due_provisional = ? WHERE case_no = ?",
            [due.date.isoformat() if due else None, int(bool(due and due.provisional)), case["case_no"]],
        )
        count += 1
    for commitment_id, due_days, received in station.db.execute(
        "SELECT c.commitment_id, c.due_days, i.received_date FROM commitments c "
        "JOIN intakes i ON i.intake_id = c.intake_id WHERE c.due_provisional = 1"
    ).fetchall():
        due = commitment_due(station, received, due_days)
        station.db.execute(
            "UPDATE commitments SET due_date = ?, due_provisional = ? WHERE commitment_id = ?",
            [due.date.isoformat(), int(due.provisional), commitment_id],
        )
        count += 1
    return count


def store_year(db: Database, table: YearTable, stamp: str) -> None:
    """Store (or replace) one year table of the working-day calendar, as the hub publishes it."""
    db.execute(
        "INSERT INTO calendar_years (year, version, source, body, received_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(year) DO UPDATE SET version = excluded.version, source = excluded.source, "
        "body = excluded.body, received_at = excluded.received_at",
        [table.year, table.version, table.source, msgspec.json.encode(table).decode(), stamp],
    )


def install_calendar_year(station: Station, table: YearTable) -> int:
    """Store a year table (as the hub publishes it) and recompute the due dates it affects; call
    inside a write transaction (:meth:`Station.install_calendar_year` opens one).

    A table older than the one held is ignored. Returns the number of cases and commitments
    whose due date was recomputed.
    """
    validate_year_table(table)
    current = station.db.execute("SELECT version FROM calendar_years WHERE year = ?", [table.year]).fetchone()
    if current is not None and current[0] > table.version:
        return 0
    store_year(station.db, table, iso_utc(station.now()))
    station.__dict__.pop("calendar", None)  # the cached calendar (a cached_property) is stale now
    return recompute_provisional(station)
