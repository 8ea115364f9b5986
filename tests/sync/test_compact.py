"""The compact body form (zstd-r2) gives back every record exactly, is smaller, and refuses what does not expand."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.budget import OverBudget
from sync.changes import RowChange, StatusChange, decode_change, encode_change
from sync.compact import CompactError, compact, expand, expand_records
from sync.compression import MAX_INFLATED, NONE, ZSTD_D1, ZSTD_R2, msgpack_array, pack, unpack
from sync.crypto import KeyPair
from sync.errors import ProxyAppError
from sync.protocol import CTX_UP, GENESIS, CaseState, open_set, seal_set
from tests.support.old_forms import pack as pack_0_5

CASE = "349921001001-20261126-A001"
ENCODER = msgspec.msgpack.Encoder()


def intake(n: int, hlc: int) -> list[bytes]:
    """One intake's records as a station writes them: the intake, two materials, the case, its first move."""
    case, at = f"349921001001-20261126-A{n:03d}", f"2026-11-26T0{n % 10}:15:00.000Z"
    changes = [
        RowChange(
            table="intakes",
            pk=case,
            hlc=hlc,
            insert=True,
            fields={"intake_id": case, "village_code": "349921001001", "received_at": at},
        ),
        *(
            RowChange(
                table="intake_materials",
                pk=f"{case}/{name}",
                hlc=hlc + i + 1,
                insert=True,
                fields={
                    "material_id": f"{case}/{name}",
                    "intake_id": case,
                    "name_zh": name,
                    "state": "presented",
                    "updated_at": at,
                },
            )
            for i, name in enumerate(["申请人居民身份证", "户口簿"])
        ),
        RowChange(
            table="cases",
            pk=case,
            hlc=hlc + 3,
            insert=True,
            fields={
                "case_no": case,
                "applicant_name": "王小明",
                "id_number": "349921194308259656",
                "stage": 0,
                "outcome": None,
                "received_at": at,
            },
        ),
        StatusChange(
            event_id=f"349921001001-A-8de1305f:{hlc + 4}",
            case_no=case,
            from_status="DRAFT",
            to_status="RECEIVED",
            actor="station",
            hlc=hlc + 4,
            at=at,
        ),
    ]
    return [encode_change(c) for c in changes]


def day(count: int) -> list[bytes]:
    return [record for n in range(1, count + 1) for record in intake(n, (1_764_000_000_000 + n * 60_000) << 16)]


def test_a_day_of_work_comes_back_byte_for_byte():
    records = day(5)
    assert expand(compact(records), max_size=MAX_INFLATED) == records


def test_the_compact_form_is_smaller_than_the_plain_array_before_and_after_zstd():
    records = day(5)
    assert len(compact(records)) < len(msgpack_array(records)) / 2
    assert len(pack(records)[1]) < len(pack_0_5(records, methods=(ZSTD_D1,))[1]) * 0.8  # zstd-d1, as 0.5 wrote it


def test_repeated_strings_become_references_and_heads_are_shared():
    # The case number is written once; the material ids build on it.
    encoded = compact(day(1))
    assert encoded.count(CASE.encode()) == 1
    assert b"349921001001-A-8de1305f" in encoded


def test_records_of_other_kinds_travel_as_they_are():
    state = ENCODER.encode(CaseState(case_no=CASE, status="ACCEPTED", accepted_date="2026-11-26"))
    forwarded = encode_change(RowChange(table="cases", pk=CASE, hlc=5, fields={"status_note": "x"}, origin="hub"))
    records = [state, *intake(1, 10 << 16), forwarded, b"\xc0"]
    assert expand(compact(records), max_size=MAX_INFLATED) == records


def test_a_record_with_an_extension_value_travels_as_it_is():
    odd = encode_change(RowChange(table="cases", pk=CASE, hlc=1, fields={"x": msgspec.msgpack.Ext(1, b"\x00")}))
    assert expand(compact([odd]), max_size=MAX_INFLATED) == [odd]


