"""Fuzzing every station-facing decoder of the hub over HTTP: the exchange (X-Sync and long headers), enrolment,
and 0.3's push and feed, which must stay gone (410) whatever they carry.

Each example starts from the hub as it was just before a real station's sync (tests/hub/fuzzkit.py):
random bytes, msgpack of the wrong shape, and the station's genuine requests flipped, truncated,
spliced, inflated, with their header fields changed, or re-signed with the station's key so that the
decoders behind the signature are reached. Every example must end in a 4xx with the hub's JSON reason
and nothing stored, or (only for what the station signed) a 200 that stores nothing the station did
not seal; never a 5xx, never a hang, and within a bounded heap. A short run is part of every test run;
``-m fuzz_long`` runs 50 times as many examples.
"""

from __future__ import annotations

import functools
import gzip
import zlib
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import strategies as st
from litestar.testing import TestClient

from sync import limits
from sync.compact import compact
from sync.protocol import HEADER_SYNC, MEDIA_TYPE, EnrollResponse, SyncResponse
from tests.hub.fuzzkit import (
    AUTHENTICATED_PEAK,
    FEED,
    IDENTITY,
    PUSH,
    RUNS,
    SECONDS_PER_EXAMPLE,
    SYNC,
    UNAUTHENTICATED_PEAK,
    FuzzWorld,
    HubState,
    assert_json_error,
    assert_nothing_stored,
    assert_settled,
    b64url,
    fuzz,
    grown,
    measured,
    msgpack_array,
    msgpack_values,
    mutations,
    world_fixture,
    zstd,
)

ENROLL = "/api/v1/enroll"
MSGPACK = {"content-type": MEDIA_TYPE}

world = pytest.fixture(scope="module", name="world")(world_fixture)


@pytest.fixture
def client(world: FuzzWorld) -> Iterator[TestClient[Any]]:
    """A fresh app per test (whatever a test's examples teach an in-memory throttle stays with it),
    warmed by one genuine request per endpoint: what the first request imports or caches is not an
    example's heap."""
    with TestClient(app=world.app()) as test_client:
        for recorded in (world.exchange, world.long_exchange, world.old_push, world.old_feed, world.enroll):
            world.restore()
            test_client.request(recorded.method, recorded.path_qs, content=recorded.body, headers=recorded.headers)
        world.restore()
        yield test_client


def _send(
    world: FuzzWorld, client: TestClient[Any], method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[Any, dict[str, float]]:
    world.restore()
    # A header value that is not ASCII goes as its UTF-8 bytes, as a hostile client would send it.
    raw = {k: v if v.isascii() else v.encode() for k, v in headers.items()}
    with measured() as cost:
        response = client.request(method, path, content=body, headers=raw)
    assert cost["seconds"] < SECONDS_PER_EXAMPLE, f"{method} {path} took {cost['seconds']:.1f} s"
    return response, cost


def _peak(cost: dict[str, float], bound: float, what: str) -> None:
    assert cost["peak"] <= bound, f"{what}: heap peak {cost['peak'] / 2**20:.1f} MiB, bound {bound / 2**20:.1f} MiB"


def _enc(value: Any) -> bytes:
    return msgspec.msgpack.encode(value)


ASCII = st.characters(min_codepoint=33, max_codepoint=126)
TOKENS = st.one_of(
    st.text(ASCII, min_size=1, max_size=40),
    st.sampled_from(
        [
            "[/x]",
            "[bold]x",
            '=HYPERLINK("http://x")',
            "+1",
            "-",
            "@SUM(A1)",
            "0" * 40,
            "99999999999999999999",
            "-1",
            "1e9",
            "０",
            "0x10",
        ]
    ),
)
"""Header field values: anything printable without a space, and the shapes issue 10 names."""

EDGE_INTS = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.sampled_from([0, -1, 1, 2**31, 2**32, 2**53 - 1, 2**53, 2**63 - 1, 2**64 - 1, -(2**63)]),
)


def junk_sets(world: FuzzWorld) -> st.SearchStrategy[msgspec.Raw]:
    """What a fuzzer puts where a set belongs: msgpack of any shape, or the genuine set altered (unsigned)."""
    genuine = world.genuine_sets[0]
    return st.one_of(msgpack_values(6).map(_enc), mutations(genuine)).map(msgspec.Raw)


