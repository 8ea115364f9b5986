"""The catalogue benchmark's budget: a one-item change reaches an in-step station in one sync under 2 kB, as a patch."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_catalog import AIM_BYTES, run, table
from station.store import datakey


@pytest.mark.timeout(120)
def test_a_one_item_change_is_a_patch_delivered_in_one_sync_under_2_kb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(datakey, "KEY_WORK", 2**10)
    rows = run(tmp_path)
    *changes, whole = rows
    assert [r.in_step for r in rows] == [True] * 4
    assert [r.version for r in rows] == [2, 3, 4, 4]
    for row in changes:
        assert row.form == "patch" and row.round_trips == 1
        assert 0 < row.set_bytes < row.round_bytes <= AIM_BYTES, row
    # The whole catalogue is what the patches spare: several times any of them.
    assert whole.form == "whole" and whole.item_bytes > 30_000
    assert all(whole.set_bytes > 3 * row.set_bytes for row in changes)
    assert table(changes).count("| yes |") == 3
