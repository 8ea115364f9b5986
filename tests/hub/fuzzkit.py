"""What the hub's fuzzers share: a recorded county (genuine requests and files), state snapshots, oracles, mutations.

The fuzzers are black-box: they speak to the hub only through its public surfaces (the ASGI app
over HTTP, ``hub.transfer`` and ``hub import``), so they keep working while the decoders behind
those surfaces change. What they start from is recorded from the project's own station code
(tests/integration/county.py): a real station enrolled to a real hub on loopback, its exchange and
enrolment requests and its USB up-file, captured as they went on the wire; from them, signed with
the station's key, the same exchange under the long headers, and the push and feed request a
station of 0.3 would have sent (gone since 0.6: docs/protocol.md, "Support window").
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import re
import sqlite3
import time
import tracemalloc
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import example as hypothesis_example
from hypothesis import strategies as st

from hub.enroll import issue_code
from hub.keys import HubIdentity, load_identity
from hub.settings import Settings
from hub.web.app import create_app
from station.enrolment import enroll as station_enroll
from station.identity import load_keypair
from station.transfer import export_file as station_export
from sync import limits
from sync.crypto import KeyPair, key_id_of, seal_box, sha256, sign
from sync.protocol import (
    CTX_UP,
    HEADER_COUNTER,
    HEADER_HEAD_SEQ,
    HEADER_OUTBOX,
    HEADER_SOFTWARE,
    HEADER_SYNC,
    HEADER_TIME,
    MEDIA_TYPE,
    Envelope,
    SignedSet,
    SignedSet2,
    SyncRequest,
    compact_auth,
    decode_envelope,
    expand_auth,
    open_set,
    request_mac_key,
    sign_request,
)
from tests.integration.county import PASSPHRASE, V1, TestStationHandle, county

__all__ = (
    "AUTHENTICATED_PEAK",
    "CJK",
    "ERROR_KEYS",
    "FEED",
    "IDENTITY",
    "PUSH",
    "RUNS",
    "SECONDS_PER_EXAMPLE",
    "SYNC",
    "UNAUTHENTICATED_PEAK",
    "FuzzWorld",
    "HubState",
    "Recorded",
    "assert_json_error",
    "assert_nothing_stored",
    "assert_settled",
    "b64url",
    "build_world",
    "fuzz",
    "grown",
    "measured",
    "msgpack_array",
    "msgpack_values",
    "mutate",
    "mutations",
    "world_fixture",
    "zstd",
)

SYNC, PUSH, FEED = "/api/v1/sync", "/api/v1/sync/push", "/api/v1/sync/feed"

ERROR_KEYS = ("error", "detail", "detail_zh")
"""The hub's one error shape (hub/web/errors.py)."""

SECONDS_PER_EXAMPLE = 10.0
"""An answer slower than this is a hang (the slowest honest request here takes well under 0.5 s)."""

UNAUTHENTICATED_PEAK = 4 * 1024 * 1024
"""Python-heap bytes one unauthenticated request may cost above its own body: the hub reads the
body (at most the request cap), checks the signature, and inflates nothing before that."""

AUTHENTICATED_PEAK = 4 * limits.MAX_SET_INFLATED_BYTES + 16 * 1024 * 1024
"""Python-heap bytes one signed request of a few KB may cost: one set inflated to its cap
(MAX_SET_INFLATED_BYTES), decoded once and expanded once, plus the app's own working set."""

PROTECTED_TABLES = (
    "stations",
    "station_keys",
    "enrollments",
    "sets_in",
    "receipts",
    "quarantine",
    "forks",
    "rejected",
    "conflicts",
    "feed_items",
    "feed_sets",
    "intakes",
    "intake_materials",
    "commitments",
    "cases",
    "case_events",
    "case_notes",
    "documents",
    "catalogs",
    "calendar_years",
    "users",
    "sessions",
    "api_tokens",
)
"""Tables that hold the county's data: junk must never add a row to them. Contacts, counters and any
log of refusals or throttling may grow (they are how a refusal is recorded for administrators)."""

