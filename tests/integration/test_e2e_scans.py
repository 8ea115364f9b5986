"""Scanned pages end to end, with a live hub through netsim: records first, chunks resumable, each page once."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from hub.scans import page_path, read_page
from netsim.proxy import PROFILES, FaultProxy
from station.identity import require_pins
from station.link import sync_once
from station.link.report import SyncReport
from station.link.session import Link
from station.scans.store import attach_pages, list_attachments
from sync.protocol import PROTOCOL_VERSION, SCANS_PATH, ScanPut, seal_chunk
from tests.integration import county as county_mod
from tests.integration.county import PASSPHRASE, V1, County
from tests.station.scans.pages import page, page_bytes

pytestmark = pytest.mark.timeout(600)

MATERIALS = ("居民身份证", "居民户口簿", "城乡居民基本养老保险参保登记表")
ROOT = Path(__file__).resolve().parents[2]


def hub_target(county: County) -> tuple[str, int]:
    host, port = county.url.removeprefix("http://").split(":")
    return host, int(port)


def attach(handle: county_mod.TestStationHandle, case_no: str, material: str, *pages):
    with handle.open() as station:
        return attach_pages(station, case_no, material, list(pages))


def hub_scans(county: County) -> dict[str, tuple[int, int, str | None]]:
    with county.store() as store:
        rows = store.db.execute("SELECT sha256, size, held, complete_at FROM scans").fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def hub_attachments(county: County) -> list[tuple[str, str]]:
    with county.store() as store:
        return [tuple(r) for r in store.db.execute("SELECT case_no, sha256 FROM attachments ORDER BY 1, 2")]


def station_pages(handle: county_mod.TestStationHandle) -> dict[str, bytes]:
    with handle.open() as station:
        return {r[0]: bytes(r[1]) for r in station.db.execute("SELECT sha256, data FROM scan_blobs")}


def assert_all_at_hub(county: County, handle: county_mod.TestStationHandle) -> None:
    """Every page of the station is at the hub whole, byte for byte, once; every record once."""
    pages = station_pages(handle)
    held = hub_scans(county)
    assert set(held) == set(pages)
    for sha, data in pages.items():
        assert held[sha][2] is not None, sha
        assert read_page(county.hub_dir, sha) == data
    with handle.open() as station:
        local = sorted(tuple(r) for r in station.db.execute("SELECT case_no, sha256 FROM attachments"))
        assert all(r.acked for case_no, _ in local for r in list_attachments(station, case_no))
    assert hub_attachments(county) == local


def test_a_page_syncs_and_the_hub_holds_its_bytes(live_county: County):
    a1 = live_county.enrol(V1)
    case_no = a1.new_case("王小明", 1)
    rows = attach(a1, case_no, MATERIALS[0], page(1), page(2))
    report = a1.sync()
    assert report.in_step and not report.scan_errors, report
    assert report.scans_waiting == 0 and report.scan_pages_sent == 2
    assert [read_page(live_county.hub_dir, r.sha256) for r in rows] == [page(1).data, page(2).data]
    assert_all_at_hub(live_county, a1)


def test_a_day_of_scans_syncs_completely_over_edge(live_county: County):
    """4 cases with 3 materials of 2 pages each, through an EDGE link: records and every page arrive."""
    a1 = live_county.enrol(V1)
    cases = [a1.new_case("王小明", i) for i in range(4)]
    for i, case_no in enumerate(cases):
        for j, material in enumerate(MATERIALS):
            attach(a1, case_no, material, page(100 * i + 10 * j, 3000), page(100 * i + 10 * j + 1, 3000))
    with FaultProxy(hub_target(live_county), PROFILES["edge"], seed=1) as proxy:
        report = sync_once(a1.data_dir, hub_url=proxy.url, keys=a1.keys, timeout=30.0, sleep=time.sleep)
    assert report.in_step and not report.scan_errors, report
    assert report.scan_pages_sent == 24 and report.scans_pages == 0
    assert set(live_county.hub_cases()) == set(cases)
    assert_all_at_hub(live_county, a1)


def test_a_cut_mid_page_resumes_from_the_cut(live_county: County):
    a1 = live_county.enrol(V1)
    case_no = a1.new_case("王小明", 1)
    (row,) = attach(a1, case_no, MATERIALS[0], page(5, 300_000))
    assert row.size > 290_000
    a1.sync()  # the records go first; the page is cut below
    with a1.open() as station:
        station.db.execute("UPDATE scan_blobs SET hub_held = 0, acked_at = NULL, in_flight = 0")
    with live_county.store() as store:
        store.db.execute("UPDATE scans SET held = 0, complete_at = NULL")
    page_path(live_county.hub_dir, row.sha256).unlink()
    cut = PROFILES["edge"].with_(name="edge-cut", cut_up_after=290_000, cut_probability=1.0)
    with FaultProxy(hub_target(live_county), cut, seed=2) as proxy:
        report = sync_once(a1.data_dir, hub_url=proxy.url, keys=a1.keys, timeout=30.0, sleep=lambda _: None)
        up = proxy.stats.bytes_up
        assert proxy.stats.cuts >= 1
    assert not report.scan_errors and report.scan_pages_sent == 1, report
    # Resumed where the hub stood at the cut: the page went up once, plus at most the chunk in flight
    # (and the requests' headers), never again from 0.
    assert up < row.size + 40_000, up
    assert_all_at_hub(live_county, a1)


def test_a_page_shared_by_three_bundle_members_travels_once(live_county: County):
    a1 = live_county.enrol(V1)
    cases = [a1.new_case("王小明", i) for i in range(3)]
    a1.sync()
    for case_no in cases:
        attach(a1, case_no, MATERIALS[0], page(7, 60_000))
    with FaultProxy(hub_target(live_county), PROFILES["edge"], seed=3) as proxy:
        report = sync_once(a1.data_dir, hub_url=proxy.url, keys=a1.keys, timeout=30.0, sleep=time.sleep)
        up = proxy.stats.bytes_up
    assert report.scan_pages_sent == 1 and report.scan_bytes_sent == len(page(7, 60_000).data)
    assert up < 2 * len(page(7, 60_000).data)
    assert len(hub_scans(live_county)) == 1 and len(hub_attachments(live_county)) == 3
    assert_all_at_hub(live_county, a1)


def test_a_record_made_during_the_upload_reaches_the_hub_within_two_exchanges(live_county: County):
    a1 = live_county.enrol(V1)
    case_no = a1.new_case("王小明", 1)
    for j, material in enumerate(MATERIALS):
        attach(a1, case_no, material, page(j, 40_000), page(j + 10, 40_000))
    a1.sync()  # pages announced: the round below is all upload
    with a1.open() as station:
        station.db.execute("UPDATE scan_blobs SET hub_held = 0, acked_at = NULL")
    with live_county.store() as store:
        store.db.execute("UPDATE scans SET held = 0, complete_at = NULL")
    made: list[str] = []
    seen_at: list[int] = []
    calls = 0

    def progress(held: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            made.append(a1.new_case("李四", 2))  # at the station's desk, while pages go up
        elif made and not seen_at and made[0] in live_county.hub_cases():
            seen_at.append(calls)

    with FaultProxy(hub_target(live_county), PROFILES["edge"], seed=4) as proxy:
        report = sync_once(
            a1.data_dir, hub_url=proxy.url, keys=a1.keys, timeout=30.0, sleep=time.sleep, scan_progress=progress
        )
    assert made and seen_at == [3], (made, seen_at, calls)  # at the hub before the next chunk was answered
    assert report.in_step and report.scans_pages == 0
    assert_all_at_hub(live_county, a1)


class _Tamper(httpx.HTTPTransport):
    """Flips one byte of the sealed chunk of the first chunk request: what a meddler on the path would do."""

    def __init__(self) -> None:
        super().__init__()
        self.tampered = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == SCANS_PATH and not self.tampered:
            body = bytearray(request.read())
            body[-5] ^= 0x40
            request = httpx.Request(request.method, request.url, headers=request.headers, content=bytes(body))
            self.tampered += 1
        return super().handle_request(request)


def test_a_tampered_chunk_is_refused_and_sent_again(live_county: County):
    a1 = live_county.enrol(V1)
    case_no = a1.new_case("王小明", 1)
    attach(a1, case_no, MATERIALS[0], page(3, 20_000))
    transport = _Tamper()
    report = sync_once(a1.data_dir, hub_url=live_county.url, transport=transport, keys=a1.keys, sleep=lambda _: None)
    assert transport.tampered == 1
    assert any("refused" in note for note in report.notes), report.notes
    assert report.scan_pages_sent == 1 and not report.scan_errors
    assert_all_at_hub(live_county, a1)


def _put(handle: county_mod.TestStationHandle, data: bytes, *, offset: int = 0, aad_offset: int | None = None):
    """Send one chunk by hand, signed as the station signs (sealed for ``aad_offset`` when given)."""
    digest = hashlib.sha256(data).digest()
    with handle.open() as station, httpx.Client() as client:
        pins = require_pins(station.db)
        link = Link(station, handle.keys, pins, client, lambda _: None, lambda: 0.0, SyncReport(started_at=""))
        sealed = seal_chunk(
            data[offset:],
            station_id=station.station_id,
            sha256=digest,
            offset=offset if aad_offset is None else aad_offset,
            station_box_private=handle.keys.box_private,
            hub_box_public=pins.box_public,
        )
        body = msgspec.msgpack.encode(ScanPut(PROTOCOL_VERSION, digest, offset, sealed))
        response, _, _ = link.send("POST", SCANS_PATH, body=body)
    return response


def test_bytes_no_signed_record_announces_are_refused(live_county: County):
    a1 = live_county.enrol(V1)
    a1.sync()
    response = _put(a1, page(9).data)
    assert response.status_code == 403 and response.json()["error"] == "scan_unannounced"
    assert hub_scans(live_county) == {}
    assert not (live_county.hub_dir / "scans").exists()


def test_a_chunk_moved_to_another_place_does_not_open(live_county: County):
    a1 = live_county.enrol(V1)
    case_no = a1.new_case("王小明", 1)
    (row,) = attach(a1, case_no, MATERIALS[0], page(4))
    a1.sync(url=live_county.url + "/nowhere")  # nothing goes: the test sends by hand below
    a1.sync()
    with live_county.store() as store:
        store.db.execute("UPDATE scans SET held = 0, complete_at = NULL")
    page_path(live_county.hub_dir, row.sha256).unlink()
    response = _put(a1, page(4).data, aad_offset=1)  # sealed for offset 1, sent for 0
    assert response.status_code == 400 and response.json()["error"] == "bad_box"
    assert hub_scans(live_county)[row.sha256][1] == 0


def test_other_villages_pages_are_refused(live_county: County):
    a1, b1 = live_county.enrol(V1), live_county.enrol(county_mod.V2)
    case_no = a1.new_case("王小明", 1)
    attach(a1, case_no, MATERIALS[0], page(6))
    with a1.open() as station:
        station.db.execute("UPDATE meta SET value = '0' WHERE key = 'hub_features'")  # records only, for now
    a1.sync()  # the hub says its features again: the record went, the page waits for the next round
    b1.sync()
    with live_county.store() as store:
        store.db.execute("UPDATE scans SET held = 0, complete_at = NULL")
    response = _put(b1, page(6).data)  # another village's station, with the same bytes
    assert response.status_code == 403 and response.json()["error"] == "scan_unannounced"


# -- kill -9 -----------------------------------------------------------------------------------------


def _station(*args: str, data_dir: Path, capture: bool = False) -> subprocess.Popen[str]:
    """``station ARGS`` in a child process (its output kept only when ``capture``: a killed one says nothing)."""
    env = {**os.environ, "STATION_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(ROOT), "LANG": "en_US.UTF-8"}
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "station.cli", "--data-dir", str(data_dir), *args],
        stdout=out,
        stderr=out,
        text=True,
        cwd=ROOT,
        env=env,
    )


def _consistent(handle: county_mod.TestStationHandle) -> tuple[int, int]:
    """(pages, attachment rows): every row's page stored, every row recorded exactly once in the outbox."""
    with handle.open() as station:
        db = station.db
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        orphans = db.execute(
            "SELECT COUNT(*) FROM attachments a LEFT JOIN scan_blobs b ON b.sha256 = a.sha256 WHERE b.data IS NULL"
        ).fetchone()[0]
        assert orphans == 0
        inserts = db.execute(
            "SELECT entity_id, COUNT(*) FROM outbox WHERE entity = 'attachments' GROUP BY entity_id"
        ).fetchall()
        rows = db.execute("SELECT COUNT(*) FROM attachments").fetchone()[0]
        assert len(inserts) == rows and all(n == 1 for _, n in inserts)
        return db.execute("SELECT COUNT(*) FROM scan_blobs").fetchone()[0], rows


