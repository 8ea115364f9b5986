"""The township desk in headless Chromium on a live hub: a clerk logs in, finds a 低保 case of its township,
accepts it, starts the review and forwards it with its opinion; the page then shows the county holding it."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from hub.accounts import add_user, hasher_for
from hub.bootstrap import HubInit
from hub.keys import load_identity
from hub.settings import Settings
from hub.store import HubStore
from hub.testing import live_server
from hub.web.app import create_app
from tests.hub.builders import Clock, enrol
from tests.hub.test_browser import _browser

PASSWORD = "township-desk-pw"


@pytest.mark.timeout(120)
def test_a_township_clerk_forwards_a_case_in_chromium(tmp_path: Path, hub_template: tuple[Path, HubInit]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    hub_dir = tmp_path / "hub"
    shutil.copytree(hub_template[0], hub_dir)
    settings = Settings(data_dir=hub_dir, argon2_time_cost=1, argon2_memory_kib=1024)
    clock = Clock()
    with HubStore.open_existing(hub_dir) as store:
        ours = enrol(store, identity := load_identity(hub_dir), clock, village="349921101001")
        theirs = enrol(store, identity, clock, village="349921102001")
        add_user(
            store, "clerk", "township", PASSWORD, township="349921101000",
            hasher=hasher_for(settings), now=clock(),
        )  # fmt: skip
    with live_server(create_app(settings, now=clock)) as url, httpx.Client(base_url=url, timeout=10) as http:
        case_no, changes = ours.new_case("MZ-001")
        assert ours.sync(http, [ours.seal(changes)]).status_code == 200
        other_no, changes = theirs.new_case("MZ-001")
        assert theirs.sync(http, [theirs.seal(changes)]).status_code == 200
        driver = _browser(tmp_path)
        try:
            driver.set_page_load_timeout(30)
            wait = WebDriverWait(driver, 20)
            driver.get(url + "/login")
            driver.find_element(By.ID, "username").send_keys("clerk")
            driver.find_element(By.ID, "password").send_keys(PASSWORD)
            driver.find_element(By.ID, "submit").click()
            wait.until(lambda d: d.find_elements(By.ID, "cases"))
            assert driver.current_url.endswith("/township")
            table = driver.find_element(By.ID, "cases").text
            assert case_no in table and other_no not in table and "乡镇初审中" in table
            driver.find_element(By.LINK_TEXT, case_no).click()
            wait.until(lambda d: d.find_elements(By.ID, "level"))
            assert driver.find_element(By.ID, "level").get_attribute("data-level") == "township_initial"
            for status in ("ACCEPTED", "IN_PROGRESS"):
                driver.find_element(By.CSS_SELECTOR, f"#decide-{status} button").click()
                wait.until(lambda d, s=status: d.find_elements(By.ID, "done") and s in d.current_url)
            form = driver.find_element(By.ID, "decide-FORWARD")
            form.find_element(By.NAME, "reason").send_keys("经入户调查，家庭情况属实，同意上报")
            form.find_element(By.TAG_NAME, "button").click()
            wait.until(lambda d: d.find_elements(By.ID, "no-actions"))
            assert driver.find_element(By.ID, "level").get_attribute("data-level") == "county"
            assert "已转报县级部门" in driver.find_element(By.ID, "done").text
            assert "同意上报" in driver.page_source
        finally:
            driver.quit()
    with HubStore.open_existing(hub_dir) as store:
        events = store.case_events(case_no)
        assert [(e["actor"], e["by"], e["to_status"]) for e in events[-3:]] == [
            ("township", "clerk", "ACCEPTED"),
            ("township", "clerk", "IN_PROGRESS"),
            ("township", "clerk", "IN_PROGRESS"),
        ]
        assert store.row("cases", other_no)["status"] == "RECEIVED"
