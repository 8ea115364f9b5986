"""What the publication benchmarks share (bench_publish, bench_catalog): the live hub with its one station,
a delivery's figures and measuring one, the Markdown table and the command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench.bench_sync import County, log, machine, sync_until_in_step
from hub.bootstrap import init_hub
from hub.store import HubStore
from netsim.proxy import FaultProxy

__all__ = ("AIM_BYTES", "Delivery", "main", "measure", "station_in_step", "table")

AIM_BYTES = 2048
"""Issue 13's aim for one publication's whole sync round, both ways."""

T = TypeVar("T")
D = TypeVar("D", bound="Delivery")


@dataclass
class Delivery:
    """What delivering one publication to one station cost."""

    what: str
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

    @property
    def round_bytes(self) -> int:
        return self.bytes_up + self.bytes_down

    @property
    def beyond_idle(self) -> int:
        return self.round_bytes - self.idle_bytes

    def record(self) -> dict[str, Any]:
        """The figures as ``--out`` writes them."""
        return asdict(self)


@contextlib.contextmanager
def station_in_step(root: Path) -> Iterator[tuple[County, FaultProxy, Path, Any]]:
    """A live hub made in ``root`` with one station enrolled, and a loopback FaultProxy in front of it:
    (county, proxy, the station's data folder, its keys)."""
    template = root / "template"
    log("initialising a hub (catalogue, calendar, 395 villages) ...")
    init_hub(template)
    county = County(root / "county", template)
    with county.serving():
        data_dir, keys = county.enrol()
        with FaultProxy(county.target) as proxy:
            yield county, proxy, data_dir, keys


def measure(
    county: County, proxy: FaultProxy, data_dir: Path, keys: Any, publish: Callable[[HubStore], T]
) -> tuple[dict[str, Any], list[tuple[str, int]], T]:
    """Run ``publish`` at the hub, then sync the station through ``proxy`` until it is in step.

    Returns the wire's figures (the :class:`Delivery` fields but ``what`` and ``item_bytes``), the
    items the publication queued for the station (kind, msgpack bytes) and what ``publish`` returned.
    """
    idle = sync_until_in_step(data_dir, keys, proxy)
    with HubStore.open_existing(county.hub_dir) as store:
        (station,) = store.stations(enrolled_only=True)
        head = store.feed_head(station.station_id)
        after = head[0] if head else 0
        published = publish(store)
        items = [(kind, len(body)) for _, kind, body in store.pending_items(station.station_id)]
    delivered = sync_until_in_step(data_dir, keys, proxy)
    with HubStore.open_existing(county.hub_dir) as store:
        sets = store.feed_sets_after(station.station_id, after)
    wire = {
        "set_bytes": sum(len(row.envelope) for row in sets),
        "bytes_up": delivered.bytes_up,
        "bytes_down": delivered.bytes_down,
        "round_trips": delivered.round_trips,
        "idle_bytes": idle.bytes,
        "in_step": delivered.ok,
    }
    return wire, items, published


def table(rows: Sequence[D], columns: Sequence[tuple[str, Callable[[D], str]]] = ()) -> str:
    """The figures as a Markdown table; ``columns`` (heading, cell) go after the publication's name."""
    extra_head = "".join(f" {heading} |" for heading, _ in columns)
    lines = [
        f"| publication |{extra_head} item (msgpack) | feed set as sealed | sync: bytes up / down | round trips "
        "| idle sync | cost beyond an idle sync | within 2 kB |",
        "|---|" + "---|" * len(columns) + "---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        extra = "".join(f" {cell(r)} |" for _, cell in columns)
        lines.append(
            f"| {r.what}{'' if r.in_step else ' (NOT in step)'} |{extra} {r.item_bytes:,} | {r.set_bytes:,} "
            f"| {r.bytes_up:,} / {r.bytes_down:,} | {r.round_trips} | {r.idle_bytes:,} | {r.beyond_idle:,} "
            f"| {'yes' if r.round_bytes <= AIM_BYTES else 'NO'} |"
        )
    return "\n".join(lines)


def main(
    argv: list[str] | None,
    *,
    prog: str,
    description: str | None,
    run: Callable[[Path], Sequence[D]],
    table: Callable[[Sequence[D]], str],
) -> int:
    """A publication benchmark's command line: ``run`` in a temporary folder, the machine, the time taken
    and the table on stdout, ``--out`` the figures as JSON; 0 when every row ended in step."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {prog}", description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"{prog.rsplit('.', 1)[-1].replace('_', '-')}-") as tmp:
        rows = run(Path(tmp))
    print(machine())
    print(f"run took {time.perf_counter() - started:.0f} s\n")
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps([r.record() for r in rows], indent=2) + "\n", encoding="utf-8")
    return 0 if all(r.in_step for r in rows) else 1
