"""County → province end to end: real hubs under uvicorn on loopback, real stations, nothing lost or doubled."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from hub.bootstrap import init_hub
from hub.keys import load_identity
from hub.province import issue_county_code, revoke
from hub.rotation import rotate_hub_key
from hub.settings import Settings
from hub.store import HubStore
from hub.store.location import database_url
from hub.testing import live_server
from hub.upstream import UpstreamError, disclosed_key, seal_pending
from hub.upstream_link import enroll_upstream, sync_upstream
from hub.web.app import create_app
from sync.lifecycle import Status
from sync.protocol.upstream import ForwardedSet
from sync.timeutil import utc_now
from tests.integration.county import V1, V2, County

COUNTY = "349921"


@pytest.fixture(scope="module")
def province_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("province-template") / "province"
    init_hub(path)
    with HubStore.open_existing(path) as store, store.transaction():
        store.set_meta("hub_role", "province")
    return path


@contextlib.contextmanager
def serving(hub_dir: Path) -> Iterator[str]:
    with live_server(create_app(Settings(data_dir=hub_dir))) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def province(request: pytest.FixtureRequest, tmp_path: Path, province_template: Path) -> Path:
    """A province hub; its store on SQLite, or on PostgreSQL (a database of the session's throwaway cluster)
    while the county stays on SQLite: the province's SQL runs on both engines."""
    path = tmp_path / "province"
    if request.param == "sqlite":
        shutil.copytree(province_template, path)
        return path
    init_hub(path, database=request.getfixturevalue("postgres_url"))
    with HubStore.open_existing(path) as store, store.transaction():
        store.set_meta("hub_role", "province")
    return path


def _pg_copy(url: str, source: str, target: str) -> None:
    """``target`` made anew as a copy of ``source`` (a PostgreSQL backup and restore in one statement)."""
    import psycopg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as db:
        for name in (source, target):
            db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
        db.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')


def backup(province_dir: Path, to: Path) -> None:
    url = database_url(province_dir)
    if url is None:
        with sqlite3.connect(province_dir / "hub.db") as src, sqlite3.connect(to) as dst:
            src.backup(dst)
    else:
        _pg_copy(url, url.rsplit("/", 1)[1], url.rsplit("/", 1)[1] + "_backup")


def restore(province_dir: Path, backup_file: Path) -> None:
    """The province's disk died; last night's backup is put back over it, page for page."""
    url = database_url(province_dir)
    if url is None:
        with sqlite3.connect(backup_file) as src, sqlite3.connect(province_dir / "hub.db") as dst:
            src.backup(dst)
    else:
        name = url.rsplit("/", 1)[1]
        _pg_copy(url, name + "_backup", name)


def enrol_county(county: County, province_dir: Path, url: str) -> None:
    with HubStore.open_existing(province_dir) as store:
        code, _ = issue_county_code(store, COUNTY, expires_hours=1, now=utc_now())
    with county.store() as store:
        enroll_upstream(store, load_identity(county.hub_dir), url=url, code=code, now=utc_now())


def forward(county: County) -> int:
    with county.store() as store:
        return sync_upstream(store, load_identity(county.hub_dir), now=utc_now()).acked_seq


def county_sets(county: County) -> dict[tuple[str, int], bytes]:
    with county.store() as store:
        rows = store.db.execute("SELECT origin, seq, hash FROM sets_in").fetchall()
    return {(r[0], r[1]): bytes(r[2]) for r in rows}


def province_sets(province_dir: Path) -> dict[tuple[str, int], bytes]:
    with HubStore.open_existing(province_dir) as store:
        rows = store.db.execute("SELECT station_id, seq, hash FROM province_sets").fetchall()
    return {(r[0], r[1]): bytes(r[2]) for r in rows}


def assert_province_holds_county(county: County, province_dir: Path) -> None:
    """Every station set the county accepted is at the province once, and every case's state agrees."""
    assert province_sets(province_dir) == county_sets(county)
    with county.store() as store:
        cases = {r["case_no"]: r["status"] for r in store.list_cases(limit=1_000_000)}
        moves = store.db.execute("SELECT COUNT(*) FROM case_events WHERE origin = 'hub'").fetchone()[0]
    with HubStore.open_existing(province_dir) as store:
        held = {r[0]: r[1] for r in store.db.execute("SELECT case_no, status FROM province_cases").fetchall()}
        assert (store.county(COUNTY) or {})["moves"] == moves
    assert held == cases
    with HubStore.open_existing(province_dir) as store:
        counts = {status: n for county, status, n in store.province_case_counts() if county == COUNTY}
        assert (store.county(COUNTY) or {})["sets"] == len(county_sets(county))
    assert counts == {s: list(cases.values()).count(s) for s in set(cases.values())}


def test_county_offline_for_days_catches_up_once(live_county: County, province: Path) -> None:
    a, b = live_county.enrol(V1), live_county.enrol(V2)
    with serving(province) as url:
        enrol_county(live_county, province, url)
        first = a.new_case("张三", 1)
        a.sync()
        forward(live_county)
        assert_province_holds_county(live_county, province)
    # The province is out of reach for "days": the county keeps accepting and deciding.
    for day in range(4):
        a.new_case(f"李{day}", 10 + day)
        b.new_case(f"王{day}", 20 + day)
        live_county.sync_all()
    live_county.decide(first, "accept", by="审核员")
    live_county.sync_all()
    with pytest.raises(UpstreamError) as refused:
        forward(live_county)
    assert refused.value.code == "unreachable"
    with serving(province) as url:
        with live_county.store() as store:
            store.note_upstream(url=url)
        forward(live_county)
        assert_province_holds_county(live_county, province)
        before = province_sets(province)
        forward(live_county)  # again: nothing new, nothing doubled
    assert province_sets(province) == before
    with HubStore.open_existing(province) as store:
        row = store.county(COUNTY)
        assert row is not None and row["pending"] == 0
        assert (store.province_case(first) or {}).get("status") == Status.ACCEPTED
    # Names travel only inside the station's sealed bodies: nowhere in the province's files in clear.
    files = b"".join(p.read_bytes() for p in province.glob("hub.db*"))
    assert "张三".encode() not in files and "李0".encode() not in files


def test_province_restored_from_backup(live_county: County, province: Path, tmp_path: Path) -> None:
    a = live_county.enrol(V1)
    saved = tmp_path / "province-backup.db"
    with serving(province) as url:
        enrol_county(live_county, province, url)
        a.new_case("张三", 1)
        a.sync()
        forward(live_county)
    backup(province, saved)
    with serving(province) as url:
        with live_county.store() as store:
            store.note_upstream(url=url)
        for serial in range(2, 6):
            a.new_case(f"李{serial}", serial)
            a.sync()
            forward(live_county)
        assert_province_holds_county(live_county, province)
    restore(province, saved)
    assert province_sets(province) != county_sets(live_county)
    with serving(province) as url:
        with live_county.store() as store:
            store.note_upstream(url=url)
        forward(live_county)
    assert_province_holds_county(live_county, province)


def test_county_key_revoked_then_enrolled_again(live_county: County, province: Path) -> None:
    a = live_county.enrol(V1)
    with serving(province) as url:
        enrol_county(live_county, province, url)
        a.new_case("张三", 1)
        a.sync()
        forward(live_county)
        with HubStore.open_existing(province) as store:
            revoke(store, COUNTY, now=utc_now())
            head = (store.county(COUNTY) or {})["head_seq"]
        a.new_case("李四", 2)
        a.sync()
        with pytest.raises(UpstreamError) as refused:
            forward(live_county)
        assert refused.value.code == "revoked_key"
        with HubStore.open_existing(province) as store:
            assert (store.county(COUNTY) or {})["head_seq"] == head  # nothing of it stored
        with live_county.store() as store:
            rotate_hub_key(live_county.hub_dir, store)
        a.sync()  # the station takes the handover
        a.new_case("王五", 3)
        a.sync()
        enrol_county(live_county, province, url)
        forward(live_county)
        assert_province_holds_county(live_county, province)
        with HubStore.open_existing(province) as store:
            assert len(store.county_keys(COUNTY)) == 2


def _push_bogus(county: County, item: ForwardedSet) -> UpstreamError:
    with county.store() as store:
        store.queue_upstream("set", msgspec.msgpack.encode(item), "2026-01-01T00:00:00.000Z")
        seal_pending(store, load_identity(county.hub_dir), now=utc_now())
    with pytest.raises(UpstreamError) as refused:
        forward(county)
    return refused.value


@pytest.mark.parametrize("damage", ["tampered", "wrong_key", "wrong_receipt"])
def test_tampered_sets_and_wrong_keys_refused(live_county: County, province: Path, damage: str) -> None:
    a = live_county.enrol(V1)
    with serving(province) as url:
        enrol_county(live_county, province, url)
        a.new_case("张三", 1)
        a.sync()
        forward(live_county)
        a.new_case("李四", 2)
        a.sync()
        with live_county.store() as store:
            seq, envelope, receipt = store.accepted_sets(a.station_id, 1, 1)[0]
            signer = store.station_key_for_seq(a.station_id, seq)
            first_receipt = store.accepted_sets(a.station_id, 0, 1)[0][2]
        assert signer is not None
        key = disclosed_key(load_identity(live_county.hub_dir), envelope, signer.box_public)
        if damage == "tampered":
            envelope = envelope[:-70] + bytes([envelope[-70] ^ 1]) + envelope[-69:]
        elif damage == "wrong_key":
            key = bytes(32 - len(b"x")) + b"x"
        else:
            receipt = first_receipt
        before = province_sets(province)
        error = _push_bogus(
            live_county, ForwardedSet(station_id=a.station_id, seq=seq, envelope=envelope, receipt=receipt, key=key)
        )
    expected = {"tampered": "bad_signature", "wrong_key": "bad_key", "wrong_receipt": "bad_receipt"}[damage]
    assert error.code == expected, error.en
    assert province_sets(province) == before


def test_upstream_endpoints_bound_their_input(province: Path) -> None:
    with serving(province) as url, httpx.Client(base_url=url) as client:
        headers = {"content-type": "application/vnd.msgpack"}
        garbage = client.post("/api/v1/upstream/sync", content=b"\xc1\xff\x00", headers=headers)
        assert garbage.status_code == 400 and garbage.json()["error"] == "malformed"
        deep = client.post("/api/v1/upstream/sync", content=b"\x91" * 100_000, headers=headers)
        assert deep.status_code == 400
        big = client.post("/api/v1/upstream/enroll", content=b"\x00" * (65 * 1024), headers=headers)
        assert big.status_code == 413
        unknown = client.post(
            "/api/v1/upstream/sync", content=msgspec.msgpack.encode([1, "999999", []]), headers=headers
        )
        assert unknown.status_code == 403 and unknown.json()["error"] == "unknown_county"
        wrong_type = client.post("/api/v1/upstream/sync", content=b"{}", headers={"content-type": "application/json"})
        assert wrong_type.status_code == 415
