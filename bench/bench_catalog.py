"""Catalogue publication on the wire: the bytes it takes to deliver a one-item change to a station, against the whole.

A live hub (uvicorn, as ``hub serve`` runs it) with one station enrolled and in step, a netsim
``FaultProxy`` (loopback profile: bytes do not depend on the link) in front of it. For each
publication (``hub.catalog.publish_catalog``, as ``hub catalog publish`` runs it) it measures:

- the feed item as queued: a ``CatalogPatch`` (the version as edits to the one before, for a
  station that said ``FEATURE_CATALOG_PATCH``), or a ``CatalogItem`` (the version whole);
- the feed set that carries it, as sealed (signed, compressed, sealed to the station's key);
- the whole sync round that delivers it (``station.link.round.sync_once``, as ``station sync`` runs
  it): request and response, headers included, both ways; and the same round with nothing new
  (an idle poll), so the difference is what the publication cost.

The publications: one item's promised days changed, one item withdrawn (停办), one item added;
then, for comparison, the version in force sent whole, as a station that lacks the version before
gets it. The aim (issue 13): a one-item change under 2 kB; the full catalogue is never re-sent for
a small change. Progress goes to stderr, the figures (a Markdown table) to stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import _publication
from bench._publication import AIM_BYTES
from bench.bench_sync import County, log
from hub.catalog import catalog_json, publish_catalog, read_catalog
from hub.feed import queue
from hub.store import HubStore
from netsim.proxy import FaultProxy
from sync.protocol import CatalogItem
from sync.timeutil import iso_utc, utc_now

__all__ = ("AIM_BYTES", "Delivery", "main", "run")


@dataclass
class Delivery(_publication.Delivery):
    """What delivering one catalogue version to one station cost."""

    form: str
    """``patch`` or ``whole``."""
    version: int

    def record(self) -> dict[str, Any]:
        figures = super().record()
        return {"what": figures.pop("what"), "form": figures.pop("form"), **figures}  # --out's order of 0.5


Edit = Callable[[dict[str, Any]], None]


def _promised(data: dict[str, Any]) -> None:
    next(i for i in data["items"] if i["code"] == "RS-004")["promised_days"] = 7


def _withdrawn(data: dict[str, Any]) -> None:
    next(i for i in data["items"] if i["code"] == "MZ-004")["withdrawn"] = True


def _added(data: dict[str, Any]) -> None:
    model = next(i for i in data["items"] if i["code"] == "RS-002")
    data["items"].append({**model, "code": "RS-008", "name_zh": "城乡居民基本养老保险待遇暂停", "bundles": []})


EDITS: tuple[tuple[str, Edit], ...] = (
    ("one item's promised days changed (RS-004: 10 → 7)", _promised),
    ("one item withdrawn (MZ-004, 停办)", _withdrawn),
    ("one item added (RS-008, 4 materials)", _added),
)


def _deliver(
    county: County, proxy: FaultProxy, data_dir: Path, keys: Any, what: str, publish: Callable[[HubStore], None]
) -> Delivery:
    def publish_and_read(store: HubStore) -> int:
        publish(store)
        return store.catalog_version() or 0

    wire, items, version = _publication.measure(county, proxy, data_dir, keys, publish_and_read)
    return Delivery(
        what=what,
        form="patch" if any(kind == "catalog_patch" for kind, _ in items) else "whole",
        item_bytes=sum(size for _, size in items),
        version=version,
        **wire,
    )


def _publisher(edit: Edit) -> Callable[[HubStore], None]:
    def publish(store: HubStore) -> None:
        data = json.loads(catalog_json(store.catalog()))
        edit(data)
        publish_catalog(store, read_catalog(json.dumps(data), current=store.catalog()), now=utc_now())

    return publish


def _whole(store: HubStore) -> None:
    """The version in force, whole: what a station that lacks the version before it is sent."""
    (station,) = store.stations(enrolled_only=True)
    version, body = store.catalog_body()
    with store.transaction():
        queue(store, [station.station_id], CatalogItem(version, body), at=iso_utc(utc_now()))


def table(rows: Sequence[Delivery]) -> str:
    return _publication.table(rows, [("sent as", lambda r: r.form)])


def run(root: Path) -> list[Delivery]:
    rows = []
    with _publication.station_in_step(root) as (county, proxy, data_dir, keys):
        for what, edit in EDITS:
            log(f"{what} ...")
            rows.append(_deliver(county, proxy, data_dir, keys, what, _publisher(edit)))
        log("the version in force, whole ...")
        rows.append(_deliver(county, proxy, data_dir, keys, "the same catalogue whole (31 items, 3 bundles)", _whole))
    return rows


def main(argv: list[str] | None = None) -> int:
    return _publication.main(argv, prog="bench.bench_catalog", description=__doc__, run=run, table=table)


if __name__ == "__main__":
    sys.exit(main())