def sync_shapes(world: FuzzWorld) -> st.SearchStrategy[bytes]:
    """Arrays shaped like SyncRequest ([protocol, sets, feed_after, feed_bytes, features]) of any length,
    each field of its type or of another."""
    fields = st.tuples(
        st.one_of(st.sampled_from([1, 0, 2, -1, 2**64 - 1]), msgpack_values(3)),
        st.one_of(st.lists(junk_sets(world), max_size=3), msgpack_values(3)),
        st.one_of(EDGE_INTS, msgpack_values(3)),
        st.one_of(EDGE_INTS, msgpack_values(3)),
        st.one_of(EDGE_INTS, msgpack_values(3)),
        msgpack_values(3),
    )
    return st.tuples(fields, st.integers(0, 6)).map(lambda t: _enc(list(t[0][: t[1]])))


# -- the starting point: what the station sent is genuine ------------------------------------------------


def test_the_recorded_requests_are_genuine(world: FuzzWorld, client: TestClient[Any]):
    """Replayed on the snapshot, each recorded request (and each one the fuzzers sign as the station
    does) is accepted: the fuzzers start from requests that reach every decoder."""

    def replay(method: str, path: str, body: bytes, headers: dict[str, str], status: int = 200) -> Any:
        world.restore()
        response = client.request(method, path, content=body, headers=headers)
        assert response.status_code == status, (path, response.text)
        return response

    for recorded in (world.exchange, world.long_exchange):
        answer = msgspec.msgpack.decode(
            replay("POST", SYNC, recorded.body, recorded.headers).content, type=SyncResponse
        )
        assert [r.status for r in answer.results] == ["accepted"] * len(world.genuine_sets)
    for old in (world.old_push, world.old_feed):  # genuine, and gone
        assert replay(old.method, old.path_qs, old.body, old.headers, 410).json()["error"] == "peer_too_old"
        assert HubState.rows(world.db_path, "SELECT code FROM contacts ORDER BY rowid DESC LIMIT 1") == [
            ("peer_too_old",)
        ]
    replay("POST", ENROLL, world.enroll.body, world.enroll.headers)
    for mac in (True, False):
        body = world.exchange_body(world.genuine_sets)
        answer = msgspec.msgpack.decode(
            replay("POST", SYNC, body, world.sync_header(body, mac=mac)).content, type=SyncResponse
        )
        assert [r.status for r in answer.results] == ["accepted"]
    resealed = world.seal_body(msgpack_array(world.genuine_set()[1]), "")
    body = world.exchange_body([resealed])
    answer = msgspec.msgpack.decode(replay("POST", SYNC, body, world.sync_header(body)).content, type=SyncResponse)
    assert [r.status for r in answer.results] == ["accepted"]
    world.restore()


# -- POST /api/v1/sync ----------------------------------------------------------------------------------


@pytest.mark.parametrize("run", RUNS)
def test_exchange_refuses_what_the_station_did_not_sign(world: FuzzWorld, client: TestClient[Any], run: str):
    genuine = world.exchange.headers[HEADER_SYNC.lower()]
    parts = genuine.split(" ")
    headers = st.one_of(
        st.just({}),
        st.just({HEADER_SYNC: genuine}),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=160).map(lambda v: {HEADER_SYNC: v}),
        st.lists(TOKENS, min_size=7, max_size=7).map(lambda p: {HEADER_SYNC: " ".join(p)}),
        st.binary(min_size=1, max_size=80).map(lambda sig: {HEADER_SYNC: " ".join([*parts[:6], b64url(sig)])}),
    )
    media = st.sampled_from([{}, MSGPACK, {"content-type": "application/json"}, {"content-encoding": "gzip"}])
    bodies = st.one_of(
        st.binary(max_size=1024), msgpack_values().map(_enc), sync_shapes(world), mutations(world.exchange.body)
    ).filter(lambda b: b != world.exchange.body)

    def check(example: tuple[bytes, dict[str, str], dict[str, str]]) -> None:
        body, auth, extra = example
        response, cost = _send(world, client, "POST", SYNC, body, {**extra, **auth})
        assert_settled(world, response, None, signed=False, what=f"exchange unsigned {auth} {body[:60]!r}")
        _peak(cost, UNAUTHENTICATED_PEAK + 2 * len(body), "exchange unsigned")

    fuzz(run, 25, st.tuples(bodies, headers, media), check)


@pytest.mark.parametrize("run", RUNS)
def test_exchange_bodies_signed_by_the_station(world: FuzzWorld, client: TestClient[Any], run: str):
    bodies = st.one_of(
        st.binary(max_size=1024),
        msgpack_values().map(_enc),
        sync_shapes(world),
        mutations(world.exchange.body),
        st.lists(junk_sets(world), max_size=4).map(world.exchange_body),
    )

    def check(example: tuple[bytes, bool]) -> None:
        body, mac = example
        response, cost = _send(world, client, "POST", SYNC, body, world.sync_header(body, mac=mac))
        assert_settled(world, response, SyncResponse, signed=True, what=f"exchange signed {body[:80]!r}")
        _peak(cost, AUTHENTICATED_PEAK, "exchange signed")

    fuzz(run, 30, st.tuples(bodies, st.booleans()), check)


