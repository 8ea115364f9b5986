"""Every page and endpoint over HTTP: roles, sessions, tokens, the login back-off, CSRF, personal data, forms."""

from __future__ import annotations

import re
import time

import msgspec
import pytest
from litestar.testing import TestClient

from hub.accounts import create_token
from hub.desk import REVEALED_FIELDS
from hub.store import Contact, HubStore
from hub.web.app import create_app
from sync.protocol import StatusChange
from sync.timeutil import iso_utc
from tests.hub.builders import ID_NUMBER, PHONE, VILLAGE, bearer, csrf_of, log_in
from tests.hub.test_app import do_sync
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # the store's behaviour on SQLite and on PostgreSQL (docs/postgresql.md)

NAME = "王小明"
PERSONAL = (NAME, ID_NUMBER, PHONE, "349921********0234", "138****8000")
"""What an administrator must never see: the applicant's name, ID and phone numbers, even masked."""


@pytest.fixture
def case_no(client, station, users):
    """An RS-001 (pensions, department RS) case received at station A, sent up the exchange."""
    number, changes = station.new_case()
    assert do_sync(client, station, [station.seal(changes)]).status_code == 200
    return number


def endpoints(station_id: str, case_no: str) -> list[tuple[str, str, int, int, int]]:
    """(method, path, anonymous, admin, department RS) expected statuses with bearer tokens."""
    return [
        ("GET", "/api/v1/me", 401, 200, 200),
        ("GET", "/api/v1/departments", 401, 200, 200),
        ("GET", "/api/v1/status", 401, 200, 403),
        ("GET", "/api/v1/status.csv", 401, 200, 403),
        ("GET", f"/api/v1/status/stations/{station_id}", 401, 200, 403),
        ("GET", "/api/v1/figures", 401, 200, 403),
        ("GET", "/api/v1/audit", 401, 200, 403),
        ("GET", "/api/v1/stations", 401, 200, 403),
        ("GET", "/api/v1/cases", 401, 200, 200),
        ("GET", f"/api/v1/cases/{case_no}", 401, 403, 200),
        ("POST", f"/api/v1/cases/{case_no}/decision", 401, 403, 409),  # RECEIVED -> RECEIVED: past the guard
        ("GET", "/dashboard", 401, 200, 403),
        ("GET", f"/dashboard/stations/{station_id}", 401, 200, 403),
        ("GET", "/dashboard/figures", 401, 200, 403),
        ("GET", "/dashboard/audit", 401, 200, 403),
        ("GET", "/desk", 401, 403, 200),
        ("GET", f"/desk/cases/{case_no}", 401, 403, 200),
        ("POST", f"/desk/cases/{case_no}/decision", 401, 403, 409),
    ]


def call(client, method, path, headers=None):
    if method == "POST" and path.startswith("/desk"):
        return client.post(path, data={"status": "RECEIVED"}, headers=headers, follow_redirects=False)
    if method == "POST":
        return client.post(path, json={"status": "RECEIVED"}, headers=headers)
    return client.get(path, headers=headers, follow_redirects=False)


def test_every_endpoint_checks_the_role(client, station, case_no, admin_token, rs_token):
    for method, path, anonymous, admin, department in endpoints(station.station_id, case_no):
        # A page sends a browser without credentials to the login form; a bad token gets the API's 401.
        nobody = 303 if not path.startswith("/api/") else anonymous
        for token, expected in (
            (None, nobody),
            ("wrong.token", anonymous),
            (admin_token, admin),
            (rs_token, department),
        ):
            response = call(client, method, path, bearer(token) if token else None)
            assert response.status_code == expected, (method, path, token, response.text[:200])


