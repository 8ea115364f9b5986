"""County → province: the province's signed receipt of each county set (HTTP and USB alike), and a county set
that conflicts with the chain held quarantined whole as a county fork, then resolved."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import httpx
import pytest

from hub.accounts import add_user, create_token, hasher_for
from hub.bootstrap import init_hub
from hub.keys import load_identity
from hub.settings import Settings
from hub.store import HubStore
from hub.testing import live_server
from hub.upstream import UpstreamError, take_answer
from hub.upstream_link import sync_upstream
from hub.web.app import create_app
from sync.crypto import KeyPair
from sync.lifecycle import Status
from sync.protocol import PushResponse, SetResult, make_receipt, verify_receipt
from sync.protocol.upstream import county_origin
from sync.timeutil import utc_now
from tests.integration.county import V1, County, hub

pytestmark = pytest.mark.timeout(300)

COUNTY = "349921"


def enrol(county: County, province: Path, url: str) -> None:
    county.enrol_upstream(province, url, COUNTY)


def forward(county: County) -> int:
    with county.store() as store:
        return sync_upstream(store, load_identity(county.hub_dir), now=utc_now()).acked_seq


def receipts_at_county(county: County) -> dict[int, bytes | None]:
    with county.store() as store:
        rows = store.db.execute("SELECT seq, receipt FROM upstream_sets ORDER BY seq").fetchall()
    return {r[0]: bytes(r[1]) if r[1] is not None else None for r in rows}


def receipts_at_province(province: Path) -> dict[int, bytes]:
    with HubStore.open_existing(province) as store:
        rows = store.db.execute("SELECT seq, receipt FROM county_sets WHERE county = ?", [COUNTY]).fetchall()
    return {r[0]: bytes(r[1]) for r in rows}


def test_each_county_set_gets_the_provinces_signed_receipt_by_http_and_by_usb(
    live_county: County, province_dir: Path, tmp_path: Path
) -> None:
    a = live_county.enrol(V1)
    a.new_case("张三", 1)
    a.sync()
    province_key = load_identity(province_dir).keys.sign_public
    with live_server(create_app(Settings(data_dir=province_dir))) as url:
        enrol(live_county, province_dir, url)
        forward(live_county)
        by_http = receipts_at_county(live_county)
        assert by_http and all(by_http.values())
        with live_county.store() as store:
            for seq, receipt in by_http.items():
                assert receipt is not None
                body = verify_receipt(receipt, province_key)  # the province's hub key signed it
                assert (body.origin, body.seq, body.hash) == (county_origin(COUNTY), seq, store.upstream_set_hash(seq))
        assert receipts_at_province(province_dir) == by_http  # the province keeps what it gave
        # The answer lost: the county sends the same sets again and gets the very same receipts.
        with live_county.store() as store:
            store.note_upstream(acked_seq=0)
            store.db.execute("UPDATE upstream_sets SET receipt = NULL")
        forward(live_county)
        assert receipts_at_county(live_county) == by_http
        code, out, err = hub(live_county.hub_dir, "upstream", "status", "--json")
        status = json.loads(out)
        assert code == 0 and status["receipts"] == status["head_seq"] == len(by_http), err
        assert status["receipt_seq"] == max(by_http) and status["fork_seq"] is None
        code, out, _ = hub(live_county.hub_dir, "upstream", "status")
        assert f"{len(by_http)} signed receipt(s) from the province (verified" in out
    # By USB: the answer file carries the same receipts as the HTTP answer would.
    a.new_case("李四", 2)
    a.sync()
    stick, answer = tmp_path / "upstream.bin", tmp_path / "answer.bin"
    assert hub(live_county.hub_dir, "upstream", "export", str(stick))[0] == 0
    code, _, err = hub(province_dir, "county", "import", str(stick), "--answer", str(answer))
    assert code == 0, err
    code, _, err = hub(live_county.hub_dir, "upstream", "import-answer", str(answer))
    assert code == 0, err
    by_file = receipts_at_county(live_county)
    assert len(by_file) > len(by_http) and all(by_file.values())
    assert receipts_at_province(province_dir) == by_file
    # A stick carried twice: the second answer repeats the receipts given the first time, byte for byte.
    again = tmp_path / "answer-2.bin"
    assert hub(province_dir, "county", "import", str(stick), "--answer", str(again))[0] == 0
    with live_county.store() as store:
        store.db.execute("UPDATE upstream_sets SET receipt = NULL")
    assert hub(live_county.hub_dir, "upstream", "import-answer", str(again))[0] == 0
    assert {s: r for s, r in receipts_at_county(live_county).items() if r} == {
        s: r for s, r in by_file.items() if s > max(by_http)
    }


def test_a_receipt_not_signed_by_the_pinned_province_is_refused(live_county: County, province_dir: Path) -> None:
    with live_server(create_app(Settings(data_dir=province_dir))) as url:
        enrol(live_county, province_dir, url)
        forward(live_county)
    impostor = KeyPair.generate()
    with live_county.store() as store:
        seq, set_hash = store.upstream_head() or (0, b"")
        acked = int((store.upstream_link() or {})["acked_seq"])
        store.db.execute("UPDATE upstream_sets SET receipt = NULL")
        forged = make_receipt(
            origin=county_origin(COUNTY),
            seq=seq,
            set_hash=set_hash,
            hub_ms=1,
            sign_private=impostor.sign_private,
            sign_public=impostor.sign_public,
        )
        answer = PushResponse(
            results=[SetResult(seq=seq, status="duplicate", receipt=forged)], next_seq=seq + 1, hub_ms=1
        )
        with pytest.raises(UpstreamError) as refused:
            take_answer(store, answer, now=utc_now())
        assert refused.value.code == "bad_receipt"
        assert store.upstream_receipt(seq) is None and int((store.upstream_link() or {})["acked_seq"]) == acked


def _copy_db(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_province(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A province hub on SQLite, or on PostgreSQL (the quarantine's and the resolution's SQL on both engines)."""
    if request.param == "sqlite":
        return request.getfixturevalue("province_dir")  # type: ignore[no-any-return]
    path = tmp_path / "province"
    init_hub(path, database=request.getfixturevalue("postgres_url"))
    with HubStore.open_existing(path) as store, store.transaction():
        store.set_meta("hub_role", "province")
    return path