def _other_value(field: int, current: str) -> st.SearchStrategy[str]:
    """A value for field ``field`` of ``X-Sync`` that means something else than ``current``."""
    if field in (1, 2, 3, 4):  # counter, station time, head seq, outbox length: another number, or none
        number = int(current)
        return st.one_of(EDGE_INTS.filter(lambda n: n != number).map(str), TOKENS.filter(lambda t: not t.isdigit()))
    if field == 6:
        raw = b64url_decode(current)
        return st.binary(min_size=1, max_size=80).filter(lambda b: b != raw).map(b64url)
    if field == 5:
        return TOKENS.filter(lambda t: t != current and not (current == "-" and t == ""))
    return TOKENS.filter(lambda t: t != current)


def b64url_decode(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("run", RUNS)
def test_every_field_of_the_sync_header_is_authenticated(world: FuzzWorld, client: TestClient[Any], run: str):
    """The genuine exchange with one ``X-Sync`` field changed (key id, counter, time, head seq, outbox
    length, software, signature) is refused, and nothing it says is stored (issue 10, item 6)."""
    parts = world.exchange.headers[HEADER_SYNC.lower()].split(" ")
    example = st.integers(0, 6).flatmap(lambda i: st.tuples(st.just(i), _other_value(i, parts[i])))

    def check(change: tuple[int, str]) -> None:
        index, value = change
        header = " ".join(value if i == index else p for i, p in enumerate(parts))
        response, _ = _send(world, client, "POST", SYNC, world.exchange.body, {HEADER_SYNC: header})
        assert_settled(world, response, None, signed=False, what=f"X-Sync field {index} set to {value!r}")

    fuzz(
        run,
        25,
        example,
        check,
        ((3, "999999"), (4, "999999"), (5, "[/x]"), (5, '=HYPERLINK("x")'), (6, b64url(bytes(16)))),
    )


@pytest.mark.parametrize("run", RUNS)
def test_exchange_set_count_is_bounded(world: FuzzWorld, client: TestClient[Any], run: str):
    """The genuine set repeated: more sets than MAX_SETS_PER_REQUEST is a 4xx before anything is stored."""
    envelope = world.genuine_sets[0]

    def check(count: int) -> None:
        body = world.exchange_body([envelope] * count)
        response, cost = _send(world, client, "POST", SYNC, body, world.sync_header(body))
        what = f"exchange with {count} sets"
        if count > limits.MAX_SETS_PER_REQUEST:
            assert_json_error(response, what=what)
            assert_nothing_stored(world, columns=("applied_seq", "applied_hash", "feed_acked"), what=what)
        else:
            assert_settled(world, response, SyncResponse, signed=True, what=what)
        _peak(cost, AUTHENTICATED_PEAK, what)

    fuzz(run, 6, st.integers(1, 3 * limits.MAX_SETS_PER_REQUEST), check, (limits.MAX_SETS_PER_REQUEST + 1,))


# -- re-signed sets: the decoders behind the signature (box, zstd, compact form, msgpack, records) ---------

TEXT_TABLES = ("intakes", "intake_materials", "commitments", "cases", "case_events", "case_notes")
"""Tables a station's changes write."""


def _over_text_limit(world: FuzzWorld) -> list[tuple[str, str, int]]:
    """(table, column, length) of every stored text longer than its limit (sync.limits.text_limit for the
    free-text fields it names; for any other column, what one record may hold)."""
    found = []
    for table in TEXT_TABLES:
        columns = [r[1] for r in HubState.rows(world.db_path, f'PRAGMA table_info("{table}")')]
        for column in columns:
            bound = limits.TEXT_LIMITS.get(column, limits.MAX_RECORD_BYTES)
            (longest,) = HubState.rows(
                world.db_path, f'SELECT MAX(LENGTH("{column}")) FROM "{table}" WHERE typeof("{column}") = \'text\''
            )[0]
            if longest is not None and longest > bound:
                found.append((table, column, longest))
    return found


_BLOAT = [51, 501, 2001, 6000, 17_000, 100_000]


@st.composite
def altered_records(draw: Any, records: list[bytes]) -> tuple[list[bytes], str]:
    """The genuine set's records after a few edits: repeated, junk added, a text field bloated, fields
    added, values nested deep, records dropped. Returns the records and what was done."""
    out = list(records)
    done = []
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["repeat", "junk", "bloat", "fields", "nest", "drop"]))
        if op == "repeat":
            times = draw(st.one_of(st.integers(2, 8), st.sampled_from([42, 50, 100])))
            out = out * times
            done.append(f"repeat x{times}")
        elif op == "junk":
            at = draw(st.integers(0, len(out)))
            junk = draw(st.one_of(msgpack_values(6).map(_enc), st.binary(min_size=1, max_size=64)))
            out.insert(at, junk)
            done.append(f"junk at {at}")
        elif op in ("bloat", "fields", "nest") and out:
            at = draw(st.integers(0, len(out) - 1))
            try:
                record = msgspec.msgpack.decode(out[at])
            except msgspec.DecodeError:
                continue
            if not isinstance(record, dict):
                continue
            target = record.get("fields") if isinstance(record.get("fields"), dict) else record
            if op == "bloat":
                name = draw(st.sampled_from(sorted(str(k) for k in target) + ["note", "applicant_name", "reason"]))
                size = draw(st.sampled_from(_BLOAT))
                target[name] = draw(st.sampled_from(["名", "x", "\u202e"])) * size
                done.append(f"{name} of {size} chars in record {at}")
            elif op == "fields":
                extra = draw(st.sampled_from([10, 65, 200]))
                target.update({f"f{i}": i for i in range(extra)})
                done.append(f"{extra} fields more in record {at}")
            else:
                depth = draw(st.sampled_from([100, 1000, 10_000]))
                value: Any = None
                for _ in range(depth):
                    value = [value]
                target[draw(st.sampled_from(sorted(str(k) for k in target) or ["x"]))] = value
                done.append(f"a value nested {depth} deep in record {at}")
            try:
                out[at] = _enc(record)
            except (ValueError, RecursionError):
                continue
        elif op == "drop" and out:
            del out[draw(st.integers(0, len(out) - 1))]
            done.append("a record dropped")
    return out, "; ".join(done)


