"""HubStore's part for the dashboard: the station table, county aggregates, counters and department desks."""

from __future__ import annotations

from typing import Any

from hub.store.base import StoreBase
from hub.store.schema import DEPARTMENT_SQL, OPEN_STATUSES_SQL, TOWNSHIP_SQL

__all__ = ("DashboardStoreMixin",)

_CASE_LIST_COLUMNS = (
    "case_no, item_code, bundle_code, status, outcome, applicant_name, id_number, phone, village_code, "
    "received_date, accepted_date, due_date, due_provisional, catalog_version"
)


class DashboardStoreMixin(StoreBase):
    """Read models for administrators and departments. Mixed into :class:`hub.store.HubStore`."""

    # -- stations ----------------------------------------------------------------------------------

    def station_table(self, station_id: str | None = None) -> list[dict[str, Any]]:
        """Every station (or one) with its contact record and the counts the dashboard shows.

        ``waiting_since`` is the first kept contact at which the station reported a head seq the hub
        has not applied yet: it has held that set since then at least (docs/dashboard.md).
        """
        sql = (
            "SELECT s.station_id, s.village_code, s.device, s.serial, s.enrolled_at, s.revoked_at, s.revoke_reason,"
            " s.applied_seq, s.last_contact, s.last_push, s.last_pull, s.head_seq, s.outbox_length, s.feed_acked,"
            " s.clock_offset_ms, s.software, s.last_error, s.last_error_at,"
            " (SELECT MAX(seq) FROM feed_sets f WHERE f.station_id = s.station_id) AS feed_seq,"
            " (SELECT COUNT(*) FROM feed_items i WHERE i.station_id = s.station_id) AS feed_pending,"
            " (SELECT COUNT(*) FROM forks k WHERE k.station_id = s.station_id AND k.resolved_at IS NULL) AS forks,"
            " (SELECT COUNT(*) FROM rejected r WHERE r.origin = s.station_id) AS rejected,"
            " (SELECT COUNT(*) FROM station_keys k WHERE k.station_id = s.station_id AND k.revoked_at IS NOT NULL)"
            "   AS revoked_keys,"
            " (SELECT created_at FROM station_keys k WHERE k.key_id = s.key_id) AS key_since,"
            # The newest catalogue version the station acknowledged the feed set of, and since when a newer
            # one waits for it (the first version it lacks was published then).
            " (SELECT MAX(d.version) FROM catalog_deliveries d WHERE d.station_id = s.station_id"
            "   AND d.feed_seq <= s.feed_acked) AS catalog_version,"
            " (SELECT MIN(c.published_at) FROM catalogs c WHERE c.version > COALESCE((SELECT MAX(d.version)"
            "   FROM catalog_deliveries d WHERE d.station_id = s.station_id AND d.feed_seq <= s.feed_acked), 0))"
            "   AS catalog_behind_since,"
            # A version the station reported it could not install (hub.catalog_report): why, as a code.
            " (SELECT cf.code FROM catalog_failures cf WHERE cf.station_id = s.station_id) AS catalog_failure,"
            " CASE WHEN s.head_seq > s.applied_seq THEN (SELECT MIN(c.at) FROM contacts c"
            "   WHERE c.station_id = s.station_id AND c.head_seq > s.applied_seq) END AS waiting_since"
            " FROM stations s"
        )
        params: list[Any] = []
        if station_id is not None:
            sql += " WHERE s.station_id = ?"
            params.append(station_id)
        return self._dicts(sql + " ORDER BY s.village_code, s.device, s.serial", params)

    def station_rejections(self, station_id: str, limit: int = 20) -> tuple[dict[str, int], list[dict[str, Any]]]:
        """(count per code, the newest ``limit``) of a station's rejected changes, without reasons or values."""
        counts = {
            code: int(n)
            for code, n in self.db.execute(
                "SELECT code, COUNT(*) FROM rejected WHERE origin = ? GROUP BY code ORDER BY code", [station_id]
            )
        }
        recent = self._dicts(
            "SELECT seq, idx, entity, entity_id, code, recorded_at FROM rejected WHERE origin = ? "
            "ORDER BY id DESC LIMIT ?",
            [station_id, limit],
        )
        return counts, recent

    # -- county figures ----------------------------------------------------------------------------

    def case_counts(self) -> list[dict[str, Any]]:
        """The trigger-kept aggregate: cases per (department, township, status), with acceptance and decision sums."""
        return self._dicts(
            "SELECT department, township, status, n, accepted_n, days_n, days_sum FROM case_counts WHERE n != 0"
        )

    def overdue_counts(self, today: str) -> list[tuple[str, str, int]]:
        """(department, township, cases) of open cases whose due date is before ``today`` (ISO date)."""
        rows = self.db.execute(
            f"SELECT {DEPARTMENT_SQL}, {TOWNSHIP_SQL}, COUNT(*) FROM cases INDEXED BY cases_open_due "
            f"WHERE {OPEN_STATUSES_SQL} AND due_date < ? GROUP BY 1, 2",
            [today],
        )
        return [(d, t, int(n)) for d, t, n in rows.fetchall()]

    def received_per_day(self, since: str) -> list[tuple[str, int]]:
        """(China date, cases) received each day from ``since`` (ISO date) on; drafts are not received yet."""
        rows = self.db.execute(
            "SELECT received_date, COUNT(*) FROM cases INDEXED BY cases_received_date "
            "WHERE received_date >= ? AND status != 'DRAFT' GROUP BY received_date ORDER BY received_date",
            [since],
        )
        return [(day, int(n)) for day, n in rows.fetchall()]

    def completed_per_hour(self, since: str) -> list[tuple[str, int]]:
        """(UTC hour ``YYYY-MM-DDTHH``, cases) completed each hour from ``since`` (a stored UTC timestamp) on.

        By the hour so the caller puts each hour on its China date (the store knows no time zone).
        """
        rows = self.db.execute(
            "SELECT substr(at, 1, 13), COUNT(*) FROM case_events INDEXED BY case_events_completed "
            "WHERE to_status = 'COMPLETED' AND at >= ? GROUP BY 1 ORDER BY 1",
            [since],
        )
        return [(hour, int(n)) for hour, n in rows.fetchall()]

    def open_commitments(self, today: str) -> tuple[int, int]:
        """(open 容缺 commitments, of which past their due date)."""
        row = self._one(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN due_date < ? THEN 1 ELSE 0 END), 0) FROM commitments "
            "WHERE status = 'open'",
            [today],
        )
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def counters(self) -> list[tuple[str, str, int]]:
        """(name, label, value) of the trigger-kept counters behind /metrics."""
        return [(n, label, int(v)) for n, label, v in self.db.execute("SELECT name, label, value FROM counters")]

    def open_fork_count(self) -> int:
        """Forks not yet resolved."""
        return int(self.db.execute("SELECT COUNT(*) FROM forks WHERE resolved_at IS NULL").fetchone()[0])

    # -- department desks --------------------------------------------------------------------------

    def department_cases(
        self,
        department: str,
        *,
        status: str | None = None,
        township: str | None = None,
        village: str | None = None,
        overdue_before: str | None = None,
        case_no: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """A department's cases, newest first (full rows: the caller decides what to show)."""
        sql = f"SELECT {_CASE_LIST_COLUMNS} FROM cases WHERE {DEPARTMENT_SQL} = ?"
        params: list[Any] = [department]
        if status:
            sql += " AND status = ?"
            params.append(status)
        if village:
            sql += " AND village_code = ?"
            params.append(village)
        if township:
            # Village codes of a township share its first nine digits.
            sql += " AND village_code >= ? AND village_code < ?"
            params += [township[:9], township[:9] + "A"]
        if overdue_before:
            sql += f" AND {OPEN_STATUSES_SQL} AND due_date < ?"
            params.append(overdue_before)
        if case_no:
            sql += " AND case_no >= ? AND case_no < ?"
            params += [case_no, case_no + "\U0010ffff"]
        sql += " ORDER BY received_at DESC, case_no LIMIT ? OFFSET ?"
        return self._dicts(sql, [*params, limit, offset])

    def intake_materials(self, intake_id: str) -> list[dict[str, Any]]:
        """The materials recorded at intake, with their state (presented, deferred …)."""
        return self._dicts(
            "SELECT name_zh, state, updated_at FROM intake_materials WHERE intake_id = ? ORDER BY rowid", [intake_id]
        )

    def intake_commitments(self, intake_id: str) -> list[dict[str, Any]]:
        """The 容缺 commitments of an intake (who signed is personal data: the caller decides)."""
        return self._dicts(
            "SELECT material, signer_name, signed_at, due_days, due_date, status, closed_at "
            "FROM commitments WHERE intake_id = ? ORDER BY rowid",
            [intake_id],
        )