IDENTITY = (
    "station_id",
    "village_code",
    "device",
    "serial",
    "key_id",
    "enrolled_at",
    "revoked_at",
    "revoke_reason",
    "applied_seq",
    "applied_hash",
    "feed_acked",
    "features",
)
"""Columns of a station's row that only an accepted request of that station may change (its chain,
its feed position, what it reads), and no refused one."""

REPORTED = ("head_seq", "outbox_length", "software")
"""Columns a station's request reports; one that is not the station's (unsigned, altered) must not
change them."""

STATION_KEPT = IDENTITY + REPORTED


@dataclasses.dataclass(frozen=True)
class Recorded:
    """One HTTP request as the station's code sent it."""

    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes


class _Recorder(httpx.BaseTransport):
    """Records every request and forwards it to the hub."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[Recorded] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in request.headers.raw
            if k.lower() not in (b"host", b"content-length")
        }
        self.requests.append(Recorded(request.method, request.url.raw_path.decode("ascii"), headers, body))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class HubState:
    """Snapshots of a hub database (SQLite's backup API, so it is safe while the app has it open) and
    what a fuzzer compares: row counts of every table, and the stations' rows."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._saved = sqlite3.connect(":memory:", check_same_thread=False)
        with contextlib.closing(sqlite3.connect(db_path)) as db:
            db.backup(self._saved)

    def restore(self) -> None:
        """Put the database back as it was when this snapshot was taken."""
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=10.0)) as db:
            self._saved.backup(db)

    def close(self) -> None:
        self._saved.close()

    @staticmethod
    def counts(db_path: Path) -> dict[str, int]:
        with contextlib.closing(sqlite3.connect(db_path, timeout=10.0)) as db:
            tables = [
                r[0]
                for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            ]
            return {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}

    @staticmethod
    def stations(db_path: Path) -> dict[str, dict[str, Any]]:
        with contextlib.closing(sqlite3.connect(db_path, timeout=10.0)) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute("SELECT * FROM stations").fetchall()
        return {r["station_id"]: {k: r[k] for k in STATION_KEPT if k in r.keys()} for r in rows}

    @staticmethod
    def rows(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(db_path, timeout=10.0)) as db:
            return db.execute(sql, params).fetchall()


def grown(before: dict[str, int], after: dict[str, int], tables: tuple[str, ...] = PROTECTED_TABLES) -> dict[str, int]:
    """Tables of ``tables`` that gained (or lost) rows: {table: difference}."""
    return {t: after.get(t, 0) - before.get(t, 0) for t in tables if after.get(t, 0) != before.get(t, 0)}


