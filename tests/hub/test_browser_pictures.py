"""The county picture and the figures charts in headless Chromium: drawn (non-zero sizes), and a cell is a link."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hub import test_browser
from tests.hub.test_browser import PASSWORD, LiveCounty, _browser

county = test_browser.county
"""The live county of test_browser (31 stations, 365 villages not enrolled), built again for this module."""


def _log_in(driver, url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/login")
    driver.find_element(By.ID, "username").send_keys("admin")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "submit").click()
    WebDriverWait(driver, 20).until(lambda d: d.current_url.endswith("/dashboard"))


@pytest.mark.timeout(90)
def test_the_county_picture_draws_and_a_cell_opens_its_station(county: LiveCounty, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _browser(tmp_path)
    try:
        driver.set_page_load_timeout(30)
        driver.set_window_size(1400, 1000)
        _log_in(driver, county.url)
        blocks = driver.find_elements(By.CSS_SELECTOR, "#county-grid svg.block")
        assert len(blocks) == 28
        assert all(block.size["width"] > 0 and block.size["height"] > 0 for block in blocks)
        cells = driver.find_elements(By.CSS_SELECTOR, "#county-grid a.cell")
        assert sorted(c.get_attribute("data-station") for c in cells) == sorted(s.station_id for s in county.stations)
        rect = cells[0].find_element(By.TAG_NAME, "rect")
        assert rect.size["width"] >= 14 and rect.size["height"] >= 14  # drawn at its size, not collapsed
        symbol = cells[0].find_element(By.TAG_NAME, "text")
        assert symbol.size["width"] > 0 and symbol.text in "✓!…○×⊘"
        kinds = {c.get_attribute("data-kind") for c in cells}
        assert {"stale", "ok", "never"} <= kinds, kinds
        driver.save_screenshot(str(tmp_path / "dashboard.png"))
        tops = {block.location["y"] for block in blocks[:3]}
        assert len(tops) == 1, tops  # a row of blocks lines up at the top
        target = county.stations[1]
        cell = driver.find_element(By.CSS_SELECTOR, f'#county-grid a.cell[data-station="{target.station_id}"]')
        assert cell.is_displayed()
        cell.click()
        WebDriverWait(driver, 20).until(lambda d: d.current_url.endswith(f"/dashboard/stations/{target.station_id}"))
        assert target.station_id in driver.page_source
    finally:
        driver.quit()


@pytest.mark.timeout(90)
def test_the_figures_charts_draw(county: LiveCounty, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = _browser(tmp_path)
    try:
        driver.set_page_load_timeout(30)
        driver.set_window_size(1400, 1000)
        _log_in(driver, county.url)
        driver.get(county.url + "/dashboard/figures")
        for ident in ("chart-weeks", "chart-overdue", "chart-lag"):
            chart = driver.find_element(By.ID, ident)
            assert chart.size["width"] > 200 and chart.size["height"] > 100, ident
        received = driver.find_elements(By.CSS_SELECTOR, '#chart-weeks g.bar[data-series="收件"]')
        assert sum(int(bar.get_attribute("data-value")) for bar in received) == 28  # a case from each push
        tallest = max(received, key=lambda bar: int(bar.get_attribute("data-value")))
        assert tallest.find_element(By.TAG_NAME, "rect").size["height"] > 50
        lag = {
            bar.get_attribute("data-label"): int(bar.get_attribute("data-value"))
            for bar in driver.find_elements(By.CSS_SELECTOR, "#chart-lag g.bar")
        }
        assert lag["从未联系"] == 3 and sum(lag.values()) == len(county.stations)
        driver.save_screenshot(str(tmp_path / "figures.png"))
    finally:
        driver.quit()
