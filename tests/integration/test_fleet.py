"""A county's fleet against one real hub process: every profile, days of work, and the end conditions."""

# The small fleet runs in CI (every profile, 10 simulated days, a 20-day "long" gap); the whole
# county runs with FLEET_FULL=1 (docs/fleet.md). A failure prints its seed: replay it with
# FLEET_SEED=<seed>. Bugs it found are pinned by tests in tests/sync/test_merge.py and
# tests/sync/test_deadlines.py.

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fleet.checks import check_fleet
from fleet.report import build_report, render
from fleet.sim import Fleet, FleetConfig, run_fleet

SEED = int(os.environ.get("FLEET_SEED", "7"))


def _run(config: FleetConfig) -> dict:
    started = time.monotonic()

    def after(fleet: Fleet) -> dict:
        return build_report(fleet, check_fleet(fleet), time.monotonic() - started)

    report = run_fleet(config, after=after)
    print(render(report))
    return report


@pytest.mark.timeout(400)
def test_a_small_county_converges_and_shows_every_anomaly(tmp_path: Path):
    config = FleetConfig(
        villages=25,
        days=10,
        seed=SEED,
        long_gap=20,
        gprs=1,
        long_offline=1,
        skewed=4,
        usb=1,
        second_pcs=1,
        weekly_share=0.15,
        root=tmp_path / "fleet",
    )
    report = _run(config)
    replay = f"replay with FLEET_SEED={SEED}"
    assert report["failures"] == [], (report["failures"], replay)
    profiles = report["stations_by_profile"]
    assert set(profiles) == {
        "daily",
        "weekly",
        "long_offline",
        "gprs",
        "skewed",
        "restored",
        "usb",
        "revoked",
        "replacement",
        "second_pc",
    }, replay
    cases = report["cases"]
    # The restored station's fork is resolved keeping the hub's chain: its branch reaches the hub, every case
    # once; the revoked station's last day is refused: counted, not dropped.
    assert cases["quarantined"] == 0 and cases["refused_after_revocation"] > 0, (cases, replay)
    assert cases["at_hub"] + cases["refused_after_revocation"] == cases["created"], replay
    assert report["forks"] == [] and [f["resolution"] for f in report["forks_resolved"]] == ["hub"], replay
    assert report["revocations"], replay
    assert report["hub_key_gen"] == 2, replay  # rotated mid-run, and every station follows (the end checks)
    assert any("2027 calendar published" in e for e in report["events"]), replay
    # A catalogue change published mid-run: every station holds it (the end checks), cases received before it
    # arrived keep the old version, later ones use the new one; both kinds exist.
    change = report["catalog_change"]
    assert change["to"] == change["from"] + 1 and any("catalogue version" in e for e in report["events"]), replay
    assert change["cases"].get("old", 0) > 0 and change["cases"].get("new", 0) > 0, (change, replay)
    assert len(report["clock_offsets_flagged"]) == 3, replay  # the fourth skew (2 minutes) is within the limit
    assert report["gprs"]["bytes_up"] > 0 and report["gprs"]["bytes_down"] > 0, replay
    assert report["decisions"].get("accept", 0) > 0 and report["decisions"].get("complete", 0) > 0, replay
    assert report["station_moves"].get("delivered", 0) > 0, replay
    # Applicants rate what they were handed; every rating reaches the hub, bad ones are followed up (end checks).
    ratings = report["ratings"]
    assert report["station_moves"].get("rated", 0) > 0 and ratings["ratings_at_hub"] > 0, (ratings, replay)
    assert ratings["query_codes_checked"] > 0, (ratings, replay)


@pytest.mark.slow
@pytest.mark.timeout(5400)
@pytest.mark.skipif(
    not os.environ.get("FLEET_FULL"),
    reason="the whole county (~55 min on a shared 2-core VM, docs/fleet.md): set FLEET_FULL=1",
)
def test_the_whole_county_for_a_month(tmp_path: Path):
    report = _run(FleetConfig(seed=int(os.environ.get("FLEET_SEED", "1")), root=tmp_path / "fleet"))
    assert report["failures"] == [], report["failures"]
    assert report["stations_by_profile"]["daily"] > 200