@dataclasses.dataclass
class FuzzWorld:
    """A hub with one enrolled station in step, and what that station was about to send.

    The hub's database is snapshotted just before the station's next sync: restored, every
    recorded request is genuine again (its counter unseen, its set not yet held, its code unused).
    """

    hub_dir: Path
    settings: Settings
    identity: HubIdentity
    state: HubState
    station: TestStationHandle
    keys: KeyPair
    station_id: str
    counter: int
    """The hub's last request counter of the station at the snapshot: sign above it."""
    exchange: Recorded
    """The station's exchange as it went on the wire (``X-Sync``)."""
    enroll: Recorded
    up_file: bytes
    enroll_keys: KeyPair
    """The key pair the recorded enrolment request carries (another PC of the village)."""
    code: str = ""
    """The enrolment code the recorded enrolment request proves."""
    baseline: dict[str, int] = dataclasses.field(default_factory=dict)
    stations_before: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    held: set[bytes] = dataclasses.field(default_factory=set)
    """Hashes of the sets the hub held at the snapshot."""
    long_exchange: Recorded = dataclasses.field(init=False)
    """The same exchange signed with the long headers, as the station signs them (every field covered)."""
    old_push: Recorded = dataclasses.field(init=False)
    """The station's sets in a push as a station of 0.3 sent it (``POST /api/v1/sync/push``: gone, 410)."""
    old_feed: Recorded = dataclasses.field(init=False)
    """A feed request as a station of 0.3 sent it (``GET /api/v1/sync/feed``: gone, 410)."""

    def __post_init__(self) -> None:
        self.long_exchange = Recorded(
            "POST", SYNC, self.long_headers("POST", SYNC, self.exchange.body), self.exchange.body
        )
        push = msgspec.msgpack.encode(
            {"protocol": 1, "station_id": self.station_id, "sets": [msgspec.Raw(s) for s in self.genuine_sets]}
        )
        headers = {"content-type": MEDIA_TYPE, **self.long_headers("POST", PUSH, push)}
        self.old_push = Recorded("POST", PUSH, headers, push)
        feed = f"{FEED}?after=0&limit=20"
        self.old_feed = Recorded("GET", feed, self.long_headers("GET", feed), b"")

    @property
    def db_path(self) -> Path:
        return self.hub_dir / "hub.db"

    def restore(self) -> None:
        self.state.restore()

    def app(self) -> Any:
        return create_app(self.settings)

    # -- signing what a fuzzer made, as the station would ---------------------------------------

    def signed(
        self,
        method: str,
        path_qs: str,
        body: bytes = b"",
        *,
        counter: int | None = None,
        mac: bool = False,
        **fields: Any,
    ) -> dict[str, str]:
        """The long signed headers for a request; a counter above the snapshot's."""
        mac_key = request_mac_key(self.keys.box_private, self.identity.keys.box_public) if mac else None
        return sign_request(
            sign_private=self.keys.sign_private,
            sign_public=self.keys.sign_public,
            method=method,
            path_qs=path_qs,
            station_id=self.station_id,
            counter=self.counter + 1 if counter is None else counter,
            station_ms=fields.pop("station_ms", int(time.time() * 1000)),
            body=body,
            mac_key=mac_key,
            **fields,
        )

    def long_headers(self, method: str, path_qs: str, body: bytes = b"", **fields: Any) -> dict[str, str]:
        """The long signed headers as the station signs them (a signature over every field, with the head
        seq, outbox length and software of the recorded exchange), in lower case; a counter above the snapshot's."""
        recorded = expand_auth(self.exchange.headers[HEADER_SYNC.lower()], self.station_id)
        said = {
            "station_ms": int(recorded[HEADER_TIME]),
            "head_seq": int(recorded[HEADER_HEAD_SEQ]),
            "outbox_length": int(recorded[HEADER_OUTBOX]),
            "software": recorded[HEADER_SOFTWARE],
            "cover": True,
        }
        assert int(recorded[HEADER_COUNTER]) == self.counter + 1
        # Lower case, as the recorder keeps what went on the wire.
        return {k.lower(): v for k, v in self.signed(method, path_qs, body, **{**said, **fields}).items()}

    def sync_header(self, body: bytes, *, path_qs: str = SYNC, mac: bool = True, **fields: Any) -> dict[str, str]:
        """``X-Sync`` for an exchange body, as the station writes it."""
        return {HEADER_SYNC: compact_auth(self.signed("POST", path_qs, body, mac=mac, **fields))}

    # -- the station's genuine set, and sets re-signed with its key --------------------------------

    @property
    def genuine_sets(self) -> list[bytes]:
        """The envelopes the recorded exchange carries (the station's sets the hub does not hold yet)."""
        return [bytes(s) for s in msgspec.msgpack.decode(self.exchange.body, type=SyncRequest).sets]

    @property
    def genuine_hashes(self) -> set[bytes]:
        return {sha256(bytes(decode_envelope(e).payload)) for e in self.genuine_sets}

    def genuine_set(self) -> tuple[SignedSet, list[bytes]]:
        """The first recorded set, opened as the hub opens it, and its records (encoded changes)."""
        signed, _, body = open_set(
            self.genuine_sets[0],
            public_key_for=lambda _: self.keys.sign_public,
            context=CTX_UP,
            box_private=self.identity.keys.box_private,
            sender_box_public=self.keys.box_public,
        )
        return signed, [bytes(r) for r in msgspec.msgpack.decode(body, type=list[msgspec.Raw])]

    def seal_body(
        self,
        body: bytes,
        method: str | int,
        *,
        fmt: int = 2,
        seq: int | None = None,
        prev: bytes | None = None,
        count: int = 0,
    ) -> bytes:
        """A set carrying ``body`` as its (already compressed) body, signed with the station's key and
        sealed to the hub, at the genuine set's place in the chain unless told otherwise: every
        check in front of the body's decoders passes, so a fuzzer reaches them."""
        signed, _ = self.genuine_set()
        seq = signed.seq if seq is None else seq
        prev = signed.prev if prev is None else prev
        aad = self.station_id.encode() + b"/" + str(seq).encode()
        if fmt == 2:
            sealed = seal_box(self.identity.keys.box_public, body, aad, sender_private=self.keys.box_private)
            code = method if isinstance(method, int) else {"": 0, "zstd-d1": 1, "zstd-r2": 2}.get(method, 99)
            payload = msgspec.msgpack.encode(SignedSet2(self.station_id, seq, prev, sealed, code))
            envelope = Envelope(2, "", msgspec.Raw(payload), sign(self.keys.sign_private, CTX_UP, payload))
        else:
            sealed = seal_box(self.identity.keys.box_public, body, aad)
            name = method if isinstance(method, str) else {0: "", 1: "zstd-d1", 2: "zstd-r2"}.get(method, f"#{method}")
            payload = msgspec.msgpack.encode(
                SignedSet(
                    origin=self.station_id,
                    seq=seq,
                    prev=prev,
                    created_ms=0,
                    hlc=0,
                    count=count,
                    body=sealed,
                    sealed=True,
                    compression=name,
                )
            )
            envelope = Envelope(
                1, key_id_of(self.keys.sign_public), msgspec.Raw(payload), sign(self.keys.sign_private, CTX_UP, payload)
            )
        return msgspec.msgpack.encode(envelope)

    def exchange_body(self, sets: list[bytes], *, feed_after: int | None = None) -> bytes:
        """An exchange body as the station writes it around ``sets`` (its features, its feed position)."""
        genuine = msgspec.msgpack.decode(self.exchange.body, type=SyncRequest)
        return msgspec.msgpack.encode(
            SyncRequest(
                genuine.protocol,
                [msgspec.Raw(s) for s in sets],
                genuine.feed_after if feed_after is None else feed_after,
                genuine.feed_bytes,
                genuine.features,
            )
        )


