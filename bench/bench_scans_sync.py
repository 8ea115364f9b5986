"""Scanned pages on a slow link: time to sync a day's scans, and how long a record made meanwhile takes to arrive.

A day at a village station: 4 cases, each with 3 materials of 2 pages (an A4 form, an ID card, a
household-register page from bench.scanpages, normalised as the station stores them: 24 pages). For each
link profile (EDGE 64 kbit/s and GPRS 9.6 kbit/s by default) a fresh station sends the day through netsim's
FaultProxy to a live hub (uvicorn, as ``hub serve`` runs it), in one ``station sync`` round: the records
first, then the pages. While the pages go up, after the first few chunks, the agent records a new case; a
watcher polls the hub's database and notes when the case is there. Reported: the bytes of the pages, the
time to sync the day (records and pages), the bytes that crossed the link, and the latency of the record
made during the upload (median and worst of one every 20 s; aim: under 3 s on EDGE). Progress to stderr, a Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.scanpages import sample_pages
from hub.bootstrap import init_hub
from hub.enroll import issue_code
from hub.settings import Settings
from hub.store import HubStore
from hub.testing import live_server
from hub.web.app import create_app
from netsim.proxy import PROFILES, FaultProxy
from station import cases as ops
from station.cases import NewIntake
from station.enrolment import enroll
from station.identity import load_keypair
from station.link import sync_once
from station.scans.normalise import NormalisedPage, normalise_bytes, wants_colour
from station.scans.store import attach_pages
from station.store import Station
from sync.idnumber import check_character

__all__ = ("day_of_pages", "main")

PASSPHRASE = "bench-passphrase-1"
VILLAGE = "349921001001"
CASES, MATERIALS, PAGES = 4, 3, 2
ITEM = "RS-001"
KIND_FOR = {"id_card": "居民身份证", "household": "居民户口簿", "form": "城乡居民基本养老保险参保登记表"}
RECORD_EVERY = 20.0
"""While the pages go up, the agent records a new case every this many seconds (at moments that fall
anywhere within a chunk's flight, as the desk's work does), the first after the first chunk went."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def day_of_pages() -> dict[str, list[NormalisedPage]]:
    """24 distinct normalised pages: for each of the 3 materials, 2 pages per case (seeds 1..8)."""
    pages: dict[str, list[NormalisedPage]] = {name: [] for name in KIND_FOR.values()}
    for seed in range(1, CASES * PAGES + 1):
        for sample in sample_pages(seed):
            material = KIND_FOR[sample.kind]
            pages[material] += normalise_bytes(sample.file_bytes(), colour=wants_colour(material))
    return pages


def _id(serial: int) -> str:
    body = f"3499211960{(serial % 12) + 1:02d}{(serial % 28) + 1:02d}{serial % 1000:03d}"
    return body + check_character(body)


def _intake(serial: int) -> NewIntake:
    return NewIntake(
        item=ITEM,
        applicant_name="王小明",
        id_number=_id(serial),
        phone=f"138{serial:08d}",
        materials=list(KIND_FOR.values()),
    )


def run_profile(name: str, pages: dict[str, list[NormalisedPage]], root: Path, template: Path) -> dict[str, float]:
    hub_dir = root / name / "hub"
    shutil.copytree(template, hub_dir)
    with live_server(create_app(Settings(data_dir=hub_dir))) as url:
        with HubStore.open_existing(hub_dir) as store:
            code = issue_code(store, VILLAGE).code
        data_dir = root / name / "station"
        enroll(data_dir, hub_url=url, code=code, passphrase=PASSPHRASE, key_work=2**10)
        keys = load_keypair(data_dir, PASSPHRASE)
        assert sync_once(data_dir, hub_url=url, keys=keys).in_step  # enrolment's reference data, outside the test
        with Station.open(data_dir, passphrase=PASSPHRASE) as station:
            for n in range(CASES):
                number = ops.new_intake(station, _intake(n)).number
                for material, list_ in pages.items():
                    attach_pages(station, number, material, list_[n * PAGES : (n + 1) * PAGES])
        size = sum(len(p.data) for list_ in pages.values() for p in list_)
        host, port = url.removeprefix("http://").split(":")
        made: dict[str, float] = {}
        arrived: dict[str, float] = {}
        uploading = threading.Event()
        stop = threading.Event()

        def progress(held: int, _total: int) -> None:
            if held:
                uploading.set()

        def desk() -> None:
            # The agent's desk, another program on the PC: a case every RECORD_EVERY seconds while pages go up.
            uploading.wait()
            serial = 100
            while not stop.wait(RECORD_EVERY):
                with Station.open(data_dir, passphrase=PASSPHRASE) as station:
                    number = ops.new_intake(station, _intake(serial)).number
                made[number] = time.monotonic()
                serial += 1

        def watch() -> None:
            with HubStore.open_existing(hub_dir) as store:
                while not stop.is_set():
                    for number in list(made):
                        if number not in arrived and store.row("cases", number) is not None:
                            arrived[number] = time.monotonic()
                    time.sleep(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        agent = threading.Thread(target=desk, daemon=True)
        agent.start()
        with FaultProxy((host, int(port)), PROFILES[name], seed=1) as proxy:
            started = time.monotonic()
            report = sync_once(
                data_dir, hub_url=proxy.url, keys=keys, timeout=60.0, sleep=time.sleep, scan_progress=progress
            )
            seconds = time.monotonic() - started
            moved = proxy.stats.bytes_up + proxy.stats.bytes_down
        stop.set()
        agent.join()
        time.sleep(0.5)  # the watcher's last look
        watcher.join()
        assert report.scans_pages == 0, report
        # A case made after the upload's last chunk goes up in the next round, not this one: not counted.
        waits = sorted(arrived[n] - made[n] for n in made if n in arrived)
        return {
            "pages": 24,
            "page_bytes": size,
            "seconds": seconds,
            "link_bytes": moved,
            "records": len(waits),
            "median": waits[len(waits) // 2] if waits else float("nan"),
            "worst": waits[-1] if waits else float("nan"),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench scans_sync", description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="edge,gprs", help="netsim profiles, comma-separated")
    args = parser.parse_args(argv)
    log("generating and normalising a day's pages ...")
    pages = day_of_pages()
    root = Path(tempfile.mkdtemp(prefix="bench-scans-sync-"))
    try:
        template = root / "template"
        init_hub(template)
        rows = []
        for name in args.profiles.split(","):
            log(f"{name}: syncing a day's scans ...")
            figures = run_profile(name.strip(), pages, root, template)
            log(f"{name}: {figures}")
            rows.append((name.strip(), figures))
        print(f"\nMeasured {dt.date.today().isoformat()}: {CASES} cases x {MATERIALS} materials x {PAGES} pages.\n")
        print(
            "| link | pages | page bytes | time to sync the day | bytes on the link "
            "| records made during the upload | their latency, median | worst |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, f in rows:
            print(
                f"| {name} | {f['pages']} | {f['page_bytes'] / 1024:.0f} KiB | {f['seconds']:.0f} s "
                f"| {f['link_bytes'] / 1024:.0f} KiB | {f['records']} | {f['median']:.1f} s | {f['worst']:.1f} s |"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