def _record_over_limits(records: list[bytes]) -> bool:
    if len(records) > limits.MAX_CHANGES_PER_SET or len(msgpack_array(records)) > limits.MAX_SET_INFLATED_BYTES:
        return True
    for record in records:
        if len(record) > limits.MAX_RECORD_BYTES:
            return True
        try:
            value = msgspec.msgpack.decode(record)
        except (msgspec.DecodeError, RecursionError):
            continue
        fields = value.get("fields") if isinstance(value, dict) else None
        if isinstance(fields, dict) and len(fields) > limits.MAX_FIELDS_PER_RECORD:
            return True
    return False


@st.composite
def resigned_bodies(draw: Any, records: list[bytes]) -> tuple[bytes, str | int, int, bool, str]:
    """(body as sealed, method, set format, over a limit, description) of a set the station's key signs."""
    fmt = draw(st.sampled_from([1, 2]))
    kind = draw(
        st.sampled_from(
            ["records", "records", "records", "junk", "compact_bomb", "object_bomb", "undeclared", "nested"]
        )
    )
    if kind == "records":
        altered, done = draw(altered_records(records))
        method = draw(st.sampled_from(["", "zstd-d1", "zstd-r2"]))
        plain = msgpack_array(altered)
        body = (
            plain
            if method == ""
            else zstd("zstd-d1", plain)
            if method == "zstd-d1"
            else zstd("zstd-r2", compact(altered))
        )
        return body, method, fmt, _record_over_limits(altered), f"{method or 'plain'} records: {done}"
    if kind == "junk":
        method = draw(st.sampled_from(["", "zstd-d1", "zstd-r2", "gzip", "#7", 3, 255]))
        body = draw(st.one_of(st.binary(max_size=512), msgpack_values().map(_enc)))
        if method in ("zstd-d1", "zstd-r2") and draw(st.booleans()):
            body = zstd(method, body)
        return body, method, fmt, False, f"junk body, method {method!r}"
    if kind == "compact_bomb":
        return compact_bomb(
            draw(st.integers(1, 32)),
            draw(st.sampled_from([1, 64, 1024, 4096])),
            draw(st.sampled_from([1, 10, 100, 400, 512])),
            fmt,
        )
    if kind == "object_bomb":
        return object_bomb(
            draw(st.sampled_from([limits.MAX_CHANGES_PER_SET + 1, 10_000, 200_000])),
            draw(st.sampled_from([b"\xc0", b"\x90", b"\x80"])),
            fmt,
        )
    if kind == "undeclared":
        plain = msgpack_array(records)
        return zstd("zstd-d1", plain, content_size=False), "zstd-d1", fmt, False, "zstd frame without its size"
    return nested(draw(st.sampled_from([1000, 100_000, 1_000_000])), fmt)


