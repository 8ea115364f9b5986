"""End to end over real HTTP: a rating syncs and a bad one opens a follow-up on the right desk; a resident's
progress query at the hub page and at a station of another village; the ledger and the county figures
open in openpyxl with the right rows."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from hub.accounts import add_user, hasher_for
from hub.cli import main as hub_main
from hub.settings import Settings
from hub.web.app import create_app
from station import progress
from station.cases import deliver
from station.errors import SyncError
from station.ledger import write_ledger
from station.ratings import own_query_key, query_code_of, rate
from sync.ratings import format_code
from sync.timeutil import utc_now
from tests.integration.county import V1, V2, County

pytestmark = pytest.mark.timeout(180)

PASSWORD = "correct horse battery staple"


def _delivered(county: County, handle, name: str, serial: int) -> str:
    case_no = handle.new_case(name, serial)
    handle.sync()
    county.decide(case_no, "ACCEPTED")
    county.decide(case_no, "COMPLETED", outcome="approved")
    handle.sync()
    with handle.open() as station:
        deliver(station, case_no)
    return case_no


def test_ratings_sync_and_a_bad_one_opens_a_follow_up_on_its_department_desk(live_county: County, tmp_path: Path):
    a = live_county.enrol(V1)
    good = _delivered(live_county, a, "王小明", 1)
    bad = _delivered(live_county, a, "李四", 2)
    with a.open() as station:
        rate(station, good, level=5)
        rate(station, bad, level=1, comment="跑了三趟", channel="phone")
    report = a.sync()
    assert not report.errors
    with live_county.store() as store:
        assert store.row("ratings", f"{good}/{good}")["level"] == 5
        assert store.row("ratings", f"{bad}/{bad}")["comment"] == "跑了三趟"
        assert store.followup(f"{good}/{good}") is None  # a good rating opens nothing
        followup = store.followup(f"{bad}/{bad}")
        assert followup is not None and followup["department"] == "RS" and followup["township"] == V1[:9] + "000"
        assert followup["answered_at"] is None and followup["due_date"] > followup["opened_at"][:10]
        assert store.department_followups("YB") == []  # not on another department's desk
        settings = Settings(data_dir=live_county.hub_dir, argon2_time_cost=1, argon2_memory_kib=1024)
        with store.transaction():
            for name, department in (("rs-clerk", "RS"), ("yb-clerk", "YB")):
                add_user(
                    store,
                    name,
                    "department",
                    PASSWORD,
                    department=department,
                    hasher=hasher_for(settings),
                    now=utc_now(),
                )
    # The desk of the department concerned lists it; the clerk calls back and answers; the figures count it.
    app = create_app(settings)
    with TestClient(app) as client:
        _login(client, "rs-clerk")
        page = client.get("/desk/followups")
        assert page.status_code == 200 and bad in page.text and good not in page.text and "跑了三趟" in page.text
        csrf = _csrf(page.text)
        rating_id = f"{bad}/{bad}"
        assert (
            client.post("/desk/followups/step", data={"csrf": csrf, "rating_id": rating_id, "step": "call"}).status_code
            == 200
        )
        refused = client.post("/desk/followups/step", data={"csrf": csrf, "rating_id": rating_id, "step": "answer"})
        assert refused.status_code == 400  # an answer needs its text
        done = client.post(
            "/desk/followups/step",
            data={"csrf": csrf, "rating_id": rating_id, "step": "answer", "answer": "已致电说明，材料一次告知"},
        )
        assert done.status_code == 200 and "已记录" in done.text
        assert bad not in client.get("/desk/followups").text  # answered: off the open list
        client.post("/logout", data={"csrf": csrf})
        _login(client, "yb-clerk")
        assert bad not in client.get("/desk/followups?all=1").text
    with live_county.store() as store:
        row = store.followup(rating_id)
        assert row["called_by"] == "rs-clerk" and row["answered_by"] == "rs-clerk"
    # The county's workbook: satisfaction by department, without any case number or name.
    openpyxl = pytest.importorskip("openpyxl")
    path = tmp_path / "figures.xlsx"
    result = CliRunner().invoke(hub_main, ["--data-dir", str(live_county.hub_dir), "figures", "export", str(path)])
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(path)
    rows = [list(r) for r in book["满意度-部门"].iter_rows(values_only=True)]
    rs = next(r for r in rows if str(r[0]).startswith("RS "))
    assert rs[1:7] == [2, 1, 0, 0, 0, 1]  # 2 ratings: one 5, one 1
    everything = json.dumps(
        [list(r) for ws in book for r in ws.iter_rows(values_only=True)], ensure_ascii=False, default=str
    )
    assert bad not in everything and "王小明" not in everything and "跑了三趟" not in everything


def _login(client: TestClient, name: str) -> None:
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": name, "password": PASSWORD, "csrf": _csrf(form.text), "next": ""},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def _csrf(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def test_a_progress_query_at_the_hub_page_and_at_a_station_of_another_village(live_county: County):
    a, b = live_county.enrol(V1), live_county.enrol(V2)
    case_no = a.new_case("王小明", 3)
    a.sync()
    with a.open() as station:
        code = query_code_of(station, case_no)
    assert code
    live_county.decide(case_no, "AWAITING_CORRECTION", missing=["城乡居民基本养老保险参保登记表"])
    # The public page: status, level, due date, what is missing; no name, no ID number.
    shown = httpx.get(f"{live_county.url}/q", params={"case": case_no, "code": format_code(code).lower()})
    assert shown.status_code == 200
    assert 'data-status="AWAITING_CORRECTION"' in shown.text and 'data-holder="applicant"' in shown.text
    assert (
        "城乡居民基本养老保险参保登记表" in shown.text
        and "王小明" not in shown.text
        and "349921" + "1960" not in shown.text
    )
    # A wrong code answers exactly like an unknown case: status and body, byte for byte.
    other = case_no[:-1] + ("9" if case_no[-1] != "9" else "8")
    wrong = httpx.get(f"{live_county.url}/q", params={"case": case_no, "code": "ZZZZ-ZZZZ"})
    unknown = httpx.get(f"{live_county.url}/q", params={"case": other, "code": "ZZZZ-ZZZZ"})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.content.replace(case_no.encode(), b"#") == unknown.content.replace(other.encode(), b"#")
    api_wrong = httpx.get(f"{live_county.url}/api/v1/q", params={"case": case_no, "code": "ZZZZZZZZ"})
    api_unknown = httpx.get(f"{live_county.url}/api/v1/q", params={"case": other, "code": "ZZZZZZZZ"})
    assert api_wrong.status_code == api_unknown.status_code == 404 and api_wrong.content == api_unknown.content
    # At a station of another village: asked of the hub (online).
    with b.open() as station:
        answer, source = progress.ask(station, case_no, code)
        assert source == "hub" and answer.status == "AWAITING_CORRECTION" and answer.holder == "applicant"
        with pytest.raises(progress.NoAnswer):
            progress.ask(station, case_no, "ZZZZZZZZ")
        # Offline: said so, nothing guessed.
        with pytest.raises(SyncError) as offline:
            progress.ask(station, case_no, code, transport=httpx.MockTransport(_refuse))
        assert offline.value.code == "unreachable"
    # Every lookup is logged, with whether it matched, never the code.
    with live_county.store() as store:
        log = store.query_log(case_no=case_no)
    assert [entry["matched"] for entry in log][-1] == 1 and any(entry["matched"] == 0 for entry in log)
    assert code not in json.dumps(log)


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("offline", request=request)


def test_the_station_ledger_opens_in_openpyxl_with_the_right_rows(live_county: County, tmp_path: Path):
    openpyxl = pytest.importorskip("openpyxl")
    a = live_county.enrol(V1)
    delivered = _delivered(live_county, a, "王小明", 4)
    open_case = a.new_case("李四", 5)
    with a.open() as station:
        rate(station, delivered, level=4)
        month = station.today().strftime("%Y-%m")
        path = tmp_path / "ledger.xlsx"
        assert write_ledger(station, month, path) == 2
    rows = [list(r) for r in openpyxl.load_workbook(path).active.iter_rows(values_only=True)]
    body = [r for r in rows[3:] if r and isinstance(r[0], int)]
    assert [r[1] for r in body] == [delivered, open_case]
    assert body[0][2] == "王**" and body[0][9] and str(body[0][10]).startswith("4 ")
    assert body[1][9] in ("", None) and body[1][10] in ("", None)


def test_a_replacement_pc_reprints_the_old_pcs_query_codes_from_its_key(live_county: County):
    old = live_county.enrol(V1)
    case_no = old.new_case("王小明", 3)
    old.sync()
    with old.open() as station:
        code = query_code_of(station, case_no)
        old_key = own_query_key(station)
    live_county.revoke(old.station_id)
    # The old PC's key went to the hub once (enrolment), not with each intake: one row per PC.
    with live_county.store() as store:
        assert store.query_key(old.station_id) == old_key.hex()
    new = live_county.enrol(V1)
    assert new.sync().in_step  # the village's history, the old PC's key with it
    with new.open() as station:
        assert query_code_of(station, case_no) == code
        assert own_query_key(station) != old_key  # its own intakes: its own key
        answer, source = progress.ask(station, case_no, code)
        assert source == "station" and answer.case_no == case_no
    shown = httpx.get(f"{live_county.url}/api/v1/q", params={"case": case_no, "code": code})
    assert shown.status_code == 200 and shown.json()["case_no"] == case_no
