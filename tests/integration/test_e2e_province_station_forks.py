"""A station fork at the province resolved by hand (``hub county station-forks``): a county hub and its station both
restored from last night's backups forward the station's new sets at seqs the province holds; no ``branch`` item
ever comes, so the province's operator takes the county's branch (or keeps its own chain)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest

from hub.accounts import add_user, create_token, hasher_for
from hub.province_forks import AUDIT_ACTION
from hub.settings import Settings
from hub.store import HubStore
from hub.upstream import held_aside
from sync.protocol import GENESIS
from sync.timeutil import utc_now
from tests.integration.county import V1, V2, County
from tests.integration.test_e2e_province import (  # noqa: F401 (province, province_template: fixtures)
    COUNTY,
    assert_province_holds_county,
    enrol_county,
    forward,
    province,
    province_template,
    serving,
)
from tests.integration.test_e2e_province_box_key import _forged, _queue
from tests.integration.test_e2e_province_cli import hub

pytestmark = pytest.mark.timeout(240)


def _copy_db(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def _chain(hub_dir: Path, table: str, station_id: str) -> dict[int, bytes]:
    column = "origin" if table == "sets_in" else "station_id"
    with HubStore.open_existing(hub_dir) as store:
        rows = store.db.execute(f"SELECT seq, hash FROM {table} WHERE {column} = ? ORDER BY seq", [station_id])
        return {int(r[0]): bytes(r[1]) for r in rows.fetchall()}


def _told(county: County) -> list[tuple[str, str, int, int, str, str | None]]:
    """What the province's latest answer told the county of its stations' sets held aside there."""
    with county.store() as store:
        return [(n.station_id, n.state, n.from_seq, n.sets, n.reason, n.resolved_by) for n in held_aside(store)]


def _open_forks(province_dir: Path) -> list[tuple[int, str]]:
    with HubStore.open_existing(province_dir) as store:
        return [(int(f["seq"]), f["reason"]) for f in store.province_station_forks(COUNTY)]


def test_a_restored_county_and_station_fork_at_the_province_until_the_countys_branch_is_taken(
    live_county: County,
    province: Path,  # noqa: F811 (the fixture of test_e2e_province)
    tmp_path: Path,
) -> None:
    a, b = live_county.enrol(V1), live_county.enrol(V2)
    with serving(province) as url:
        enrol_county(live_county, province, url)
        a.new_case("张三", 1)
        b.new_case("李四", 2)
        live_county.sync_all(1)
        forward(live_county)
        # Last night's backups: the county's database and the station's folder.
        county_backup, station_backup = tmp_path / "county-backup.db", tmp_path / "station-backup"
        _copy_db(live_county.hub_dir / "hub.db", county_backup)
        shutil.copytree(a.data_dir, station_backup)
        a.new_case("王五", 3)
        a.sync()
        forward(live_county)  # the province holds the station's set 2 of the lost branch
        old_branch = _chain(province, "province_sets", a.station_id)
        assert sorted(old_branch) == [1, 2]
        # Both disks die; both backups go back. The station works on from set 1: its new set 2 is accepted by
        # the county, which never held the other one: no fork at the county.
        _copy_db(county_backup, live_county.hub_dir / "hub.db")
        shutil.rmtree(a.data_dir)
        shutil.copytree(station_backup, a.data_dir)
        a.new_case("赵六", 4)
        a.sync()
        a.new_case("钱七", 5)
        a.sync()
        with live_county.store() as store:
            assert store.forks() == []
        # The county's own chain forked first (its restored hub sealed again at seqs forwarded): resolved as usual.
        assert hub(live_county.hub_dir, "upstream", "sync")[0] == 3
        assert hub(province, "county", "forks", "resolve", "--county", COUNTY, "--by", "刘处长")[0] == 0
        code, out, err = hub(live_county.hub_dir, "upstream", "sync")
        assert code == 0, out + err
        # The station's new sets 2 and 3 are quarantined at the province, and so is every later one, for good.
        assert _open_forks(province) == [(2, "differs"), (3, "prev")]
        a.new_case("周九", 7)
        a.sync()
        assert hub(live_county.hub_dir, "upstream", "sync")[0] == 0
        assert _open_forks(province) == [(2, "differs"), (3, "prev"), (4, "after")]
        assert _chain(province, "province_sets", a.station_id) == old_branch
        code, out, _ = hub(province, "county", "list")
        assert f"hub county station-forks resolve --county {COUNTY} --station {a.station_id}" in out
        code, out, _ = hub(province, "county", "station-forks", "--json")
        listed = json.loads(out)
        assert code == 0 and [(f["station_id"], f["seq"], f["reason"]) for f in listed] == [
            (a.station_id, 2, "differs"),
            (a.station_id, 3, "prev"),
            (a.station_id, 4, "after"),
        ]
        code, out, _ = hub(province, "county", "station-forks")
        assert f"station {a.station_id} set 2" in out and "hub county station-forks resolve" in out

        # Refused with exit 2 and nothing changed: an unknown county, a station not of it, a station with no fork.
        for args, says in (
            (["--county", "349999", "--station", a.station_id], "county 349999 is not known"),
            (["--county", COUNTY, "--station", "349921001001-99"], "is not on county"),
            (["--county", COUNTY, "--station", b.station_id], "no unresolved fork"),
        ):
            code, out, err = hub(province, "county", "station-forks", "resolve", *args, "--keep", "county", "--by", "X")
            assert code == 2 and says in err, out + err
        assert len(_open_forks(province)) == 3

        code, out, err = hub(
            province,
            "county",
            "station-forks",
            "resolve",
            "--county",
            COUNTY,
            "--station",
            a.station_id,
            "--keep",
            "county",
            "--by",
            "刘处长",
            "--json",
        )
        assert code == 0, out + err
        done = json.loads(out)
        assert (done["keep"], done["from_seq"], done["set_aside"], done["taken"], done["left"]) == (
            "county",
            2,
            1,
            [2, 3, 4],
            [],
        )
        assert done["head_seq"] == 4 and done["by"] == "刘处长"
        # Nothing open; the station's chain at the province is the county's; the lost set kept whole, not deleted.
        assert _open_forks(province) == []
        assert _chain(province, "province_sets", a.station_id) == _chain(live_county.hub_dir, "sets_in", a.station_id)
        with HubStore.open_existing(province) as store:
            aside = store.db.execute(
                "SELECT seq, hash, receipt, body_key FROM province_superseded WHERE station_id = ?", [a.station_id]
            ).fetchall()
            [entry] = [e for e in store.audit_entries() if e["action"] == AUDIT_ACTION]
        assert [(int(r[0]), bytes(r[1])) for r in aside] == [(2, old_branch[2])]
        assert all(bytes(r[2]) and len(bytes(r[3])) == 32 for r in aside)
        assert entry["user_name"] == "刘处长" and entry["fields"] == f"{COUNTY};{a.station_id};county;2;3;0"
        code, out, _ = hub(province, "county", "station-forks", "--all", "--json")
        assert {f["resolved_by"] for f in json.loads(out)} == {"刘处长"}
        # The station's next set follows at the province as usual, and the county is told of nothing held aside.
        assert _told(live_county) == [(a.station_id, "open", 2, 3, "differs", None)]
        a.new_case("孙八", 6)
        a.sync()
        code, out, err = hub(live_county.hub_dir, "upstream", "sync")
        assert code == 0 and "Station fork at the province" not in out, out + err
        assert _told(live_county) == []
    assert _open_forks(province) == []
    assert sorted(_chain(province, "province_sets", a.station_id)) == [1, 2, 3, 4, 5]
    assert_province_holds_county(live_county, province)


def test_keep_province_marks_the_quarantined_sets_resolved_and_the_countys_branch_stays_out(
    live_county: County,
    province: Path,  # noqa: F811 (the fixture of test_e2e_province)
    tmp_path: Path,
) -> None:
    a = live_county.enrol(V1)
    with serving(province) as url:
        enrol_county(live_county, province, url)
        a.new_case("张三", 1)
        a.sync()
        forward(live_county)
        held = _chain(province, "province_sets", a.station_id)
        prev, branch = GENESIS, []
        for seq in (1, 2, 3):  # a branch of three: differs, prev, after
            item, prev = _forged(live_county, a, seq, prev)
            _queue(live_county, item)
            branch.append(prev)
        forward(live_county)
        assert _open_forks(province) == [(1, "differs"), (2, "prev"), (3, "after")]
        # The county is told in the province's answer: the station, from which seq, how many, and what to do.
        assert _told(live_county) == [(a.station_id, "open", 1, 3, "differs", None)]
        code, out, err = hub(live_county.hub_dir, "upstream", "status")
        assert code == 0 and f"station {a.station_id}'s 3 set(s) from seq 1 aside (differs)" in out, out + err
        assert f"--station {a.station_id} --keep county" in out
        # The county's dashboard says it too, in the county's language by default.
        with live_county.store() as store:
            hasher = hasher_for(Settings(data_dir=live_county.hub_dir))
            add_user(store, "county-admin", "admin", "county-admin-pw-1", hasher=hasher, now=utc_now())
            county_token = create_token(store, "county-admin", expires_days=1, now=utc_now()).token
        with httpx.Client(base_url=live_county.url, headers={"Authorization": f"Bearer {county_token}"}) as client:
            page = client.get("/dashboard")
        assert page.status_code == 200 and 'id="province-link"' in page.text
        assert f'data-station="{a.station_id}" data-state="open"' in page.text
        assert f"省级平台隔离了代办点 {a.station_id} 自第 1 批起的 3 批" in page.text
        code, out, err = hub(
            province, "county", "station-forks", "resolve", "--county", COUNTY, "--station", a.station_id,
            "--keep", "province", "--by", "刘处长",
        )  # fmt: skip
        assert code == 0 and "The county is told in its next forwarding round" in out, out + err
        # By USB too: the province's signed answer file carries the same word.
        stick, answer = tmp_path / "upstream.bin", tmp_path / "answer.bin"
        assert hub(live_county.hub_dir, "upstream", "export", str(stick))[0] == 0
        assert hub(province, "county", "import", str(stick), "--answer", str(answer))[0] == 0
        code, out, err = hub(live_county.hub_dir, "upstream", "import-answer", str(answer))
        assert code == 0, out + err
        assert _told(live_county) == [(a.station_id, "kept", 1, 3, "differs", "刘处长")]
        code, out, err = hub(live_county.hub_dir, "upstream", "sync")
        assert code == 0 and f"kept the province's chain of station {a.station_id}" in out, out + err
        assert _told(live_county) == [(a.station_id, "kept", 1, 3, "differs", "刘处长")]
        code, out, err = hub(live_county.hub_dir, "upstream", "status", "--json")
        assert json.loads(out)["station_forks"][0]["state"] == "kept"
        assert _open_forks(province) == [] and _chain(province, "province_sets", a.station_id) == held
        with HubStore.open_existing(province) as store:
            kept = store.province_station_forks(COUNTY, open_only=False)
            assert {f["resolved_by"] for f in kept} == {"刘处长"} and [bytes(f["hash"]) for f in kept] == branch
        with HubStore.open_existing(province) as store:
            hasher = hasher_for(Settings(data_dir=province))
            add_user(store, "admin", "admin", "province-admin-pw-1", hasher=hasher, now=utc_now())
            token = create_token(store, "admin", expires_days=1, now=utc_now()).token
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            page = client.get("/dashboard/audit")
        assert page.status_code == 200
        assert "解决代办点分叉（省级）" in page.text and f"{a.station_id}：保留省里的数据链" in page.text
        # No second resolution: nothing is open.
        code, _, err = hub(
            province, "county", "station-forks", "resolve", "--county", COUNTY, "--station", a.station_id,
            "--keep", "province", "--by", "刘处长",
        )  # fmt: skip
        assert code == 2 and "no unresolved fork" in err
        # The county's branch going on (set 4, past the head, after the sets kept out) is quarantined again, not
        # refused: the county's forwarding of its other stations is not held up.
        later, _ = _forged(live_county, a, 4, prev)
        _queue(live_county, later)
        code, out, err = hub(live_county.hub_dir, "upstream", "sync")
        assert code == 0, out + err
    assert _open_forks(province) == [(4, "after")]
    assert _chain(province, "province_sets", a.station_id) == held


def test_keep_county_takes_what_chains_and_leaves_the_rest_quarantined(
    live_county: County,
    province: Path,  # noqa: F811 (the fixture of test_e2e_province)
) -> None:
    a = live_county.enrol(V1)
    with serving(province) as url:
        enrol_county(live_county, province, url)
        a.new_case("张三", 1)
        a.sync()
        forward(live_county)
        held = _chain(province, "province_sets", a.station_id)
        first, first_hash = _forged(live_county, a, 1, GENESIS)
        second, second_hash = _forged(live_county, a, 2, first_hash)
        third, _ = _forged(live_county, a, 3, second_hash)
        _queue(live_county, first)
        _queue(live_county, third)  # the county's set 2 of that branch never came: 3 cannot chain
        forward(live_county)
        assert _open_forks(province) == [(1, "differs"), (3, "after")]
        code, out, err = hub(
            province, "county", "station-forks", "resolve", "--county", COUNTY, "--station", a.station_id,
            "--keep", "county", "--by", "刘处长", "--json",
        )  # fmt: skip
    assert code == 3, out + err
    done = json.loads(out)
    assert done["taken"] == [1] and [(left["seq"], left["code"]) for left in done["left"]] == [(3, "chain")]
    assert _open_forks(province) == [(3, "after")]
    assert _chain(province, "province_sets", a.station_id) == {1: first_hash}
    with HubStore.open_existing(province) as store:
        aside = store.db.execute("SELECT seq, hash FROM province_superseded").fetchall()
        row = store.db.execute("SELECT envelope FROM province_sets WHERE station_id = ?", [a.station_id]).fetchone()
    assert [(int(r[0]), bytes(r[1])) for r in aside] == [(1, held[1])]
    assert bytes(row[0]) == first.envelope  # the quarantined bytes, taken as forwarded