def compact_bomb(fields: int, name_size: int, rows: int, fmt: int) -> tuple[bytes, str, int, bool, str]:
    """A compact body (zstd-r2) of one shape whose field names are long, and many rows of it: each row
    expands to every name (issue 10, item 1: ~200 bytes that expanded to ~125 MiB)."""
    names = [f"{i:03d}" + "n" * name_size for i in range(fields)]
    bomb = _enc([[["cases", names, False, None]], [[0, f"case-{r:04d}", 1, *([0] * fields)] for r in range(rows)]])
    expands = rows * fields * (name_size + 8)
    over = (
        rows > limits.MAX_CHANGES_PER_SET
        or fields > limits.MAX_FIELDS_PER_RECORD
        or expands > limits.MAX_SET_INFLATED_BYTES
        or fields * (name_size + 8) > limits.MAX_RECORD_BYTES
    )
    return zstd("zstd-r2", bomb), "zstd-r2", fmt, over, f"compact bomb {fields} names x {name_size} x {rows} rows"


def object_bomb(count: int, item: bytes, fmt: int) -> tuple[bytes, str, int, bool, str]:
    """A body that is one array of ``count`` one-byte records (issue 10, item 2: a million junk records)."""
    return (
        zstd("zstd-d1", b"\xdd" + count.to_bytes(4, "big") + item * count),
        "zstd-d1",
        fmt,
        True,
        f"array of {count} x {item!r}",
    )


def nested(depth: int, fmt: int) -> tuple[bytes, str, int, bool, str]:
    """A body of arrays nested ``depth`` deep."""
    return zstd("zstd-d1", b"\x91" * depth + b"\xc0"), "zstd-d1", fmt, False, f"array nested {depth} deep"


def long_text(records: list[bytes], field: str, size: int, fmt: int) -> tuple[bytes, str, int, bool, str]:
    """The genuine records with ``field`` of every row change set to ``size`` CJK characters."""
    out = []
    for record in records:
        value = msgspec.msgpack.decode(record)
        if isinstance(value, dict) and isinstance(value.get("fields"), dict) and field in value["fields"]:
            value["fields"][field] = "名" * size
        out.append(_enc(value))
    return (msgpack_array(out), "", fmt, _record_over_limits(out), f"{field} of {size} characters")


@pytest.mark.parametrize("run", RUNS)
def test_resigned_sets_stay_within_the_limits(world: FuzzWorld, client: TestClient[Any], run: str):
    """Sets the station's key signs, with bodies no station writes: every decoder behind the signature
    (box, zstd, the compact form, msgpack, the records) stops within the limits of sync.limits, a set
    over a limit stores nothing, and nothing stored is over a limit (issue 10, items 1, 2 and 13)."""
    _, records = world.genuine_set()

    def check(example: tuple[bytes, str | int, int, bool, str]) -> None:
        body, method, fmt, over, what = example
        envelope = world.seal_body(body, method, fmt=fmt, count=-1 if fmt == 1 else 0)
        request = world.exchange_body([envelope])
        response, cost = _send(world, client, "POST", SYNC, request, world.sync_header(request))
        what = f"re-signed set (format {fmt}), {what}"
        assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
        if response.status_code != 200:
            assert_json_error(response, what=what)
        else:
            msgspec.msgpack.decode(response.content, type=SyncResponse)
        _peak(cost, AUTHENTICATED_PEAK, what)
        after = HubState.counts(world.db_path)
        if over:
            assert not grown(world.baseline, after), f"{what}: over a limit, yet stored {grown(world.baseline, after)}"
        stored = HubState.rows(world.db_path, "SELECT changes FROM sets_in")
        assert max(n for (n,) in stored) <= limits.MAX_CHANGES_PER_SET, f"{what}: a set of {stored} changes stored"
        rejected = HubState.rows(world.db_path, "SELECT MAX(LENGTH(change)) FROM rejected")[0][0] or 0
        assert rejected <= limits.MAX_RECORD_BYTES, f"{what}: a rejected change of {rejected} bytes kept"
        assert not _over_text_limit(world), f"{what}: stored text over its limit {_over_text_limit(world)}"

    always = (
        compact_bomb(32, 4096, 512, 2),
        object_bomb(limits.MAX_CHANGES_PER_SET + 1, b"\xc0", 1),
        object_bomb(200_000, b"\x90", 2),
        nested(100_000, 1),
        long_text(records, "applicant_name", 2001, 2),
    )
    fuzz(run, 25, resigned_bodies(records), check, always)


