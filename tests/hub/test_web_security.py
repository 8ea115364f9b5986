"""Browser hardening: security headers on every page family, the language cookie, bounded page numbers, HTTPS."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from hub.testing import live_server
from hub.web.app import create_app
from hub.web.pages import MAX_PAGE_NO
from hub.web.security_headers import _client_of, _https_of, parse_trusted_proxies
from sync.errors import InputError
from sync.protocol import MEDIA_TYPE
from tests.hub.builders import PASSWORDS, bearer, log_in
from tests.hub.test_app import do_sync

TEMPLATES = Path(__file__).parents[2] / "hub" / "templates"
HARDENED = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
BROWSER_HEADERS = (*HARDENED, "content-security-policy", "strict-transport-security")
INJECTED = '"><script>alert(1)</script>'


def assert_hardened(response: httpx.Response, *, https: bool = False) -> None:
    where = f"{response.request.method} {response.request.url} -> {response.status_code}"
    for name, value in HARDENED.items():
        assert response.headers.get(name) == value, (name, where)
    csp = response.headers.get("content-security-policy", "")
    for directive in ("default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"):
        assert directive in csp, (directive, where)
    assert "unsafe-inline" not in csp and "script-src" not in csp, where  # no script may run, no inline style
    assert ("strict-transport-security" in response.headers) == https, where


@pytest.fixture
def case_no(client, station, users):
    """An RS-001 case (department RS) received at station A, sent up the exchange."""
    number, changes = station.new_case()
    assert do_sync(client, station, [station.seal(changes)]).status_code == 200
    return number


def test_every_page_family_is_hardened(client, station, case_no, admin_token, rs_token):
    # Login, and the errors a stranger sees.
    assert_hardened(client.get("/login"))
    assert_hardened(client.get("/dashboard", follow_redirects=False))  # 303 to the login form
    assert_hardened(client.get("/api/v1/status"))  # 401 JSON
    assert_hardened(client.get("/no/such/page"))  # 404 of an unknown path: outside the route middleware
    assert_hardened(client.put("/login"))  # 405
    # Administrator: dashboard, station detail, figures, audit, JSON, CSV, a 404 page, a 403 page.
    assert log_in(client, "admin").status_code == 303
    for path in ("/dashboard", f"/dashboard/stations/{station.station_id}", "/dashboard/figures", "/dashboard/audit"):
        response = client.get(path)
        assert response.status_code == 200 and "<html" in response.text, path
        assert_hardened(response)
    missing = client.get("/dashboard/stations/349921001001-Z-9")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert_hardened(missing)
    refused = client.get("/desk")
    assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
    assert_hardened(refused)
    for path in ("/api/v1/status", "/api/v1/status.csv", "/api/v1/audit", "/api/v1/figures", "/schema/openapi.json"):
        response = client.get(path, headers=bearer(admin_token))
        assert response.status_code == 200, path
        assert_hardened(response)
    # Department: the desk, a case, its JSON, and the redirect after a decision form.
    client.cookies.clear()
    assert log_in(client, "rs").status_code == 303
    for path in ("/desk", f"/desk/cases/{case_no}", f"/desk/cases/{case_no}?reveal=1"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_hardened(response)
    assert_hardened(client.get(f"/api/v1/cases/{case_no}?reveal=true", headers=bearer(rs_token)))
    assert_hardened(client.post("/logout", follow_redirects=False))  # 403: no CSRF token


def test_the_station_protocol_pays_for_no_browser_header(client, station):
    # Stations on 2G links: no header the browser pages need, on answers and on errors alike.
    number, changes = station.new_case()
    pushed = do_sync(client, station, [station.seal(changes)])
    assert pushed.status_code == 200
    assert sorted(pushed.headers) == ["content-length"]  # the exchange answers msgpack, always: no Content-Type
    for response in (
        client.get("/healthz"),
        client.post("/api/v1/sync", content=b"\x90"),
        client.post("/api/v1/enroll", content=b"\x90", headers={"content-type": MEDIA_TYPE}),
        client.get("/api/v1/sync/feed"),  # 410: gone since 0.6
    ):
        assert not set(BROWSER_HEADERS) & set(response.headers), (response.request.url, dict(response.headers))


def test_the_language_cookie_cannot_write_into_a_page(client, users):
    """``hub_lang`` went unescaped into the 403 page (``<html lang=""><script>…``)."""
    assert log_in(client, "rs").status_code == 303
    client.cookies.set("hub_lang", INJECTED)
    refused = client.get("/dashboard")  # a department on the administrator's page: 403
    assert refused.status_code == 403
    assert "<script" not in refused.text and 'lang="zh-CN"' in refused.text
    assert "无权访问" in refused.text
    for path in ("/desk", f"/desk?lang={INJECTED}", "/login"):
        page = client.get(path)
        assert page.status_code == 200 and "<script" not in page.text and 'lang="zh-CN"' in page.text, path
    client.cookies.set("hub_lang", "en")
    english = client.get("/dashboard")
    assert english.status_code == 403 and 'lang="en"' in english.text and "this needs the role admin" in english.text


def test_the_templates_need_no_script_and_are_autoescaped(app, client):
    assert app.template_engine is not None and app.template_engine.engine.autoescape is True
    for template in TEMPLATES.glob("*.j2"):
        text = template.read_text(encoding="utf-8")
        assert "<script" not in text.lower() and not re.search(r"\sstyle\s*=", text), template.name
        assert "|safe" not in text.replace(" ", "") and "autoescape false" not in text, template.name
    # The one inline style sheet is allowed by its hash, computed from the page as served.
    page = client.get("/login")
    styles = re.findall(r"<style>(.*?)</style>", page.text, re.DOTALL)
    assert len(styles) == 1
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}';" in page.headers["content-security-policy"]


@pytest.mark.parametrize("value", ["99999999999999999999", str(MAX_PAGE_NO + 1), "0", "-1", "abc", "1e3", "２"])
def test_page_numbers_are_bounded(client, users, value):
    """``/desk?page_no=99999999999999999999`` answered 500 (an offset SQLite cannot hold)."""
    assert log_in(client, "rs").status_code == 303
    desk = client.get("/desk", params={"page_no": value})
    assert desk.status_code == 400 and "page_no" in desk.text and "text/html" in desk.headers["content-type"]
    assert_hardened(desk)
    client.cookies.clear()
    assert log_in(client, "admin").status_code == 303
    audit = client.get("/dashboard/audit", params={"page_no": value, "lang": "en"})
    assert audit.status_code == 400 and f"page_no must be a whole number from 1 to {MAX_PAGE_NO}" in audit.text


def test_good_page_numbers_still_work(client, users):
    assert log_in(client, "rs").status_code == 303
    assert client.get("/desk?page_no=2").status_code == 200
    assert client.get(f"/desk?page_no={MAX_PAGE_NO}").status_code == 200
    assert "第 3 页" in client.get("/desk?page_no=3").text


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v1/audit", {"offset": "99999999999999999999"}),
        ("/api/v1/audit", {"offset": str(2**63)}),
        ("/api/v1/audit", {"limit": "99999999999999999999"}),
        ("/api/v1/cases", {"offset": "99999999999999999999"}),
        ("/api/v1/status", {"danger_days": "inf"}),
        ("/api/v1/status", {"danger_days": "1e308", "warn_days": "1e308"}),
        ("/api/v1/status", {"warn_days": "nan"}),
        ("/api/v1/audit", {"offset": "x"}),
    ],
)
def test_the_apis_integer_parameters_are_bounded(client, admin_token, path, param):
    response = client.get(path, params=param, headers=bearer(admin_token))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] in ("bad_input", "malformed") and body["detail"] and body["detail_zh"]


def test_over_https_hsts_and_secure_cookies(settings, clock, users):
    app = create_app(settings, now=clock)
    with TestClient(app=app, base_url="https://testserver.local") as secure:
        form = secure.get("/login?lang=en")
        assert_hardened(form, https=True)
        cookies = form.headers.get_list("set-cookie")
        assert {c.split("=")[0] for c in cookies} == {"hub_login", "hub_lang"}
        assert all("; Secure" in c for c in cookies), cookies
        logged = log_in(secure, "admin")
        assert_hardened(logged, https=True)
        session = next(c for c in logged.headers.get_list("set-cookie") if c.startswith("hub_session="))
        assert "Secure" in session and "HttpOnly" in session
        assert_hardened(secure.get("/dashboard"), https=True)
        assert_hardened(secure.get("/nowhere"), https=True)
    with TestClient(app=app) as plain:
        # Over plain HTTP, and an X-Forwarded-Proto from a peer nobody trusts is not believed.
        form = plain.get("/login?lang=en", headers={"x-forwarded-proto": "https"})
        assert_hardened(form, https=False)
        assert not any("Secure" in c for c in form.headers.get_list("set-cookie"))


def test_cookie_secure_marks_every_cookie_even_over_http(settings, clock, users):
    app = create_app(dataclasses.replace(settings, cookie_secure=True), now=clock)
    with TestClient(app=app) as plain:
        form = plain.get("/login?lang=en")
        assert all(c.endswith("; Secure") or "; Secure;" in c for c in form.headers.get_list("set-cookie"))
        assert "strict-transport-security" not in form.headers  # HSTS only ever over HTTPS


def _scope(peer: str, scheme: str = "http", **headers: str) -> dict:
    return {
        "type": "http",
        "scheme": scheme,
        "client": (peer, 40000),
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


def test_forwarded_headers_count_only_from_trusted_proxies():
    none = parse_trusted_proxies([])
    proxies = parse_trusted_proxies(["127.0.0.1", "10.0.0.0/24", "::1"])
    forwarded = {"x_forwarded_for": "6.6.6.6, 203.0.113.7", "x_forwarded_proto": "https"}
    # Trusting nobody (the default), the peer is the client and the scheme is what the socket says.
    assert _client_of(_scope("127.0.0.1", **forwarded), none) == "127.0.0.1"
    assert not _https_of(_scope("127.0.0.1", **forwarded), none)
    assert _https_of(_scope("198.51.100.1", "https"), none)
    # From a trusted proxy: the rightmost address it did not add itself; the client's own claim is not believed.
    assert _client_of(_scope("127.0.0.1", **forwarded), proxies) == "203.0.113.7"
    assert _https_of(_scope("127.0.0.1", **forwarded), proxies)
    assert _client_of(_scope("10.0.0.9", x_forwarded_for="203.0.113.7, 10.0.0.4"), proxies) == "203.0.113.7"
    assert _client_of(_scope("::ffff:127.0.0.1", x_forwarded_for="203.0.113.7"), proxies) == "203.0.113.7"
    assert _client_of(_scope("10.0.0.9", x_forwarded_for="10.0.0.3, 10.0.0.4"), proxies) == "10.0.0.3"
    assert _client_of(_scope("10.0.0.9", x_forwarded_for="not-an-ip"), proxies) == "10.0.0.9"
    assert _client_of(_scope("10.0.0.9", x_forwarded_for="203.0.113.7, junk"), proxies) == "10.0.0.9"
    # From anyone else, forwarded headers are ignored.
    assert _client_of(_scope("198.51.100.1", **forwarded), proxies) == "198.51.100.1"
    assert not _https_of(_scope("198.51.100.1", **forwarded), proxies)
    with pytest.raises(InputError) as caught:
        parse_trusted_proxies(["nginx.local"])
    assert caught.value.field == "trusted_proxy" and "nginx.local" in caught.value.zh


@pytest.mark.timeout(90)
def test_the_pages_work_in_headless_chromium_under_the_policy(settings, clock, users, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.hub.test_browser import _browser

    driver = _browser(tmp_path)
    try:
        with live_server(create_app(settings, now=clock)) as url:
            driver.set_page_load_timeout(30)
            driver.get(url + "/desk")
            assert "/login" in driver.current_url
            # The inline style sheet applies under the CSP (its hash is allowed): the top bar is blue.
            top = driver.execute_script("return getComputedStyle(document.getElementById('top')).backgroundColor")
            assert top == "rgb(31, 78, 121)"
            driver.find_element(By.ID, "username").send_keys("rs")
            driver.find_element(By.ID, "password").send_keys(PASSWORDS["rs"])
            driver.find_element(By.ID, "submit").click()  # form-action 'self' allows the post and its redirect
            WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "cases"))
            assert driver.current_url.endswith("/desk")
            driver.find_element(By.LINK_TEXT, "English").click()
            WebDriverWait(driver, 20).until(lambda d: "Our cases" in d.page_source)
            cell = driver.execute_script("return getComputedStyle(document.querySelector('#cases th')).backgroundColor")
            assert cell == "rgb(232, 238, 244)"
    finally:
        driver.quit()
