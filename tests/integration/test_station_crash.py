"""The station killed (kill -9) while it writes and while it syncs, the hub too, many times: nothing half, nothing twice."""

# A real station process (fleet.station_worker) records cases one by one and prints each case
# number only after its transaction committed; the test kills it at seeded random moments, and in
# some rounds kills the hub (a real `hub serve`) in the middle of an ingest. After every kill both
# databases are checked; at the end the next sync completes and the replicas agree.
# Replay a failure with CRASH_SEED=<the seed in the message>.

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fleet.compare import diff, integrity, readonly, sets_contiguous, snapshot
from fleet.workload import material_count
from hub.bootstrap import init_hub
from hub.enroll import issue_code
from hub.store import HubStore
from station.enrolment import enroll
from station.identity import load_keypair
from station.link import sync_once
from station.store import Station
from tests.integration.processes import HubProcess

pytestmark = pytest.mark.timeout(420)

SEED = int(os.environ.get("CRASH_SEED", "20261125"))
ROUNDS = int(os.environ.get("CRASH_ROUNDS", "15"))
PASSPHRASE = "village-passphrase-1"
VILLAGE = "349921001001"
ROOT = Path(__file__).resolve().parents[2]


class Worker:
    """fleet.station_worker in a child process, its stdout read line by line as it comes."""

    def __init__(self, data_dir: Path, hub_url: str, *, steps: int, seed: int, sync_every: int, serial: int) -> None:
        env = {**os.environ, "STATION_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fleet.station_worker",
                "--data-dir",
                str(data_dir),
                "--hub",
                hub_url,
                "--cases",
                str(steps),
                "--seed",
                str(seed),
                "--sync-every",
                str(sync_every),
                "--serial",
                str(serial),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, prefix: str, count: int = 1, timeout: float = 60.0) -> bool:
        """Consume lines until the count-th line starting with ``prefix``; False if the worker ended first."""
        seen = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                self._queue.put(None)
                return False
            self.lines.append(line)
            if line.startswith(prefix):
                seen += 1
                if seen >= count:
                    return True
        return False

    def kill(self) -> bool:
        """SIGKILL; True when the process was still running (the kill landed)."""
        alive = self.process.poll() is None
        if alive:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        return alive

    def finish(self) -> list[str]:
        """All the lines it printed (after it ended)."""
        self.process.wait(120)
        self._reader.join(30)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        stderr = ""
        if self.process.stderr is not None:
            stderr = self.process.stderr.read()
            self.process.stderr.close()
        if self.process.stdout is not None:
            self.process.stdout.close()
        assert self.process.returncode in (0, -signal.SIGKILL), f"worker failed ({self.process.returncode}):\n{stderr}"
        return self.lines


def check_station(data_dir: Path, committed: set[str], supplied: set[tuple[str, str]], replay: str) -> None:
    """Every committed case exactly once and whole; every intake whole or absent; supplies whole."""
    db_path = data_dir / "station.db"
    assert integrity(db_path) == "ok", replay
    with Station.open(data_dir) as station:
        catalog = station.catalog
    with readonly(db_path) as db:
        cases = {r[0]: (r[1], r[2]) for r in db.execute("SELECT case_no, intake_id, item_code FROM cases")}
        missing = committed - set(cases)
        assert not missing, f"committed cases lost: {sorted(missing)[:5]}; {replay}"
        intakes = {r[0] for r in db.execute("SELECT intake_id FROM intakes")}
        assert intakes == {intake for intake, _ in cases.values()}, (
            f"an intake without its case, or the reverse; {replay}"
        )
        materials = dict(db.execute("SELECT intake_id, COUNT(*) FROM intake_materials GROUP BY intake_id").fetchall())
        received = {r[0] for r in db.execute("SELECT case_no FROM case_events WHERE to_status = 'RECEIVED'")}
        outbox_rows = dict(
            db.execute(
                "SELECT entity_id, COUNT(*) FROM outbox WHERE entity = 'cases' AND kind = 'row' GROUP BY entity_id"
            ).fetchall()
        )
        outbox_moves = dict(
            db.execute(
                "SELECT entity_id, COUNT(*) FROM outbox WHERE entity = 'cases' AND kind = 'status' GROUP BY entity_id"
            ).fetchall()
        )
        for case_no, (intake_id, item_code) in cases.items():
            assert materials.get(intake_id) == material_count(catalog.item(item_code)), f"{case_no} half; {replay}"
            assert case_no in received, f"{case_no} has no status history; {replay}"
            # Write and change together (invariant 1): each row and each move in the outbox exactly once.
            assert outbox_rows.get(case_no) == 1 and outbox_moves.get(case_no) == 1, f"{case_no} outbox; {replay}"
        # A supply writes the material and closes its commitment in one transaction, so the outbox
        # holds both changes or neither.
        changes = {
            (entity, entity_id): n
            for entity, entity_id, n in db.execute(
                "SELECT entity, entity_id, COUNT(*) FROM outbox WHERE entity IN ('commitments', 'intake_materials') "
                "GROUP BY entity, entity_id"
            )
        }
        states = {(i, n): s for i, n, s in db.execute("SELECT intake_id, name_zh, state FROM intake_materials")}
        by_case = {case_no: intake_id for case_no, (intake_id, _) in cases.items()}
        for (commitment_id,) in db.execute("SELECT commitment_id FROM commitments"):
            closed = changes[("commitments", commitment_id)] - 1
            handed_in = changes.get(("intake_materials", commitment_id), 1) - 1
            assert closed == handed_in in (0, 1), f"{commitment_id} half supplied; {replay}"
            intake_id, material = commitment_id.split("/", 1)
            assert (states[(intake_id, material)] == "supplied") == (closed == 1), f"{commitment_id}; {replay}"
        for case_no, material in supplied:
            commitment_id = f"{by_case[case_no]}/{material}"
            assert changes[("commitments", commitment_id)] == 2, f"committed supply lost: {commitment_id}; {replay}"


