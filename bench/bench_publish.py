"""Reference data on the wire: the bytes it takes to deliver a published year's calendar to a station.

A live hub (uvicorn, as ``hub serve`` runs it) with one station enrolled and in step, a netsim
``FaultProxy`` (loopback profile: bytes do not depend on the link) in front of it. For each
publication it measures:

- the ``CalendarItem`` as queued (msgpack, encoded once for every station);
- the feed set that carries it, as sealed (signed, compressed, sealed to the station's key);
- the whole sync round that delivers it (``station.link.round.sync_once``, as ``station sync``
  runs it): request and response, headers included, both ways; and the same round with nothing
  new (an idle poll), so the difference is what the publication cost.

The publications: the 2027 calendar (seven holiday spans, three make-up days, in the format of
``hub calendar publish``), then a correction of it (version 2). The aim (issue 13): under 2 kB each.
Progress goes to stderr, the figures (a Markdown table) to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.bench_sync import County, log, machine, sync_until_in_step
from hub.bootstrap import init_hub
from hub.calendar import publish_calendar, read_notice
from hub.store import HubStore
from netsim.proxy import FaultProxy
from sync.timeutil import utc_now

__all__ = ("AIM_BYTES", "NOTICE_2027", "Delivery", "main", "measure")

AIM_BYTES = 2048

# A 2027 arrangement in the notice's shape (the real one comes out in November 2026): the documented example.
NOTICE_2027: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "docs" / "examples" / "calendar-2027.json").read_text(encoding="utf-8")
)
CORRECTION_2027: dict[str, Any] = {**NOTICE_2027, "workdays": ["2027-02-20", "2027-10-09"]}


@dataclass
class Delivery:
    """What delivering one publication to one station cost."""

    what: str
    item_bytes: int
    """The queued item (msgpack), as every station's feed holds it."""
    set_bytes: int
    """The sealed feed set(s) carrying it, as sent."""
    bytes_up: int
    bytes_down: int
    round_trips: int
    idle_bytes: int
    """The same sync with nothing new (request and response)."""
    in_step: bool

    @property
    def round_bytes(self) -> int:
        return self.bytes_up + self.bytes_down

    @property
    def beyond_idle(self) -> int:
        return self.round_bytes - self.idle_bytes


def measure(
    county: County, proxy: FaultProxy, data_dir: Path, keys: Any, what: str, notice: dict[str, Any]
) -> Delivery:
    """Publish ``notice`` at the hub, then sync the station through ``proxy`` until it is in step."""
    idle = sync_until_in_step(data_dir, keys, proxy)
    with HubStore.open_existing(county.hub_dir) as store:
        (station,) = store.stations(enrolled_only=True)
        head = store.feed_head(station.station_id)
        after = head[0] if head else 0
        publish_calendar(store, read_notice(json.dumps(notice), year=notice["year"]), now=utc_now())
        items = [len(body) for _, kind, body in store.pending_items(station.station_id) if kind == "calendar"]
    delivered = sync_until_in_step(data_dir, keys, proxy)
    with HubStore.open_existing(county.hub_dir) as store:
        sets = store.feed_sets_after(station.station_id, after)
    return Delivery(
        what=what,
        item_bytes=sum(items),
        set_bytes=sum(len(row.envelope) for row in sets),
        bytes_up=delivered.bytes_up,
        bytes_down=delivered.bytes_down,
        round_trips=delivered.round_trips,
        idle_bytes=idle.bytes,
        in_step=delivered.ok,
    )


def table(rows: list[Delivery]) -> str:
    lines = [
        "| publication | item (msgpack) | feed set as sealed | sync: bytes up / down | round trips "
        "| idle sync | cost beyond an idle sync | within 2 kB |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.what}{'' if r.in_step else ' (NOT in step)'} | {r.item_bytes:,} | {r.set_bytes:,} "
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
            for what, notice in (
                ("2027 calendar, version 1 (7 spans, 3 make-up days)", NOTICE_2027),
                ("2027 calendar, version 2 (one make-up day dropped)", CORRECTION_2027),
            ):
                log(f"{what} ...")
                rows.append(measure(county, proxy, data_dir, keys, what, notice))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_publish", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        rows = run(Path(tmp))
    print(machine())
    print(f"run took {time.perf_counter() - started:.0f} s\n")
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n", encoding="utf-8")
    return 0 if all(r.in_step for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