def test_a_county_restored_from_an_old_backup_is_quarantined_as_a_county_fork_then_resolved(
    live_county: County, any_province: Path, tmp_path: Path
) -> None:
    province_dir = any_province
    a = live_county.enrol(V1)
    first = a.new_case("张三", 1)
    a.sync()
    saved = tmp_path / "county-backup.db"
    with live_server(create_app(Settings(data_dir=province_dir))) as url:
        enrol(live_county, province_dir, url)
        forward(live_county)
        _copy_db(live_county.hub_dir / "hub.db", saved)  # last night's backup of the county
        a.new_case("李四", 2)
        a.sync()
        forward(live_county)
        with HubStore.open_existing(province_dir) as store:
            before = store.county(COUNTY) or {}
            held = {r[0]: bytes(r[1]) for r in store.db.execute("SELECT seq, hash FROM county_sets").fetchall()}
            moves = int(before["moves"])
        # The county's disk dies; the backup goes back; it decides a case and forwards: its set at the next seq
        # is not the one the province holds there.
        _copy_db(saved, live_county.hub_dir / "hub.db")
        live_county.decide(first, "accept", by="审核员")
        code, out, err = hub(live_county.hub_dir, "upstream", "sync")
        assert code == 3, out + err
        assert "county fork" in err and "hub county forks resolve --county 349921" in err
        with live_county.store() as store:
            link = store.upstream_link() or {}
            fork_seq = int(link["fork_seq"])
        assert fork_seq in held
        code, out, _ = hub(live_county.hub_dir, "upstream", "status", "--json")
        assert json.loads(out)["fork_seq"] == fork_seq
        code, out, _ = hub(live_county.hub_dir, "upstream", "status")
        assert f"Fork: the province quarantined this county's set {fork_seq}" in out
        # At the province: kept whole, nothing applied, nothing deleted; shown to the administrator.
        with HubStore.open_existing(province_dir) as store:
            after = store.county(COUNTY) or {}
            assert {r[0]: bytes(r[1]) for r in store.db.execute("SELECT seq, hash FROM county_sets")} == held
            assert (after["head_seq"], after["moves"]) == (before["head_seq"], moves)
            assert (store.province_case(first) or {})["status"] != Status.ACCEPTED
            [fork] = store.county_forks(COUNTY)
            envelope = store.db.execute("SELECT envelope FROM county_forks").fetchone()[0]
        assert fork["seq"] == fork_seq and fork["reason"] == "differs" and bytes(fork["held_hash"]) == held[fork_seq]
        with live_county.store() as store:
            assert (
                bytes(envelope)
                == store.db.execute("SELECT envelope FROM upstream_sets WHERE seq = ?", [fork_seq]).fetchone()[0]
            )
        code, out, _ = hub(live_county.hub_dir, "upstream", "sync")  # again: still one fork, still nothing applied
        assert code == 3
        with HubStore.open_existing(province_dir) as store:
            assert len(store.county_forks(COUNTY)) == 1
            settings = Settings(data_dir=province_dir)
            add_user(store, "admin", "admin", "province-admin-pw-1", hasher=hasher_for(settings), now=utc_now())
            token = create_token(store, "admin", expires_days=1, now=utc_now()).token
        code, out, _ = hub(province_dir, "county", "list", "--json")
        assert json.loads(out)[0]["state"] == "fork" and json.loads(out)[0]["forks"] == 1
        code, out, _ = hub(province_dir, "county", "list")
        assert f"Fork: county 349921's set {fork_seq} differs" in out
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            page = client.get("/province")
        assert page.status_code == 200 and 'id="county-forks"' in page.text
        # Resolved at the province: the county's branch is taken, the sets it replaces kept whole.
        assert hub(province_dir, "county", "forks", "resolve", "--county", COUNTY, "--by", "")[0] == 2
        code, out, err = hub(province_dir, "county", "forks", "resolve", "--county", COUNTY, "--by", "刘处长")
        assert code == 0, out + err
        assert hub(province_dir, "county", "forks", "resolve", "--county", COUNTY, "--by", "刘处长")[0] == 2
        code, out, err = hub(live_county.hub_dir, "upstream", "sync")
        assert code == 0, out + err
        code, out, _ = hub(province_dir, "county", "forks", "--all", "--json")
        [resolved] = json.loads(out)
        assert resolved["resolved_by"] == "刘处长" and resolved["resolved_at"]
    with live_county.store() as store:
        ours = {r[0]: bytes(r[1]) for r in store.db.execute("SELECT seq, hash FROM upstream_sets").fetchall()}
        assert store.upstream_link()["fork_seq"] is None  # type: ignore[index]
    with HubStore.open_existing(province_dir) as store:
        now_held = {r[0]: bytes(r[1]) for r in store.db.execute("SELECT seq, hash FROM county_sets").fetchall()}
        aside = {(r[0], bytes(r[1])) for r in store.db.execute("SELECT seq, hash FROM county_superseded")}
        assert (store.province_case(first) or {})["status"] == Status.ACCEPTED
    assert now_held == ours
    assert {(s, h) for s, h in held.items() if s >= fork_seq} == aside  # evidence kept, not deleted
    assert receipts_at_county(live_county) and all(receipts_at_county(live_county).values())


def test_a_set_answered_as_a_fork_moves_no_receipt(live_county: County, province_dir: Path) -> None:
    """take_answer with a fork result: the county records the fork and keeps no receipt for it."""
    with live_server(create_app(Settings(data_dir=province_dir))) as url:
        enrol(live_county, province_dir, url)
        forward(live_county)
    with live_county.store() as store:
        seq, _ = store.upstream_head() or (0, b"")
        answer = PushResponse(results=[SetResult(seq=seq + 1, status="fork", code="fork")], next_seq=seq + 1, hub_ms=1)
        with pytest.raises(UpstreamError) as forked:
            take_answer(store, answer, now=utc_now() + dt.timedelta(seconds=1))
        assert forked.value.code == "fork" and (store.upstream_link() or {})["fork_seq"] == seq + 1
