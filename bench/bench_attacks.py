"""The hub under attack: its peak memory and a neighbour station's sync latency while it is fed each attack of issue 10.

For each attack (and a baseline with none) a fresh hub runs as ``hub serve`` in a child process on
loopback, with the hub's default settings (64 MiB Argon2, the real body limits). Two stations are
enrolled to it with real keys: a NEIGHBOUR, which records one small intake and syncs it every
0.25 s for the whole window (from a process of its own), and an ATTACKER, whose key the attacks use. Every attack builds its
input with the project's own code (the attacker's key pair and hub pins, sync.protocol's sealing
and request signing, sync.compact's body layout, the station's transfer files), so the hub sees
exactly what a thief holding a village PC could send:

  compact-bomb    a tiny signed ``zstd-r2`` set whose rows repeat one wide shape (field names
                  expand per record outside the size budget), sized just under the set limits;
  junk-changes    a signed set of 1,000,000 tiny junk changes (about 300 bytes on the wire);
  squat           a few signed sets whose rows carry the NEIGHBOUR's next case numbers
                  (cross-village squatting), then the neighbour records those cases for real;
  gzip-bombs      80 concurrent unsigned gzip bodies inflating to 16 MiB (half to the exchange, half to
                  enrolment: 0.5's push cap);
  login-flood     80 concurrent wrong passwords (POST /login) against a real administrator;
  xsync-tamper    ``X-Sync`` fields changed in transit and hostile values signed by the key, then
                  ``hub station list``, ``hub status`` and ``/api/v1/status.csv`` are read;
  usb-feed-after  the attacker's USB up-file with ``feed_after`` set to 999999, imported with
                  ``hub import``, then ``hub export --station`` for it;
  enrol-probe     a burst of enrolment requests with a real code id and wrong MACs, and unknown ids.

Recorded per attack: the hub's RSS before and its peak (VmHWM, and VmRSS sampled every 20 ms from
/proc/PID/status), the neighbour's sync latency (p50, p99, max) and errors, the attack's own
answers (status and code), the hub database's growth, and what each attack left behind. The aim
(issue 10): hub RSS under 300 MB and neighbour p99 under 1 s for every attack. Progress goes to
stderr, the table to stdout (``--markdown`` for the rows of docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import csv
import datetime as dt
import gzip
import io
import itertools
import json
import math
import multiprocessing
import os
import platform
import random
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

import sync.protocol
from bench.bench_sync import Workload
from fleet.process import ServerProcess
from hub.accounts import add_user, create_token, hasher_for
from hub.bootstrap import init_hub
from hub.enroll import issue_code
from hub.settings import Settings
from hub.store import DB_FILE as HUB_DB_FILE
from hub.store import HubStore
from station import cases as ops
from station.enrolment import enroll
from station.feed import feed_position
from station.hubhttp import ENROLL_PATH, SYNC_PATH, hub_error
from station.identity import bump_counter, load_keypair, require_pins
from station.link import sync_once
from station.sealing import hub_features
from station.store import Station
from station.transfer import export_file
from sync.changes import RowChange, StatusChange, decode_change, encode_change
from sync.compact import compact
from sync.compression import ZSTD_R2, _zstd, msgpack_array
from sync.crypto import KeyPair, seal_box, sha256, sign
from sync.limits import MAX_CHANGES_PER_SET, MAX_FIELDS_PER_RECORD
from sync.protocol import (
    CTX_UP,
    GENESIS,
    HEADER_SYNC,
    MEDIA_TYPE,
    PROTOCOL_VERSION,
    SET_FORMAT_2,
    STATION_FEATURES,
    EnrollRequest,
    Envelope,
    SignedSet2,
    SyncRequest,
    SyncResponse,
    TransferFile,
    compact_auth,
    sign_request,
)
from sync.timeutil import business_date, utc_now
from sync.version import SOFTWARE_VERSION

FEATURE_SIGNED_HEADERS: int = getattr(sync.protocol, "FEATURE_SIGNED_HEADERS", 0)
"""0 in a checkout of 0.4, which signs no header field: the bench then runs against it unchanged."""

__all__ = ("ATTACKS", "Config", "Row", "main", "markdown_table", "run", "text_table")

PASSPHRASE = "bench-passphrase-1"
ADMIN, ADMIN_PASSWORD = "admin", "bench-admin-password-1"
RSS_AIM_MB, P99_AIM_S = 300.0, 1.0
"""Issue 10's aim for every attack: hub RSS under 300 MB, the neighbour's p99 under 1 s."""
BIN = Path(sys.executable).parent
_ENCODER = msgspec.msgpack.Encoder()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # progress to stderr, figures to stdout


@dataclass
class Config:
    """How big each attack is and how long the neighbour is watched (defaults: a run of ~3-5 minutes)."""

    junk_changes: int = 1_000_000
    bomb_mib: float = 125.0
    """What the compact bomb's records expand to (issue 10 saw ~125 MiB from ~200 bytes)."""
    concurrency: int = 80
    """Concurrent requests of the gzip bombs and of the login flood."""
    probes: int = 400
    squat_cases: int = 6
    sync_every: float = 0.25
    """Seconds between the neighbour's syncs (each after recording one intake)."""
    lead: float = 0.5
    """The neighbour syncs this long before the attack starts."""
    settle: float = 1.0
    """... and this long after it ended (a hub still busy shows here)."""
    min_window: float = 4.0
    """The shortest window the neighbour is watched (the baseline's whole window)."""
    timeout: float = 120.0
    """Seconds any one request of an attack, or a neighbour's sync, may take."""

    def scaled(self, factor: float) -> Config:
        """Attack sizes times ``factor`` (at least 1 of each); the timing is kept."""
        return Config(
            junk_changes=max(MAX_CHANGES_PER_SET + 1, int(self.junk_changes * factor)),
            bomb_mib=max(0.25, self.bomb_mib * factor),
            concurrency=max(2, round(self.concurrency * factor)),
            probes=max(4, round(self.probes * factor)),
            squat_cases=max(1, round(self.squat_cases * factor)),
            sync_every=self.sync_every,
            lead=self.lead,
            settle=self.settle,
            min_window=self.min_window,
            timeout=self.timeout,
        )