_WORLDS: dict[Path, FuzzWorld] = {}


def world_fixture(tmp_path_factory: pytest.TempPathFactory, hub_template: tuple[Path, Any]) -> FuzzWorld:
    """The body of each fuzz module's ``world`` fixture: one recorded county per test session, shared
    (every example restores the snapshot before it starts, so no module sees another's traces)."""
    template = hub_template[0]
    if template not in _WORLDS:
        _WORLDS[template] = build_world(tmp_path_factory.mktemp("fuzz"), template)
    world = _WORLDS[template]
    world.restore()
    return world


def build_world(root: Path, template: Path) -> FuzzWorld:
    """Enrol a real station to a real hub on loopback, bring it in step, make work, then record its
    next sync, its up-file and a second PC's enrolment, with the hub's database snapshotted before
    any of it arrived."""
    settings_kw = {"argon2_time_cost": 1, "argon2_memory_kib": 1024}
    with county(root, template) as c:
        handle = c.enrol(V1)
        for serial in range(2):
            handle.new_case(f"王{serial}明", serial)
        first = handle.sync()
        assert first.in_step, first
        for serial in range(2, 5):
            handle.new_case(f"张{serial}兰", serial)
        with handle.open() as opened:
            station_export(opened, root / "up.transfer", keys=handle.keys)
        up_file = (root / "up.transfer").read_bytes()
        with c.store() as store:
            code = issue_code(store, V1).code
            counter = store.station(handle.station_id).last_counter
        state = HubState(c.hub_dir / "hub.db")
        recorder = _Recorder(httpx.HTTPTransport())
        report = handle.sync(transport=recorder)
        assert report.in_step, report
        enrol_recorder = _Recorder(httpx.HTTPTransport())
        station_enroll(
            root / "second-pc",
            hub_url=c.url,
            code=code,
            passphrase=PASSPHRASE,
            key_work=2**10,
            transport=enrol_recorder,
        )
    enroll_keys = load_keypair(root / "second-pc", PASSPHRASE)
    by_path: dict[str, list[Recorded]] = {}
    for r in recorder.requests + enrol_recorder.requests:
        by_path.setdefault(r.path_qs.partition("?")[0], []).append(r)
    world = FuzzWorld(
        hub_dir=c.hub_dir,
        settings=Settings(data_dir=c.hub_dir, **settings_kw),
        identity=load_identity(c.hub_dir),
        state=state,
        station=handle,
        keys=handle.keys,
        station_id=handle.station_id,
        counter=counter,
        exchange=by_path[SYNC][0],
        enroll=by_path["/api/v1/enroll"][0],
        up_file=up_file,
        enroll_keys=enroll_keys,
        code=code,
    )
    world.restore()
    world.baseline = HubState.counts(world.db_path)
    world.stations_before = HubState.stations(world.db_path)
    world.held = {bytes(r[0]) for r in HubState.rows(world.db_path, "SELECT hash FROM sets_in")}
    return world


