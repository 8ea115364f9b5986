"""Scanned pages end to end, with a live hub through netsim: records first, chunks resumable, each page once."""

from __future__ import annotations

import hashlib

import pytest

from hub.scans import page_path, read_page
from netsim.proxy import PROFILES, FaultProxy, LinkProfile
from station.scans.store import attach_pages, list_attachments
from station.scans.store import backlog as scan_backlog
from tests.integration import county as county_mod
from tests.integration.county import V1, County
from tests.station.scans.pages import page

pytestmark = pytest.mark.timeout(600)

MATERIALS = ("居民身份证", "城乡居民基本养老保险参保登记表")


def hub_target(county: County) -> tuple[str, int]:
    host, port = county.url.removeprefix("http://").split(":")
    return host, int(port)


def attach(handle: county_mod.TestStationHandle, case_no: str, material: str, *pages):
    with handle.open() as station:
        return attach_pages(station, case_no, material, list(pages))


def waiting(handle: county_mod.TestStationHandle):
    with handle.open() as station:
        return scan_backlog(station)


def hub_scans(county: County) -> dict[str, tuple[int, int, str | None]]:
    with county.store() as store:
        rows = store.db.execute("SELECT sha256, size, held, complete_at FROM scans").fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_a_page_syncs_and_the_hub_holds_its_bytes(live_county: County):
    a1 = live_county.enrol(V1)
    case_no = a1.new_case("王小明", 1)
    rows = attach(a1, case_no, MATERIALS[0], page(1), page(2))
    report = a1.sync()
    assert report.in_step and not report.scan_errors, report
    assert report.scans_waiting == 0 and report.scan_pages_sent == 2
    for row in rows:
        assert read_page(live_county.hub_dir, row.sha256) == page(int(row.page)).data
    assert all(complete for _, _, complete in hub_scans(live_county).values())
    with a1.open() as station:
        assert all(r.acked for r in list_attachments(station, case_no))


def test_bytes_no_signed_record_announces_are_refused(live_county: County):
    import httpx
    import msgspec

    from station.identity import require_pins
    from station.link.report import SyncReport
    from station.link.session import Link
    from sync.protocol import PROTOCOL_VERSION, SCANS_PATH, ScanPut, seal_chunk

    a1 = live_county.enrol(V1)
    a1.sync()
    data = page(9).data
    digest = hashlib.sha256(data).digest()
    with a1.open() as station, httpx.Client() as client:
        pins = require_pins(station.db)
        link = Link(station, a1.keys, pins, client, lambda _: None, lambda: 0.0, SyncReport(started_at=""))
        sealed = seal_chunk(
            data,
            station_id=station.station_id,
            sha256=digest,
            offset=0,
            station_box_private=a1.keys.box_private,
            hub_box_public=pins.box_public,
        )
        body = msgspec.msgpack.encode(ScanPut(PROTOCOL_VERSION, digest, 0, sealed))
        response, _, _ = link.send("POST", SCANS_PATH, body=body)
    assert response.status_code == 403
    assert response.json()["error"] == "scan_unannounced"
    assert hub_scans(live_county) == {}
    assert not page_path(live_county.hub_dir, digest.hex()).exists()
    assert not (live_county.hub_dir / "scans").exists()
