"""What the newest catalogue changed for this village: the one-line notice of the TUI's home screen.

A catalogue version comes with the feed (station.feed); new intakes use it, a case keeps the
version it was received under. For some days after one arrives, the agent is told what changed
(items added, withdrawn, time limits, materials) and how many of this village's open cases carry
on under an older version; and, until a newer version installs, that one could not be installed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import msgspec

from station.sealing import hub_features
from station.store import Station
from sync.catalog import Catalog
from sync.catalog_patch import CatalogChange, change_counts, changes
from sync.lifecycle import TERMINAL, Status
from sync.protocol import FEATURE_CATALOG_REPORT, CatalogFailure
from sync.timeutil import parse_iso

__all__ = ("NOTICE_DAYS", "CatalogNotice", "catalog_failure", "catalog_notice")

NOTICE_DAYS = 14
"""Days a new version is announced on the home screen after it arrived."""

_CLOSED = tuple(sorted(s.value for s in {*TERMINAL, Status.DRAFT}))


class CatalogNotice(msgspec.Struct, frozen=True, kw_only=True):
    """The newest catalogue against the one before it, as this station holds them."""

    version: int
    received_at: str
    changes: list[CatalogChange] = []
    counts: dict[str, int] = {}
    """Items added, withdrawn or removed, changed (sync.catalog_patch.change_counts)."""
    open_on_older: int = 0
    """This village's open cases received under an older version: they keep its checklist and limits."""
    failed: int | None = None
    """A newer version the hub sent that could not be installed (the log says why)."""


def catalog_notice(station: Station, *, days: int = NOTICE_DAYS) -> CatalogNotice | None:
    """The notice to show now, or None: no version arrived in the last ``days`` days and none failed."""
    rows = station.db.execute(
        "SELECT version, body, received_at FROM catalogs ORDER BY version DESC LIMIT 2"
    ).fetchall()
    if not rows:
        return None
    version, body, received_at = rows[0]
    failed = station.meta.catalog_failed
    if failed is not None and failed > version:
        return CatalogNotice(version=version, received_at=received_at, failed=failed)
    if len(rows) < 2 or station.now() - parse_iso(received_at) > dt.timedelta(days=days):
        return None
    found = changes(msgspec.json.decode(rows[1][1], type=Catalog), msgspec.json.decode(body, type=Catalog))
    marks = ", ".join("?" for _ in _CLOSED)
    (open_on_older,) = station.db.execute(
        f"SELECT COUNT(*) FROM cases WHERE catalog_version < ? AND status NOT IN ({marks})", [version, *_CLOSED]
    ).fetchone()
    return CatalogNotice(
        version=version,
        received_at=received_at,
        changes=found,
        counts=change_counts(found),
        open_on_older=int(open_on_older),
    )


def catalog_failure(
    station: Station, features: int | None = None, *, stored: Mapping[str, Any] | None = None
) -> CatalogFailure | None:
    """The catalogue version this station could not install, for the hub (when it said it takes the report):
    it records it and sends the current version whole (sync.protocol.catalog_report). ``features``: what
    the hub reads, when the caller holds it (read here when None); ``stored``: ``catalog_failed`` and
    ``catalog_failure`` as the caller read them with other settings (``Meta.several``)."""
    version = station.meta.catalog_failed if stored is None else stored["catalog_failed"]
    if not version or not (hub_features(station) if features is None else features) & FEATURE_CATALOG_REPORT:
        return None
    why = (station.meta.catalog_failure if stored is None else stored["catalog_failure"]) or {}
    return CatalogFailure(int(version), str(why.get("code") or "invalid"), str(why.get("reason") or ""))