def test_pages_redirect_to_the_login_and_refuse_the_wrong_role(client, station, case_no):
    response = client.get("/dashboard?township=349921001000", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/dashboard%3Ftownship%3D349921001000"
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert log_in(client, "rs").headers["location"] == "/desk"
    assert client.get("/", follow_redirects=False).headers["location"] == "/desk"
    refused = client.get("/dashboard")
    assert refused.status_code == 403 and "管理员" in refused.text and "text/html" in refused.headers["content-type"]
    assert client.get("/api/v1/status").json()["error"] == "forbidden"


def test_login_logout_and_the_session_cookie(client, users):
    assert client.get("/login").status_code == 200
    response = log_in(client, "admin", next_="/dashboard/figures")
    assert (response.status_code, response.headers["location"]) == (303, "/dashboard/figures")
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("hub_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie and "Secure" not in cookie
    assert client.get("/api/v1/me").json() == {"name": "admin", "role": "admin", "department": None, "via": "session"}
    page = client.get("/dashboard")
    assert client.post("/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False).status_code == 303
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/me").status_code == 401


def test_a_login_only_goes_back_to_this_hub(client, users):
    assert log_in(client, "admin", next_="//evil.example/x").headers["location"] == "/dashboard"
    assert log_in(client, "admin", next_="https://evil.example/").headers["location"] == "/dashboard"


def test_the_secure_flag_follows_the_settings(settings, clock, users):
    import dataclasses

    # Behind a TLS proxy: a client sends Secure cookies back only over https.
    app = create_app(dataclasses.replace(settings, cookie_secure=True), now=clock)
    with TestClient(app=app, base_url="https://testserver.local") as secure:
        form = secure.get("/login")
        response = secure.post(
            "/login",
            data={"username": "admin", "password": users["admin"], "csrf": csrf_of(form.text)},
            follow_redirects=False,
        )
        assert "Secure" in next(c for c in response.headers.get_list("set-cookie") if c.startswith("hub_session="))


def test_a_wrong_password_and_a_forged_login_form(client, users):
    wrong = log_in(client, "admin", "not-the-password")
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    forged = client.post("/login", data={"username": "admin", "password": users["admin"], "csrf": "x"})
    assert forged.status_code == 403
    assert client.get("/api/v1/me").status_code == 401


def test_failed_logins_are_slowed_without_blocking_anyone(client, users, clock):
    for _ in range(3):
        assert log_in(client, "admin", "wrong-password").status_code == 401
    started = time.perf_counter()
    held = log_in(client, "admin")  # the right password, but backed off
    assert held.status_code == 429 and held.headers["retry-after"] == "1" and "1 秒后再试" in held.text
    assert time.perf_counter() - started < 1.0  # refused at once: no request thread sleeps
    assert log_in(client, "rs").status_code == 303  # others log in meanwhile
    clock.advance(seconds=1)
    assert log_in(client, "admin").status_code == 303


def test_an_expired_session_and_an_expired_token(client, users, store, clock):
    log_in(client, "admin")
    token = create_token(store, "admin", expires_days=0.25, now=clock()).token
    assert client.get("/dashboard").status_code == 200
    clock.advance(hours=8, minutes=1)
    assert client.get("/dashboard", follow_redirects=False).headers["location"].startswith("/login")
    assert client.get("/api/v1/status", headers=bearer(token)).status_code == 401


def test_csrf_is_required_on_form_posts_with_a_session(client, case_no):
    log_in(client, "rs")
    page = client.get(f"/desk/cases/{case_no}")
    token = csrf_of(page.text)
    path = f"/desk/cases/{case_no}/decision"
    for data in ({"status": "ACCEPTED"}, {"status": "ACCEPTED", "csrf": "forged"}):
        refused = client.post(path, data=data, follow_redirects=False)
        assert refused.status_code == 403 and "CSRF" in refused.text
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    api = f"/api/v1/cases/{case_no}/decision"
    assert client.post(api, json={"status": "accept"}).json()["error"] == "csrf"
    with HubStore.open_existing(client.app.state["settings"].data_dir) as store:
        assert store.row("cases", case_no)["status"] == "RECEIVED"
    done = client.post(api, json={"status": "accept"}, headers={"x-csrf-token": token})
    assert done.status_code == 200 and done.json()["status"] == "ACCEPTED"


def test_an_administrator_sees_no_personal_data_anywhere(client, station, case_no, admin_token, rs_token):
    # A department looks at the full numbers first, so the audit log has an entry to show.
    assert ID_NUMBER in client.get(f"/api/v1/cases/{case_no}?reveal=true", headers=bearer(rs_token)).text
    log_in(client, "admin")
    pages = [
        "/dashboard",
        f"/dashboard/stations/{station.station_id}",
        "/dashboard/figures",
        "/dashboard/audit",
        "/api/v1/status",
        "/api/v1/status.csv",
        f"/api/v1/status/stations/{station.station_id}",
        "/api/v1/figures",
        "/api/v1/audit",
        "/api/v1/stations",
        "/api/v1/cases",
        "/metrics",
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        leaked = [p for p in PERSONAL if p in response.text]
        assert not leaked, (path, leaked)
    assert case_no in client.get("/dashboard/audit").text


def test_a_department_sees_only_its_own_cases(client, case_no, yb_token):
    log_in(client, "yb")
    assert case_no not in client.get("/desk").text
    assert client.get(f"/desk/cases/{case_no}").status_code == 404
    assert client.get(f"/api/v1/cases/{case_no}", headers=bearer(yb_token)).status_code == 404
    forged = client.post(
        f"/desk/cases/{case_no}/decision",
        follow_redirects=False,
        data={"status": "ACCEPTED", "csrf": csrf_of(client.get("/desk").text)},
    )
    assert forged.status_code == 404


def test_the_desk_lists_masked_and_reveals_with_an_audit_entry(client, case_no, store, clock):
    log_in(client, "rs")
    listing = client.get("/desk")
    assert case_no in listing.text and NAME in listing.text and "349921********0234" in listing.text
    assert ID_NUMBER not in listing.text
    page = client.get(f"/desk/cases/{case_no}")
    assert ID_NUMBER not in page.text and PHONE not in page.text and store.audit_entries() == []
    revealed = client.get(f"/desk/cases/{case_no}?reveal=1")
    assert ID_NUMBER in revealed.text and PHONE in revealed.text
    (entry,) = store.audit_entries()
    assert (entry["user_name"], entry["department"], entry["case_no"], entry["fields"], entry["action"]) == (
        "rs",
        "RS",
        case_no,
        REVEALED_FIELDS,
        "reveal",
    )
    assert ID_NUMBER not in repr(entry) and PHONE not in repr(entry)
    assert entry["at"] == "2026-11-26T02:00:00.000Z"


def test_desk_filters(client, case_no):
    log_in(client, "rs")
    assert case_no in client.get("/desk?status=RECEIVED&township=349921001000").text
    assert case_no not in client.get("/desk?status=ACCEPTED").text
    assert case_no not in client.get("/desk?township=349921002000").text
    assert case_no in client.get(f"/desk?q={case_no[:15]}").text
    assert case_no not in client.get("/desk?overdue=1").text  # due 1 Dec, today 26 Nov


def decide_by_form(client, case_no, **fields):
    token = csrf_of(client.get(f"/desk/cases/{case_no}").text)
    return client.post(f"/desk/cases/{case_no}/decision", data={"csrf": token, **fields}, follow_redirects=False)


def test_decisions_through_the_forms_go_down_the_feed(client, case_no, store, station):
    log_in(client, "rs")
    page = client.get(f"/desk/cases/{case_no}")
    for material in ("居民身份证", "居民户口簿", "城乡居民基本养老保险参保登记表"):  # RS-001's materials
        assert f'name="missing" value="{material}"' in page.text
    steps = [
        ({"status": "ACCEPTED"}, "ACCEPTED"),
        ({"status": "SPECIAL_PROCEDURE", "reason": "公示"}, "SPECIAL_PROCEDURE"),
        ({"status": "IN_PROGRESS"}, "IN_PROGRESS"),
        (
            {
                "status": "AWAITING_CORRECTION",
                "missing": ["居民户口簿", "城乡居民基本养老保险参保登记表"],
                "missing_other": "照片",
            },
            "AWAITING_CORRECTION",
        ),
        ({"status": "IN_PROGRESS"}, "IN_PROGRESS"),
        ({"status": "COMPLETED", "outcome": "approved"}, "COMPLETED"),
    ]
    for fields, expected in steps:
        response = decide_by_form(client, case_no, **fields)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == f"/desk/cases/{case_no}?done={expected}"
        assert store.row("cases", case_no)["status"] == expected
    events = store.case_events(case_no)
    correction = next(e for e in events if e["to_status"] == "AWAITING_CORRECTION")
    assert all(m in correction["reason"] for m in ("居民户口簿", "城乡居民基本养老保险参保登记表", "照片"))
    assert {e["by"] for e in events if e["origin"] == "hub"} == {"rs"}
    queued = [
        msgspec.msgpack.decode(b, type=StatusChange)
        for _, kind, b in store.pending_items(station.station_id)
        if kind == "status"
    ]
    assert [m.to_status for m in queued if m.origin == "hub"] == [expected for _, expected in steps]
    assert store.row("cases", case_no)["outcome"] == "approved"
    assert "已记录" in client.get(f"/desk/cases/{case_no}?done=COMPLETED").text


def test_a_refusal_needs_its_reason_and_an_illegal_move_is_shown(client, case_no, store):
    log_in(client, "rs")
    missing = decide_by_form(client, case_no, status="NOT_ACCEPTED")
    assert missing.status_code == 400 and "理由" in missing.text
    illegal = decide_by_form(client, case_no, status="COMPLETED", outcome="approved")
    assert illegal.status_code == 409 and "不能" in illegal.text
    assert decide_by_form(client, case_no, status="NOT_ACCEPTED", reason="不属于本部门").status_code == 303
    assert store.row("cases", case_no)["status"] == "NOT_ACCEPTED"
    assert "此状态下部门无可办理的环节" in client.get(f"/desk/cases/{case_no}").text


def test_the_dashboard_page(client, station, case_no):
    log_in(client, "admin")
    page = client.get("/dashboard")
    assert '<meta http-equiv="refresh" content="60">' in page.text
    assert page.text.count('class="station-row') == 395
    assert f'data-station="{station.station_id}" data-state="ok"' in page.text
    assert "2026-11-26 10:00" in page.text  # 02:00 UTC shown in China time
    filtered = client.get("/dashboard?township=349921002000&state=not_enrolled")
    assert filtered.text.count('class="station-row') == 7 and station.station_id not in filtered.text
    assert client.get("/dashboard?state=problems").text.count('class="station-row') == 0
    assert client.get("/dashboard?sort=last_contact&order=desc&state=bogus").status_code == 200
    csv = client.get("/api/v1/status.csv?township=349921001000")
    assert csv.headers["content-type"].startswith("text/csv") and len(csv.text.splitlines()) == 7
    detail = client.get(f"/dashboard/stations/{station.station_id}")
    assert detail.status_code == 200 and re.search(r"<td>(上传|下载)</td>", detail.text)  # the contact, in Chinese
    assert "<td>push</td>" not in detail.text and "<td>pull</td>" not in detail.text
    assert client.get("/dashboard/stations/nope").status_code == 404
    figures = client.get("/dashboard/figures")
    assert "县人力资源和社会保障局" in figures.text and "永兴街道" in figures.text


def _row(html: str, station_id: str, table: str = "station-row") -> str:
    """The ``<tr>`` of one station in the table whose rows have class ``table``."""
    (found,) = re.findall(rf'<tr class="{table} [^"]*"[^>]*data-station="{station_id}".*?</tr>', html, re.DOTALL)
    return found


def test_the_dashboard_puts_problems_first_with_one_status_each(
    client, store, station, station_b, other_station, admin_token, clock
):
    """Issue 12, items 3 and 4: stations needing attention on top, counts as filter links, one status per station."""
    with store.transaction():  # seen a minute ago, but two hours fast; station_b was never seen
        store.record_contact(
            station.station_id, Contact(at=iso_utc(clock()), kind="pull", ok=True, clock_offset_ms=7_200_000)
        )
        store.record_contact(
            other_station.station_id, Contact(at=iso_utc(clock()), kind="pull", ok=True, clock_offset_ms=-300)
        )
    clock.advance(minutes=1)
    log_in(client, "admin")
    html = client.get("/dashboard").text
    # Problems first: the attention list, then the township summary folded away, then the whole table.
    assert html.index('id="summary"') < html.index('id="attention"') < html.index('id="townships-box"')
    assert html.index('id="townships-box"') < html.index('id="stations"')
    assert '<details id="townships-box">' in html  # closed: 28 lines no longer fill the first screen
    attention = html[html.index('id="attention"') : html.index("</table>", html.index('id="attention"'))]
    shown = re.findall(r'<tr class="attention-row ([a-z_]+)" data-station="([^"]+)"', attention)
    assert shown == [("warning", station.station_id), ("never", station_b.station_id)]  # worst first
    # One status: the skewed station is a warning (never a green "正常" beside a clock flag), the offset in words.
    skewed = _row(html, station.station_id)
    assert 'data-state="warning"' in skewed and "正常" not in skewed
    assert '<span class="badge warning">警告</span>' in skewed and "时钟偏差 快 2 小时" in skewed
    assert "+7200s" not in html and "-0s" not in html and "相差不到 1 秒" in _row(html, other_station.station_id)
    assert "正常" in _row(html, other_station.station_id)
    assert _row(html, station_b.station_id).count("从未联系") == 1  # not "从未联系 从未联系"
    assert _row(html, station_b.station_id, "attention-row").count("从未联系") == 1
    assert f'<code class="sid">{station.station_id}</code>' in skewed  # white-space: nowrap
    # The count boxes are links that filter; the chosen one is marked.
    assert re.search(
        r'<a href="/dashboard\?state=problems" class="count problems" data-state="problems" data-count="2"', html
    )
    assert re.search(
        r'<a href="/dashboard\?state=warning" class="count warning" data-state="warning" data-count="1"', html
    )
    assert re.search(r'class="count all active" data-state="" data-count="396" aria-current="true"', html)
    chosen = client.get("/dashboard?state=problems").text
    assert re.search(r'class="count problems active" data-state="problems" data-count="2" aria-current="true"', chosen)
    assert chosen.count('aria-current="true"') == 1 and 'id="attention"' not in chosen
    assert '<span class="chosen">需关注</span>' in chosen  # the table's title says what it shows
    rows = re.findall(r'<tr class="station-row [^"]*"[^>]*data-station="([^"]*)"', chosen)
    assert rows == [station.station_id, station_b.station_id]
    # A township's page counts that township, so each box links to as many rows as it says.
    township = client.get("/dashboard?township=349921002000").text
    assert re.search(r'class="count all active" data-state="" data-count="7"', township)
    assert 'href="/dashboard?township=349921002000&amp;state=not_enrolled"' in township
    # The station's page and the JSON API give the same one status.
    detail = client.get(f"/dashboard/stations/{station.station_id}").text
    assert '<span class="badge warning">警告</span>' in detail and "快 2 小时" in detail and "+7200s" not in detail
    never = client.get(f"/dashboard/stations/{station_b.station_id}").text
    assert never.count("从未联系") == 2  # the heading's badge and the status line, no flag repeating it
    report = client.get("/api/v1/status?state=problems", headers=bearer(admin_token)).json()
    assert [(r["station_id"], r["state"], r["contact_state"], r["attention"]) for r in report["stations"]] == [
        (station.station_id, "warning", "ok", ["clock"]),
        (station_b.station_id, "never", "never", ["never"]),
    ]
    assert report["summary"]["warning"] == 1 and report["summary"]["ok"] == 1
    # English pages: the same, in English units.
    english = client.get("/dashboard?lang=en").text
    assert "clock 2 h fast" in _row(english, station.station_id) and "Need attention" in english


def test_english_on_request_and_remembered(client, users):
    log_in(client, "admin")
    english = client.get("/dashboard?lang=en")
    assert "Station sync status" in english.text and "hub_lang=en" in english.headers["set-cookie"]
    assert "Station sync status" in client.get("/dashboard").text
    assert "代办点同步状态" in client.get("/dashboard?lang=zh").text


def test_status_api_filters_and_thresholds(client, station, case_no, admin_token):
    report = client.get("/api/v1/status", headers=bearer(admin_token)).json()
    assert report["summary"]["ok"] == 1 and len(report["stations"]) == 395 and len(report["townships"]) == 28
    assert report["thresholds"] == {
        "warn_days": 3.0,
        "danger_days": 7.0,
        "clock_skew_ms": 300000,
        "catalog_days": 7.0,
        "key_max_age_days": 365.0,
    }
    client.app.state["now"].advance(days=2)
    warned = client.get("/api/v1/status?warn_days=1&danger_days=5&state=warning", headers=bearer(admin_token)).json()
    assert [r["station_id"] for r in warned["stations"]] == [station.station_id]
    for query in ("state=bogus", "sort=bogus", "order=up", "warn_days=5&danger_days=1"):
        assert client.get(f"/api/v1/status?{query}", headers=bearer(admin_token)).status_code == 400, query
    detail = client.get(f"/api/v1/status/stations/{station.station_id}", headers=bearer(admin_token)).json()
    assert [c["kind"] for c in detail["contacts"][:2]] == ["pull", "push"]  # one exchange: its sets up, its feed down
    assert client.get("/api/v1/status/stations/nope", headers=bearer(admin_token)).status_code == 404


def test_metrics(client, station, case_no, settings, clock):
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    for line in (
        'hub_contacts_total{kind="push",ok="1"} 1.0',
        'hub_sets_ingested_total{via="http"} 1.0',
        'hub_changes_ingested_total{via="http"} 4.0',
        'hub_stations{state="ok"} 1.0',
        'hub_stations{state="not_enrolled"} 394.0',
        'hub_cases{status="RECEIVED"} 1.0',
        "hub_forks_open 0.0",
    ):
        assert line in text, line
    assert 'hub_http_request_duration_seconds_count{method="POST",route="/api/v1/sync",status="200"} 1.0' in text
    assert station.station_id not in text and not [p for p in PERSONAL if p in text]
    # A second app in the same process keeps its own registry (no "Duplicated timeseries").
    import dataclasses

    with TestClient(app=create_app(dataclasses.replace(settings, metrics_token="scrape"), now=clock)) as other:
        assert other.get("/metrics").status_code == 401
        scraped = other.get("/metrics", headers=bearer("scrape"))
        assert scraped.status_code == 200 and "/api/v1/sync" not in scraped.text


def test_the_openapi_schema(client):
    schema = client.get("/schema/openapi.json").json()
    assert client.get("/schema").json() == schema
    paths = schema["paths"]
    for path in ("/api/v1/status", "/api/v1/figures", "/api/v1/cases", "/api/v1/cases/{case_no}/decision", "/metrics"):
        assert path in paths, path
    assert not [p for p in paths if p.startswith(("/dashboard", "/desk", "/login"))]
    assert "StatusReport" in schema["components"]["schemas"]
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_departments_and_me(client, rs_token):
    assert client.get("/api/v1/me", headers=bearer(rs_token)).json()["department"] == "RS"
    keys = [d["key"] for d in client.get("/api/v1/departments", headers=bearer(rs_token)).json()]
    assert keys == ["RS", "YB", "MZ", "CL", "WJ", "GA", "NY", "TY", "ZJ"]


def test_the_village_filter_of_a_departments_case_list(client, case_no, rs_token):
    assert [c["case_no"] for c in client.get(f"/api/v1/cases?village={VILLAGE}", headers=bearer(rs_token)).json()] == [
        case_no
    ]
    assert client.get("/api/v1/cases?village=349921001002", headers=bearer(rs_token)).json() == []
