"""HubStore's part for catalogue publication: versions with their notes and changes, and deliveries to stations."""

from __future__ import annotations

import datetime as dt

import msgspec

from hub.store.base import StoreBase
from sync.timeutil import iso_utc

__all__ = ("CatalogDelivery", "CatalogStoreMixin", "CatalogVersionRow")


class CatalogVersionRow(msgspec.Struct, frozen=True, kw_only=True):
    """One catalogue version as published: when, the operator's note, its changes from the version
    before (JSON list of sync.catalog_patch.CatalogChange; None for one seeded by ``hub init``), and
    how many enrolled stations hold it (their feed acknowledged the set that carried it)."""

    version: int
    published_at: str
    note: str | None = None
    changes: str | None = None
    holding: int = 0
    """Enrolled stations whose newest version held is this one."""


class CatalogDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """A catalogue version queued to a station: whole (``full``; ``legacy`` without withdrawn items, for a
    station whose release does not know them) or as edits to the version before (``patch``)."""

    station_id: str
    version: int
    form: str
    item_bytes: int
    queued_at: str
    feed_seq: int | None = None
    """The feed set carrying it, once sealed."""


class CatalogStoreMixin(StoreBase):
    """Catalogue versions and their deliveries (``hub catalog publish``)."""

    def put_catalog_version(
        self, version: int, body: bytes, *, note: str | None, changes: str | None, now: dt.datetime
    ) -> None:
        """Store a published version's body exactly as stations will hold it (call inside a transaction)."""
        self.db.execute(
            "INSERT INTO catalogs (version, body, published_at, note, changes) VALUES (?, ?, ?, ?, ?)",
            [version, body.decode(), iso_utc(now), note, changes],
        )

    def catalog_versions(self) -> list[CatalogVersionRow]:
        """Every catalogue version, oldest first, with the stations holding each."""
        return [
            CatalogVersionRow(**row)
            for row in self._dicts(
                "SELECT c.version, c.published_at, c.note, c.changes, (SELECT COUNT(*) FROM stations s"
                " WHERE s.revoked_at IS NULL AND (SELECT MAX(d.version) FROM catalog_deliveries d"
                " WHERE d.station_id = s.station_id AND d.feed_seq <= s.feed_acked) = c.version) AS holding"
                " FROM catalogs c ORDER BY c.version"
            )
        ]

    def add_catalog_delivery(self, station_id: str, version: int, *, form: str, item_bytes: int, at: str) -> None:
        """Record that a version was queued to a station (with the item that carries it)."""
        self.db.execute(
            "INSERT INTO catalog_deliveries (station_id, version, form, item_bytes, queued_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (station_id, version) DO UPDATE SET form = excluded.form, item_bytes = excluded.item_bytes, "
            "queued_at = excluded.queued_at, feed_seq = NULL",
            [station_id, version, form, item_bytes, at],
        )

    def last_catalog_delivery(self, station_id: str) -> CatalogDelivery | None:
        """The newest version queued to the station, or None."""
        rows = self._dicts(
            "SELECT * FROM catalog_deliveries WHERE station_id = ? ORDER BY version DESC LIMIT 1", [station_id]
        )
        return CatalogDelivery(**rows[0]) if rows else None

    def catalog_deliveries(self, version: int) -> list[CatalogDelivery]:
        """Every delivery of a version, by station."""
        return [
            CatalogDelivery(**row)
            for row in self._dicts("SELECT * FROM catalog_deliveries WHERE version = ? ORDER BY station_id", [version])
        ]

    def note_catalog_sealed(self, station_id: str, version: int, seq: int) -> None:
        """The station's feed set ``seq`` carries ``version`` (sealed now)."""
        self.db.execute(
            "UPDATE catalog_deliveries SET feed_seq = ? WHERE station_id = ? AND version = ?",
            [seq, station_id, version],
        )