def assert_nothing_stored(world: FuzzWorld, *, columns: tuple[str, ...] = STATION_KEPT, what: str = "") -> None:
    """No row added to (or removed from) the county's tables, and the stations' rows as they were."""
    after = HubState.counts(world.db_path)
    assert not grown(world.baseline, after), f"{what}: stored {grown(world.baseline, after)}"
    stations = HubState.stations(world.db_path)
    for station_id, before in world.stations_before.items():
        changed = {
            c: (before.get(c), stations[station_id].get(c))
            for c in columns
            if before.get(c) != stations[station_id].get(c)
        }
        assert not changed, f"{what}: station {station_id} changed {changed}"


def assert_settled(world: FuzzWorld, response: Any, answer: type[Any] | None, *, signed: bool, what: str = "") -> None:
    """What any fuzzed request must leave: a 4xx with a reason and nothing stored; or, for a request
    signed with the station's key, a 200 whose answer decodes, where the only sets stored are the
    station's genuine ones (a set never sealed by the station is never held) and nothing is quarantined
    or rejected on their account."""
    if response.status_code != 200 or answer is None:
        assert_json_error(response, what=what)
        assert_nothing_stored(world, columns=STATION_KEPT if not signed else IDENTITY, what=what)
        return
    assert signed, f"{what}: a request the station did not sign was answered 200"
    try:
        msgspec.msgpack.decode(response.content, type=answer)
    except (msgspec.DecodeError, ValueError) as exc:
        raise AssertionError(f"{what}: the 200 answer is not a {answer.__name__}: {exc}") from None
    new = {bytes(r[0]) for r in HubState.rows(world.db_path, "SELECT hash FROM sets_in")} - world.held
    assert new <= world.genuine_hashes, f"{what}: stored a set the station never sealed"
    after = HubState.counts(world.db_path)
    if not new:
        assert not grown(world.baseline, after), f"{what}: nothing accepted, yet stored {grown(world.baseline, after)}"
    else:
        assert not grown(world.baseline, after, ("quarantine", "forks", "rejected")), (
            f"{what}: {grown(world.baseline, after)}"
        )
    keep = tuple(c for c in IDENTITY if c not in ("feed_acked", "features") and not (new and c.startswith("applied")))
    stations = HubState.stations(world.db_path)
    for station_id, before in world.stations_before.items():
        changed = {
            c: (before.get(c), stations[station_id].get(c))
            for c in keep
            if before.get(c) != stations[station_id].get(c)
        }
        assert not changed, f"{what}: station {station_id} changed {changed}"