# -- POST /api/v1/sync under the long headers, plain and gzip ---------------------------------------------
# (0.3's push took gzip and was fuzzed so; the exchange takes no content encoding, and the same bodies,
# bombs too, must be refused before anything is inflated.)


@functools.cache
def _gzip_bombs() -> tuple[bytes, ...]:
    """gzip bodies that inflate to 1 MiB, just past 16 MiB (0.5's cap for a push), and 64 MiB (zeros, and a
    msgpack array header over a sea of nils)."""
    bombs = []
    for size in (2**20, 16 * 2**20 + 1, 64 * 2**20):
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        chunk = bytes(2**20)
        parts = [compressor.compress(chunk) for _ in range(size // 2**20)]
        parts.append(compressor.compress(bytes(size % 2**20)))
        bombs.append(b"".join(parts) + compressor.flush())
    bombs.append(gzip.compress(b"\x95\x01\xdd\x00\x0f\xff\xff" + b"\xc0" * (4 * 2**20), 9))
    return tuple(bombs)


def push_shapes(world: FuzzWorld) -> st.SearchStrategy[bytes]:
    """Maps shaped like 0.3's PushRequest with each field of its type or another, and maps of anything."""
    fields = st.fixed_dictionaries(
        {},
        optional={
            "protocol": st.one_of(st.sampled_from([1, 0, 2, -1]), msgpack_values(3)),
            "station_id": st.one_of(st.just(world.station_id), st.text(max_size=30), msgpack_values(3)),
            "sets": st.one_of(st.lists(junk_sets(world), max_size=3), msgpack_values(3)),
            "extra": msgpack_values(3),
        },
    )
    return fields.map(_enc)


def _encoded(plain: st.SearchStrategy[bytes], genuine: bytes) -> st.SearchStrategy[tuple[bytes, str]]:
    """(body, content encoding): plain, gzip of it, the genuine body gzipped and mutated, gzip bombs."""
    return st.one_of(
        st.tuples(plain, st.just("")),
        st.tuples(plain.map(gzip.compress), st.just("gzip")),
        st.tuples(mutations(gzip.compress(genuine, mtime=0)), st.just("gzip")),
        st.tuples(st.sampled_from(_gzip_bombs()), st.just("gzip")),
    )


@pytest.mark.parametrize("run", RUNS)
def test_long_header_exchanges_the_station_did_not_sign(world: FuzzWorld, client: TestClient[Any], run: str):
    """Unsigned, altered or mis-signed exchanges under the long headers, plain and gzip (bombs too): a 4xx,
    nothing stored, and no more heap than the body itself: nothing is inflated (issue 10, item 4)."""
    genuine = world.long_exchange
    plain = st.one_of(st.binary(max_size=1024), sync_shapes(world), push_shapes(world), mutations(genuine.body))
    bodies = _encoded(plain, genuine.body).filter(lambda b: b[0] != genuine.body)
    field_names = [h for h in genuine.headers if h.startswith("x-")]
    headers = st.one_of(
        st.just(dict(genuine.headers)),
        st.tuples(st.sampled_from(field_names), TOKENS).map(lambda kv: {**genuine.headers, kv[0]: kv[1]}),
        st.just(MSGPACK),
        st.dictionaries(st.sampled_from(field_names), TOKENS, max_size=9).map(lambda d: {**MSGPACK, **d}),
    )

    def check(example: tuple[tuple[bytes, str], dict[str, str]]) -> None:
        (body, encoding), sent = example
        sent = {**sent, **({"content-encoding": encoding} if encoding else {})}
        response, cost = _send(world, client, "POST", SYNC, body, sent)
        what = f"exchange, long headers, unsigned ({encoding or 'plain'}, {len(body)} bytes) {body[:40]!r}"
        assert_settled(world, response, None, signed=False, what=what)
        _peak(cost, UNAUTHENTICATED_PEAK + 2 * len(body), what)

    fuzz(run, 20, st.tuples(bodies, headers), check, (((_gzip_bombs()[1], "gzip"), dict(genuine.headers)),))


@pytest.mark.parametrize("run", RUNS)
def test_long_header_exchange_bodies_signed_by_the_station(world: FuzzWorld, client: TestClient[Any], run: str):
    genuine = world.long_exchange.body
    plain = st.one_of(st.binary(max_size=1024), msgpack_values().map(_enc), sync_shapes(world), mutations(genuine))
    bodies = _encoded(plain, genuine)

    def check(example: tuple[bytes, str]) -> None:
        body, encoding = example
        sent = {**({"content-encoding": encoding} if encoding else {}), **world.long_headers("POST", SYNC, body)}
        response, cost = _send(world, client, "POST", SYNC, body, sent)
        what = f"exchange, long headers, signed ({encoding or 'plain'}, {len(body)} bytes) {body[:60]!r}"
        assert_settled(world, response, SyncResponse, signed=True, what=what)
        _peak(cost, AUTHENTICATED_PEAK, what)

    fuzz(run, 20, bodies, check, ((_gzip_bombs()[3], "gzip"), (_gzip_bombs()[2], "gzip")))


_QUERY_VALUES = st.one_of(
    EDGE_INTS.map(str),
    st.sampled_from(["", "x", "1.5", "1e3", "0x10", "+1", " 1", "１", "99999999999999999999999", "%00", "nan"]),
    st.text(max_size=12),
)
QUERIES = st.lists(
    st.tuples(st.sampled_from(["after", "limit", "after", "x", "", "limit[]", "AFTER"]), _QUERY_VALUES), max_size=4
)
"""Query strings of 0.3's feed request (after, limit, repeated, unknown, encoded)."""


@pytest.mark.parametrize("run", RUNS)
def test_exchange_queries_signed_by_the_station(world: FuzzWorld, client: TestClient[Any], run: str):
    """Any query on the exchange, signed as sent (the signature covers the raw path and query): 200 or a
    4xx, never a 5xx (0.3's feed request read ``after`` and ``limit`` from there)."""

    def check(query: list[tuple[str, str]]) -> None:
        world.restore()
        request = client.build_request("POST", SYNC, params=query, content=world.long_exchange.body)
        path_qs = request.url.raw_path.decode("ascii")
        request.headers.update(world.long_headers("POST", path_qs, world.long_exchange.body))
        with measured() as cost:
            response = client.send(request)
        what = f"exchange {path_qs}"
        assert cost["seconds"] < SECONDS_PER_EXAMPLE, what
        assert_settled(world, response, SyncResponse, signed=True, what=what)
        _peak(cost, AUTHENTICATED_PEAK, what)

    fuzz(run, 20, QUERIES, check, ([("after", "99999999999999999999999")], [("limit", "-1"), ("after", "x")]))


@pytest.mark.parametrize("run", RUNS)
def test_every_signed_request_header_is_authenticated(world: FuzzWorld, client: TestClient[Any], run: str):
    """The genuine exchange under the long headers with one of them changed (station, key id, counter, time,
    signature, head seq, outbox length, software): refused, and nothing it says is stored."""
    genuine = world.long_exchange
    names = sorted(h for h in genuine.headers if h.startswith("x-"))

    def other(name: str) -> st.SearchStrategy[str]:
        current = genuine.headers[name]
        if current.isdigit():
            return st.one_of(
                EDGE_INTS.filter(lambda n: n != int(current)).map(str), TOKENS.filter(lambda t: not t.isdigit())
            )
        if name == "x-signature":
            import base64

            raw = base64.b64decode(current)
            return (
                st.binary(min_size=1, max_size=80)
                .filter(lambda b: b != raw)
                .map(lambda b: base64.b64encode(b).decode())
            )
        return TOKENS.filter(lambda t: t.strip() != current)

    example = st.sampled_from(names).flatmap(lambda n: st.tuples(st.just(n), other(n)))

    def check(change: tuple[str, str]) -> None:
        name, value = change
        response, _ = _send(world, client, "POST", SYNC, genuine.body, {**genuine.headers, name: value})
        assert_settled(world, response, None, signed=False, what=f"exchange with {name}: {value!r}")

    fuzz(run, 20, example, check, (("x-head-seq", "999999"), ("x-outbox-length", "999999"), ("x-software", "[/x]")))


# -- 0.3's POST /api/v1/sync/push and GET /api/v1/sync/feed: gone, whatever they carry -----------------------


@pytest.mark.parametrize("run", RUNS)
def test_the_old_push_and_feed_stay_gone(world: FuzzWorld, client: TestClient[Any], run: str):
    """Pushes of every shape (plain, gzip, bombs; signed by the station, altered, or not at all) and feed
    requests with any query: always 410 ``peer_too_old`` with the hub's JSON reason, nothing of the county
    stored, no more heap than the body itself (nothing is inflated or decoded), and nothing of the station's
    chain, feed position or features changed (a signed one is recorded as a refused contact)."""
    genuine = world.old_push
    plain = st.one_of(st.binary(max_size=1024), push_shapes(world), mutations(genuine.body))
    pushes = st.tuples(
        st.just("POST"),
        st.just(PUSH),
        _encoded(plain, genuine.body),
        st.sampled_from(["station", "altered", "none"]),
    )
    feeds = st.tuples(st.just("GET"), QUERIES, st.just((b"", "")), st.sampled_from(["station", "altered", "none"]))

    def check(example: tuple[str, Any, tuple[bytes, str], str]) -> None:
        method, target, (body, encoding), signer = example
        if method == "GET":
            request = client.build_request("GET", FEED, params=target)
            target = request.url.raw_path.decode("ascii")
        sent = {"content-type": MEDIA_TYPE, **({"content-encoding": encoding} if encoding else {})}
        if signer != "none":
            sent.update(world.long_headers(method, target, body))
        if signer == "altered":
            sent["x-counter"] = "0"
        response, cost = _send(world, client, method, target, body, sent)
        what = f"0.3 {method} {target} ({signer}, {encoding or 'plain'}, {len(body)} bytes) {body[:40]!r}"
        assert response.status_code == 410, f"{what}: {response.status_code} {response.text[:200]}"
        assert assert_json_error(response, what=what)["error"] == "peer_too_old", what
        assert_nothing_stored(world, columns=IDENTITY, what=what)
        _peak(cost, UNAUTHENTICATED_PEAK + 2 * len(body), what)

    fuzz(
        run,
        20,
        st.one_of(pushes, feeds),
        check,
        (("POST", PUSH, (_gzip_bombs()[2], "gzip"), "station"), ("GET", [("after", "x")], (b"", ""), "station")),
    )


# -- POST /api/v1/enroll -------------------------------------------------------------------------------------


def enrol_shapes(world: FuzzWorld) -> st.SearchStrategy[bytes]:
    code_id = world.code.split("-")[0]
    genuine = msgspec.msgpack.decode(world.enroll.body)
    keys = st.one_of(st.binary(max_size=40), st.sampled_from([genuine["sign_public"], genuine["box_public"]]))
    return st.fixed_dictionaries(
        {},
        optional={
            "protocol": st.one_of(st.sampled_from([1, 0, 2]), msgpack_values(3)),
            "code_id": st.one_of(
                st.sampled_from([code_id, code_id.lower(), code_id + " ", "", "IIII", "0000"]),
                st.text(max_size=10),
                msgpack_values(3),
            ),
            "sign_public": st.one_of(keys, msgpack_values(3)),
            "box_public": st.one_of(keys, msgpack_values(3)),
            "software": st.one_of(TOKENS, st.text(max_size=300), msgpack_values(3)),
            "mac": st.one_of(st.binary(max_size=40), st.just(genuine["mac"]), msgpack_values(3)),
            "features": st.one_of(EDGE_INTS, msgpack_values(3)),
        },
    ).map(_enc)


@pytest.mark.parametrize("run", RUNS)
def test_enrolment_bodies(world: FuzzWorld, client: TestClient[Any], run: str):
    """Anything sent to enrol: a 4xx with nothing stored and the code still unused, or (for the genuine
    request with its unauthenticated parts changed) the genuine key pair enrolled, never another."""
    bodies = st.one_of(
        st.binary(max_size=512), msgpack_values().map(_enc), enrol_shapes(world), mutations(world.enroll.body)
    )
    media = st.sampled_from([MSGPACK, {}, {**MSGPACK, "content-encoding": "gzip"}])
    code_id = world.code.split("-")[0]
    codes_before = HubState.rows(world.db_path, "SELECT code_id, used_at, station_id FROM enrollments ORDER BY 1")

    def check(example: tuple[bytes, dict[str, str]]) -> None:
        body, sent = example
        response, cost = _send(world, client, "POST", ENROLL, body, sent)
        what = f"enrol {body[:80]!r}"
        _peak(cost, UNAUTHENTICATED_PEAK + 2 * len(body), what)
        if response.status_code == 200:
            answer = msgspec.msgpack.decode(response.content, type=EnrollResponse)
            keys = HubState.rows(
                world.db_path,
                "SELECT sign_public, box_public FROM station_keys WHERE station_id = ?",
                (answer.station_id,),
            )
            assert keys == [(world.enroll_keys.sign_public, world.enroll_keys.box_public)], (
                f"{what}: enrolled a key pair that is not the one the code's holder made"
            )
            used = HubState.rows(world.db_path, "SELECT used_at FROM enrollments WHERE code_id = ?", (code_id,))
            assert used[0][0] is not None, what
            return
        assert_json_error(response, what=what)
        assert_nothing_stored(world, what=what)
        codes = HubState.rows(world.db_path, "SELECT code_id, used_at, station_id FROM enrollments ORDER BY 1")
        assert codes == codes_before, f"{what}: enrolment codes changed"

    fuzz(run, 25, st.tuples(bodies, media), check)