def test_kill_while_attaching_loses_nothing_and_doubles_nothing(live_county: County, tmp_path: Path):
    a1 = live_county.enrol(V1)
    case_no = a1.new_case("王小明", 1)
    files = []
    for i in range(4):
        path = tmp_path / f"scan-{i}.png"
        path.write_bytes(page_bytes(50 + i, 3_000_000))  # big enough that normalising takes a while
        files.append(str(path))
    seen: set[tuple[int, int]] = set()
    for delay in (0.3, 0.8, 1.2, 1.6, 2.0, 2.6, 3.2):
        child = _station("case", "attach", case_no, "--material", MATERIALS[0], *files, data_dir=a1.data_dir)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        seen.add(_consistent(a1))  # all of one attach or nothing of it, never half
    assert all(state in ((0, 0), (4, 4)) for state in seen), seen
    done = _station("case", "attach", case_no, "--material", MATERIALS[0], *files, data_dir=a1.data_dir, capture=True)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert _consistent(a1) == (4, 4)
    assert len(out.strip().splitlines()[-1]) == 64  # the attachment's content hash, last
    report = a1.sync()
    assert report.in_step and report.scans_pages == 0
    assert_all_at_hub(live_county, a1)


def test_kill_while_uploading_loses_nothing_and_doubles_nothing(live_county: County):
    a1 = live_county.enrol(V1)
    case_no = a1.new_case("王小明", 1)
    for j, material in enumerate(MATERIALS):
        attach(a1, case_no, material, page(j, 30_000), page(j + 20, 30_000))
    a1.sync(url=live_county.url + "/nowhere")
    with FaultProxy(hub_target(live_county), PROFILES["edge"], seed=6) as proxy:
        for delay in (4.0, 7.0, 10.0):
            child = _station("sync", "--hub", proxy.url, data_dir=a1.data_dir)
            time.sleep(delay)
            child.send_signal(signal.SIGKILL)
            child.wait()
            _consistent(a1)
            for sha, (size, held, _) in hub_scans(live_county).items():
                assert 0 <= held <= size, sha
        up = proxy.stats.bytes_up
    report = a1.sync()
    assert report.in_step and report.scans_pages == 0 and not report.scan_errors, report
    assert _consistent(a1) == (6, 6)
    assert_all_at_hub(live_county, a1)
    assert up < 6 * 30_000 + 60_000  # what the killed rounds sent was not sent again from 0


