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

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.bench_sync import County, log, machine, sync_until_in_step
from hub.bootstrap import init_hub
from hub.catalog import catalog_json, publish_catalog, read_catalog
from hub.feed import queue
from hub.store import HubStore
from netsim.proxy import FaultProxy
from sync.protocol import CatalogItem
from sync.timeutil import iso_utc, utc_now

__all__ = ("AIM_BYTES", "Delivery", "main", "run")

AIM_BYTES = 2048


@dataclass
class Delivery:
    """What delivering one catalogue version to one station cost."""

    what: str
    form: str
    """``patch`` or ``whole``."""
    item_bytes: int
    """The queued item (msgpack), as the station's feed holds it."""
    set_bytes: int
    """The sealed feed set(s) carrying it, as sent."""
    bytes_up: int
    bytes_down: int
    round_trips: int
    idle_bytes: int
    """The same sync with nothing new (request and response)."""
    in_step: bool
    version: int

    @property
    def round_bytes(self) -> int:
        return self.bytes_up + self.bytes_down

    @property
    def beyond_idle(self) -> int:
        return self.round_bytes - self.idle_bytes


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
    idle = sync_until_in_step(data_dir, keys, proxy)
    with HubStore.open_existing(county.hub_dir) as store:
        (station,) = store.stations(enrolled_only=True)
        head = store.feed_head(station.station_id)
        after = head[0] if head else 0
        publish(store)
        items = [(kind, len(body)) for _, kind, body in store.pending_items(station.station_id)]
        version = store.catalog_version() or 0
    delivered = sync_until_in_step(data_dir, keys, proxy)
    with HubStore.open_existing(county.hub_dir) as store:
        sets = store.feed_sets_after(station.station_id, after)
    return Delivery(
        what=what,
        form="patch" if any(kind == "catalog_patch" for kind, _ in items) else "whole",
        item_bytes=sum(size for _, size in items),
        set_bytes=sum(len(row.envelope) for row in sets),
        bytes_up=delivered.bytes_up,
        bytes_down=delivered.bytes_down,
        round_trips=delivered.round_trips,
        idle_bytes=idle.bytes,
        in_step=delivered.ok,
        version=version,
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


def table(rows: list[Delivery]) -> str:
    lines = [
        "| publication | sent as | item (msgpack) | feed set as sealed | sync: bytes up / down | round trips "
        "| idle sync | cost beyond an idle sync | within 2 kB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.what}{'' if r.in_step else ' (NOT in step)'} | {r.form} | {r.item_bytes:,} | {r.set_bytes:,} "
            f"| {r.bytes_up:,} / {r.bytes_down:,} | {r.round_trips} | {r.idle_bytes:,} | {r.beyond_idle:,} "
            f"| {'yes' if r.round_bytes <= AIM_BYTES else 'NO'} |"
        )
    return "\n".join(lines)


def run(root: Path) -> list[Delivery]:
    template = root / "template"
    log("initialising a hub (catalogue, calendar, 395 villages) ...")
    init_hub(template)
    county = County(root / "county", template)
    rows = []
    with county.serving():
        data_dir, keys = county.enrol()
        with FaultProxy(county.target) as proxy:
            for what, edit in EDITS:
                log(f"{what} ...")
                rows.append(_deliver(county, proxy, data_dir, keys, what, _publisher(edit)))
            log("the version in force, whole ...")
            rows.append(
                _deliver(county, proxy, data_dir, keys, "the same catalogue whole (31 items, 3 bundles)", _whole)
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_catalog", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as tmp:
        rows = run(Path(tmp))
    print(machine())
    print(f"run took {time.perf_counter() - started:.0f} s\n")
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n", encoding="utf-8")
    return 0 if all(r.in_step for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
