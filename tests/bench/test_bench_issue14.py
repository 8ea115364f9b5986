"""Issue 14's benchmarks at a tiny size: each runs end to end and reports the fields its docs name (no timing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import bench_backlog, bench_county, bench_memory
from station.store import datakey


@pytest.fixture(autouse=True)
def _cheap_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datakey, "KEY_WORK", 2**10)


@pytest.mark.timeout(180)
def test_the_county_at_once_pushes_every_station_and_times_healthz_beside_it(tmp_path: Path) -> None:
    figures = bench_county.run(tmp_path, stations=3, per_station=2)
    assert figures["backend"] == "SQLite" and figures["workers"] == 1
    assert figures["cases_sent"] == figures["cases_received"] == 6
    assert figures["healthz"]["outcomes"] == {"ok": 3}
    assert figures["county"]["outcomes"] == {"in step": 3}
    assert figures["county"]["exchanges"] >= 3 and figures["healthz"]["request"]["n"] == 3
    for part in ("healthz", "county"):
        assert {"wall_s", "load_cpu_s", "hub_cpu_s"} <= set(figures[part])
    assert {"n", "p50", "p99", "max"} == set(figures["county"]["exchange"]) == set(figures["county"]["round"])
    text = bench_county.table(figures)
    assert "baseline: `GET /healthz` x3" in text and "the county's day: 3 stations x 2 intakes" in text
    assert "Cases sent 6, received at the hub 6" in text


@pytest.mark.timeout(180)
def test_the_backlog_goes_through_the_ingest_the_sync_and_raw_inserts(tmp_path: Path) -> None:
    figures = bench_backlog.run(tmp_path, intakes=25, repeat=3)
    assert figures["cases"] == 25 and figures["intakes"] == 25
    runs = figures["runs"]
    assert len(runs["ingest_s"]) == len(runs["raw_s"]) == len(runs["share_of_raw"]) == 3
    assert figures["ingest"]["seconds"] == sorted(runs["ingest_s"])[1]  # the median run's
    assert figures["raw"]["seconds"] == sorted(runs["raw_s"])[1]
    assert figures["ingest"]["sets_accepted"] == figures["sets"] >= 1
    assert figures["sync"]["in_step"] and figures["sync"]["cases"] == 25
    assert {"intakes", "cases", "sets_in", "receipts"} <= set(figures["rows"])
    assert figures["raw"]["rows"] == sum(figures["rows"].values())
    assert 0 < figures["share_of_raw"] and 0 < figures["share_of_raw_cpu"]
    text = bench_backlog.table(figures)
    assert "baseline: raw `executemany`" in text and "hub ingest (`ingest_sets`" in text
    assert "run of median wall time of 3, alternated" in text


@pytest.mark.timeout(180)
def test_memory_is_read_for_each_size_beside_the_empty_hub(tmp_path: Path) -> None:
    figures = bench_memory.run([0, 300], reps=1, seed=1, root=tmp_path)
    assert [r["cases"] for r in figures["rows"]] == [0, 300]
    for row in figures["rows"]:
        assert {"db_mb", "start_mb", "after_mb", "peak_mb", "per_page_mb"} <= set(row)
        assert set(row["per_page_mb"]) == {path for path, _ in bench_memory.PAGES}
        assert row["after_mb"] > 0  # Linux: read from /proc
    text = bench_memory.table(figures)
    assert "| SQLite | baseline: no cases |" in text and "| SQLite | 300 |" in text
