"""Fuzzing the hub's USB transfer files: ``hub import`` and the function behind it (hub.transfer).

Files start from a real station's up-file (tests/hub/fuzzkit.py), then are flipped, truncated,
spliced, inflated, have one field changed, or are replaced by random bytes or msgpack of the wrong
shape. A file the hub refuses is an InputError (``hub import`` exit 2, the message in the user's
language) and stores nothing; a file it reads stores nothing the station did not seal, and takes
from the file only what the station wrote (its feed position, its features, its outbox length).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import strategies as st

from hub.cli import main
from hub.store import HubStore
from hub.transfer import import_bytes
from sync.errors import InputError, ProxyAppError
from sync.protocol import TransferFile
from tests.hub.fuzzkit import (
    AUTHENTICATED_PEAK,
    CJK,
    IDENTITY,
    RUNS,
    SECONDS_PER_EXAMPLE,
    FuzzWorld,
    HubState,
    assert_nothing_stored,
    fuzz,
    grown,
    measured,
    msgpack_values,
    mutations,
    world_fixture,
)

world = pytest.fixture(scope="module", name="world")(world_fixture)

_FIELDS = (
    "magic",
    "protocol",
    "direction",
    "station_id",
    "created_ms",
    "sets",
    "feed_after",
    "outbox_length",
    "features",
)


def _enc(value: Any) -> bytes:
    return msgspec.msgpack.encode(value)


@pytest.fixture(scope="module")
def genuine(world: FuzzWorld) -> dict[str, Any]:
    """The recorded up-file as a map of its fields, each as its bytes (what a fuzzer edits one at a time)."""
    return msgspec.msgpack.decode(world.up_file, type=dict[str, msgspec.Raw])


def _envelope(world: FuzzWorld) -> bytes:
    """The first set the recorded up-file carries."""
    return bytes(msgspec.msgpack.decode(world.up_file, type=TransferFile).sets[0])


def field_edits(genuine: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """The genuine file with one field set to something else (or removed, or a field added)."""

    def edit(change: tuple[str, Any]) -> bytes:
        name, value = change
        edited = {k: v for k, v in genuine.items() if k != name}
        if value is not _REMOVE:
            edited[name] = msgspec.Raw(_enc(value))
        return _enc(edited)

    values = st.one_of(
        st.sampled_from([0, -1, 1, 2, 999_999, 2**53, 2**63 - 1, 2**64 - 1, -(2**63)]),
        st.sampled_from(["up", "down", "", "proxyapp-transfer", "349921001001-A-2", "349921001002-A-1"]),
        msgpack_values(4),
        st.just(_REMOVE),
    )
    names = st.sampled_from([*_FIELDS, *(k for k in genuine if k not in _FIELDS), "extra"])
    return (
        st.tuples(names, values)
        .filter(lambda c: c[1] is _REMOVE or bytes(genuine.get(c[0], b"")) != _enc(c[1]))
        .map(edit)
    )


_REMOVE = object()


def transfer_shapes(world: FuzzWorld, genuine: dict[str, Any]) -> st.SearchStrategy[bytes]:
    sets = st.one_of(
        st.lists(
            st.one_of(st.binary(max_size=64), mutations(_envelope(world)).map(msgspec.Raw), msgpack_values(4)),
            max_size=3,
        ),
        msgpack_values(3),
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "magic": st.one_of(st.just("proxyapp-transfer"), st.text(max_size=20), msgpack_values(2)),
            "protocol": st.one_of(st.sampled_from([1, 0, 2]), msgpack_values(2)),
            "direction": st.one_of(st.sampled_from(["up", "down"]), msgpack_values(2)),
            "station_id": st.one_of(st.just(world.station_id), st.text(max_size=20), msgpack_values(2)),
            "created_ms": st.one_of(st.integers(-(2**63), 2**64 - 1), msgpack_values(2)),
            "sets": sets,
            "feed_after": st.one_of(st.integers(-(2**63), 2**64 - 1), msgpack_values(2)),
            "outbox_length": st.one_of(st.integers(-(2**63), 2**64 - 1), msgpack_values(2)),
            "features": st.one_of(st.integers(-(2**63), 2**64 - 1), msgpack_values(2)),
        },
    ).map(_enc)


def files(world: FuzzWorld, genuine: dict[str, Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=1024),
        msgpack_values().map(_enc),
        transfer_shapes(world, genuine),
        mutations(world.up_file),
        field_edits(genuine),
    ).filter(lambda b: b != world.up_file)


def _check_read(world: FuzzWorld, file: TransferFile, what: str) -> None:
    """A file the hub read: only the station's own sets stored, and only the station's own word taken."""
    new = {bytes(r[0]) for r in HubState.rows(world.db_path, "SELECT hash FROM sets_in")} - world.held
    genuine_hashes = _file_hashes(world)
    assert new <= genuine_hashes, f"{what}: stored a set the station never sealed"
    after = HubState.counts(world.db_path)
    assert not grown(world.baseline, after, ("quarantine", "forks", "rejected")), (
        f"{what}: {grown(world.baseline, after)}"
    )
    if not new:
        assert not grown(world.baseline, after), f"{what}: nothing accepted, yet stored {grown(world.baseline, after)}"
    recorded = msgspec.msgpack.decode(world.up_file, type=TransferFile)
    before = world.stations_before[world.station_id]
    now = HubState.stations(world.db_path)[world.station_id]
    for column, written in (
        ("feed_acked", recorded.feed_after),
        ("features", recorded.features),
        ("outbox_length", recorded.outbox_length),
    ):
        assert now[column] in (before[column], written), (
            f"{what}: the station wrote {column} = {written}, the hub stored {now[column]!r}"
        )
    keep = [c for c in IDENTITY if c not in ("feed_acked", "features") and not (new and c.startswith("applied"))]
    changed = {c: (before[c], now[c]) for c in keep if before[c] != now[c]}
    assert not changed, f"{what}: station changed {changed}"
    del file


def _file_hashes(world: FuzzWorld) -> set[bytes]:
    from sync.crypto import sha256
    from sync.protocol import decode_envelope

    recorded = msgspec.msgpack.decode(world.up_file, type=TransferFile)
    return {sha256(bytes(decode_envelope(bytes(s)).payload)) for s in recorded.sets}


def test_the_recorded_file_is_genuine(world: FuzzWorld):
    """Imported on the snapshot, the recorded up-file's sets are accepted: the fuzzer starts from a file
    that reaches every decoder."""
    world.restore()
    with HubStore.open_existing(world.hub_dir) as store:
        _, response = import_bytes(store, world.identity, world.up_file)
    assert [r.status for r in response.results] == ["accepted"]
    world.restore()


@pytest.mark.parametrize("run", RUNS)
def test_up_files(world: FuzzWorld, genuine: dict[str, Any], run: str):
    def check(data: bytes) -> None:
        world.restore()
        what = f"up-file {data[:100]!r}"
        with HubStore.open_existing(world.hub_dir) as store, measured() as cost:
            try:
                file, _ = import_bytes(store, world.identity, data)
            except InputError as exc:
                file = None
                assert exc.en and exc.zh and CJK.search(exc.zh), f"{what}: refused without a bilingual reason: {exc!r}"
            except ProxyAppError as exc:
                raise AssertionError(
                    f"{what}: refused as {type(exc).__name__} ({exc.code}), not as bad input "
                    f"(hub import would exit 1, not 2): {exc.en}"
                ) from None
        assert cost["seconds"] < SECONDS_PER_EXAMPLE, what
        assert cost["peak"] <= AUTHENTICATED_PEAK, f"{what}: heap peak {cost['peak'] / 2**20:.1f} MiB"
        if file is None:
            assert_nothing_stored(world, what=what)
        else:
            _check_read(world, file, what)

    edited = {
        name: _enc({**genuine, name: msgspec.Raw(_enc(value))})
        for name, value in (("feed_after", 999_999), ("features", 0), ("outbox_length", 999_999))
    }
    fuzz(run, 40, files(world, genuine), check, tuple(edited.values()))


def _hub(world: FuzzWorld, lang: str, path: Path) -> Any:
    return CliRunner().invoke(
        main, ["--data-dir", str(world.hub_dir), "--lang", lang, "import", str(path)], env={"LANG": "", "LC_ALL": ""}
    )


def _flip_in_set(world: FuzzWorld, genuine: dict[str, Any]) -> bytes:
    """The genuine file with one byte of its set's signed payload flipped (the file still decodes)."""
    envelope = _envelope(world)
    at = world.up_file.index(envelope) + len(envelope) // 2
    return world.up_file[:at] + bytes([world.up_file[at] ^ 0x01]) + world.up_file[at + 1 :]


