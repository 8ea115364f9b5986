"""HubStore's part for township review and escalation: clerks' scope, township lists, due cases, joint opinions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.store.base import StoreBase

__all__ = ("TownshipStoreMixin",)

_LIST_COLUMNS = (
    "case_no, item_code, bundle_code, status, outcome, applicant_name, id_number, phone, village_code, "
    "received_date, accepted_date, due_date, due_provisional, catalog_version"
)
_OPEN = "status IN ('RECEIVED', 'ACCEPTED', 'IN_PROGRESS')"
"""As OPEN_STATUSES_SQL in hub.store.schema, spelled alike so SQLite uses the partial index cases_open_due."""


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


def _returned(cursor: Any) -> bool:
    # Every row read: a RETURNING statement left with rows unread stays active in SQLite.
    return bool(cursor.fetchall())


class TownshipStoreMixin(StoreBase):
    """Township clerks' accounts and cases, cases coming due, parallel-review opinions, alert runs."""

    # -- accounts --------------------------------------------------------------------------------

    def set_user_scope(self, user_id: int, *, township: str | None, head: bool, email: str | None) -> None:
        """An account's township (township clerks), head flag (overdue cases reach it) and digest address."""
        self.db.execute(
            "UPDATE users SET township = ?, head = ?, email = ? WHERE user_id = ?",
            [township, 1 if head else 0, email, user_id],
        )

    # -- township desk ---------------------------------------------------------------------------

    def township_cases(
        self,
        township: str,
        item_codes: Sequence[str],
        *,
        status: str | None = None,
        overdue_before: str | None = None,
        case_no: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Cases of the township's villages for the given items, newest first (full rows: the caller masks)."""
        if not item_codes:
            return []
        # Village codes of a township share its first nine digits.
        sql = (
            f"SELECT {_LIST_COLUMNS} FROM cases WHERE village_code >= ? AND village_code < ? "
            f"AND item_code IN ({_marks(item_codes)})"
        )
        params: list[Any] = [township[:9], township[:9] + "A", *item_codes]
        if status:
            sql += " AND status = ?"
            params.append(status)
        if overdue_before:
            sql += f" AND {_OPEN} AND due_date < ?"
            params.append(overdue_before)
        if case_no:
            sql += " AND case_no >= ? AND case_no < ?"
            params += [case_no, case_no + "\U0010ffff"]
        sql += " ORDER BY received_at DESC, case_no LIMIT ? OFFSET ?"
        return self._dicts(sql, [*params, limit, offset])

    def forwarded_cases(self, case_nos: Sequence[str]) -> set[str]:
        """Which of these cases a township forwarded to the county department (sync.levels.is_forward)."""
        found: set[str] = set()
        for start in range(0, len(case_nos), 500):  # stay under any driver's parameter limit
            chunk = list(case_nos[start : start + 500])
            rows = self.db.execute(
                "SELECT DISTINCT case_no FROM case_events WHERE actor = 'township' AND from_status = 'IN_PROGRESS' "
                f"AND to_status = 'IN_PROGRESS' AND case_no IN ({_marks(chunk)})",
                chunk,
            )
            found.update(r[0] for r in rows.fetchall())
        return found

    # -- escalation ------------------------------------------------------------------------------

    def open_cases_due_by(self, last_day: str) -> list[dict[str, Any]]:
        """Open cases (clock running) due on or before ``last_day``: numbers, codes and dates, no personal data."""
        return self._dicts(
            "SELECT case_no, item_code, village_code, status, due_date, catalog_version FROM cases "
            f"WHERE {_OPEN} AND due_date <= ? ORDER BY due_date, case_no",
            [last_day],
        )

    # -- parallel review (并联审批) -----------------------------------------------------------------

    def request_joint_opinion(self, case_no: str, department: str, *, by: str, at: str, due_date: str) -> bool:
        """Ask a department to join a case's review by ``due_date``; False when it was asked already."""
        return _returned(
            self.db.execute(
                "INSERT INTO joint_opinions (case_no, department, requested_by, requested_at, due_date) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (case_no, department) DO NOTHING RETURNING case_no",
                [case_no, department, by, at, due_date],
            )
        )

    def answer_joint_opinion(
        self, case_no: str, department: str, *, opinion: str, reason: str | None, by: str, at: str
    ) -> bool:
        """Record a department's opinion (or the system's deemed consent); False if none was pending."""
        return _returned(
            self.db.execute(
                "UPDATE joint_opinions SET opinion = ?, reason = ?, answered_by = ?, answered_at = ? "
                "WHERE case_no = ? AND department = ? AND opinion IS NULL RETURNING case_no",
                [opinion, reason, by, at, case_no, department],
            )
        )

    def joint_opinions(self, case_no: str) -> list[dict[str, Any]]:
        """Every department asked to join the case's review, with its opinion (NULL: not answered yet)."""
        return self._dicts(
            "SELECT case_no, department, requested_by, requested_at, due_date, opinion, reason, answered_by, "
            "answered_at FROM joint_opinions WHERE case_no = ? ORDER BY requested_at, department",
            [case_no],
        )

    def joint_requests_for(self, department: str, *, pending_only: bool = True) -> list[dict[str, Any]]:
        """The cases a department is asked to give its opinion on, soonest due first."""
        sql = (
            "SELECT case_no, department, requested_by, requested_at, due_date, opinion, reason, answered_by, "
            "answered_at FROM joint_opinions WHERE department = ?"
        )
        if pending_only:
            sql += " AND opinion IS NULL"
        return self._dicts(sql + " ORDER BY due_date, case_no", [department])

    def joint_requests_past(self, today: str) -> list[dict[str, Any]]:
        """Unanswered joint-review requests whose due date is before ``today``."""
        return self._dicts(
            "SELECT case_no, department, due_date FROM joint_opinions WHERE opinion IS NULL AND due_date < ? "
            "ORDER BY due_date, case_no, department",
            [today],
        )

    # -- the daily digest --------------------------------------------------------------------------

    def alert_run(self, day: str) -> dict[str, Any] | None:
        """The digest run of a China date, or None when it has not gone out."""
        rows = self._dicts("SELECT day, at, backend, digests, deemed FROM alert_runs WHERE day = ?", [day])
        return rows[0] if rows else None

    def record_alert_run(self, day: str, *, at: str, backend: str, digests: int, deemed: int) -> bool:
        """Note that the digest of ``day`` went out; False when another run had noted it first."""
        return _returned(
            self.db.execute(
                "INSERT INTO alert_runs (day, at, backend, digests, deemed) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (day) DO NOTHING RETURNING day",
                [day, at, backend, digests, deemed],
            )
        )
