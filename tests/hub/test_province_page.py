"""The province dashboard paginated by county, and the province's JSON status without per-station rows."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from hub.accounts import add_user, create_token, hasher_for
from hub.bootstrap import init_hub
from hub.province import issue_county_code
from hub.settings import Settings
from hub.store import HubStore
from hub.testing import live_server
from hub.web.app import create_app
from hub.web.upstream_api import PROVINCE_PAGE_ROWS
from sync.timeutil import utc_now

COUNTIES = PROVINCE_PAGE_ROWS + 10


def _rows(html: str) -> list[str]:
    table = html.split('id="counties"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'data-county="(\d{6})"', table)


def test_province_page_by_county_and_a_small_status(tmp_path: Path) -> None:
    province = tmp_path / "province"
    init_hub(province)
    settings = Settings(data_dir=province)
    with HubStore.open_existing(province) as store:
        with store.transaction():
            store.set_meta("hub_role", "province")
        for n in range(COUNTIES):
            issue_county_code(store, f"{340000 + n:06d}", expires_hours=1, now=utc_now())
        with store.transaction():
            for s in range(30):  # a county's roster: its stations are counted, never listed
                store.put_roster_key(
                    county="340001",
                    station_id=f"340001001{s:03d}-A-1",
                    village_code=f"340001001{s:03d}",
                    key_id=f"k{s:015d}",
                    sign_public=bytes(32),
                    box_public=bytes(32),
                    from_seq=1,
                    revoked_after=None,
                )
        add_user(store, "admin", "admin", "province-admin-pw-1", hasher=hasher_for(settings), now=utc_now())
        token = create_token(store, "admin", expires_days=1, now=utc_now()).token
    with (
        live_server(create_app(settings)) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client,
    ):
        first = client.get("/province")
        assert first.status_code == 200
        assert len(_rows(first.text)) == PROVINCE_PAGE_ROWS and 'rel="next"' in first.text
        second = client.get("/province", params={"page_no": "2"})
        assert len(_rows(second.text)) == COUNTIES - PROVINCE_PAGE_ROWS and 'rel="prev"' in second.text
        assert set(_rows(first.text)).isdisjoint(_rows(second.text))
        assert set(_rows(first.text)) | set(_rows(second.text)) == {f"{340000 + n:06d}" for n in range(COUNTIES)}
        assert client.get("/province", params={"page_no": "x"}).status_code == 400
        status = client.get("/api/v1/status")
        assert status.status_code == 200
        report = status.json()
        assert report["stations"] == [] and len(report["province"]["counties"]) == COUNTIES
        [county] = [c for c in report["province"]["counties"] if c["county"] == "340001"]
        assert county["stations"] == 30
        assert "340001001000-A-1" not in status.text  # rolled up: no row per station