# -- oracles ---------------------------------------------------------------------------------------


def assert_json_error(response: Any, *, what: str = "") -> dict[str, Any]:
    """A 4xx with the hub's JSON reason: {"error", "detail", "detail_zh"}, each a non-empty string."""
    status = response.status_code
    assert 400 <= status < 500, f"{what}: answered {status}, not a 4xx: {response.content[:300]!r}"
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"{what}: {status} without a JSON reason: {response.content[:300]!r}") from None
    assert isinstance(body, dict) and all(isinstance(body.get(k), str) and body[k] for k in ERROR_KEYS), (
        f"{what}: {status} reason is not {{error, detail, detail_zh}}: {body!r}"
    )
    return body


@contextlib.contextmanager
def measured() -> Iterator[dict[str, float]]:
    """Peak Python-heap bytes (tracemalloc, every thread: the app runs in the test client's) and
    seconds of the block. Starts tracing if no one has."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result: dict[str, float] = {}
    begin = time.monotonic()
    try:
        yield result
    finally:
        result["seconds"] = time.monotonic() - begin
        result["peak"] = tracemalloc.get_traced_memory()[1] - base
        if started:
            tracemalloc.stop()


# -- strategies --------------------------------------------------------------------------------------


def msgpack_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Values msgpack can carry, of every type and size class (what a decoder of a wrong shape sees)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.sampled_from([0, 1, -1, 2**31, 2**32, 2**53, 2**53 + 1, 2**63 - 1, -(2**63)]),
        st.floats(allow_nan=True),
        st.text(max_size=40),
        st.binary(max_size=64),
        st.builds(msgspec.msgpack.Ext, st.integers(-128, 127), st.binary(max_size=16)),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=6),
            st.dictionaries(st.one_of(st.text(max_size=12), st.integers(-5, 5)), inner, max_size=6),
        ),
        max_leaves=max_leaves,
    )


MUTATIONS = ("flip", "truncate", "splice", "insert", "duplicate", "inflate", "zero", "swap")


def mutate(data: bytes, draw: Callable[[st.SearchStrategy[Any]], Any]) -> bytes:
    """One mutation of ``data``: flip a bit, truncate, splice in bytes, insert, duplicate a span,
    inflate a msgpack length/int header, zero a span, swap two spans. Never returns ``data`` itself."""
    kind = draw(st.sampled_from(MUTATIONS))
    n = len(data)
    at = draw(st.integers(0, max(n - 1, 0)))
    if kind == "flip" and n:
        bit = draw(st.integers(0, 7))
        out = data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1 :]
    elif kind == "truncate":
        out = data[:at]
    elif kind == "splice" and n:
        end = draw(st.integers(at, n))
        out = data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[end:]
    elif kind == "insert":
        out = data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    elif kind == "duplicate" and n:
        end = draw(st.integers(at + 1, min(n, at + 64)))
        out = data[:end] + data[at:end] * draw(st.integers(1, 8)) + data[end:]
    elif kind == "inflate" and n:
        # A msgpack header that claims much more than follows: array/map/str/bin 32-bit lengths, big ints.
        head = draw(st.sampled_from([b"\xdd", b"\xdf", b"\xdb", b"\xc6", b"\xcf", b"\xd3", b"\xce"]))
        size = draw(st.sampled_from([2**31 - 1, 2**32 - 1, 10**6, 10**9, 0xFFFFFFFF]))
        width = 8 if head in (b"\xcf", b"\xd3") else 4
        out = data[:at] + head + size.to_bytes(width, "big") + data[at + 1 :]
    elif kind == "zero" and n:
        end = draw(st.integers(at + 1, min(n, at + 32)))
        out = data[:at] + bytes(end - at) + data[end:]
    elif kind == "swap" and n > 2:
        a, b = sorted(draw(st.lists(st.integers(0, n), min_size=2, max_size=2)))
        out = data[:a] + data[b:] + data[a:b]
    else:
        out = data + draw(st.binary(min_size=1, max_size=8))
    return out if out != data else data + b"\x00"


@st.composite
def mutations(draw: Callable[[st.SearchStrategy[Any]], Any], data: bytes, max_rounds: int = 3) -> bytes:
    """``data`` after one to ``max_rounds`` mutations."""
    for _ in range(draw(st.integers(1, max_rounds))):
        data = mutate(data, draw)
    return data


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


CJK = re.compile(r"[\u4e00-\u9fff]")
"""A Chinese character: a message meant to be bilingual has one in its Chinese half."""


# -- zstd as the protocol's methods write it (their dictionaries ship in the sync package) ---------------


_DICTS = {"zstd-d1": "changes-v1.zdict", "zstd-r2": "changes-v2.zdict"}


def zstd(method: str, data: bytes, *, content_size: bool = True) -> bytes:
    """``data`` compressed as ``method`` writes it (level 3: a fuzzer needs many, not small ones)."""
    dictionary = zstandard.ZstdCompressionDict(resources.files("sync").joinpath("data", _DICTS[method]).read_bytes())
    return zstandard.ZstdCompressor(
        level=3, dict_data=dictionary, write_content_size=content_size, write_dict_id=False
    ).compress(data)


def msgpack_array(items: list[bytes]) -> bytes:
    """A msgpack array of already-encoded items."""
    n = len(items)
    head = (
        bytes([0x90 | n])
        if n < 16
        else (b"\xdc" + n.to_bytes(2, "big") if n < 2**16 else b"\xdd" + n.to_bytes(4, "big"))
    )
    return head + b"".join(items)


# -- running a property in a short (CI) or a long run ------------------------------------------------------

LONG_FACTOR = 50
"""A ``-m fuzz_long`` run tries this many times the examples of the short run, not derandomized."""

RUNS = [
    pytest.param("short", id="short"),
    pytest.param("long", id="long", marks=[pytest.mark.fuzz_long, pytest.mark.timeout(3600)]),
]
"""Parametrize a fuzz test with ``run`` over these: the short run is part of every test run (and of
CI, under HYPOTHESIS_PROFILE=ci, derandomized); the long one only with ``-m fuzz_long``."""


class _Shown:
    """An example with a repr short enough to report (hypothesis warns, and so fails, on huge ones)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        text = repr(self.value)
        return text if len(text) <= 600 else f"{text[:600]}... ({len(text)} characters)"


def fuzz(
    run: str,
    examples: int,
    strategy: st.SearchStrategy[Any],
    check: Callable[[Any], None],
    always: tuple[Any, ...] = (),
) -> None:
    """Run ``check`` on ``examples`` values of ``strategy`` (times LONG_FACTOR in the long run), heap traced.

    ``always``: values tried first in every run (the shapes a fuzzer must never miss: bombs, edges).
    """
    extra: dict[str, Any] = {"derandomize": False} if run == "long" else {}
    budget = settings(
        max_examples=examples * (LONG_FACTOR if run == "long" else 1),
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
        **extra,
    )

    def property_(example: _Shown) -> None:
        check(example.value)

    for value in reversed(always):
        property_ = hypothesis_example(_Shown(value))(property_)
    property_ = budget(given(strategy.map(_Shown))(property_))

    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        property_()
    finally:
        if not tracing:
            tracemalloc.stop()
