"""The attack benchmark's machinery at a tiny size: every attack runs against a real hub and a real neighbour."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.bench_attacks import ATTACKS, PASSPHRASE, Config, markdown_table, percentile, run, text_table


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([0.2], 99) == 0.2
    assert percentile([], 99) is None


@pytest.mark.timeout(400)
def test_every_attack_runs_at_a_tiny_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATION_PASSPHRASE", PASSPHRASE)
    config = Config(
        junk_changes=2_000,
        bomb_mib=0.5,
        concurrency=2,
        probes=4,
        squat_cases=1,
        lead=0.2,
        settle=0.4,
        min_window=0.8,
        timeout=60.0,
    )
    rows = run(list(ATTACKS), config=config, root=tmp_path, progress=lambda _: None)

    assert [r.attack for r in rows] == list(ATTACKS)
    for row in rows:
        assert row.bench_error is None, f"{row.attack}: {row.bench_error}"
        assert row.hub_alive, row.attack
        assert row.syncs >= 1 and row.p99_s is not None, row.attack  # the neighbour synced during the window
        if sys.platform == "linux":
            assert row.rss_peak_mb is not None and row.rss_peak_mb >= (row.rss_before_mb or 0) > 0, row.attack
        if row.attack != "baseline":
            assert row.answers, f"{row.attack}: the hub answered nothing"
            assert not any(a.startswith("no answer") or "unreadable" in a for a in row.answers), row.answers
    by_name = {r.attack: r for r in rows}
    # Each attack read back what it left at the hub (the facts the table reports beside the figures).
    assert any("squatted" in f for f in by_name["squat"].facts)
    assert any("neighbour's case numbers held by the other village" in f for f in by_name["squat"].facts)
    assert any("`hub station list` exit" in f for f in by_name["xsync-tamper"].facts)
    assert any("status.csv" in f for f in by_name["xsync-tamper"].facts)
    assert any("`hub export --station`" in f for f in by_name["usb-feed-after"].facts)
    assert any("the real code" in f for f in by_name["enrol-probe"].facts)
    assert any("passwords checked" in f for f in by_name["login-flood"].facts)
    bomb = by_name["compact-bomb"].facts[0]
    assert bomb.split(" B set")[0].replace(",", "").isdigit() and int(bomb.split(" B set")[0].replace(",", "")) < 1024

    markdown = markdown_table(rows).splitlines()
    assert len(markdown) == 2 + len(ATTACKS) and all(line.startswith("|") and line.endswith("|") for line in markdown)
    assert "no attack" in text_table(rows)
