"""A station that could not install a catalogue version says so (feature 4096): recorded, shown, sent whole.

The station's exchange request carries :class:`~sync.protocol.CatalogFailure` while a version it was sent
is not installed (sync.protocol.catalog_report). The hub records it once per version reported (the
dashboard and ``hub status`` show the station as not on the current catalogue, with the reason; ``hub
catalog show`` lists such stations) and queues the current version whole, which installs whatever base
the station holds. A request without it clears the record.
"""

from __future__ import annotations

from hub.feed import queue
from hub.store import HubStoreProtocol
from sync.protocol import CatalogFailure, CatalogItem
from sync.protocol.catalog_report import FAILURE_CODES, MAX_REASON

__all__ = ("FAILURE_LABELS", "failure_label", "note_catalog_failure")

FAILURE_LABELS: dict[str, tuple[str, str]] = {
    "base_missing": ("缺少增量所依据的版本", "the version the patch builds on is missing"),
    "base_differs": ("增量所依据的版本与县平台不一致", "the version the patch builds on differs from the hub's"),
    "patch_failed": ("增量无法应用", "the patch did not apply"),
    "digest_differs": ("应用增量后与县平台的目录不一致", "the patched catalogue differs from the hub's"),
    "invalid": ("目录无法读取", "the catalogue did not load"),
}
"""Why a station could not install a version, by code, in Chinese and English."""


def failure_label(code: str | None, lang: str) -> str:
    """The reason of a code in the user's language."""
    zh, en = FAILURE_LABELS.get(code or "", FAILURE_LABELS["invalid"])
    return en if lang == "en" else zh


def note_catalog_failure(
    store: HubStoreProtocol, station_id: str, failure: CatalogFailure | None, *, at: str
) -> int | None:
    """Take what the station's request says of its catalogue: record a new failure and queue the current
    version whole (returns that version), or clear a record once it reports none. None when nothing was sent."""
    held = store.catalog_failure(station_id)
    if failure is None:
        if held is not None:
            with store.transaction():
                store.clear_catalog_failure(station_id)
        return None
    if held is not None and held["version"] == failure.version:
        return None  # once per version reported: the whole version is on its way
    code = failure.code if failure.code in FAILURE_CODES else "invalid"
    # The station's own words, for the record: printable characters only, bounded (no personal data in them).
    reason = "".join(c for c in failure.reason if c.isprintable())[:MAX_REASON]
    current = store.catalog_version()
    with store.transaction():
        store.put_catalog_failure(
            station_id, version=failure.version, code=code, reason=reason, resent_version=current, at=at
        )
        if current is None:
            return None
        _, body = store.catalog_body(current)
        item = CatalogItem(current, body)
        queue(store, [station_id], item, at=at)
        store.add_catalog_delivery(station_id, current, form="full", item_bytes=len(body), at=at)
    return current
