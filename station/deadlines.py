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
from sync.errors import ProxyAppError
from sync.timeutil import iso_utc
from sync.workdays import DueDate, WorkCalendar, YearTable, validate_year_table

if TYPE_CHECKING:
    from station.store.facade import Station
    from station.store.outbox import ChangeRecorder

__all__ = (
    "commitment_due",
    "compute_due",
    "install_calendar_year",
    "recompute_year",
    "refresh_commitment_due",
    "refresh_due",
    "store_year",
)

# Cases whose due date still matters: the clock runs or is paused (as at the hub, hub/store/calendar.py).
_OPEN = "('RECEIVED', 'ACCEPTED', 'IN_PROGRESS', 'AWAITING_CORRECTION', 'SPECIAL_PROCEDURE', 'SUSPENDED')"
_PAUSED = "('AWAITING_CORRECTION', 'SPECIAL_PROCEDURE', 'SUSPENDED')"
_OPEN_SET = frozenset(("RECEIVED", "ACCEPTED", "IN_PROGRESS", "AWAITING_CORRECTION", "SPECIAL_PROCEDURE", "SUSPENDED"))


def compute_due(station: Station, case: dict[str, Any], *, calendar: WorkCalendar | None = None) -> DueDate | None:
    """A case's due date from this station's calendar (or ``calendar``): promised days after
    acceptance, minus pauses.

    Before the county accepts, the receipt date stands in for acceptance (without a timely
    notice, an application counts as accepted on the day its materials were received, brief §6.1).
    """
    item = station.catalog_version(case["catalog_version"]).item(case["item_code"])
    events = station.db.execute(
        "SELECT to_status, at FROM case_events WHERE case_no = ? ORDER BY hlc", [case["case_no"]]
    ).fetchall()
    return case_due(
        calendar or station.calendar,
        item.promised_days,
        received_date=case["received_date"],
        accepted_date=case["accepted_date"],
        events=events,
        today=station.today(),
    )


def commitment_due(
    station: Station, received_date: str, due_days: int, *, calendar: WorkCalendar | None = None
) -> DueDate:
    """A 容缺 commitment's due date: ``due_days`` working days after the intake's receipt date.

    The replicated fact is ``due_days`` from the receipt date; the date is derived locally, from
    this station's calendar (or ``calendar``).
    """
    return (calendar or station.calendar).add_working_days(dt.date.fromisoformat(received_date), due_days)


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


def _due_fields(due: DueDate | None) -> tuple[str | None, int]:
    return (due.date.isoformat() if due else None, int(bool(due and due.provisional)))


def _rows(station: Station, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = station.db.execute(sql, params)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def recompute_year(station: Station, table: YearTable, before: WorkCalendar) -> int:
    """After ``table`` was stored: recompute every provisional due date, and every open case's and
    commitment's whose count runs through ``table.year``, provisional or not (call inside a write
    transaction, with ``station.calendar`` already the new one).

    A date the table moved (it differs from what the calendar held ``before`` gives) gets a line in
    an open case's history (local ``due_moves``, as the hub writes its own); a provisional mark dropped,
    or a paused case's date moved only by the passing days, is rewritten silently. Returns the
    cases and commitments rewritten.
    """
    first, last = f"{table.year}-01-01", f"{table.year}-12-31"
    at = iso_utc(station.now())
    count = 0

    def moved(kind: str, subject: str, intake_id: str, old: str | None, new: str | None) -> None:
        station.db.execute(
            "INSERT INTO due_moves (kind, subject, intake_id, old_due, new_due, year, version, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [kind, subject, intake_id, old, new, table.year, table.version, at],
        )

    cases = _rows(
        station,
        f"SELECT * FROM cases WHERE due_provisional = 1 OR (status IN {_OPEN} "
        f"AND COALESCE(accepted_date, received_date) <= ? AND (due_date >= ? OR status IN {_PAUSED}))",
        [last, first],
    )
    for case in cases:
        try:
            new = _due_fields(compute_due(station, case))
            old = _due_fields(compute_due(station, case, calendar=before))
        except (ValueError, ProxyAppError):
            continue  # a case whose catalogue version or dates cannot be read keeps its date
        if new == (case["due_date"], case["due_provisional"]):
            continue
        station.db.execute(
            "UPDATE cases SET due_date = ?, due_provisional = ? WHERE case_no = ?", [*new, case["case_no"]]
        )
        count += 1
        if new[0] != case["due_date"] and new[0] != old[0] and case["status"] in _OPEN_SET:
            moved("case", case["case_no"], case["intake_id"], case["due_date"], new[0])
    commitments = _rows(
        station,
        "SELECT c.commitment_id, c.intake_id, c.due_days, c.due_date, c.due_provisional, c.status, i.received_date "
        "FROM commitments c JOIN intakes i ON i.intake_id = c.intake_id "
        "WHERE c.due_provisional = 1 OR (c.status = 'open' AND i.received_date <= ? AND c.due_date >= ?)",
        [last, first],
    )
    for row in commitments:
        try:
            new = _due_fields(commitment_due(station, row["received_date"], row["due_days"]))
            old = _due_fields(commitment_due(station, row["received_date"], row["due_days"], calendar=before))
        except (ValueError, ProxyAppError):
            continue
        if new == (row["due_date"], row["due_provisional"]):
            continue
        station.db.execute(
            "UPDATE commitments SET due_date = ?, due_provisional = ? WHERE commitment_id = ?",
            [*new, row["commitment_id"]],
        )
        count += 1
        if new[0] != row["due_date"] and new[0] != old[0] and row["status"] == "open":
            moved("commitment", row["commitment_id"], row["intake_id"], row["due_date"], new[0])
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

    However long the station was offline, the table is installed when it arrives and every open
    case counted through its year moves then (:func:`recompute_year`). A table older than the one
    held is ignored. Returns the number of cases and commitments whose due date was rewritten.
    """
    validate_year_table(table)
    current = station.db.execute("SELECT version FROM calendar_years WHERE year = ?", [table.year]).fetchone()
    if current is not None and current[0] > table.version:
        return 0
    station.__dict__.pop("calendar", None)  # read afresh: the calendar held until now
    before = station.calendar
    store_year(station.db, table, iso_utc(station.now()))
    station.__dict__.pop("calendar", None)  # the cached calendar (a cached_property) is stale now
    return recompute_year(station, table, before)
