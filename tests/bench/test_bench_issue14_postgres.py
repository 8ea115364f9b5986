"""Issue 14's benchmarks on PostgreSQL at a tiny size (a throwaway cluster), the process accounting they rely
on, and ``python -m bench``'s PostgreSQL variants: each runs end to end and reports its fields (no timing)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench import __main__ as bench_main
from bench import bench_backlog, bench_county, bench_memory, bench_province
from bench.common import PgServer, cpu_s, process_tree, tree_cpu_s
from station.store import datakey
from tests.support.postgres import Cluster


@pytest.fixture(autouse=True)
def _cheap_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datakey, "KEY_WORK", 2**10)


@pytest.fixture
def server(postgres_cluster: Cluster) -> PgServer:
    return PgServer(postgres_cluster.url(), "the tests' throwaway cluster")


def _bench_databases(server: PgServer) -> list[str]:
    with psycopg.connect(server.admin_url) as conn:
        return [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'bench%'")]


def test_a_process_tree_counts_the_cpu_of_its_children() -> None:
    # What hub serve --workers N needs: the workers are child processes, and their CPU is the hub's.
    burn = "import time\nwhile time.process_time() < 0.3: pass\nprint('done', flush=True)\ntime.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", burn], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "done"
        assert child.pid in process_tree(os.getpid())
        own = cpu_s(os.getpid())
        assert own is not None
        assert tree_cpu_s(os.getpid()) - own >= 0.25  # the child's 0.3 s, in clock ticks
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()


@pytest.mark.timeout(240)
def test_the_county_on_postgresql_with_two_workers_sums_the_workers(tmp_path: Path, postgres_url: str) -> None:
    figures = bench_county.run(tmp_path, stations=3, per_station=2, database=postgres_url, workers=2)
    assert figures["backend"] == "PostgreSQL" and figures["workers"] == 2
    assert figures["hub_processes"]["hub serve"] == 1 and figures["hub_processes"]["worker"] == 2
    assert figures["cases_sent"] == figures["cases_received"] == 6
    assert figures["county"]["outcomes"] == {"in step": 3} and figures["healthz"]["outcomes"] == {"ok": 3}
    assert figures["county"]["hub_cpu_s"] > 0  # the workers ingest; hub serve's supervisor alone would be ~0
    text = bench_county.table(figures)
    assert "| PostgreSQL, 2 workers | baseline: `GET /healthz` x3 |" in text
    assert "hub serve 1, worker 2" in text and "the PostgreSQL server not counted" in text


@pytest.mark.timeout(240)
def test_the_backlog_on_postgresql_copies_the_hub_and_inserts_the_same_rows_raw(
    tmp_path: Path, server: PgServer
) -> None:
    figures = bench_backlog.run(tmp_path, intakes=25, server=server)
    assert figures["backend"] == "PostgreSQL" and figures["machine"]["postgresql"]
    assert figures["cases"] == 25 and figures["ingest"]["sets_accepted"] == figures["sets"] >= 1
    assert figures["sync"]["in_step"] and figures["sync"]["cases"] == 25
    # The baseline wrote the very rows the ingest wrote: the same cases, the same tables.
    assert figures["raw"]["cases"] == 25
    assert {"intakes", "cases", "sets_in", "receipts"} <= set(figures["rows"])
    assert figures["raw"]["rows"] == sum(figures["rows"].values())
    # The server runs here: its backend's CPU is counted beside this process's.
    assert figures["server_cpu_counted"] and figures["ingest"]["server_cpu_s"] is not None
    assert figures["ingest"]["cpu_s"] >= figures["ingest"]["process_cpu_s"]
    text = bench_backlog.table(figures)
    assert "| PostgreSQL | baseline: raw `executemany`" in text and "| PostgreSQL | hub ingest" in text
    assert _bench_databases(server) == []  # the copies are dropped


@pytest.mark.timeout(240)
def test_the_backlog_finds_the_same_rows_on_both_engines(tmp_path: Path, server: PgServer) -> None:
    on_sqlite = bench_backlog.run(tmp_path / "sqlite", intakes=12, seed=7)
    on_postgresql = bench_backlog.run(tmp_path / "pg", intakes=12, seed=7, server=server)
    assert on_sqlite["rows"] == on_postgresql["rows"]


@pytest.mark.timeout(240)
def test_memory_on_postgresql_reads_the_hub_process_beside_the_empty_hub(tmp_path: Path, server: PgServer) -> None:
    figures = bench_memory.run([0, 300], reps=1, seed=1, root=tmp_path, server=server)
    assert figures["backend"] == "PostgreSQL"
    assert [r["cases"] for r in figures["rows"]] == [0, 300]
    for row in figures["rows"]:
        assert row["after_mb"] > 0 and row["db_mb"] > 0
        assert set(row["per_page_mb"]) == {path for path, _ in bench_memory.PAGES}
        assert not (tmp_path / f"hub-{row['cases']}" / "hub.db").exists()  # served from PostgreSQL
    text = bench_memory.table(figures)
    assert "| PostgreSQL | baseline: no cases |" in text and "| PostgreSQL | 300 |" in text
    assert "the hub process's own" in text
    assert _bench_databases(server) == []


@pytest.mark.timeout(240)
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_province_prints_the_docs_table_beside_healthz(engine: str, request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue("server") if engine == "postgresql" else None  # SQLite needs no cluster
    figures = bench_province.run(counties=2, stations=3, cases=2, requests=2, server=server)
    assert [r["path"] for r in figures["rows"]] == [path for _, path in bench_province.REQUESTS]
    assert figures["stations"] == 6 and figures["case_figures"] == 12
    text = bench_province.table(figures)
    backend = "PostgreSQL" if engine == "postgresql" else "SQLite"
    assert text.splitlines()[0] == "| engine | case figures | request | p50 ms | p99 ms |"
    assert f"| {backend} | 12 | `GET /healthz` (baseline) |" in text and f"| {backend} | 12 | `GET /province` |" in text


def test_bench_all_adds_the_postgresql_variants_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[tuple[str, list[str]]] = []

    class Fake:
        def __init__(self, name: str) -> None:
            self.name = name

        def main(self, args: list[str]) -> Any:
            ran.append((self.name.rsplit(".", 1)[1].removeprefix("bench_"), args))

    monkeypatch.setattr(bench_main.importlib, "import_module", Fake)
    monkeypatch.delenv(bench_main.POSTGRES_ENV, raising=False)
    bench_main.main(["all"])
    assert ran == [(name, []) for name in bench_main.BENCHES]
    ran.clear()
    bench_main.main(["all", "--postgres"])
    assert ran[: len(bench_main.BENCHES)] == [(name, []) for name in bench_main.BENCHES]
    assert ran[len(bench_main.BENCHES) :] == [
        ("county", ["--postgres"]),
        ("county", ["--postgres", "--workers", "4"]),
        ("backlog", ["--postgres"]),
        ("memory", ["--postgres"]),
        ("province", ["--postgres"]),
    ]
    ran.clear()
    monkeypatch.setenv(bench_main.POSTGRES_ENV, "1")
    bench_main.main(["postgres"])
    assert ran == list(bench_main.POSTGRES_VARIANTS)
    ran.clear()
    bench_main.main(["backlog", "--intakes", "5"])
    assert ran == [("backlog", ["--intakes", "5"])]


def test_the_throwaway_cluster_s_cpu_is_read_from_its_postmaster_and_backends(postgres_cluster: Cluster) -> None:
    server = PgServer(postgres_cluster.url(), "the tests' throwaway cluster", postgres_cluster.data_dir)
    with psycopg.connect(server.admin_url) as conn:  # a backend's CPU counts while it runs
        before = server.server_cpu_s()
        assert before is not None
        conn.execute("SELECT count(*) FROM generate_series(1, 2000000)").fetchone()
        after = server.server_cpu_s()
    assert after is not None and after - before >= 0.05  # the backend's work, in clock ticks
    assert PgServer(server.admin_url, "a server elsewhere").server_cpu_s() is None  # --database URL: not read


@pytest.mark.timeout(240)
def test_profile_exchange_on_postgresql_counts_the_hub_s_statements(
    postgres_cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import profile_exchange
    from hub.store.pg import PgDatabase

    execute = PgDatabase.execute
    assert profile_exchange.main(["--stations", "3", "--database", postgres_cluster.url(), "--no-profile"]) == 0
    assert PgDatabase.execute is execute  # the count's wrapper put back: later hubs in this process run plain
    out = capsys.readouterr().out
    assert "2 rounds, 2 exchanges (0 rounds not in step)" in out
    found = re.search(r"^PostgreSQL: ([\d.]+) statements per exchange", out, re.MULTILINE)
    assert found and float(found[1]) >= 5  # a push's reads and writes (the figure is for profiling, not fixed)
