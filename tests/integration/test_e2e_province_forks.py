"""A fork resolved at the county keeping the station's branch, after the hub's branch went up to the province."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.bootstrap import init_hub
from hub.keys import load_identity
from hub.province import issue_county_code
from hub.settings import Settings
from hub.store import HubStore
from hub.testing import live_server
from hub.upstream_link import enroll_upstream, sync_upstream
from hub.web.app import create_app
from station.identity import load_keypair
from sync.timeutil import utc_now
from tests.integration.county import PASSPHRASE
from tests.integration.test_e2e_forks import Village, forked, settled, the_fork, village  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(240)


def test_keep_station_after_forwarding_sets_the_hubs_branch_aside_at_the_province(
    village: Village,  # noqa: F811 (the fixture of test_e2e_forks)
    tmp_path: Path,
) -> None:
    province = tmp_path / "province"
    init_hub(province)
    with HubStore.open_existing(province) as store, store.transaction():
        store.set_meta("hub_role", "province")
        code, _ = issue_county_code(store, "349921", expires_hours=1, now=utc_now())
    identity = load_identity(village.hub_dir)
    with live_server(create_app(Settings(data_dir=province))) as url:
        with HubStore.open_existing(village.hub_dir) as store:
            enroll_upstream(store, identity, url=url, code=code, now=utc_now())
        cases = forked(village, tmp_path)

        def forward() -> None:
            with HubStore.open_existing(village.hub_dir) as store:
                sync_upstream(store, load_identity(village.hub_dir), now=utc_now())

        forward()  # the hub's branch goes up
        village.cli("forks", "resolve", str(the_fork(village)), "--keep", "station", "--by", "王科长")
        village.sync()
        village.keys = load_keypair(village.station_dir, PASSPHRASE)  # its branch up, the station changed its key
        settled(village, cases)
        forward()
    with HubStore.open_existing(village.hub_dir) as store:
        at_county = dict(store.db.execute("SELECT seq, hash FROM sets_in WHERE origin = ?", [village.station_id]))
        aside = {(r["seq"], bytes(r["hash"])) for r in store.superseded_sets(village.station_id)}
    with HubStore.open_existing(province) as store:
        held = dict(store.db.execute("SELECT seq, hash FROM province_sets WHERE station_id = ?", [village.station_id]))
        kept = {
            (seq, bytes(h))
            for seq, h in store.db.execute(
                "SELECT seq, hash FROM province_superseded WHERE station_id = ?", [village.station_id]
            )
        }
    assert {k: bytes(v) for k, v in held.items()} == {k: bytes(v) for k, v in at_county.items()}
    assert aside and aside <= kept  # the hub's branch, as the county keeps it: evidence at both