@pytest.mark.parametrize("run", RUNS)
def test_hub_import_answers_in_the_users_language(world: FuzzWorld, genuine: dict[str, Any], tmp_path: Path, run: str):
    """``hub import`` of a damaged or altered file: exit 2 with the reason in the language asked for and no
    traceback, or (a file whose sets it still reads) only what the station wrote taken."""
    example = st.tuples(files(world, genuine), st.sampled_from(["zh", "en"]))
    always = (
        (_flip_in_set(world, genuine), "zh"),
        (_enc({**genuine, "feed_after": msgspec.Raw(_enc(999_999))}), "en"),
        (world.up_file[: len(world.up_file) // 2], "zh"),
        (b"\x00garbage", "en"),
        (_enc({**genuine, "magic": msgspec.Raw(_enc("x"))}), "zh"),
    )

    def check(case: tuple[bytes, str]) -> None:
        data, lang = case
        world.restore()
        path = tmp_path / "up.transfer"
        path.write_bytes(data)
        result = _hub(world, lang, path)
        what = f"hub --lang {lang} import of {data[:80]!r}: exit {result.exit_code}, {result.output[-300:]!r}"
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{what}: crashed with {result.exception!r}"
        )
        if result.exit_code == 0:
            _check_read(world, msgspec.msgpack.decode(data, type=TransferFile), what)
            return
        assert result.exit_code == 2, f"{what}: a file refused must exit 2 (bad input)"
        message = result.stderr
        prefix = "错误：" if lang == "zh" else "Error: "
        assert prefix in message, what
        if lang == "zh":
            reason = message.split(prefix, 1)[1]
            assert CJK.search(reason), f"{what}: the reason is not in Chinese"
        assert "Traceback" not in result.output, what
        assert_nothing_stored(world, columns=IDENTITY, what=what)

    fuzz(run, 6, example, check, always)
