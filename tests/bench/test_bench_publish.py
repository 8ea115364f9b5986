"""The publication benchmark's budget: a year's calendar reaches an in-step station in one sync under 2 kB."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_publish import AIM_BYTES, run, table
from station.store import datakey


@pytest.mark.timeout(120)
def test_a_years_calendar_and_its_correction_are_each_delivered_in_one_sync_under_2_kb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datakey, "KEY_WORK", 2**10)
    rows = run(tmp_path)
    assert [r.in_step for r in rows] == [True, True]
    for row in rows:
        assert row.round_trips == 1
        assert row.item_bytes > 300  # the table itself went down, not an empty set
        assert 0 < row.set_bytes < row.round_bytes <= AIM_BYTES, row
    assert "| yes |" in table(rows) and "NO" not in table(rows)
