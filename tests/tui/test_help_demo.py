"""Under ``./run demo`` the F1 help shows the hub's addresses and the demo accounts, in both languages."""

from __future__ import annotations

from pathlib import Path

from tests.tui.conftest import SIZE, make_app, run, screen_text
from tui.demo_info import DEMO_INFO_ENV, demo_info_from_env, read_demo_info
from tui.screens.help import HelpScreen

# As ./run demo writes it (tests/test_demo.py checks that the script's own file reads the same way).
SAMPLE = """\
# proxyapp 演示环境 / demo, remade by each ./run demo. The accounts and passphrase are for the demo only.
hub: http://127.0.0.1:8765/
dashboard: http://127.0.0.1:8765/dashboard
admin: admin / demo-admin-pass
desk: http://127.0.0.1:8765/desk
desk_user: renshe / demo-desk-pass
passphrase: demo-passphrase
tui: STATION_DATA_DIR=demo-data/station .venv/bin/station tui
"""


def _info_file(tmp_path: Path) -> Path:
    path = tmp_path / "DEMO.txt"
    path.write_text(SAMPLE, encoding="utf-8")
    return path


def test_the_info_file_reads_as_key_value_lines(tmp_path):
    info = read_demo_info(_info_file(tmp_path))
    assert info["dashboard"] == "http://127.0.0.1:8765/dashboard"  # the colon in the URL is kept
    assert info["admin"] == "admin / demo-admin-pass"
    assert info["tui"].startswith("STATION_DATA_DIR=")
    assert not any(key.startswith("#") for key in info)


def test_outside_the_demo_or_with_the_file_gone_there_is_no_demo_section(tmp_path):
    assert demo_info_from_env({}) is None
    assert demo_info_from_env({DEMO_INFO_ENV: str(tmp_path / "missing.txt")}) is None


def test_help_shows_the_demo_addresses_and_accounts(station_dir, clock, tmp_path, monkeypatch):
    monkeypatch.setenv(DEMO_INFO_ENV, str(_info_file(tmp_path)))
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f1")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            text = screen_text(app)
            assert "演示环境" in text
            # Each on one line at 80 columns, so that a URL can be copied off the screen.
            assert "管理看板 http://127.0.0.1:8765/dashboard  admin / demo-admin-pass" in text
            assert "部门办件 http://127.0.0.1:8765/desk  renshe / demo-desk-pass" in text
            assert "本站密钥口令 demo-passphrase" in text
            assert "F5" in text  # the key list is still there below
            await pilot.press("f9")
            await pilot.pause()
            text = screen_text(app)
            assert "Dashboard http://127.0.0.1:8765/dashboard  admin / demo-admin-pass" in text
            assert "Station passphrase demo-passphrase" in text

    run(scenario)


def test_help_of_a_real_station_has_no_demo_section(station_dir, clock, monkeypatch):
    monkeypatch.delenv(DEMO_INFO_ENV, raising=False)
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f1")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            assert "演示环境" not in screen_text(app)
            assert not app.screen.query_one("#help_demo").display

    run(scenario)