def test_usb_files_carry_the_scans_in_size_limited_parts(live_county: County, tmp_path: Path, monkeypatch):
    from hub.keys import load_identity
    from hub.scans import import_scan_parts
    from hub.transfer import import_file as hub_import
    from station.scans import usb
    from station.transfer import export_file

    monkeypatch.setattr(usb, "SCAN_PART_BYTES", 100_000)  # parts of 100 kB, to see several
    a1 = live_county.enrol(V1)
    case_no = a1.new_case("王小明", 1)
    for j, material in enumerate(MATERIALS):
        attach(a1, case_no, material, page(j, 60_000))
    stick = tmp_path / "stick"
    stick.mkdir()
    with a1.open() as station:
        export_file(station, stick / "up.bin", keys=a1.keys)
        parts = usb.export_scans(station, stick / "up.bin", a1.keys)
    assert len(parts) >= 2 and all(p.stat().st_size <= 100_000 + 300_000 for p in parts)
    identity = load_identity(live_county.hub_dir)
    with live_county.store() as store:
        hub_import(store, identity, stick / "up.bin")
        result = import_scan_parts(store, live_county.hub_dir, list(identity.box_privates), stick / "up.bin", _now())
        again = import_scan_parts(store, live_county.hub_dir, list(identity.box_privates), stick / "up.bin", _now())
    assert (result.pages, result.refused) == (3, 0)
    assert again.pages == 3 and again.refused == 0  # taken again as nothing new: no page twice
    report = a1.sync()  # online again: the station learns the hub holds every page, and sends none
    assert report.scan_bytes_sent == 0 and report.scans_pages == 0
    assert_all_at_hub(live_county, a1)


def _now():
    import datetime as dt

    return dt.datetime.now(dt.UTC)