TEXT = st.text(alphabet=st.sampled_from("ab/:-0123456789王李"), max_size=14)
VALUE = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), TEXT, st.lists(TEXT, max_size=2))
ROWS = st.builds(
    RowChange,
    table=st.sampled_from(["cases", "intakes"]),
    pk=TEXT,
    hlc=st.integers(0, 2**63 - 1),
    insert=st.booleans(),
    origin=st.one_of(st.none(), TEXT),
    fields=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), VALUE, max_size=4),
)
MOVES = st.builds(
    StatusChange,
    event_id=TEXT,
    case_no=TEXT,
    from_status=TEXT,
    to_status=TEXT,
    actor=TEXT,
    hlc=st.integers(0, 2**63 - 1),
    at=TEXT,
    reason=st.one_of(st.none(), TEXT),
    by=st.one_of(st.none(), TEXT),
    origin=st.one_of(st.none(), TEXT),
)


@given(st.lists(st.one_of(ROWS, MOVES), max_size=30))
def test_any_list_of_changes_round_trips(changes):
    records = [encode_change(c) for c in changes]
    assert expand(compact(records), max_size=MAX_INFLATED) == records


def _body(shapes, rows) -> bytes:
    return ENCODER.encode([shapes, rows])


@pytest.mark.parametrize(
    "data",
    [
        b"\xc1",
        ENCODER.encode("not a body"),
        ENCODER.encode([[], [[7, "pk", 1]]]),  # shape 7 does not exist
        _body([], [[-5, b""]]),  # an unknown kind
        _body([["cases", ["a", "b"], True, None]], [[0, "pk-long", 1, "only one value"]]),
        _body([], [[-1, 0, msgspec.msgpack.Ext(1, b"\x05")]]),  # a reference to nothing
        _body([], [[-1, 0, msgspec.msgpack.Ext(9, b"\x00")]]),  # an unknown extension
    ],
)
def test_a_body_that_does_not_expand_is_refused(data):
    with pytest.raises(CompactError):
        expand(data, max_size=MAX_INFLATED)


def test_references_cannot_inflate_past_the_cap():
    big = "x" * 100_000
    rows = [[-1, 0, big, *([msgspec.msgpack.Ext(1, b"\x00")] * 50)]]
    data = _body([], rows)
    assert len(data) < 200_000
    with pytest.raises(OverBudget):
        expand(data, max_size=1_000_000)


def test_pack_falls_back_to_plain_when_compression_does_not_pay():
    tiny = [b"\x01"]
    assert pack(tiny) == (NONE, msgpack_array(tiny))


def test_a_damaged_r2_body_is_a_malformed_protocol_error():
    import zstandard

    from sync.compression import _dictionary

    frame = zstandard.ZstdCompressor(dict_data=_dictionary(ZSTD_R2), write_content_size=True).compress(
        b"\x92\x90\x91\x91\x07"
    )
    with pytest.raises(ProxyAppError) as info:
        unpack(ZSTD_R2, frame)
    assert info.value.code == "malformed"


def test_a_set_sealed_with_r2_opens_to_the_same_records():
    station, hub = KeyPair.generate(), KeyPair.generate()
    records = day(5)
    envelope, _ = seal_set(
        origin="349921001001-A-1",
        seq=1,
        prev=GENESIS,
        records=records,
        sign_private=station.sign_private,
        recipient_box_public=hub.box_public,
        sender_box_private=station.box_private,
        context=CTX_UP,
    )
    signed, _, body = open_set(
        envelope,
        public_key_for=lambda _: station.sign_public,
        context=CTX_UP,
        box_private=hub.box_private,
        sender_box_public=station.box_public,
    )
    assert signed.compression == ZSTD_R2
    assert body == msgpack_array(records)


def test_near_and_far_references_resolve_alike():
    # A reference within the last 128 strings is one byte, one further back a two-byte varint (both read
    # inline): each must name the same string as the writer's table.
    names = [f"material-{n:03d}" for n in range(200)]
    records = [
        encode_change(RowChange(table="t", pk=name, hlc=n, insert=True, fields={"v": name}))
        for n, name in enumerate(names)
    ]
    records += [
        encode_change(RowChange(table="t", pk=names[n], hlc=1000 + n, fields={"v": names[-1 - n]}))
        for n in (0, 5, 127, 128, 199)
    ]
    assert expand(compact(records), max_size=MAX_INFLATED) == records
    shape = [["t", ["v"], True, None]]
    far = [0, msgspec.msgpack.Ext(1, bytes([0x80 | 71, 1])), 1, msgspec.msgpack.Ext(1, b"\x05")]  # 199 and 5 back
    body = _body(shape, [*([0, name, 1, name] for name in names), far])
    assert expand(body, max_size=MAX_INFLATED)[-1] == encode_change(
        RowChange(table="t", pk=names[0], hlc=201, insert=True, fields={"v": names[194]})
    )


