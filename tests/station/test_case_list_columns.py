"""`station case list` in a terminal narrower than the table: the item wraps, names and statuses stay whole (issue 12, item 8)."""

from __future__ import annotations

import pytest
from rich.console import Console

from station import cases as ops
from station import queries, render
from tests.station.conftest import pension_benefit_deferred, pension_enrolment


@pytest.mark.parametrize("width", [120, 200])
def test_names_and_statuses_are_not_cut_to_an_ellipsis(station, width):
    ops.new_intake(station, pension_enrolment())
    ops.new_intake(station, pension_benefit_deferred())
    rows = queries.list_cases(station, queries.CaseFilter(limit=50))
    console = Console(width=width, record=True, highlight=False, soft_wrap=True)
    console.print(render.cases_table(rows, "zh"))
    text = console.export_text()
    assert "…" not in text  # before: "张 …", "已 …", "城乡居民基本养老保险…"
    for whole in ("张桂英", "王小明", "已收件", "349921********0234", "139****5678", "2026-10-08"):
        assert whole in text
    for case in rows:
        assert case.case_no in text
    folded = "".join(line.split("|")[2].strip() for line in text.splitlines() if line.count("|") > 3)
    assert "城乡居民基本养老保险待遇领取" in folded  # the item's name, wrapped within its cell, whole
    assert max(len(line) for line in text.splitlines()) <= width
