"""HubStore's part for ratings (好差评) and progress queries: follow-ups of bad ratings, satisfaction counts,
the case a progress query names and the key its code comes from, and the log of those queries. Portable SQL only (docs/postgresql.md)."""

from __future__ import annotations

from typing import Any

from hub.store.base import StoreBase

__all__ = ("RatingStoreMixin",)

_FOLLOWUP = (
    "f.rating_id, f.case_no, f.department, f.township, f.level, f.opened_at, f.due_date, f.called_at, f.called_by,"
    " f.fixed_at, f.fixed_by, f.answered_at, f.answered_by, f.answer, r.comment, r.channel, r.rated_at,"
    " c.item_code, c.village_code, c.status"
)
_STEPS = {"call": ("called_at", "called_by"), "fix": ("fixed_at", "fixed_by"), "answer": ("answered_at", "answered_by")}


class RatingStoreMixin(StoreBase):
    """Follow-ups, satisfaction figures, progress-query lookups and their log."""

    # -- follow-ups of bad ratings ---------------------------------------------------------------

    def open_followup(self, values: dict[str, Any]) -> bool:
        """Open the follow-up of a bad rating (once: a rating seen again opens nothing); True when opened."""
        row = self._one(
            "INSERT INTO followups (rating_id, case_no, department, township, level, opened_at, due_date) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rating_id) DO NOTHING RETURNING rating_id",
            [
                values["rating_id"],
                values["case_no"],
                values["department"],
                values["township"],
                values["level"],
                values["opened_at"],
                values["due_date"],
            ],
        )
        return row is not None

    def followup(self, rating_id: str) -> dict[str, Any] | None:
        """One follow-up with its rating's comment and channel and its case's item, village and status."""
        rows = self._dicts(
            f"SELECT {_FOLLOWUP} FROM followups f JOIN ratings r ON r.rating_id = f.rating_id "
            "JOIN cases c ON c.case_no = f.case_no WHERE f.rating_id = ?",
            [rating_id],
        )
        return rows[0] if rows else None

    def department_followups(
        self, department: str, *, open_only: bool = True, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        """A department's follow-ups, the soonest due first (open ones only unless ``open_only`` is False)."""
        sql = (
            f"SELECT {_FOLLOWUP} FROM followups f JOIN ratings r ON r.rating_id = f.rating_id "
            "JOIN cases c ON c.case_no = f.case_no WHERE f.department = ?"
        )
        if open_only:
            sql += " AND f.answered_at IS NULL"
        return self._dicts(sql + " ORDER BY f.due_date, f.rating_id LIMIT ? OFFSET ?", [department, limit, offset])

    def record_followup_step(self, rating_id: str, step: str, *, by: str, at: str, answer: str | None = None) -> bool:
        """Record a step of a follow-up (``call``, ``fix``, ``answer``) once; False when it was recorded before
        or there is no such follow-up."""
        at_column, by_column = _STEPS[step]
        sql = f"UPDATE followups SET {at_column} = ?, {by_column} = ?"
        params: list[Any] = [at, by]
        if step == "answer":
            sql += ", answer = ?"
            params.append(answer)
        cursor = self.db.execute(sql + f" WHERE rating_id = ? AND {at_column} IS NULL", [*params, rating_id])
        return bool(cursor.rowcount)

    def followup_counts(self, today: str) -> list[dict[str, Any]]:
        """Per department: follow-ups open, open past their due date, answered (no personal data)."""
        return self._dicts(
            "SELECT department, "
            "SUM(CASE WHEN answered_at IS NULL THEN 1 ELSE 0 END) AS open, "
            "SUM(CASE WHEN answered_at IS NULL AND due_date < ? THEN 1 ELSE 0 END) AS overdue, "
            "SUM(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END) AS answered "
            "FROM followups GROUP BY department ORDER BY department",
            [today],
        )

    # -- satisfaction figures --------------------------------------------------------------------

    def rating_counts(self) -> list[dict[str, Any]]:
        """Ratings of cases counted by (item, village, level): what the satisfaction figures sum up."""
        return self._dicts(
            "SELECT c.item_code, c.village_code, r.level, COUNT(*) AS n FROM ratings r "
            "JOIN cases c ON c.case_no = r.case_no GROUP BY c.item_code, c.village_code, r.level"
        )

    def bundle_rating_counts(self) -> list[dict[str, Any]]:
        """Overall ratings of bundles counted by (bundle, village, level)."""
        return self._dicts(
            "SELECT i.bundle_code, i.village_code, r.level, COUNT(*) AS n FROM ratings r "
            "JOIN intakes i ON i.intake_id = r.intake_id WHERE r.case_no IS NULL "
            "GROUP BY i.bundle_code, i.village_code, r.level"
        )

    # -- progress queries ------------------------------------------------------------------------

    def progress_case(self, case_no: str) -> dict[str, Any] | None:
        """A case as a progress query shows it, with its intake's versions (``intake_versions``: who recorded
        it, whose query key derives its code); None: no such case."""
        rows = self._dicts(
            "SELECT c.case_no, c.intake_id, c.item_code, c.catalog_version, c.status, c.outcome, c.due_date, "
            "c.due_provisional, c.updated_at, i.versions AS intake_versions FROM cases c "
            "JOIN intakes i ON i.intake_id = c.intake_id WHERE c.case_no = ?",
            [case_no],
        )
        return rows[0] if rows else None

    def query_key(self, key_id: str) -> str | None:
        """A station PC's progress-query key (hex), None when it has not sent one."""
        row = self.db.execute("SELECT query_key FROM query_keys WHERE key_id = ?", [key_id]).fetchone()
        return row[0] if row else None

    def outstanding_materials(self, intake_id: str) -> list[str]:
        """The intake's materials not yet handed in (deferred under 容缺 or not provided)."""
        return [
            row[0]
            for row in self.db.execute(
                "SELECT name_zh FROM intake_materials WHERE intake_id = ? AND state IN ('deferred', 'not_provided') "
                "ORDER BY material_id",
                [intake_id],
            ).fetchall()
        ]

    def log_query(self, *, at: str, case_no: str, matched: bool, ip: str | None, channel: str) -> None:
        """Record a progress query (the case number asked for, never the code typed)."""
        self.db.execute(
            "INSERT INTO query_log (at, case_no, matched, ip, channel) VALUES (?, ?, ?, ?, ?)",
            [at, case_no[:64], int(matched), ip, channel],
        )

    def query_log(self, *, limit: int = 200, case_no: str | None = None) -> list[dict[str, Any]]:
        """Progress queries, newest first, optionally of one case number."""
        sql, params = "SELECT at, case_no, matched, ip, channel FROM query_log", []
        if case_no:
            sql += " WHERE case_no = ?"
            params.append(case_no)
        return self._dicts(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
