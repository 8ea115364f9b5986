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

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import _publication
from bench._publication import AIM_BYTES, Delivery
from bench.bench_sync import County, log
from hub.calendar import publish_calendar, read_notice
from hub.store import HubStore
from netsim.proxy import FaultProxy
from sync.timeutil import utc_now

__all__ = ("AIM_BYTES", "NOTICE_2027", "Delivery", "main", "measure")

# A 2027 arrangement in the notice's shape (the real one comes out in November 2026): the documented example.
NOTICE_2027: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "docs" / "examples" / "calendar-2027.json").read_text(encoding="utf-8")
)
CORRECTION_2027: dict[str, Any] = {**NOTICE_2027, "workdays": ["2027-02-20", "2027-10-09"]}


def measure(
    county: County, proxy: FaultProxy, data_dir: Path, keys: Any, what: str, notice: dict[str, Any]
) -> Delivery:
    """Publish ``notice`` at the hub, then sync the station through ``proxy`` until it is in step."""

    def publish(store: HubStore) -> None:
        publish_calendar(store, read_notice(json.dumps(notice), year=notice["year"]), now=utc_now())

    wire, items, _ = _publication.measure(county, proxy, data_dir, keys, publish)
    return Delivery(what=what, item_bytes=sum(size for kind, size in items if kind == "calendar"), **wire)


def table(rows: Sequence[Delivery]) -> str:
    return _publication.table(rows)


def run(root: Path) -> list[Delivery]:
    rows = []
    with _publication.station_in_step(root) as (county, proxy, data_dir, keys):
        for what, notice in (
            ("2027 calendar, version 1 (7 spans, 3 make-up days)", NOTICE_2027),
            ("2027 calendar, version 2 (one make-up day dropped)", CORRECTION_2027),
        ):
            log(f"{what} ...")
            rows.append(measure(county, proxy, data_dir, keys, what, notice))
    return rows


def main(argv: list[str] | None = None) -> int:
    return _publication.main(argv, prog="bench.bench_publish", description=__doc__, run=run, table=table)


if __name__ == "__main__":
    sys.exit(main())
