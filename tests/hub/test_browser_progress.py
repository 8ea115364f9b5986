"""The public progress-query page /q in headless Chromium on a live hub: a resident types the case number and
the query code from the receipt and reads the status, the level and the due date; a wrong code shows the
same "nothing found" as an unknown case; the language switch never carries the code."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from hub.bootstrap import HubInit
from hub.keys import load_identity
from hub.settings import Settings
from hub.store import HubStore
from hub.testing import live_server
from hub.web.app import create_app
from sync.ratings import query_code
from tests.hub.builders import Clock, enrol
from tests.hub.test_browser import _browser

KEY = bytes(range(16))


@pytest.mark.timeout(120)
def test_a_resident_reads_a_cases_progress_in_chromium(tmp_path: Path, hub_template: tuple[Path, HubInit]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    hub_dir = tmp_path / "hub"
    shutil.copytree(hub_template[0], hub_dir)
    clock = Clock()
    with HubStore.open_existing(hub_dir) as store:
        station = enrol(store, load_identity(hub_dir), clock)
    with (
        live_server(create_app(Settings(data_dir=hub_dir), now=clock)) as url,
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        case_no, changes = station.new_case("RS-001")
        # As a station of this release sends it: its query key once (sync.tables "query_keys"), then intakes.
        key_row = station.insert(
            "query_keys",
            station.station_id,
            {"key_id": station.station_id, "query_key": KEY.hex(), "created_at": "2026-11-26T02:00:00.000Z"},
        )
        assert station.sync(http, [station.seal([key_row, *changes])]).status_code == 200
        with HubStore.open_existing(hub_dir) as store:
            intake_id = store.row("cases", case_no)["intake_id"]
            code = query_code(KEY, intake_id)
            name = store.row("cases", case_no)["applicant_name"]
        driver = _browser(tmp_path)
        try:
            driver.set_page_load_timeout(30)
            wait = WebDriverWait(driver, 20)

            def ask(number: str, typed: str) -> None:
                driver.get(url + "/q")
                driver.find_element(By.ID, "case").send_keys(number)
                driver.find_element(By.ID, "code").send_keys(typed)
                driver.find_element(By.ID, "submit").click()
                wait.until(lambda d: d.find_elements(By.ID, "progress") or d.find_elements(By.ID, "message"))

            ask(case_no, f"{code[:4]}-{code[4:]}".lower())  # as typed from the paper: lower case, with the dash
            assert driver.find_element(By.ID, "status").get_attribute("data-status") == "RECEIVED"
            assert driver.find_element(By.ID, "holder").get_attribute("data-holder") == "county"
            assert driver.find_element(By.ID, "case_no").text == case_no
            assert driver.find_element(By.ID, "due").text[:4] == "2026"
            assert name not in driver.page_source
            # The language link keeps no code: a link is copied, logged and sent on.
            switch = driver.find_element(By.LINK_TEXT, "English").get_attribute("href")
            assert "code" not in switch and code not in switch.upper()
            ask(case_no, "ZZZZ-ZZZZ")
            wrong = driver.find_element(By.ID, "message").text
            assert not driver.find_elements(By.ID, "progress")
            other = case_no[:-1] + ("9" if case_no[-1] != "9" else "8")
            ask(other, "ZZZZ-ZZZZ")
            assert driver.find_element(By.ID, "message").text == wrong and "没有查到" in wrong
            assert driver.find_element(By.ID, "case").get_attribute("value") == other  # the number stays, the code not
            assert driver.find_element(By.ID, "code").get_attribute("value") == ""
        finally:
            driver.quit()