def test_references_far_back_in_a_long_table_resolve_alike():
    # Three bytes of distance (past what is read inline): the writer's own table must agree with the reader's.
    names = [f"name-{n:05d}" for n in range(17_000)]
    records = [
        encode_change(
            RowChange(table="t", pk=names[n], hlc=n, insert=True, fields={f"f{k}": names[n + k] for k in range(1, 5)})
        )
        for n in range(0, len(names), 5)
    ]
    # names[0] is a three-byte reference from there, names[-300] a two-byte one (read inline) into a table
    # long enough that a wrong distance would still name a string
    last = RowChange(table="t", pk=names[-1], hlc=20_000, fields={"v": names[0], "w": names[-300]})
    records.append(encode_change(last))
    data = compact(records)
    last_row = msgspec.msgpack.decode(data)[1][-1]
    assert sorted(len(v.data) for v in last_row if isinstance(v, msgspec.msgpack.Ext)) == [1, 2, 3]
    assert expand(data, max_size=MAX_INFLATED) == records


@pytest.mark.parametrize("data", [b"", b"\x80", b"\xff\xff\xff\xff\xff"])
def test_a_reference_with_no_or_a_broken_distance_is_refused(data):
    # After 300 strings: a broken distance read as some number would still name one.
    learnt = [[-1, 0, *(f"a long string {n:03d}" for n in range(first, first + 100))] for first in (0, 100, 200)]
    move = [-1, 0, msgspec.msgpack.Ext(1, data), CASE, "DRAFT", "RECEIVED", "station", "2026-11-26T08:00:00Z"]
    body = _body([], [*learnt, move])
    with pytest.raises(CompactError, match="string reference"):
        expand(body, max_size=MAX_INFLATED)


@given(st.lists(st.one_of(ROWS, MOVES), max_size=30))
def test_each_change_built_is_the_one_its_record_decodes_to(changes):
    # The hub takes the change expand_records built instead of decoding the record: it must be that change.
    records = [encode_change(c) for c in changes]
    expanded = expand_records(compact(records), max_size=MAX_INFLATED)
    assert [record for record, _ in expanded] == records
    for (record, built), change in zip(expanded, changes, strict=True):
        nested = isinstance(change, RowChange) and any(isinstance(v, list) for v in change.fields.values())
        assert built == (None if nested else decode_change(record))  # a nested value is left to the decoder


def test_other_records_are_given_back_with_no_change():
    state = ENCODER.encode(CaseState(case_no=CASE, status="ACCEPTED", accepted_date="2026-11-26"))
    assert expand_records(compact([state, b"\xc0"]), max_size=MAX_INFLATED) == [(state, None), (b"\xc0", None)]


@pytest.mark.parametrize(
    ("shape", "row"),
    [
        (["cases", ["stage"], False, None], [0, 12345678, 1, 2]),  # a key that is a number
        (["cases", ["stage"], False, None], [0, "349921-pk", 1.5, 2]),  # a clock that is not an integer
        (["cases", ["stage"], False, 7], [0, "349921-pk", 1, 2]),  # an origin that is not a text
        (None, [-1, 1, "e-long-id", CASE, "DRAFT", "RECEIVED", 5, "2026-11-26T08:00:00Z"]),  # actor a number
        (None, [-1, 1, "e-long-id", CASE, "DRAFT", "RECEIVED", "station", "2026-11-26T08:00:00Z", 9]),  # reason
    ],
)
def test_a_row_whose_values_no_change_holds_is_left_to_the_decoder(shape, row):
    # msgspec builds a change without checking its fields' types: such a row comes back with no change
    # built, and decoding its record refuses it (the hub keeps it as a rejected change, as before).
    ((record, built),) = expand_records(_body([shape] if shape else [], [row]), max_size=MAX_INFLATED)
    assert built is None
    with pytest.raises(msgspec.DecodeError):
        decode_change(record)
