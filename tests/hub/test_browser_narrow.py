"""The pages on a small laptop (1024×700) and a narrow window (800×900) in headless Chromium: headings break
between words, not inside 分叉; a station's reason stays on one line; the desk's ids and due dates stay in view."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hub.accounts import add_user, hasher_for
from hub.settings import Settings
from hub.store import HubStore
from tests.hub import test_browser
from tests.hub.test_browser import PASSWORD, LiveCounty, _browser

county = test_browser.county
"""The live county of test_browser (31 stations, 365 villages not enrolled), built again for this module."""

DESK_PASSWORD = "rs-desk-pw-2026"
NOW = dt.datetime(2026, 11, 26, 2, tzinfo=dt.UTC)

LINES = """
const el = arguments[0];
const range = document.createRange(); range.selectNodeContents(el);
const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
return tops.size;
"""
"""How many lines an element's text takes as drawn."""


def _log_in(driver, url: str, name: str, password: str, lands_on: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/login")
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "submit").click()
    WebDriverWait(driver, 20).until(lambda d: d.current_url.endswith(lands_on))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("size", [(1024, 700), (800, 900)])
def test_the_dashboard_at_laptop_and_narrow_sizes(county: LiveCounty, tmp_path: Path, size) -> None:
    from selenium.webdriver.common.by import By

    driver = _browser(tmp_path, size)
    try:
        driver.set_page_load_timeout(30)
        _log_in(driver, county.url, "admin", PASSWORD, "/dashboard")
        driver.get(county.url + "/dashboard?state=danger")
        headings = driver.find_elements(By.CSS_SELECTOR, "#stations tr:first-child th")
        # textContent, not .text: a heading scrolled out of the table's box has no visible text for Selenium
        text_of = "return arguments[0].textContent"
        lines = {driver.execute_script(text_of, h).strip(): driver.execute_script(LINES, h) for h in headings}
        assert all(n <= 2 for n in lines.values()), lines  # was one character a line at 800 px
        for short in ("分叉", "拒收", "版本", "状态"):
            assert lines[short] == 1, lines
        reasons = driver.find_elements(By.CSS_SELECTOR, "#stations td.state .reason")
        assert reasons and all(driver.execute_script(LINES, r) == 1 for r in reasons)  # "久未联系 16 天" whole
        ids = driver.find_elements(By.CSS_SELECTOR, "#stations code.sid")
        assert ids and all(driver.execute_script(LINES, i) == 1 for i in ids)
        driver.get(county.url + "/dashboard")
        enrolled = driver.find_element(By.CSS_SELECTOR, "nav.counts .note")
        assert driver.execute_script(LINES, enrolled) == 1  # "已注册村 30/395" not split over two lines
        attention = driver.find_element(By.ID, "attention")
        assert attention.rect["x"] + attention.rect["width"] <= size[0]  # the list that matters fits, no scrolling
    finally:
        driver.quit()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_desk_at_800_pixels_keeps_ids_whole_and_the_due_date_in_view(
    county: LiveCounty, tmp_path: Path, lang: str
) -> None:
    from selenium.webdriver.common.by import By

    settings = Settings(data_dir=county.hub_dir, argon2_time_cost=1, argon2_memory_kib=1024)
    with HubStore.open_existing(county.hub_dir) as store:
        if store.user_named(f"rs-{lang}") is None:
            add_user(
                store, f"rs-{lang}", "department", DESK_PASSWORD, department="RS", hasher=hasher_for(settings), now=NOW
            )
    driver = _browser(tmp_path, (800, 900))
    try:
        driver.set_page_load_timeout(30)
        driver.get(county.url + f"/login?lang={lang}")
        _log_in(driver, county.url, f"rs-{lang}", DESK_PASSWORD, "/desk")
        numbers = driver.find_elements(By.CSS_SELECTOR, "#cases a[href^='/desk/cases/']")
        assert len(numbers) >= 20
        assert all(driver.execute_script(LINES, n) == 1 for n in numbers)  # never "349921001001-" / "20261126-A001"
        width = driver.execute_script("return window.innerWidth")
        due = driver.find_elements(By.CSS_SELECTOR, "#cases tr:first-child th")[-1]
        assert due.rect["x"] + due.rect["width"] <= width  # the due column is on screen, not past its edge
        assert driver.execute_script("return document.documentElement.scrollWidth") <= width
        overdue = driver.find_elements(By.CSS_SELECTOR, "#cases .flag")
        assert overdue and all(f.rect["x"] + f.rect["width"] <= width for f in overdue)
        driver.find_element(By.CSS_SELECTOR, "#cases a[href^='/desk/cases/']").click()
        back = driver.find_element(By.ID, "back")
        assert back.is_displayed()
        back.click()
        assert driver.current_url.endswith("/desk")
    finally:
        driver.quit()
