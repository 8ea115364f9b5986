"""The desk's scanned pages: bytes only for announced pages, the viewer beside the checklist, every view audited."""

from __future__ import annotations

import hashlib
import io

import msgspec
import pytest
from PIL import Image

from hub.desk_scans import AUDIT_ACTION
from hub.scans import page_path
from sync.protocol import PROTOCOL_VERSION, SCANS_PATH, ScanAnswer, ScanPut, seal_chunk
from tests.hub.builders import log_in
from tests.hub.test_app import do_sync
from tests.hub.test_web import case_no  # noqa: F401 - the fixture: a case sent up the exchange
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # the scan tables on SQLite and on PostgreSQL (docs/postgresql.md)


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (64, 90), seed).save(out, format="PNG")
    return out.getvalue()


def _put(client, station, data: bytes, offset: int = 0, length: int | None = None):
    digest = hashlib.sha256(data).digest()
    chunk = data[offset : offset + length if length else None]
    sealed = seal_chunk(
        chunk,
        station_id=station.station_id,
        sha256=digest,
        offset=offset,
        station_box_private=station.keys.box_private,
        hub_box_public=station.response.hub_box_public,
    )
    body = msgspec.msgpack.encode(ScanPut(PROTOCOL_VERSION, digest, offset, sealed))
    return client.post(SCANS_PATH, content=body, headers=station.headers("POST", SCANS_PATH, body))


def _attach(client, station, number: str, data: bytes, material: str = "居民身份证", page: int = 1) -> str:
    sha = hashlib.sha256(data).hexdigest()
    change = station.insert(
        "attachments",
        f"{number}/{sha[:32]}",
        {
            "attachment_id": f"{number}/{sha[:32]}",
            "case_no": number,
            "material": material,
            "page": page,
            "sha256": sha,
            "size": len(data),
            "format": "png",
            "attached_at": "2026-11-26T02:00:00.000Z",
            "dropped": 0,
        },
    )
    assert do_sync(client, station, [station.seal([change])]).status_code == 200
    return sha


def test_pages_arrive_in_chunks_and_only_announced_ones(client, station, case_no, hub_dir):  # noqa: F811
    data = _png(1) * 3
    unannounced = _put(client, station, data)
    assert unannounced.status_code == 403 and unannounced.json()["error"] == "scan_unannounced"
    sha = _attach(client, station, case_no, data)
    first = msgspec.msgpack.decode(_put(client, station, data, 0, 100).content, type=ScanAnswer)
    assert (first.held, first.complete) == (100, False)
    again = msgspec.msgpack.decode(_put(client, station, data, 0, 100).content, type=ScanAnswer)
    assert again.held == 100  # sent from elsewhere than where the page stands: nothing stored twice
    rest = msgspec.msgpack.decode(_put(client, station, data, 100).content, type=ScanAnswer)
    assert (rest.held, rest.complete) == (len(data), True)
    assert page_path(hub_dir, sha).read_bytes() == data


def test_the_desk_shows_the_pages_and_audits_every_view(client, station, case_no, store, users):  # noqa: F811
    pages = [_png(10), _png(20)]
    shas = [_attach(client, station, case_no, data, page=n) for n, data in enumerate(pages, 1)]
    for data in pages:
        assert _put(client, station, data).status_code == 200
    log_in(client, "rs")
    case_page = client.get(f"/desk/cases/{case_no}")
    assert "/scans" in case_page.text and store.audit_entries() == []
    viewer = client.get(f"/desk/cases/{case_no}/scans?material=居民身份证")
    assert viewer.status_code == 200
    assert f"/desk/cases/{case_no}/scans/{shas[0]}" in viewer.text and 'id="next"' in viewer.text
    turned = client.get(f"/desk/cases/{case_no}/scans?material=居民身份证&page_no=2&zoom=150&rotate=90")
    assert f"/scans/{shas[1]}" in turned.text and "z150 r90" in turned.text and 'id="previous"' in turned.text
    assert store.audit_entries() == []  # the viewer page shows no page's content itself
    image = client.get(f"/desk/cases/{case_no}/scans/{shas[1]}")
    assert image.status_code == 200 and image.content == pages[1]
    assert image.headers["content-type"] == "image/png" and image.headers["cache-control"] == "no-store"
    client.get(f"/desk/cases/{case_no}/scans/{shas[1]}")
    entries = store.audit_entries()
    assert len(entries) == 2  # every view, not the first only
    assert {(e["user_name"], e["action"], e["case_no"]) for e in entries} == {("rs", AUDIT_ACTION, case_no)}
    assert shas[1][:16] in entries[0]["fields"]


@pytest.mark.parametrize("who", ["admin", "yb"])
def test_administrators_and_other_departments_never_see_scans(client, station, case_no, who, users):  # noqa: F811
    data = _png(30)
    sha = _attach(client, station, case_no, data)
    assert _put(client, station, data).status_code == 200
    log_in(client, who)
    assert client.get(f"/desk/cases/{case_no}/scans/{sha}").status_code in (403, 404)
    assert data not in client.get(f"/desk/cases/{case_no}/scans").content


def test_the_dashboard_shows_scan_bytes_waiting_per_station(client, station, case_no, users):  # noqa: F811
    data = _png(40) * 4
    _attach(client, station, case_no, data)
    assert _put(client, station, data, 0, 50).status_code == 200
    log_in(client, "admin")
    dashboard = client.get("/dashboard")
    assert f'data-bytes="{len(data) - 50}"' in dashboard.text
    assert data not in dashboard.content


def test_hub_case_attachments_lists_each_page_with_its_hash_and_whether_it_is_whole(
    client,
    station,
    case_no,  # noqa: F811
    hub_dir,
):
    import json

    from click.testing import CliRunner

    from hub.cli import main

    whole, half = _png(50), _png(60) * 3
    shas = [_attach(client, station, case_no, data, page=n) for n, data in enumerate((whole, half), 1)]
    assert _put(client, station, whole).status_code == 200
    assert _put(client, station, half, 0, 10).status_code == 200
    result = CliRunner().invoke(main, ["--data-dir", str(hub_dir), "case", "attachments", case_no, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["sha256"], r["complete"], r["page"]) for r in rows] == [(shas[0], True, 1), (shas[1], False, 2)]
    assert rows[1]["held"] == 10 and rows[0]["material"] == "居民身份证"
    unknown = CliRunner().invoke(main, ["--data-dir", str(hub_dir), "case", "attachments", "nope"])
    assert unknown.exit_code == 2
