"""docs/hub.md's systemd unit for `hub serve` runs the hub as it must run: its own user, restarted on failure, its data folder."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

from hub.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "hub.md"


def unit_blocks() -> list[configparser.ConfigParser]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Running as a service (systemd)") :]
    section = section[: section.index("\n## ", 1)]
    units = []
    for block in re.findall(r"```ini\n(.*?)```", section, flags=re.DOTALL):
        parser = configparser.ConfigParser(strict=True, interpolation=None, delimiters=("=",))
        parser.optionxform = str  # systemd's keys are case-sensitive
        parser.read_string(block)
        units.append(parser)
    return units


def test_the_service_unit_runs_hub_serve_as_its_own_user_restarted_on_failure():
    service = next(u for u in unit_blocks() if "Unit" in u and "hub serve" in u["Service"]["ExecStart"])["Service"]
    assert service["Restart"] == "on-failure"
    # A socket and a database connection for every station syncing at once (hub.cli.OPEN_FILES_WANTED).
    assert int(service["LimitNOFILE"]) >= 65536
    assert service["User"] not in ("", "root") and service["Group"] == service["User"]
    environment = dict(item.split("=", 1) for item in shlex.split(service["Environment"]))
    data_dir = environment["HUB_DATA_DIR"]
    assert data_dir.startswith("/var/lib/")
    assert data_dir in service["ReadWritePaths"].split()  # the one place it may write
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/hub") and argv[1] == "serve"
    # Every option the unit passes is one `hub serve` has.
    options = {o for p in main.commands["serve"].params for o in p.opts}
    assert {a for a in argv[2:] if a.startswith("--")} <= options


def test_the_backup_unit_runs_hub_backup_with_the_same_user_and_folder():
    units = unit_blocks()
    service = next(u for u in units if "Unit" in u and "hub serve" in u["Service"]["ExecStart"])["Service"]
    backup = next(u for u in units if "hub backup" in u["Service"]["ExecStart"])["Service"]
    assert backup["User"] == service["User"] and backup["Environment"] == service["Environment"]
    assert backup["Type"] == "oneshot" and "%%F" in backup["ExecStart"]  # % doubled: systemd expands %F itself