def check_hub(hub_dir: Path, data_dir: Path, station_id: str, replay: str) -> None:
    """The hub's file is sound, holds each set once and in order, and every set it acknowledged."""
    hub_db = hub_dir / "hub.db"
    assert integrity(hub_db) == "ok", replay
    held = sets_contiguous(hub_db, station_id)
    with readonly(hub_db) as hub, readonly(data_dir / "station.db") as station:
        hashes = dict(hub.execute("SELECT seq, hash FROM sets_in WHERE origin = ?", [station_id]).fetchall())
        receipted = station.execute("SELECT seq, hash FROM sets_out WHERE receipt IS NOT NULL").fetchall()
    for seq, set_hash in receipted:
        assert seq in held and hashes[seq] == set_hash, f"acknowledged set {seq} missing at the hub; {replay}"


def test_station_and_hub_killed_at_random_keep_every_committed_case_once(tmp_path):
    rng = random.Random(SEED)
    hub_dir, data_dir = tmp_path / "hub", tmp_path / "station"
    init_hub(hub_dir)
    hub = HubProcess(hub_dir).start()
    committed: set[str] = set()
    supplied: set[tuple[str, str]] = set()
    landed = {"write": 0, "sync": 0, "hub": 0}
    mid_sync = 0
    try:
        with HubStore.open_existing(hub_dir) as store:
            code = issue_code(store, VILLAGE).code
        station_id = enroll(data_dir, hub_url=hub.url, code=code, passphrase=PASSPHRASE, key_work=2**10).station_id
        # Every mode in every third of the run, the order seeded.
        modes = [m for _ in range((ROUNDS + 2) // 3) for m in rng.sample(["write", "sync", "hub"], 3)][:ROUNDS]
        serial = 0
        for number, mode in enumerate(modes):
            replay = f"replay with CRASH_SEED={SEED} (round {number}, mode {mode})"
            steps, sync_every = 80, rng.randint(8, 20)
            worker = Worker(
                data_dir, hub.url, steps=steps, seed=rng.randrange(2**31), sync_every=sync_every, serial=serial
            )
            serial += steps
            assert worker.wait_for("ready"), replay
            if mode == "write":
                worker.wait_for("case", rng.randint(1, 30))
                time.sleep(rng.uniform(0.0, 0.01))
                landed[mode] += worker.kill()
            else:
                worker.wait_for("sync-start", rng.randint(1, 2))
                time.sleep(rng.uniform(0.0, 0.04))
                if mode == "hub":
                    hub.kill()
                    landed[mode] += 1
                    time.sleep(rng.uniform(0.0, 0.1))
                    worker.kill()
                else:
                    landed[mode] += worker.kill()
            lines = worker.finish()
            # The kill fell inside a sync when a sync started and did not finish.
            starts = [i for i, line in enumerate(lines) if line == "sync-start"]
            mid_sync += bool(starts) and not any(line.startswith("sync-end") for line in lines[starts[-1] :])
            committed |= {line.split()[1] for line in lines if line.startswith("case ")}
            supplied |= {tuple(line.split(maxsplit=2)[1:]) for line in lines if line.startswith("supply ")}
            check_station(data_dir, committed, supplied, replay)
            if mode == "hub":
                hub.start()
            check_hub(hub_dir, data_dir, station_id, replay)
        replay = f"replay with CRASH_SEED={SEED}"
        assert sum(landed.values()) >= ROUNDS - 1 and mid_sync >= 1, (landed, mid_sync, replay)
        # The next sync completes, whatever the kills left half done.
        keys = load_keypair(data_dir, PASSPHRASE)
        for _ in range(3):
            report = sync_once(data_dir, hub_url=hub.url, keys=keys, timeout=10, sleep=lambda _: None)
            if report.in_step:
                break
        assert report.in_step, (report, replay)
    finally:
        hub.stop()
    check_station(data_dir, committed, supplied, replay)
    check_hub(hub_dir, data_dir, station_id, replay)
    station_cases, hub_cases = snapshot(data_dir / "station.db"), snapshot(hub_dir / "hub.db", VILLAGE)
    assert committed <= set(hub_cases), replay
    assert not diff(station_cases, hub_cases), (diff(station_cases, hub_cases), replay)
    with readonly(hub_dir / "hub.db") as hub_db:
        events = hub_db.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM case_events").fetchone()
    assert events[0] == events[1] == len(hub_cases), (events, replay)  # each case's receipt move once
    print(f"kills landed {landed}, {mid_sync} mid-sync, {len(committed)} committed cases, seed {SEED}")
