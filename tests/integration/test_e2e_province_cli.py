"""County → province through the commands an operator types, a USB stick, hub serve's forwarder and the web."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from hub.accounts import add_user, create_token, hasher_for
from hub.keys import load_identity
from hub.rotation import rotate_hub_key
from hub.settings import Settings
from hub.store import HubStore
from hub.testing import live_server
from hub.web.app import create_app
from sync.timeutil import utc_now
from tests.integration.county import V1, V2, County, hub


def held(province: Path) -> int:
    with HubStore.open_existing(province) as store:
        return int(store.db.execute("SELECT COUNT(*) FROM province_sets").fetchone()[0])


def accepted(county: County) -> int:
    with county.store() as store:
        return int(store.db.execute("SELECT COUNT(*) FROM sets_in").fetchone()[0])


def test_operator_commands_http_and_usb(live_county: County, province_dir: Path, tmp_path: Path) -> None:
    a = live_county.enrol(V1)
    case_no = a.new_case("张三", 1)
    a.sync()
    code, out, _ = hub(province_dir, "county", "add", "--county", "349921")
    assert code == 0
    enrolment = out.strip().splitlines()[-1]
    assert len(enrolment) == 19 and enrolment.count("-") == 3
    with live_server(create_app(Settings(data_dir=province_dir))) as url:
        code, out, err = hub(live_county.hub_dir, "upstream", "enroll", "--url", url, "--code", enrolment)
        assert code == 0, out + err
        assert "county 349921" in out
        code, out, err = hub(live_county.hub_dir, "upstream", "sync")
        assert code == 0, out + err
        assert held(province_dir) == accepted(live_county) == 1
        # The code was used: a second enrolment with it is refused, nothing changes.
        code, _, err = hub(live_county.hub_dir, "upstream", "enroll", "--url", url, "--code", enrolment)
        assert code == 1 and "enroll_code" in err
        # hub status --url PROVINCE: the counties, from the JSON API with an administrator's token.
        with HubStore.open_existing(province_dir) as store:
            settings = Settings(data_dir=province_dir)
            add_user(store, "admin", "admin", "province-admin-pw-1", hasher=hasher_for(settings), now=utc_now())
            token = create_token(store, "admin", expires_days=1, now=utc_now()).token
            add_user(
                store,
                "rs",
                "department",
                "province-dept-pw-1",
                department="RS",
                hasher=hasher_for(settings),
                now=utc_now(),
            )
            department = create_token(store, "rs", expires_days=1, now=utc_now()).token
        code, out, err = hub(province_dir, "status", "--url", url, "--token", token, "--json")
        assert code == 0, err
        report = json.loads(out)
        assert {"summary", "stations", "townships"} <= report.keys()  # the county's shape, extended
        [row] = report["province"]["counties"]
        assert row["county"] == "349921" and row["sets"] == 1 and row["cases"] == 1 and row["stations"] == 1
        code, out, _ = hub(province_dir, "status", "--url", url, "--token", token)
        assert code == 0 and "349921" in out and "need attention" in out
        # The province is read-only for cases: the API and the command line refuse a decision.
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {department}"}) as client:
            refused = client.post(f"/api/v1/cases/{case_no}/decision", json={"status": "accept"})
            assert refused.status_code == 403 and "read-only" in refused.json()["detail"]
            assert "省级平台只读" in refused.json()["detail_zh"]
            assert client.get("/desk/").status_code == 403
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            page = client.get("/province")
            assert page.status_code == 200 and 'data-county="349921"' in page.text
            moved = client.get("/dashboard/", follow_redirects=False)
            assert moved.is_redirect and moved.headers["location"] == "/province"
    code, _, err = hub(province_dir, "case", "decide", case_no, "--status", "accept")
    assert code == 2 and "read-only" in err
    # By USB: two more days of work go on a stick, and the province's answer comes back on it.
    a.new_case("李四", 2)
    a.sync()
    a.new_case("王五", 3)
    a.sync()
    stick, answer = tmp_path / "upstream.bin", tmp_path / "answer.bin"
    code, out, err = hub(live_county.hub_dir, "upstream", "export", str(stick))
    assert code == 0, err
    code, out, err = hub(province_dir, "county", "import", str(stick), "--answer", str(answer))
    assert code == 0, err
    assert held(province_dir) == accepted(live_county) == 3
    code, out, err = hub(province_dir, "county", "import", str(stick))  # again: held, nothing doubled
    assert code == 0 and held(province_dir) == 3
    code, out, err = hub(live_county.hub_dir, "upstream", "import-answer", str(answer))
    assert code == 0, err
    # Damaged files are refused before anything is taken (exit 2): a cut stick, a forged answer.
    cut, forged = tmp_path / "cut.bin", tmp_path / "forged.bin"
    cut.write_bytes(stick.read_bytes()[:-100])
    assert hub(province_dir, "county", "import", str(cut))[0] == 2
    raw = bytearray(answer.read_bytes())
    raw[-1] ^= 1
    forged.write_bytes(bytes(raw))
    code, _, err = hub(live_county.hub_dir, "upstream", "import-answer", str(forged))
    assert code == 2 and "not signed" in err
    code, out, _ = hub(live_county.hub_dir, "upstream", "status", "--json")
    status = json.loads(out)
    assert status["acked_seq"] == status["head_seq"] and status["pending_items"] == 0
    code, out, _ = hub(province_dir, "county", "list", "--json")
    assert json.loads(out)[0]["sets"] == 3
    # A stick altered on the way is refused whole (exit 2), nothing of it stored.
    data = bytearray(stick.read_bytes())
    data[-80] ^= 1
    stick.write_bytes(bytes(data))
    with HubStore.open_existing(province_dir) as store, store.transaction():
        store.db.execute("DELETE FROM province_sets WHERE seq = 3")  # so the altered set would be news
        store.db.execute("UPDATE province_stations SET applied_seq = 2")
        store.db.execute("DELETE FROM county_sets WHERE seq = (SELECT MAX(seq) FROM county_sets)")
        store.db.execute("UPDATE counties SET head_seq = head_seq - 1")
    code, _, err = hub(province_dir, "county", "import", str(stick))
    assert code == 2 and "Error" in err
    assert held(province_dir) == 2


def test_planned_rotation_hands_the_county_over(live_county: County, province_dir: Path) -> None:
    a = live_county.enrol(V1)
    b = live_county.enrol(V2)
    a.new_case("张三", 1)
    a.sync()
    _, out, _ = hub(province_dir, "county", "add", "--county", "349921")
    with live_server(create_app(Settings(data_dir=province_dir))) as url:
        assert hub(live_county.hub_dir, "upstream", "enroll", "--url", url, "--code", out.splitlines()[-1])[0] == 0
        assert hub(live_county.hub_dir, "upstream", "sync")[0] == 0
        with live_county.store() as store:
            rotate_hub_key(live_county.hub_dir, store)
        b.new_case("李四", 2)
        live_county.sync_all()
        code, out, err = hub(live_county.hub_dir, "upstream", "sync")
        assert code == 0, err
        b.new_case("王五", 3)
        b.sync()
        assert hub(live_county.hub_dir, "upstream", "sync")[0] == 0
    with HubStore.open_existing(province_dir) as store:
        gens = [row["gen"] for row in store.county_keys("349921")]
    assert gens == [2, 1] and load_identity(live_county.hub_dir).gen == 2
    assert held(province_dir) == accepted(live_county)


def test_hub_serve_forwards_in_the_background(
    live_county: County, province_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = live_county.enrol(V1)
    _, out, _ = hub(province_dir, "county", "add", "--county", "349921")
    monkeypatch.setitem(os.environ, "HUB_UPSTREAM_SECONDS", "0.2")
    with live_server(create_app(Settings(data_dir=province_dir))) as url:
        assert hub(live_county.hub_dir, "upstream", "enroll", "--url", url, "--code", out.splitlines()[-1])[0] == 0
        a.new_case("张三", 1)
        a.sync()
        # A second county server process stands in for 'hub serve': its forwarder does the rest.
        with live_server(create_app(Settings(data_dir=live_county.hub_dir))):
            deadline = time.monotonic() + 30
            while held(province_dir) < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
    assert held(province_dir) == accepted(live_county) == 1


def test_a_county_that_rotated_its_key_before_enrolling(live_county: County, province_dir: Path) -> None:
    a = live_county.enrol(V1)
    a.new_case("张三", 1)
    a.sync()  # its receipt signed by the county's first key, which the province never pins
    with live_county.store() as store:
        rotate_hub_key(live_county.hub_dir, store)
    a.sync()
    a.new_case("李四", 2)
    a.sync()
    _, out, _ = hub(province_dir, "county", "add", "--county", "349921")
    with live_server(create_app(Settings(data_dir=province_dir))) as url:
        assert hub(live_county.hub_dir, "upstream", "enroll", "--url", url, "--code", out.splitlines()[-1])[0] == 0
        code, out, err = hub(live_county.hub_dir, "upstream", "sync")
        assert code == 0, err
    assert held(province_dir) == accepted(live_county) == 2