# -- the hub in a child process, and its memory --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HubServer(ServerProcess):
    """``hub serve`` on loopback in a child process: its memory is the hub's alone."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        super().__init__(free_port())
        self.data_dir, self.log = data_dir, log
        self._log: Any = None

    def command(self) -> tuple[list[str], Path | None, dict[str, str] | None]:
        return (
            [
                str(BIN / "hub"),
                "--data-dir",
                str(self.data_dir),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            None,
            None,
        )

    def start(self, timeout: float = 30.0) -> HubServer:
        """As ServerProcess.start, with the hub's output in ``log`` (what it said while attacked)."""
        argv, cwd, env = self.command()
        self._log = self.log.open("wb")
        self.process = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the hub exited with {self.process.returncode} (see {self.log})")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"the hub did not answer /healthz (see {self.log})")

    def stop(self) -> None:
        super().stop()
        if self._log is not None:
            self._log.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        try:
            return (
                self.process is not None
                and self.process.poll() is None
                and httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
            )
        except httpx.HTTPError:
            return False


def proc_status_kib(pid: int) -> dict[str, int]:
    """The ``Vm*`` lines of /proc/PID/status in KiB ({} where there is no /proc or the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name.startswith("Vm") and rest.strip().endswith("kB"):
            values[name] = int(rest.split()[0])
    return values


class RssSampler:
    """VmRSS of a process every ``every`` seconds in a thread; the highest seen and the kernel's VmHWM."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self.pid, self.every = pid, every
        self.peak_kib = 0
        self.hwm_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def _sample(self) -> None:
        status = proc_status_kib(self.pid)
        self.peak_kib = max(self.peak_kib, status.get("VmRSS", 0))
        self.hwm_kib = max(self.hwm_kib, status.get("VmHWM", 0))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def peak_mb(self) -> float | None:
        peak = max(self.peak_kib, self.hwm_kib)
        return peak / 1024 if peak else None


def rss_mb(pid: int) -> float | None:
    value = proc_status_kib(pid).get("VmRSS")
    return value / 1024 if value else None


def db_bytes(hub_dir: Path) -> int:
    """The hub database on disk: the main file and its write-ahead log."""
    return sum(p.stat().st_size for p in (hub_dir / HUB_DB_FILE, hub_dir / f"{HUB_DB_FILE}-wal") if p.exists())


