"""HubStore's part for calendar publication: every version of a year's table, and the due dates they moved."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from hub.store.base import StoreBase
from sync.timeutil import iso_utc
from sync.workdays import YearTable

__all__ = ("CalendarStoreMixin", "CalendarVersionRow", "YearRow")

# Cases whose due date still matters: the clock runs or is paused. A decided (COMPLETED), closed or
# draft case keeps the date it had.
_OPEN = "('RECEIVED', 'ACCEPTED', 'IN_PROGRESS', 'AWAITING_CORRECTION', 'SPECIAL_PROCEDURE', 'SUSPENDED')"
_PAUSED = "('AWAITING_CORRECTION', 'SPECIAL_PROCEDURE', 'SUSPENDED')"


class YearRow(msgspec.Struct, frozen=True, kw_only=True):
    """The table in force for a year and when the hub took it (``hub init`` or a publication)."""

    table: YearTable
    published_at: str


class CalendarVersionRow(msgspec.Struct, frozen=True, kw_only=True):
    """One published version of a year's table: the notice as the county published it (JSON in the
    ``hub calendar publish`` format)."""

    year: int
    version: int
    source: str
    notice: str
    published_at: str


class CalendarStoreMixin(StoreBase):
    """Calendar versions and due-date moves (``hub calendar publish``)."""

    def put_calendar_version(self, table: YearTable, notice: str, now: dt.datetime) -> None:
        """Record a published version (its notice JSON) and put it in force (call inside a transaction)."""
        at = iso_utc(now)
        self.db.execute(
            "INSERT INTO calendar_versions (year, version, source, notice, published_at) VALUES (?, ?, ?, ?, ?)",
            [table.year, table.version, table.source, notice, at],
        )
        self.db.execute(
            "INSERT INTO calendar_years (year, version, source, body, published_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(year) DO UPDATE SET version = excluded.version, source = excluded.source, "
            "body = excluded.body, published_at = excluded.published_at WHERE excluded.version >= calendar_years.version",
            [table.year, table.version, table.source, msgspec.json.encode(table).decode(), at],
        )

    def calendar_year(self, year: int) -> YearRow | None:
        """The table in force for ``year`` (seeded by ``hub init`` or published), or None."""
        row = self._one("SELECT body, published_at FROM calendar_years WHERE year = ?", [year])
        if row is None:
            return None
        return YearRow(table=msgspec.json.decode(row[0], type=YearTable), published_at=row[1])

    def calendar_versions(self, year: int) -> list[CalendarVersionRow]:
        """The versions of ``year`` published with ``hub calendar publish``, oldest first."""
        return [
            CalendarVersionRow(**row)
            for row in self._dicts(
                "SELECT year, version, source, notice, published_at FROM calendar_versions WHERE year = ? "
                "ORDER BY version",
                [year],
            )
        ]

    def cases_through_year(self, year: int) -> list[dict[str, Any]]:
        """Cases a table for ``year`` may move: every provisional one, and every open one whose count
        runs through the year (from acceptance, or receipt, up to its due date; a paused case's due
        date depends on today, so any paused case counted from before the year's end)."""
        return self._dicts(
            f"SELECT * FROM cases WHERE due_provisional = 1 OR (status IN {_OPEN} "
            "AND COALESCE(accepted_date, received_date) <= ? "
            f"AND (due_date >= ? OR status IN {_PAUSED})) ORDER BY case_no",
            [f"{year}-12-31", f"{year}-01-01"],
        )

    def commitments_through_year(self, year: int) -> list[dict[str, Any]]:
        """容缺 commitments a table for ``year`` may move (with their intake's ``received_date``):
        every provisional one, and every open one counted from before the year's end into it."""
        return self._dicts(
            "SELECT c.commitment_id, c.intake_id, c.material, c.due_days, c.due_date, c.due_provisional, "
            "c.status, i.received_date FROM commitments c JOIN intakes i ON i.intake_id = c.intake_id "
            "WHERE c.due_provisional = 1 OR (c.status = 'open' AND i.received_date <= ? AND c.due_date >= ?) "
            "ORDER BY c.commitment_id",
            [f"{year}-12-31", f"{year}-01-01"],
        )

    def add_due_move(
        self,
        *,
        kind: str,
        subject: str,
        intake_id: str,
        old_due: str | None,
        new_due: str | None,
        year: int,
        version: int,
        at: str,
    ) -> None:
        """Record that a calendar table moved a due date (``kind`` "case" or "commitment")."""
        self.db.execute(
            "INSERT INTO due_moves (kind, subject, intake_id, old_due, new_due, year, version, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [kind, subject, intake_id, old_due, new_due, year, version, at],
        )

    def due_moves(self, case_no: str) -> list[dict[str, Any]]:
        """The due-date moves of a case and of its intake's 容缺 commitments (with the material), oldest first."""
        return self._dicts(
            "SELECT m.kind, m.subject, m.old_due, m.new_due, m.year, m.version, m.at, c.material "
            "FROM due_moves m LEFT JOIN commitments c ON m.kind = 'commitment' AND c.commitment_id = m.subject "
            "WHERE (m.kind = 'case' AND m.subject = ?) "
            "OR (m.kind = 'commitment' AND m.intake_id = (SELECT intake_id FROM cases WHERE case_no = ?)) "
            "ORDER BY m.id",
            [case_no, case_no],
        )
