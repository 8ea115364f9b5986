"""Faults on the way: corrupted bytes, lost responses, cut connections, files on a stick."""

from __future__ import annotations

import httpx
import pytest

from hub.keys import load_identity
from hub.store import HubStore
from hub.transfer import export_file as hub_export
from hub.transfer import import_file as hub_import
from netsim.proxy import FaultProxy, LinkProfile
from station.transfer import export_file, import_file
from tests.integration.county import V1, County

pytestmark = pytest.mark.timeout(180)


def hub_target(county: County) -> tuple[str, int]:
    host, port = county.url.removeprefix("http://").split(":")
    return host, int(port)


def sets_held(county: County, station_id: str) -> list[int]:
    with county.store() as store:
        return [
            row[0] for row in store.db.execute("SELECT seq FROM sets_in WHERE origin = ? ORDER BY seq", [station_id])
        ]


def test_corrupted_link_never_applies_altered_data(live_county: County):
    a1 = live_county.enrol(V1)
    cases = [a1.new_case("王小明", i) for i in range(5)]
    noisy = LinkProfile(name="noisy", corrupt_probability=0.2, chunk=200)
    with FaultProxy(hub_target(live_county), noisy, seed=11) as proxy:
        for _ in range(5):
            a1.sync(url=proxy.url)  # errors are reported in the report, never raised
        assert proxy.stats.corrupted > 0
    # Whatever got through is exactly what the station wrote, and the clean link finishes the job.
    assert a1.sync().in_step
    live_county.assert_converged()
    assert set(live_county.hub_cases()) == set(cases)
    held = sets_held(live_county, a1.station_id)
    assert held == list(range(1, len(held) + 1))  # in order, each once


def test_lost_responses_make_no_duplicates(live_county: County):
    a1 = live_county.enrol(V1)
    drop_all = LinkProfile(name="drop", cut_down_after=0)
    with FaultProxy(hub_target(live_county), drop_all, seed=3) as proxy:
        for i in range(3):
            a1.new_case("王小明", i)
            report = a1.sync(url=proxy.url)
            assert not report.in_step  # the hub committed, the station never heard
    report = a1.sync()
    assert report.in_step
    held = sets_held(live_county, a1.station_id)
    assert held == list(range(1, len(held) + 1))
    assert len(live_county.hub_cases()) == 3
    live_county.assert_converged()


def test_connection_cut_mid_upload_resumes(live_county: County):
    a1 = live_county.enrol(V1)
    for i in range(120):  # enough changes for several sets
        a1.new_case("王小明", i)
    cut = LinkProfile(name="cut", cut_up_after=30_000, chunk=4096)
    with FaultProxy(hub_target(live_county), cut, seed=5) as proxy:
        for _ in range(20):
            if a1.sync(url=proxy.url).in_step:
                break
    assert a1.sync().in_step
    assert len(live_county.hub_cases()) == 120
    live_county.assert_converged()


def test_usb_transfer_both_ways_matches_http(live_county: County, tmp_path):
    a1, a2 = live_county.enrol(V1), live_county.enrol(V1)
    usb_case = a1.new_case("王小明", 1)
    http_case = a2.new_case("李四", 2)
    stick = tmp_path / "stick"
    stick.mkdir()
    with a1.open() as station:
        export_file(station, stick / "up.bin", keys=a1.keys)
    identity = load_identity(live_county.hub_dir)
    with HubStore.open_existing(live_county.hub_dir) as store:
        hub_import(store, identity, stick / "up.bin")
    live_county.decide(usb_case, "ACCEPTED")
    a2.sync()  # the other PC of the village gets the USB-carried case over HTTP
    with HubStore.open_existing(live_county.hub_dir) as store:
        hub_export(store, identity, a1.station_id, stick / "down.bin")
    with a1.open() as station:
        result = import_file(station, stick / "down.bin", keys=a1.keys)
    assert result.applied >= 1
    assert a1.case(usb_case).summary.status == "ACCEPTED"
    assert a1.case(usb_case).sync_state == "acknowledged"  # the receipt came back on the stick
    assert http_case in a1.cases()
    live_county.assert_converged()


def test_tampered_file_on_the_stick_is_refused_and_changes_nothing(live_county: County, tmp_path):
    from sync.errors import ProxyAppError

    a1 = live_county.enrol(V1)
    a1.new_case("王小明", 1)
    path = tmp_path / "up.bin"
    with a1.open() as station:
        export_file(station, path, keys=a1.keys)
    original = path.read_bytes()
    identity = load_identity(live_county.hub_dir)
    outcomes = set()
    for position in range(0, len(original), max(len(original) // 40, 1)):
        data = bytearray(original)
        data[position] ^= 0x01
        path.write_bytes(bytes(data))
        with HubStore.open_existing(live_county.hub_dir) as store:
            try:
                _, answer = hub_import(store, identity, path)
            except ProxyAppError as exc:  # refused whole (its signed header) or unreadable: a clear message
                assert exc.message("en") and exc.message("zh")
                outcomes.add("refused" if exc.code == "bad_signature" else "unreadable")
                continue
        accepted = [r for r in answer.results if r.status in ("accepted", "duplicate")]
        if accepted:  # only an unsigned header byte was hit: the signed sets are intact
            continue
        (refused,) = answer.results
        assert refused.status == "refused" and refused.code in (
            "bad_signature",
            "malformed",
            "bad_box",
            "unknown_key",
            "wrong_origin",
            "protocol_version",
        )
        assert a1.station_id in (refused.detail or "") and "1" in (refused.detail or "")
        outcomes.add("refused")
    assert "refused" in outcomes
    # Nothing altered was ever applied: the hub holds the case only as the station wrote it.
    path.write_bytes(original)
    with HubStore.open_existing(live_county.hub_dir) as store:
        hub_import(store, identity, path)
    (case,) = live_county.hub_cases().values()
    assert case["applicant_name"] == "王小明"


def test_replayed_request_is_refused(live_county: County):
    a1 = live_county.enrol(V1)
    a1.new_case("王小明", 1)
    captured: list[httpx.Request] = []

    class Recorder(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            request.read()
            captured.append(request)
            return super().handle_request(request)

    assert a1.sync(transport=Recorder()).in_step
    push = next(r for r in captured if r.url.path.endswith(("/push", "/api/v1/sync")))  # the exchange pushes too
    replay = httpx.post(str(push.url), content=push.content, headers=dict(push.headers))
    assert replay.status_code == 409 and replay.json()["error"] == "replay"
