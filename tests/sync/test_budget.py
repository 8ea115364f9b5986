"""One decode budget per set body: a tiny signed set cannot expand past the station's limits, and memory stays bounded."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import zstandard

from sync.budget import STATION_SET, Budget, OverBudget
from sync.changes import RowChange, encode_change
from sync.compact import CompactError, compact, expand
from sync.compression import ZSTD_D1, ZSTD_R2, _dictionary, unpack
from sync.crypto import KeyPair, seal_box, sign
from sync.limits import MAX_CHANGES_PER_SET, MAX_FIELDS_PER_RECORD, MAX_RECORD_BYTES, MAX_SET_INFLATED_BYTES
from sync.protocol import CTX_UP, GENESIS, SET_FORMAT_2, Envelope, ProtocolError, SignedSet2, open_set, seal_set
from tests.support.old_forms import seal_set as seal_0_5

ENCODER = msgspec.msgpack.Encoder()
STATION, HUB = KeyPair.generate(), KeyPair.generate()
ORIGIN = "349921001001-A-1"


def _zstd(method: str, data: bytes) -> bytes:
    # level 3: the attack is about what the frame expands to, not how hard it was squeezed
    return zstandard.ZstdCompressor(level=3, dict_data=_dictionary(method), write_content_size=True).compress(data)


def signed_set(body: bytes, method: int, *, seq: int = 1) -> bytes:
    """A set of format 2 as a station (or a thief of its key) seals it, around a body already compressed."""
    aad = f"{ORIGIN}/{seq}".encode()
    box = seal_box(HUB.box_public, body, aad, sender_private=STATION.box_private)
    payload = ENCODER.encode(SignedSet2(ORIGIN, seq, GENESIS, box, method))
    return ENCODER.encode(Envelope(SET_FORMAT_2, "", msgspec.Raw(payload), sign(STATION.sign_private, CTX_UP, payload)))


def open_at_hub(data: bytes) -> Any:
    return open_set(
        data,
        public_key_for=lambda _: STATION.sign_public,
        context=CTX_UP,
        box_private=HUB.box_private,
        sender_box_public=STATION.box_public,
        limits=STATION_SET,
    )


def measured(action: Callable[[], Any]) -> tuple[BaseException | None, int, float]:
    """(what it raised, peak bytes allocated by Python while it ran, seconds)."""
    tracemalloc.start()
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        action()
    except Exception as exc:
        error = exc
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return error, peak, seconds


def wide_shape_body(rows: int, fields: int = 60, name_length: int = 40) -> bytes:
    """The attack of issue 10: one wide shape, its field names written once, re-used by every row."""
    names = [f"f{i:03d}".ljust(name_length, "x") for i in range(fields)]
    row = [0, "pk", 0, *([0] * fields)]
    return ENCODER.encode([[["cases", names, True, None]], [row] * rows])


def test_a_tiny_signed_compact_set_cannot_expand_to_tens_of_megabytes():
    # 20,000 rows of a 60-field shape: ~2.6 KB of envelope that 0.4 expanded to ~50 MB of records
    body = _zstd(ZSTD_R2, wide_shape_body(20_000))
    envelope = signed_set(body, 2)
    assert len(envelope) < 4_000
    error, peak, seconds = measured(lambda: open_at_hub(envelope))
    assert isinstance(error, ProtocolError) and error.code == "too_large", error
    assert peak < 8 * 1024 * 1024 and seconds < 2


def test_at_the_row_limit_the_widest_records_stay_within_the_set_budget():
    # 500 rows (the most a set holds) of the widest shape allowed, each record just under 16 KiB: the
    # most a set within every limit can make the hub hold (the rows, the records, the body they make)
    body = _zstd(ZSTD_R2, wide_shape_body(MAX_CHANGES_PER_SET, MAX_FIELDS_PER_RECORD, 250))
    opened: list[Any] = []
    error, peak, _ = measured(lambda: opened.append(open_at_hub(signed_set(body, 2))))
    assert error is None and opened[0][0].count == MAX_CHANGES_PER_SET
    assert len(opened[0][2]) > 0.9 * MAX_SET_INFLATED_BYTES
    assert peak < 3 * MAX_SET_INFLATED_BYTES


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (wide_shape_body(1, MAX_FIELDS_PER_RECORD + 1, 4), "fields"),
        (wide_shape_body(1, 40, 500), "characters"),  # the names alone are longer than a record may be
        (ENCODER.encode([[], [[-1, 0, "x" * 10_000, *([msgspec.msgpack.Ext(1, b"\x00")] * 8)]]]), "characters"),
        (wide_shape_body(MAX_CHANGES_PER_SET + 1, 2, 4), "records"),
    ],
)
def test_shapes_references_and_rows_past_a_limit_are_refused_before_they_are_built(body, what):
    with pytest.raises(OverBudget, match=what):
        expand(body, budget=Budget(STATION_SET))


def test_a_carried_record_that_is_a_number_is_malformed_not_a_gigabyte_of_zeros():
    body = ENCODER.encode([[], [[-2, 10**9]]])
    error, peak, _ = measured(lambda: expand(body, budget=Budget(STATION_SET)))
    assert isinstance(error, CompactError) and peak < 1024 * 1024


def test_a_million_tiny_records_are_refused_from_the_array_header():
    records = [b"\xc0"] * 1_000_000
    envelope, _ = seal_0_5(  # zstd-d1 in format 2: a body no release writes, but the station's key can sign
        origin=ORIGIN,
        seq=1,
        prev=GENESIS,
        created_ms=0,
        hlc=0,
        records=records,
        sign_private=STATION.sign_private,
        sign_public=STATION.sign_public,
        recipient_box_public=HUB.box_public,
        context=CTX_UP,
        methods=(ZSTD_D1,),
        sender_box_private=STATION.box_private,
    )
    assert len(envelope) < 1_000
    error, peak, seconds = measured(lambda: open_at_hub(envelope))
    assert isinstance(error, ProtocolError) and error.code == "too_large" and "1000000 records" in error.en
    assert peak < 4 * 1024 * 1024 and seconds < 1


def test_inflation_and_expansion_charge_one_budget():
    # The same records fit alone, but not once the compact bytes they came from are charged too.
    record = encode_change(RowChange(table="case_notes", pk="n-1", hlc=1, fields={"text": "字" * 1800}))
    records = [record] * 40
    size = sum(len(r) for r in records)
    limits = msgspec.structs.replace(STATION_SET, max_bytes=size + 64)
    assert len(expand(compact(records), budget=Budget(limits))) == 40
    with pytest.raises(OverBudget):
        unpack(ZSTD_R2, _zstd(ZSTD_R2, compact(records)), budget=Budget(limits))


def test_a_day_of_work_opens_within_the_station_limits():
    records = [
        encode_change(
            RowChange(table="cases", pk=f"c-{n}", hlc=n, insert=True, fields={"case_no": f"c-{n}", "note": "x" * 100})
        )
        for n in range(200)
    ]
    envelope, _ = seal_set(
        origin=ORIGIN,
        seq=1,
        prev=GENESIS,
        records=records,
        sign_private=STATION.sign_private,
        recipient_box_public=HUB.box_public,
        sender_box_private=STATION.box_private,
        context=CTX_UP,
    )
    signed, _, body = open_at_hub(envelope)
    assert signed.count == 200 and bytes(msgspec.msgpack.decode(body, type=list[msgspec.Raw])[7]) == records[7]


def test_one_record_larger_than_a_record_may_be_is_refused():
    big = encode_change(RowChange(table="case_notes", pk="n-1", hlc=1, fields={"text": "x" * MAX_RECORD_BYTES}))
    with pytest.raises(OverBudget, match="record"):
        expand(compact([big]), budget=Budget(STATION_SET))


@pytest.mark.parametrize("seq", [0, -1, 2**53])
def test_a_set_with_seq_below_1_or_past_the_largest_is_malformed_whatever_its_signature(seq):
    envelope, _ = seal_set(
        origin=ORIGIN,
        seq=seq,
        prev=GENESIS,
        records=[b"\xc0"],
        sign_private=STATION.sign_private,
        recipient_box_public=HUB.box_public,
        sender_box_private=STATION.box_private,
        context=CTX_UP,
    )
    with pytest.raises(ProtocolError) as info:
        open_at_hub(envelope)
    assert info.value.code == "malformed" and "seq" in info.value.en
