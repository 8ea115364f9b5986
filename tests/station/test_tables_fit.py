"""The station's tables at a terminal of 80 and 120 columns (issue 12's closing walk): nothing cut to "…", the
case number whole on one line, the columns that matter least left out only when there is no room."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from rich.console import Console

from station import cases as ops
from station import queries, render
from tests.station.conftest import pension_benefit_deferred, pension_enrolment


def printed(renderable, width: int) -> str:
    console = Console(width=width, record=True, highlight=False, soft_wrap=True, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("width", [80, 120])
def test_case_list_and_commitments_fit_a_terminal(station, width):
    ops.new_intake(station, pension_enrolment())
    ops.new_intake(station, pension_benefit_deferred())
    rows = queries.list_cases(station, queries.CaseFilter(limit=50))
    text = printed(render.cases_table(rows, "zh"), width)
    assert "…" not in text and max(cell_len(line) for line in text.splitlines()) <= width
    for case in rows:
        assert any(case.case_no in line for line in text.splitlines())  # never folded over two lines
    for whole in ("张桂英", "王小明", "已收件", "办结期限"):
        assert whole in text
    # Every column at 120 (as before); at 80 the phone, the ID number and the days left give way.
    assert ("139****5678" in text) == (width == 120) and ("349921********0234" in text) == (width == 120)
    commitments = printed(render.commitments_table(queries.list_commitments(station), "zh"), width)
    assert "…" not in commitments and "社会保障卡或本人" in commitments
    assert max(cell_len(line) for line in commitments.splitlines()) <= width


@pytest.mark.parametrize("width", [80, 120])
def test_the_catalogue_list_wraps_names_instead_of_cutting_them(station, width):
    catalog = station.catalog
    text = printed(render.catalog_table(catalog, list(catalog.items), "zh"), width)
    assert "…" not in text and max(cell_len(line) for line in text.splitlines()) <= width
    folded = "".join(line.split("|")[2].strip() for line in text.splitlines() if line.count("|") > 3)
    assert "城乡居民基本养老保险注销登记及丧葬补助金申领" in folded
    assert "WJ-001 -> GA-001" in text  # a bundle's members break between codes, not inside "->"
