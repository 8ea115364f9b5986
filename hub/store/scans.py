"""HubStore's part for scanned pages: the pages signed records announced, how much of each has arrived, a case's pages."""

from __future__ import annotations

from typing import Any

import msgspec

from hub.store.base import StoreBase

__all__ = ("ScanRow", "ScanStoreMixin", "StationScans")


class ScanRow(msgspec.Struct, frozen=True, kw_only=True):
    """A page a signed record announced (``scans``): its size, who announced it, how much of it is here."""

    sha256: str
    size: int
    format: str
    station_id: str
    announced_at: str
    held: int = 0
    complete_at: str | None = None


class StationScans(msgspec.Struct, frozen=True, kw_only=True):
    """A station's pages not yet here whole: how many, the bytes still to come, since when the oldest waits."""

    station_id: str
    pages: int
    waiting: int
    oldest: str | None


_SCAN = "sha256, size, format, station_id, announced_at, held, complete_at"


class ScanStoreMixin(StoreBase):
    """Announced pages, their arrival, and the pages of a case."""

    def announce_scan(self, *, sha256: str, size: int, format: str, station_id: str, at: str) -> None:
        """Note a page a signed record names (the first announcement stands; call inside a transaction)."""
        self.db.execute(
            "INSERT INTO scans (sha256, size, format, station_id, announced_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (sha256) DO NOTHING",
            [sha256, size, format, station_id, at],
        )

    def scan(self, sha256: str) -> ScanRow | None:
        """The page with this hash, if a signed record announced it."""
        row = self._one(f"SELECT {_SCAN} FROM scans WHERE sha256 = ?", [sha256])
        return None if row is None else ScanRow(**dict(zip(_SCAN.split(", "), row)))

    def scan_in_village(self, sha256: str, village_code: str) -> bool:
        """Whether a page of this hash is attached to a case of the village (its stations may send it)."""
        row = self._one(
            "SELECT 1 FROM attachments JOIN cases ON cases.case_no = attachments.case_no "
            "WHERE attachments.sha256 = ? AND cases.village_code = ? LIMIT 1",
            [sha256, village_code],
        )
        return row is not None

    def set_scan_held(self, sha256: str, held: int, *, was: int) -> bool:
        """Move a page's arrived bytes from ``was`` to ``held``; False when another request moved it first."""
        cursor = self.db.execute("UPDATE scans SET held = ? WHERE sha256 = ? AND held = ?", [held, sha256, was])
        return cursor.rowcount == 1

    def complete_scan(self, sha256: str, at: str) -> None:
        """The page is here whole and its hash checked."""
        self.db.execute("UPDATE scans SET complete_at = ? WHERE sha256 = ? AND complete_at IS NULL", [at, sha256])

    def case_attachments(self, case_no: str) -> list[dict[str, Any]]:
        """A case's pages (dropped ones left out) by material and page, each with whether it is here whole."""
        return self._dicts(
            "SELECT attachments.attachment_id, attachments.case_no, attachments.material, attachments.page, "
            "attachments.sha256, attachments.size, attachments.format, attachments.attached_at, "
            "scans.held AS held, scans.complete_at AS complete_at "
            "FROM attachments LEFT JOIN scans ON scans.sha256 = attachments.sha256 "
            "WHERE attachments.case_no = ? AND attachments.dropped = 0 "
            "ORDER BY attachments.attached_at, attachments.page",
            [case_no],
        )

    def case_has_scan(self, case_no: str, sha256: str) -> bool:
        """Whether the page of this hash is one of the case's (not dropped)."""
        row = self._one(
            "SELECT 1 FROM attachments WHERE case_no = ? AND sha256 = ? AND dropped = 0 LIMIT 1", [case_no, sha256]
        )
        return row is not None

    def scans_waiting(self) -> list[StationScans]:
        """Per station that announced pages not yet here whole: pages, bytes to come, the oldest's announcement."""
        rows = self._one("SELECT COUNT(*) FROM scans WHERE complete_at IS NULL")
        if not rows or not rows[0]:
            return []
        return [
            StationScans(station_id=r[0], pages=r[1], waiting=r[2], oldest=r[3])
            for r in self.db.execute(
                "SELECT station_id, COUNT(*), SUM(size - held), MIN(announced_at) FROM scans "
                "WHERE complete_at IS NULL GROUP BY station_id ORDER BY station_id"
            ).fetchall()
        ]