def hub_query(hub_dir: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]] | None:
    """Rows of a read-only query on the hub database; None when the query does not fit its schema."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{hub_dir / HUB_DB_FILE}?mode=ro", uri=True, timeout=30)) as db:
            return db.execute(sql, args).fetchall()
    except sqlite3.Error:
        return None


def hub_cli(hub_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``hub --data-dir HUB_DIR ARGS`` from this virtual environment, in English."""
    environment = {**os.environ, "LANG": "en_US.UTF-8", **(env or {})}
    return subprocess.run(
        [str(BIN / "hub"), "--data-dir", str(hub_dir), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


# -- stations ----------------------------------------------------------------------------------------


@dataclass
class Party:
    """An enrolled station folder, its unwrapped keys, and (for crafted sets) its chain and request counter."""

    data_dir: Path
    keys: KeyPair
    station_id: str
    village: str
    device: str
    hub_box_public: bytes
    features: int
    feed_after: int
    counter: Iterator[int]
    seq: int = 0
    prev: bytes = GENESIS

    @classmethod
    def enrol(cls, hub: HubServer, hub_dir: Path, village: str, data_dir: Path, *, caught_up: bool = True) -> Party:
        with HubStore.open_existing(hub_dir) as store:
            code = issue_code(store, village).code
        enroll(data_dir, hub_url=hub.url, code=code, passphrase=PASSPHRASE, key_work=2**10)
        keys = load_keypair(data_dir, PASSPHRASE)
        if caught_up:
            for _ in range(10):
                if sync_once(data_dir, keys=keys).in_step:
                    break
            else:
                raise RuntimeError(f"station {data_dir.name} did not get in step with the hub")
        station = Station.open(data_dir)
        try:
            pins = require_pins(station.db)
            first = bump_counter(station.db)  # the station's own counter: later ones count on from it
            return cls(
                data_dir=data_dir,
                keys=keys,
                station_id=station.station_id,
                village=station.village_code,
                device=station.device,
                hub_box_public=pins.box_public,
                features=hub_features(station),
                feed_after=feed_position(station),
                counter=itertools.count(first),
            )
        finally:
            station.close()

    def seal(self, records: list[bytes]) -> bytes:
        """Records sealed into this station's next set as a station seals them (format 2, ``zstd-r2``: what
        sync.protocol.seal_set writes since 0.6, and 0.4 and 0.5 wrote for a hub that said it reads it)."""
        return self.seal_compact(compact(records))

    def seal_compact(self, compact_body: bytes) -> bytes:
        """A compact body (sync.compact's layout, possibly hand-made) in this station's next set: format 2,
        ``zstd-r2``, sealed with the pair's box and signed, as sync.protocol.seal_set writes a set for this hub."""
        seq = self.seq + 1
        body = seal_box(
            self.hub_box_public,
            _zstd(ZSTD_R2, compact_body),
            f"{self.station_id}/{seq}".encode(),
            sender_private=self.keys.box_private,
        )
        payload = _ENCODER.encode(SignedSet2(self.station_id, seq, self.prev, body, 2))  # 2: zstd-r2
        envelope = _ENCODER.encode(
            Envelope(SET_FORMAT_2, "", msgspec.Raw(payload), sign(self.keys.sign_private, CTX_UP, payload))
        )
        self.seq, self.prev = seq, sha256(payload)
        return envelope

    def exchange(
        self,
        client: httpx.Client,
        url: str,
        sets: list[bytes],
        *,
        software: str = SOFTWARE_VERSION,
        outbox_length: int = 0,
        head_seq: int | None = None,
        tamper: Callable[[str], str] | None = None,
    ) -> httpx.Response:
        """``POST /api/v1/sync`` signed with this station's key as station.client signs it (``X-Sync``, every
        field covered once the hub said it checks them); ``tamper`` changes the header after signing, as a
        machine on the path would."""
        body = _ENCODER.encode(
            SyncRequest(PROTOCOL_VERSION, [msgspec.Raw(s) for s in sets], self.feed_after, 0, STATION_FEATURES)
        )
        headers = sign_request(
            sign_private=self.keys.sign_private,
            sign_public=self.keys.sign_public,
            method="POST",
            path_qs=SYNC_PATH,
            station_id=self.station_id,
            counter=next(self.counter),
            station_ms=_now_ms(),
            body=body,
            head_seq=self.seq if head_seq is None else head_seq,
            outbox_length=outbox_length,
            software=software,
            cover=bool(self.features & FEATURE_SIGNED_HEADERS),
        )
        value = compact_auth(headers)
        return client.post(url + SYNC_PATH, content=body, headers={HEADER_SYNC: tamper(value) if tamper else value})


def _now_ms() -> int:
    return int(time.time() * 1000)


def answer_of(response: httpx.Response) -> list[str]:
    """What the hub answered, as ``STATUS CODE`` (one per set for an exchange that carried sets)."""
    if response.status_code == 200 and response.request.url.path == SYNC_PATH:
        try:
            answer = msgspec.msgpack.decode(response.content, type=SyncResponse)
        except (msgspec.DecodeError, ValueError):
            return ["200 unreadable"]
        return [f"200 {r.status}" + (f" {r.code}" if r.code else "") for r in answer.results] or ["200 ok"]
    if response.status_code < 400:
        return [str(response.status_code)]
    return [f"{response.status_code} {hub_error(response).code}"]


def error_answer(exc: Exception) -> str:
    return f"no answer ({type(exc).__name__})"


def _neighbour_main(
    data_dir: str, passphrase: str, every: float, timeout: float, seed: int, out: Any, stop: Any
) -> None:
    """The neighbour's loop, in a process of its own: one intake, one timed sync, every ``every`` seconds.
    Sends ``("ready",)``, then ``("sample", seconds, error codes, case number)`` per sync, ``("failed", text)``."""
    try:
        keys = load_keypair(Path(data_dir), passphrase)
        station = Station.open(Path(data_dir))
    except Exception as exc:
        out.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    workload = Workload(random.Random(seed))
    out.send(("ready",))
    try:
        while not stop.is_set():
            started = time.perf_counter()
            case_no = ops.new_intake(station, workload.intake(station)).number
            sync_started = time.perf_counter()
            report = sync_once(station, keys=keys, timeout=timeout)
            seconds = time.perf_counter() - sync_started
            codes = [issue.code for issue in report.errors] or ([] if report.in_step else ["not_in_step"])
            out.send(("sample", seconds, codes, case_no))
            stop.wait(max(0.0, every - (time.perf_counter() - started)))
    except Exception as exc:
        out.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        station.close()
        out.close()


class Neighbour:
    """Another village's station at work during the attack, in a child process: the attack's own threads
    in this process (80 concurrent clients) then take nothing from its latency but the machine's cores."""

    def __init__(self, party: Party, *, every: float, timeout: float, seed: int) -> None:
        self.timeout = timeout
        self.seconds: list[float] = []
        self.errors: Counter[str] = Counter()
        self.case_nos: list[str] = []
        self.failure: str | None = None
        spawn = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._stop = spawn.Event()
        self._inbox, outbox = spawn.Pipe(duplex=False)
        self._outbox = outbox
        self._process = spawn.Process(
            target=_neighbour_main,
            name="neighbour",
            daemon=True,
            args=(str(party.data_dir), PASSPHRASE, every, timeout, seed, outbox, self._stop),
        )
        self._reader = threading.Thread(target=self._read, daemon=True, name="neighbour-reader")

    def _read(self) -> None:
        while True:
            try:
                message = self._inbox.recv()
            except (EOFError, OSError):
                return
            if message[0] == "sample":
                _, seconds, codes, case_no = message
                self.seconds.append(seconds)
                self.errors.update(codes)
                self.case_nos.append(case_no)
            elif message[0] == "failed":
                self.failure = message[1]

    def __enter__(self) -> Neighbour:
        self._process.start()
        self._outbox.close()  # the child's end: EOF here once the child is gone
        if not self._inbox.poll(60):
            self._process.terminate()
            self._process.join()
            raise RuntimeError("the neighbour process did not start")
        message = self._inbox.recv()
        if message[0] != "ready":
            self.failure = message[1]
        self._reader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(self.timeout + 30)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
            self.failure = self.failure or "the neighbour did not stop"
        self._reader.join(10)
        self._inbox.close()
        self._process.close()


# -- the attacks ---------------------------------------------------------------------------------------


@dataclass
class Context:
    hub: HubServer
    hub_dir: Path
    root: Path
    config: Config
    neighbour: Party
    attacker: Party
    villages: list[str]
    token: str
    client: httpx.Client
    answers: Counter[str] = field(default_factory=Counter)
    facts: list[str] = field(default_factory=list)
    neighbour_loop: Neighbour | None = None
    """The neighbour at work, while the attack runs."""

    def record(self, response_or_error: httpx.Response | Exception, prefix: str = "") -> None:
        if isinstance(response_or_error, Exception):
            self.answers[prefix + error_answer(response_or_error)] += 1
        else:
            for answer in answer_of(response_or_error):
                self.answers[prefix + answer] += 1


@dataclass
class Attack:
    name: str
    title: str
    prepare: Callable[[Context], Any]
    """Builds the attack's input (outside the measured window); its result goes to ``run``."""
    run: Callable[[Context, Any], None]
    after: Callable[[Context, Any], None] | None = None
    """Reads what the attack left, after the window (the neighbour's last syncs are in)."""
    attacker_caught_up: bool = True


def _prepare_nothing(ctx: Context) -> None:
    return None


def _baseline(ctx: Context, _: None) -> None:
    time.sleep(ctx.config.min_window - ctx.config.lead)


def _compact_rows(table: list[Any], row: bytes, count: int) -> bytes:
    """sync.compact's layout ``[shapes, rows]`` with ``count`` copies of one encoded row (built without a
    million Python lists)."""
    return b"\x92" + _ENCODER.encode(table) + msgpack_array([row] * count)


def _own_case_no(party: Party, serial: int) -> str:
    """A case number of the attacker's own village and device (so the set is refused for its size, not its ids)."""
    return f"{party.village}-{business_date(utc_now()):%Y%m%d}-{party.device}{serial:03d}"


def _prepare_bomb(ctx: Context) -> bytes:
    """Up to MAX_CHANGES_PER_SET rows of one shape with MAX_FIELDS_PER_RECORD long field names and values
    of one byte: each row expands to ``fields x name length`` bytes, the names written once."""
    rows = MAX_CHANGES_PER_SET
    fields = MAX_FIELDS_PER_RECORD
    name_length = max(16, int(ctx.config.bomb_mib * 1024 * 1024 / rows / fields))
    names = [f"f{i:02d}_".ljust(name_length, "x") for i in range(fields)]
    table = [["cases", names, False, None]]
    row = _ENCODER.encode([0, _own_case_no(ctx.attacker, 901), 1, *([0] * fields)])
    compact = _compact_rows(table, row, rows)
    envelope = ctx.attacker.seal_compact(compact)
    ctx.facts.append(
        f"{len(envelope):,} B set, {rows} rows x {fields} fields of {name_length:,} chars "
        f"(~{rows * fields * name_length / 2**20:,.0f} MiB expanded)"
    )
    return envelope


def _prepare_junk(ctx: Context) -> bytes:
    """``junk_changes`` changes of an unknown table, one row repeated (each would be a rejection and a feed item)."""
    count = ctx.config.junk_changes
    row = _ENCODER.encode([0, "x", 1])
    envelope = ctx.attacker.seal_compact(_compact_rows([["x", [], False, None]], row, count))
    ctx.facts.append(f"{len(envelope):,} B set of {count:,} changes")
    return envelope


def _send_sets(ctx: Context, envelopes: list[bytes]) -> None:
    for envelope in envelopes:
        try:
            ctx.record(ctx.attacker.exchange(ctx.client, ctx.hub.url, [envelope]))
        except httpx.HTTPError as exc:
            ctx.record(exc)


def _send_one(ctx: Context, envelope: bytes) -> None:
    _send_sets(ctx, [envelope])


SQUAT_MARGIN = 8
"""The attacker squats the neighbour's numbers from its 8th next one: the numbers it records before the
attack lands (while the window's lead runs) are taken already."""


def _prepare_squat(ctx: Context) -> tuple[list[bytes], list[str]]:
    """The attacker records real intakes, then rewrites their case numbers to the neighbour's next ones
    (keeping its own village on the rows, as issue 10 found a station of one village could)."""
    attacker, neighbour = ctx.attacker, ctx.neighbour
    station = Station.open(neighbour.data_dir)
    try:
        day = business_date(station.now())
        row = station.db.execute("SELECT last FROM counters WHERE day = ?", [day.isoformat()]).fetchone()
        last = int(row[0]) if row else 0
    finally:
        station.close()
    targets = [
        f"{neighbour.village}-{day:%Y%m%d}-{neighbour.device}{last + SQUAT_MARGIN + n:03d}"
        for n in range(ctx.config.squat_cases)
    ]
    station = Station.open(attacker.data_dir)
    try:
        workload = Workload(random.Random(7))
        before = station.db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()[0]
        own = [ops.new_intake(station, workload.intake(station)).number for _ in targets]
        bodies = [bytes(b) for (b,) in station.db.execute("SELECT body FROM outbox WHERE id > ? ORDER BY id", [before])]
    finally:
        station.close()
    numbers = dict(zip(own, targets))
    records = [encode_change(_renumber(decode_change(b), numbers)) for b in bodies]
    per_set = max(1, math.ceil(len(records) / 3))
    envelopes = [attacker.seal(records[i : i + per_set]) for i in range(0, len(records), per_set)]
    ctx.facts.append(f"{len(targets)} of the neighbour's next case numbers squatted in {len(envelopes)} sets")
    return envelopes, targets


def _renumber(change: RowChange | StatusChange, numbers: dict[str, str]) -> RowChange | StatusChange:
    """The change with every one of the station's own case numbers (in keys and values) swapped for another."""

    def swap(value: Any) -> Any:
        if isinstance(value, str):
            for own, target in numbers.items():
                value = value.replace(own, target)
        return value

    if isinstance(change, RowChange):
        return msgspec.structs.replace(
            change, pk=swap(change.pk), fields={k: swap(v) for k, v in change.fields.items()}
        )
    names = [n for n in StatusChange.__struct_fields__ if isinstance(getattr(change, n), str)]
    return msgspec.structs.replace(change, **{n: swap(getattr(change, n)) for n in names})


def _run_squat(ctx: Context, prepared: tuple[list[bytes], list[str]]) -> None:
    envelopes, targets = prepared
    _send_sets(ctx, envelopes)
    # Then the neighbour records those cases for real (its loop is running): wait until it has.
    deadline = time.monotonic() + ctx.config.timeout
    loop = ctx.neighbour_loop
    while loop is not None and targets[-1] not in loop.case_nos and time.monotonic() < deadline:
        time.sleep(0.1)


def _after_squat(ctx: Context, prepared: tuple[list[bytes], list[str]]) -> None:
    """Once the neighbour's syncs of those cases are in: whose are they at the hub?"""
    targets = prepared[1]
    marks = ",".join("?" * len(targets))
    nb = ctx.neighbour.station_id
    rejected = hub_query(ctx.hub_dir, "SELECT code, COUNT(*) FROM rejected WHERE origin = ? GROUP BY code", (nb,))
    held = hub_query(
        ctx.hub_dir,
        f"SELECT COUNT(*) FROM cases WHERE case_no IN ({marks}) AND village_code != ?",
        (*targets, ctx.neighbour.village),
    )
    ctx.facts.append(
        "neighbour's changes rejected at the hub: "
        + ("n/a" if rejected is None else ", ".join(f"{n} {c}" for c, n in rejected) or "none")
    )
    ctx.facts.append(
        f"attacker's changes rejected: {_count(ctx.hub_dir, 'rejected', 'origin', ctx.attacker.station_id)}"
    )
    ctx.facts.append(
        "neighbour's case numbers held by the other village: " + ("n/a" if held is None else str(held[0][0]))
    )


def _count(hub_dir: Path, table: str, column: str, value: str) -> str:
    rows = hub_query(hub_dir, f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (value,))
    return "n/a" if rows is None else str(rows[0][0])


def _concurrently(count: int, action: Callable[[int], Any]) -> list[Any]:
    """``action(i)`` for ``count`` indices at once (threads released together by a barrier)."""
    barrier = threading.Barrier(count)

    def start(i: int) -> Any:
        barrier.wait()
        return action(i)

    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(start, range(count)))


BOMB_INFLATES_TO = 16 * 1024 * 1024
"""What each gzip bomb inflates to: the cap 0.5 inflated a push's body to (after its signature checked)."""


def _prepare_gzip(ctx: Context) -> tuple[bytes, list[httpx.Client]]:
    """One bomb body and one client per request (made before the window: the bombs then land together)."""
    body = gzip.compress(bytes(BOMB_INFLATES_TO), 9)
    clients = [httpx.Client(base_url=ctx.hub.url, timeout=ctx.config.timeout) for _ in range(ctx.config.concurrency)]
    ctx.facts.append(
        f"{ctx.config.concurrency} x {len(body):,} B unsigned bodies, each inflating to "
        f"{BOMB_INFLATES_TO / 2**20:.0f} MiB (half to the exchange, half to enrolment)"
    )
    return body, clients


def _run_gzip(ctx: Context, prepared: tuple[bytes, list[httpx.Client]]) -> None:
    body, clients = prepared
    headers = {"Content-Type": MEDIA_TYPE, "Content-Encoding": "gzip"}

    def bomb(i: int) -> tuple[str, httpx.Response | Exception]:
        # The exchange (0.3's push, where a bomb was once inflated before its signature checked, is gone: 410).
        path = SYNC_PATH if i % 2 == 0 else ENROLL_PATH
        try:
            return path, clients[i].post(path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return path, exc

    try:
        for path, answer in _concurrently(len(clients), bomb):
            ctx.record(answer, prefix="exchange " if path == SYNC_PATH else "enrol ")
    finally:
        for client in clients:
            client.close()


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _prepare_login(ctx: Context) -> list[tuple[httpx.Client, str]]:
    """One browser per attempt, each with the login form's token (the double-submit cookie and field)."""
    browsers = []
    for _ in range(ctx.config.concurrency):
        client = httpx.Client(base_url=ctx.hub.url, timeout=ctx.config.timeout)
        # No connection kept from the form: uvicorn drops idle ones after 5 s, and a POST on a dropped one
        # would fail in the client, not at the hub.
        match = _CSRF.search(client.get("/login", headers={"Connection": "close"}).text)
        browsers.append((client, match.group(1) if match else ""))
    ctx.facts.append(f"{len(browsers)} concurrent wrong passwords for the real account {ADMIN!r}")
    return browsers


def _run_login(ctx: Context, browsers: list[tuple[httpx.Client, str]]) -> None:
    def attempt(i: int) -> httpx.Response | Exception:
        client, csrf = browsers[i]
        try:
            return client.post(
                "/login",
                data={"username": ADMIN, "password": f"wrong-guess-{i:04d}", "csrf": csrf, "next": ""},
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            return exc

    try:
        for answer in _concurrently(len(browsers), attempt):
            if isinstance(answer, Exception):
                ctx.record(answer)
            else:  # an HTML page: its status says it all
                ctx.answers[str(answer.status_code)] += 1
    finally:
        for client, _ in browsers:
            client.close()
    checked = ctx.answers.get("401", 0)
    failures = hub_query(ctx.hub_dir, "SELECT MAX(failures) FROM login_failures WHERE name = ?", (ADMIN,))
    counted = failures[0][0] if failures and failures[0][0] is not None else "n/a"
    ctx.facts.append(f"passwords checked (401): {checked}; failure count at the hub after: {counted}")


FORMULA = '=HYPERLINK("http://x.invalid/","update")'
MARKUP = "[/x]"
"""What issue 10 put in the software field: a spreadsheet formula (status.csv) and Rich markup (the CLI)."""


def _run_xsync(ctx: Context, _: None) -> None:
    """Per hostile value: once changed in transit (signed as something else), once signed by the key; the
    value each page shows is the station's latest, so the formula is read in status.csv before the markup
    goes in, then the terminal views are run."""
    attacker = ctx.attacker
    signed_software, signed_outbox = "bench-sw-1", 4242

    def send(prefix: str, **kwargs: Any) -> None:
        try:
            ctx.record(attacker.exchange(ctx.client, ctx.hub.url, [], **kwargs), prefix=prefix)
        except httpx.HTTPError as exc:
            ctx.record(exc, prefix=prefix)

    def in_transit(software: str) -> Callable[[str], str]:
        # What a machine on the path changes: the fields the station reported, token by token.
        swaps = {signed_software: software, str(signed_outbox): "999999999", str(attacker.seq): "424242"}
        return lambda value: " ".join(swaps.get(part, part) for part in value.split(" "))

    send("signed ", head_seq=2**40, outbox_length=2**40)
    for value in (FORMULA, MARKUP):
        send("in transit ", software=signed_software, outbox_length=signed_outbox, tamper=in_transit(value))
        send("signed ", software=value)
        if value == FORMULA:
            ctx.facts.append(_csv_formulas(ctx))
    stored = hub_query(
        ctx.hub_dir, "SELECT DISTINCT software FROM contacts WHERE station_id = ?", (attacker.station_id,)
    )
    hostile = sorted({s for (s,) in stored or [] if s in (FORMULA, MARKUP)})
    ctx.facts.append(f"hostile software strings stored: {len(hostile)}")
    heads = hub_query(
        ctx.hub_dir,
        "SELECT MAX(head_seq), MAX(outbox_length) FROM contacts WHERE station_id = ?",
        (attacker.station_id,),
    )
    if heads:
        ctx.facts.append(f"largest head seq / outbox length stored: {heads[0][0]} / {heads[0][1]}")
    listed = hub_cli(ctx.hub_dir, "station", "list")
    ctx.facts.append(f"`hub station list` exit {listed.returncode}")
    status = hub_cli(ctx.hub_dir, "status", "--url", ctx.hub.url, env={"HUB_TOKEN": ctx.token})
    ctx.facts.append(f"`hub status` exit {status.returncode}")


def _csv_formulas(ctx: Context) -> str:
    """How many cells of /api/v1/status.csv a spreadsheet would run as a formula."""
    try:
        answer = ctx.client.get(f"{ctx.hub.url}/api/v1/status.csv", headers={"Authorization": f"Bearer {ctx.token}"})
    except httpx.HTTPError as exc:
        return f"status.csv: {error_answer(exc)}"
    cells = [c for line in csv.reader(io.StringIO(answer.text.lstrip("\ufeff"))) for c in line]
    formulas = sum(1 for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and not _number(c)))
    return f"status.csv {answer.status_code}, formula cells: {formulas}"


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _prepare_usb(ctx: Context) -> Path:
    """The attacker's real up-file (one intake), then ``feed_after`` changed to 999999 in the file."""
    station = Station.open(ctx.attacker.data_dir)
    try:
        ops.new_intake(station, Workload(random.Random(11)).intake(station))
        path = ctx.root / "up.sync"
        export_file(station, path, keys=ctx.attacker.keys)
    finally:
        station.close()
    transfer = msgspec.msgpack.decode(path.read_bytes(), type=TransferFile)
    path.write_bytes(_ENCODER.encode(msgspec.structs.replace(transfer, feed_after=999999)))
    ctx.facts.append(f"up-file of {len(transfer.sets)} set(s), feed_after {transfer.feed_after} -> 999999")
    return path


def _run_usb(ctx: Context, path: Path) -> None:
    imported = hub_cli(ctx.hub_dir, "import", str(path))
    ctx.answers[f"hub import exit {imported.returncode}"] += 1
    out = ctx.root / "down.sync"
    exported = hub_cli(ctx.hub_dir, "export", "--station", ctx.attacker.station_id, str(out))
    if exported.returncode == 0 and out.exists():
        sets = len(msgspec.msgpack.decode(out.read_bytes(), type=TransferFile).sets)
        ctx.facts.append(f"`hub export --station` afterwards: {sets} feed set(s) written")
    else:
        ctx.facts.append(f"`hub export --station` exit {exported.returncode}")


OTHER_ADDRESS = "127.0.0.2"
"""Linux answers on all of 127.0.0.0/8; elsewhere the late enrolment comes from the prober's address."""


def _prepare_probe(ctx: Context) -> tuple[str, str]:
    """A real code (of a third village), unused: the prober knows its id (the first group), not its secret."""
    with HubStore.open_existing(ctx.hub_dir) as store:
        code = issue_code(store, ctx.villages[2]).code
    return code, code.split("-")[0]


def _run_probe(ctx: Context, code_and_id: tuple[str, str]) -> None:
    code, real_id = code_and_id
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    timings: dict[str, list[float]] = {"real id": [], "unknown id": []}
    lock = threading.Lock()

    def probe(i: int) -> None:
        kind = "real id" if i % 2 == 0 else "unknown id"
        code_id = real_id if kind == "real id" else "".join(random.choice(alphabet) for _ in range(4))
        request = EnrollRequest(
            protocol=PROTOCOL_VERSION,
            code_id=code_id,
            sign_public=secrets.token_bytes(32),
            box_public=secrets.token_bytes(32),
            software=SOFTWARE_VERSION,
            mac=secrets.token_bytes(32),
            features=STATION_FEATURES,
        )
        started = time.perf_counter()
        try:
            answer: httpx.Response | Exception = ctx.client.post(
                ctx.hub.url + ENROLL_PATH, content=_ENCODER.encode(request), headers={"Content-Type": MEDIA_TYPE}
            )
        except httpx.HTTPError as exc:
            answer = exc
        with lock:
            timings[kind].append(time.perf_counter() - started)
            ctx.record(answer)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(probe, range(ctx.config.probes)))
    seconds = time.perf_counter() - started
    medians = {k: sorted(v)[len(v) // 2] * 1000 for k, v in timings.items() if v}
    ctx.facts.append(
        f"{ctx.config.probes} probes at {ctx.config.probes / seconds:,.0f}/s; median real id "
        f"{medians.get('real id', 0):.2f} ms, unknown id {medians.get('unknown id', 0):.2f} ms"
    )
    try:
        # The village PC the code was issued for, at another address than the prober (127.0.0.2: loopback
        # still), so what is measured is the code's fate, not the prober's address being held back.
        with httpx.HTTPTransport(local_address=OTHER_ADDRESS if sys.platform == "linux" else None) as transport:
            enroll(
                ctx.root / "late-station",
                hub_url=ctx.hub.url,
                code=code,
                passphrase=PASSPHRASE,
                key_work=2**10,
                transport=transport,
            )
        ctx.facts.append("the real code still enrols afterwards (from another address)")
    except Exception as exc:
        ctx.facts.append(f"the real code afterwards: refused ({getattr(exc, 'code', type(exc).__name__)})")


ATTACKS: dict[str, Attack] = {
    a.name: a
    for a in [
        Attack("baseline", "no attack", _prepare_nothing, _baseline),
        Attack("compact-bomb", "1. compact body expansion bomb", _prepare_bomb, _send_one),
        Attack("junk-changes", "2. a set of 1,000,000 junk changes", _prepare_junk, _send_one),
        Attack("squat", "3. cross-village case-number squatting", _prepare_squat, _run_squat, _after_squat),
        Attack("gzip-bombs", "4. unsigned gzip bombs, concurrent", _prepare_gzip, _run_gzip),
        Attack("login-flood", "5. login flood, concurrent wrong passwords", _prepare_login, _run_login),
        Attack("xsync-tamper", "6. tampered and hostile X-Sync fields", _prepare_nothing, _run_xsync),
        Attack(
            "usb-feed-after", "7. USB up-file with feed_after=999999", _prepare_usb, _run_usb, attacker_caught_up=False
        ),
        Attack("enrol-probe", "8. enrolment code probing", _prepare_probe, _run_probe),
    ]
}


# -- one attack, one fresh hub ------------------------------------------------------------------------


@dataclass
class Row:
    """One attack's figures."""

    attack: str
    title: str
    answers: dict[str, int]
    rss_before_mb: float | None
    rss_peak_mb: float | None
    syncs: int
    p50_s: float | None
    p99_s: float | None
    max_s: float | None
    neighbour_errors: dict[str, int]
    db_growth_mib: float
    attack_s: float
    window_s: float
    hub_alive: bool
    facts: list[str]
    bench_error: str | None = None
    """The bench itself failed on this attack (its inputs could not be built or sent): not a finding."""

    @property
    def within_aim(self) -> bool:
        return (
            self.rss_peak_mb is not None
            and self.rss_peak_mb < RSS_AIM_MB
            and self.p99_s is not None
            and self.p99_s < P99_AIM_S
            and self.hub_alive
        )


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def make_template(path: Path) -> str:
    """A hub folder with the sample data, an administrator (hashed at the default Argon2 cost) and an API
    token for it; returns the token."""
    init_hub(path)
    settings = Settings(data_dir=path)
    with HubStore.open_existing(path) as store:
        add_user(store, ADMIN, "admin", ADMIN_PASSWORD, hasher=hasher_for(settings), now=utc_now())
        return create_token(store, ADMIN, expires_days=1, now=utc_now()).token


def run_attack(attack: Attack, *, template: Path, token: str, root: Path, config: Config, seed: int) -> Row:
    """A fresh hub, a neighbour and an attacker enrolled to it, the attack while the neighbour syncs."""
    hub_dir = root / "hub"
    shutil.copytree(template, hub_dir)
    with HubStore.open_existing(hub_dir) as store:
        villages = [v.code for v in store.divisions().villages()][:3]
    hub = HubServer(hub_dir, root / "hub.log")
    hub.start()
    ctx: Context | None = None
    try:
        neighbour = Party.enrol(hub, hub_dir, villages[0], root / "neighbour")
        attacker = Party.enrol(hub, hub_dir, villages[1], root / "attacker", caught_up=attack.attacker_caught_up)
        with httpx.Client(timeout=config.timeout) as client:
            ctx = Context(
                hub=hub,
                hub_dir=hub_dir,
                root=root,
                config=config,
                neighbour=neighbour,
                attacker=attacker,
                villages=villages,
                token=token,
                client=client,
            )
            bench_error = None
            try:
                prepared = attack.prepare(ctx)
            except Exception as exc:
                bench_error, prepared = f"prepare: {type(exc).__name__}: {exc}", None
            rss_before = rss_mb(hub.pid)
            db_before = db_bytes(hub_dir)
            with (
                RssSampler(hub.pid) as sampler,
                Neighbour(neighbour, every=config.sync_every, timeout=config.timeout, seed=seed) as nb,
            ):
                ctx.neighbour_loop = nb
                window_started = time.perf_counter()
                time.sleep(config.lead)
                attack_started = time.perf_counter()
                if bench_error is None:
                    try:
                        attack.run(ctx, prepared)
                    except Exception as exc:
                        bench_error = f"run: {type(exc).__name__}: {exc}"
                attack_s = time.perf_counter() - attack_started
                time.sleep(max(config.settle, config.min_window - (time.perf_counter() - window_started)))
            window_s = time.perf_counter() - window_started
            if nb.failure:
                bench_error = bench_error or f"neighbour: {nb.failure}"
            if attack.after is not None and bench_error is None:
                try:
                    attack.after(ctx, prepared)
                except Exception as exc:
                    bench_error = f"after: {type(exc).__name__}: {exc}"
            alive = hub.alive()
            return Row(
                attack=attack.name,
                title=attack.title,
                answers=dict(ctx.answers),
                rss_before_mb=rss_before,
                rss_peak_mb=sampler.peak_mb,
                syncs=len(nb.seconds),
                p50_s=percentile(nb.seconds, 50),
                p99_s=percentile(nb.seconds, 99),
                max_s=max(nb.seconds, default=None),
                neighbour_errors=dict(nb.errors),
                db_growth_mib=(db_bytes(hub_dir) - db_before) / 2**20,
                attack_s=attack_s,
                window_s=window_s,
                hub_alive=alive,
                facts=ctx.facts,
                bench_error=bench_error,
            )
    finally:
        hub.stop()


def run(
    names: list[str], *, config: Config, root: Path, seed: int = 2026, progress: Callable[[str], None] = log
) -> list[Row]:
    """Each named attack on a hub of its own (the baseline first when asked for); the rows in that order."""
    progress("initialising a hub template (catalogue, calendar, divisions, an administrator) ...")
    template = root / "template"
    token = make_template(template)
    rows = []
    for index, name in enumerate(names):
        attack = ATTACKS[name]
        progress(f"{attack.name}: {attack.title} ...")
        row = run_attack(
            attack, template=template, token=token, root=root / f"{index:02d}-{name}", config=config, seed=seed + index
        )
        progress(
            f"    hub RSS {_mb(row.rss_before_mb)} -> peak {_mb(row.rss_peak_mb)} MB; neighbour p99 "
            f"{_s(row.p99_s)} s over {row.syncs} syncs; attack {row.attack_s:.1f} s"
            + (f"; BENCH ERROR {row.bench_error}" if row.bench_error else "")
        )
        rows.append(row)
    return rows


# -- output ----------------------------------------------------------------------------------------------


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _counts(counts: dict[str, int]) -> str:
    return (
        ", ".join(f"{n}x {what}" if n > 1 else what for what, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "—"
    )


def _beside(value: float | None, base: float | None, unit: str) -> str:
    if value is None or base is None or base <= 0:
        return ""
    return f" ({value - base:+,.0f})" if unit == "MB" else f" (x{value / base:.1f})"


def _cells(row: Row, base: Row | None) -> list[str]:
    peak = _mb(row.rss_peak_mb) + (
        "" if base is None or row is base else _beside(row.rss_peak_mb, base.rss_peak_mb, "MB")
    )
    p99 = _s(row.p99_s) + ("" if base is None or row is base else _beside(row.p99_s, base.p99_s, "s"))
    facts = "; ".join(
        row.facts
        + ([] if row.hub_alive else ["HUB DOWN after the attack"])
        + ([f"BENCH ERROR: {row.bench_error}"] if row.bench_error else [])
    )
    return [
        row.title,
        _counts(row.answers),
        _mb(row.rss_before_mb),
        peak,
        str(row.syncs),
        _s(row.p50_s),
        p99,
        _s(row.max_s),
        _counts(row.neighbour_errors) if row.neighbour_errors else "0",
        f"{row.db_growth_mib:,.1f}",
        f"{row.attack_s:.1f}",
        "yes" if row.within_aim else "NO",
        facts,
    ]


HEADERS = [
    "attack",
    "hub answers",
    "RSS before MB",
    "RSS peak MB",
    "neighbour syncs",
    "p50 s",
    "p99 s",
    "max s",
    "neighbour errors",
    "DB growth MiB",
    "attack s",
    f"within aim (<{RSS_AIM_MB:.0f} MB, p99 <{P99_AIM_S:g} s)",
    "what it left",
]


def _baseline_of(rows: list[Row]) -> Row | None:
    return next((r for r in rows if r.attack == "baseline"), None)


def markdown_table(rows: list[Row]) -> str:
    """The rows for docs/benchmarks.md (figures beside the baseline of the same run in brackets)."""
    base = _baseline_of(rows)
    lines = ["| " + " | ".join(HEADERS) + " |", "|---|---|" + "---:|" * 9 + "---|---|"]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(row, base)) + " |")
    return "\n".join(lines)


def text_table(rows: list[Row]) -> str:
    """The figures for a terminal: one block per attack."""
    base = _baseline_of(rows)
    out = []
    for row in rows:
        cells = _cells(row, base)
        out.append(cells[0])
        out += [f"    {name}: {value}" for name, value in zip(HEADERS[1:], cells[1:]) if value]
    return "\n".join(out)


def machine() -> str:
    return (
        f"{dt.date.today().isoformat()}  {os.cpu_count()} CPUs  Python {platform.python_version()}  "
        f"{platform.platform()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_attacks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--attacks",
        default=",".join(ATTACKS),
        help=f"comma-separated, in this order (default all: {','.join(ATTACKS)})",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every attack's size (junk changes, bomb size, concurrency, probes) by this; "
        "0.05 for a quick look",
    )
    defaults = Config()
    parser.add_argument("--junk-changes", type=int, help=f"changes in the junk set (default {defaults.junk_changes:,})")
    parser.add_argument(
        "--bomb-mib", type=float, help=f"what the compact bomb expands to (default {defaults.bomb_mib:g})"
    )
    parser.add_argument(
        "--concurrency", type=int, help=f"concurrent gzip bombs and wrong logins (default {defaults.concurrency})"
    )
    parser.add_argument("--probes", type=int, help=f"enrolment probes (default {defaults.probes})")
    parser.add_argument(
        "--window",
        type=float,
        default=defaults.min_window,
        help=f"shortest neighbour window per attack, seconds (default {defaults.min_window:g})",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--markdown", action="store_true", help="print the table as Markdown rows for docs/benchmarks.md"
    )
    parser.add_argument("--out", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument("--keep", type=Path, help="keep the hubs and stations in this (new) folder")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.attacks.split(",") if n.strip()]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown or not names:
        parser.error(f"unknown attack(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(ATTACKS)}")
    config = defaults.scaled(args.scale) if args.scale != 1.0 else defaults
    config.min_window = args.window
    for name in ("junk_changes", "bomb_mib", "concurrency", "probes"):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    os.environ.setdefault("STATION_PASSPHRASE", PASSPHRASE)  # the stations' folders open unattended
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True)
            root = args.keep
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-attacks-")))
        rows = run(names, config=config, root=root, seed=args.seed)
    print(machine())
    print(f"run took {time.perf_counter() - started:.0f} s; sizes: {asdict(config)}\n")
    print(markdown_table(rows) if args.markdown else text_table(rows))
    if args.out:
        args.out.write_text(
            json.dumps({"config": asdict(config), "rows": [asdict(r) for r in rows]}, ensure_ascii=False, indent=2)
            + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
