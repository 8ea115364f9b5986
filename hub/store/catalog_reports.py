"""HubStore's part for stations' reports of a catalogue version they could not install (feature 4096)."""

from __future__ import annotations

from typing import Any

from hub.store.base import StoreBase

__all__ = ("CatalogReportStoreMixin",)


class CatalogReportStoreMixin(StoreBase):
    """A station's standing report that it could not install a catalogue version. Mixed into HubStore."""

    def catalog_failure(self, station_id: str) -> dict[str, Any] | None:
        """The station's report (``station_id, version, code, reason, reported_at, resent_version``), or None."""
        rows = self._dicts("SELECT * FROM catalog_failures WHERE station_id = ?", [station_id])
        return rows[0] if rows else None

    def catalog_failures(self) -> dict[str, dict[str, Any]]:
        """Every standing report, by station."""
        return {row["station_id"]: row for row in self._dicts("SELECT * FROM catalog_failures ORDER BY station_id")}

    def put_catalog_failure(
        self, station_id: str, *, version: int, code: str, reason: str, resent_version: int | None, at: str
    ) -> None:
        """Record (or replace) the station's report, and the version sent whole in answer (None: none held)."""
        self.db.execute(
            "INSERT INTO catalog_failures (station_id, version, code, reason, reported_at, resent_version)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (station_id) DO UPDATE SET version = excluded.version,"
            " code = excluded.code, reason = excluded.reason, reported_at = excluded.reported_at,"
            " resent_version = excluded.resent_version",
            [station_id, version, code, reason, at, resent_version],
        )

    def clear_catalog_failure(self, station_id: str) -> None:
        """The station no longer reports a failure (a version as new installed)."""
        self.db.execute("DELETE FROM catalog_failures WHERE station_id = ?", [station_id])
