"""The profiling tools run end to end on a tiny county and backlog and say what they measured (no timed assertions)."""

from __future__ import annotations

import re

from litestar.concurrency import get_asyncio_executor

from bench import profile_exchange, profile_ingest


def test_profile_exchange_runs_every_round_in_step_and_splits_hub_from_client(tmp_path, capsys):
    assert profile_exchange.main(["--stations", "3", "--prepared", str(tmp_path / "county"), "--top", "40"]) == 0
    out = capsys.readouterr().out
    # The first round is the warm-up: two counted, each one exchange, all in step.
    assert re.search(
        r"^2 rounds, 2 exchanges \(0 rounds not in step\): hub [\d.]+ ms CPU per exchange, client", out, re.MULTILINE
    )
    assert "== hub ==" in out and "== client ==" in out
    assert "ingest.py" in out.split("== client ==")[0]  # the hub's handler ran in the profiled thread


def test_profile_exchange_gives_litestar_its_executor_back(tmp_path, capsys):
    # Litestar's executor is process-wide: left inline, later hubs in this process would run handlers on
    # their event loop, and on PostgreSQL one waiting for a pooled connection would stall the hub.
    before = get_asyncio_executor()
    assert profile_exchange.main(["--stations", "2", "--prepared", str(tmp_path / "county"), "--no-profile"]) == 0
    assert get_asyncio_executor() is before


def test_profile_ingest_ingests_the_whole_backlog(tmp_path, capsys):
    assert profile_ingest.main(["--intakes", "20", "--keep", str(tmp_path / "backlog"), "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^20 cases: [\d.]+ s CPU, [\d.]+ ms CPU per case", out, re.MULTILINE)
