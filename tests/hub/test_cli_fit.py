"""``hub station list`` and ``hub case list`` at a terminal of 80 and 120 columns: no cell cut to "…"; columns
that matter least give way, the station id and the case number stay whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.cells import cell_len
from rich.console import Console

from hub import _cli_common
from hub.cli import main
from hub.ingest import ingest_sets
from hub.store import HubStore

ENV = {"LANG": "zh_CN.UTF-8", "LC_ALL": ""}


@pytest.fixture
def filed(hub_dir: Path, station, identity) -> list[str]:
    numbers = []
    with HubStore.open_existing(hub_dir) as store:
        for _ in range(2):
            case_no, changes = station.new_case()
            assert ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id)
            numbers.append(case_no)
    return numbers


def at_terminal(monkeypatch, width: int) -> None:
    """The command's console as on a terminal ``width`` columns wide (CliRunner's output is not a terminal)."""

    def console(**options):
        return Console(**{**options, "width": width, "color_system": None})

    monkeypatch.setattr(_cli_common, "Console", console)


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_station_and_case_lists_fit_without_cutting(hub_dir, station, filed, monkeypatch, width, lang):
    at_terminal(monkeypatch, width)
    runner = CliRunner()
    for args, whole in (
        (("station", "list"), [station.station_id]),
        (("case", "list"), filed),
    ):
        result = runner.invoke(main, ["--data-dir", str(hub_dir), "--lang", lang, *args], env=ENV)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert "…" not in result.stdout, result.stdout
        assert max(cell_len(line) for line in lines) <= width, result.stdout
        for value in whole:
            assert any(value in line for line in lines), (value, result.stdout)  # on one line, unbroken
        header = lines[1]
        if args == ("station", "list"):
            assert ("状态" if lang == "zh" else "state") in header  # the state is never what gives way
        else:
            assert ("办结时限" if lang == "zh" else "due") in header


def test_a_wide_terminal_keeps_every_column(hub_dir, station, filed, monkeypatch):
    at_terminal(monkeypatch, 200)
    result = CliRunner().invoke(main, ["--data-dir", str(hub_dir), "--lang", "zh", "case", "list"], env=ENV)
    for heading in ("办件编号", "身份证号", "电话", "收件日期", "办结时限"):
        assert heading in result.stdout
