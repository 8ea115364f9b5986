"""Set bodies are compressed with a trained dictionary, and a hostile body cannot inflate without bound.

``zstd-d1`` bodies are written by no release since 0.6 (tests/support/old_forms.py keeps the writer
0.5 had); they stay in databases, feeds and on USB sticks, so reading them is tested here for ever.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec
import pytest
import zstandard

from sync.budget import FEED_SET, Budget
from sync.changes import RowChange, decode_change, encode_change
from sync.compression import (
    MAX_INFLATED,
    NONE,
    ZSTD_D1,
    ZSTD_R2,
    decompress,
    msgpack_array,
    pack,
    unpack,
    unpack_records,
)
from sync.crypto import KeyPair
from sync.errors import ProxyAppError
from sync.protocol import CTX_UP, GENESIS, ProtocolError, open_set, open_set_records, seal_set
from tests.support.old_forms import compress


def records(n: int) -> list[bytes]:
    return [
        encode_change(
            RowChange(
                table="cases",
                pk=f"349921001001-20261126-A{i:03d}",
                hlc=i << 16,
                fields={"applicant_name": "王小明", "item_code": "RS-001", "status": "DRAFT"},
                insert=True,
            )
        )
        for i in range(n)
    ]


def test_a_stored_zstd_d1_body_reads_as_written_and_its_dictionary_paid():
    data = msgspec.msgpack.encode([msgspec.Raw(r) for r in records(20)])
    method, packed = compress(data)
    assert method == ZSTD_D1 and len(packed) * 5 < len(data)
    assert decompress(method, packed) == data
    assert unpack(method, packed) == data


def test_only_zstd_r2_is_written_or_the_plain_array_when_it_does_not_pay():
    assert pack(records(20))[0] == ZSTD_R2
    assert pack([b"\xc0"]) == (NONE, msgpack_array([b"\xc0"]))


def test_incompressible_data_is_sent_as_is():
    data = os.urandom(2000)
    assert compress(data) == (NONE, data)
    assert decompress(NONE, data) == data


def test_a_frame_that_would_inflate_past_the_cap_is_refused_before_inflating():
    bomb = zstandard.ZstdCompressor(level=1).compress(b"\0" * (MAX_INFLATED + 1))
    assert len(bomb) < 10_000
    with pytest.raises(ProxyAppError) as info:
        decompress(ZSTD_D1, bomb)
    assert info.value.code == "too_large"


def test_a_frame_without_a_declared_size_is_refused():
    stream = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    frame = stream.compress(b"x" * 1000) + stream.flush()
    with pytest.raises(ProxyAppError) as info:
        decompress(ZSTD_D1, frame)
    assert info.value.code == "too_large"


def test_unknown_method_asks_for_an_update():
    with pytest.raises(ProxyAppError) as info:
        decompress("brotli", b"...")
    assert info.value.code == "protocol_version"


def _sealed(count: int) -> tuple[bytes, bytes, dict[str, Any]]:
    """A station's set of ``count`` records sealed to a hub: (envelope, set hash, the hub's open_set arguments)."""
    station, hub = KeyPair.generate(), KeyPair.generate()
    envelope, set_hash = seal_set(
        origin="349921001001-A-1",
        seq=1,
        prev=GENESIS,
        records=records(count),
        sign_private=station.sign_private,
        recipient_box_public=hub.box_public,
        sender_box_private=station.box_private,
        context=CTX_UP,
    )
    keys = {
        "public_key_for": lambda _: station.sign_public,
        "context": CTX_UP,
        "box_private": hub.box_private,
        "sender_box_public": station.box_public,
    }
    return envelope, set_hash, keys


def test_sealed_set_carries_its_method_under_the_signature():
    envelope, _, keys = _sealed(30)
    signed, _, body = open_set(envelope, **keys)
    assert signed.compression == ZSTD_R2
    assert body == msgspec.msgpack.encode([msgspec.Raw(r) for r in records(30)])
    assert len(envelope) < len(body) / 3


def test_a_body_s_records_come_back_whatever_its_method_with_the_changes_zstd_r2_built():
    written = records(20)
    r2 = unpack_records(ZSTD_R2, pack(written)[1], budget=Budget(FEED_SET))
    assert r2 == [(record, decode_change(record)) for record in written]
    d1 = unpack_records(*compress(msgpack_array(written)), budget=Budget(FEED_SET))
    assert d1 == [(record, None) for record in written]  # carried as bytes: the reader decodes them
    assert unpack_records(NONE, msgpack_array(written), budget=Budget(FEED_SET)) == d1


@pytest.mark.parametrize("body", [msgspec.msgpack.encode("not an array"), b"\x92\xc1\xc1"])
def test_a_plain_body_that_is_not_an_array_of_records_is_malformed(body):
    with pytest.raises(ProxyAppError) as info:
        unpack_records(NONE, body, budget=Budget(FEED_SET))
    assert info.value.code == "malformed"


def test_a_set_opens_to_its_records_as_to_its_body():
    envelope, set_hash, keys = _sealed(30)
    signed, hashed, body = open_set(envelope, **keys)
    signed_too, hashed_too, opened = open_set_records(envelope, **keys)
    assert (signed_too, hashed_too) == (signed, hashed) == (signed, set_hash) and signed.count == 30
    assert msgpack_array([record for record, _ in opened]) == body
    assert all(change == decode_change(record) for record, change in opened)


def test_damaged_compressed_body_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        station = KeyPair.generate()
        # A set whose (unsealed) body claims zstd but holds garbage, signed correctly.
        from sync.crypto import key_id_of, sign
        from sync.protocol import PROTOCOL_VERSION, Envelope, SignedSet

        payload = msgspec.msgpack.encode(
            SignedSet(
                origin="o",
                seq=1,
                prev=GENESIS,
                created_ms=0,
                hlc=0,
                count=1,
                body=b"\x28\xb5\x2f\xfd garbage",
                sealed=False,
                compression=ZSTD_D1,
            )
        )
        envelope = msgspec.msgpack.encode(
            Envelope(
                PROTOCOL_VERSION,
                key_id_of(station.sign_public),
                msgspec.Raw(payload),
                sign(station.sign_private, CTX_UP, payload),
            )
        )
        open_set(envelope, public_key_for=lambda _: station.sign_public, context=CTX_UP, box_private=None)


def test_frames_carry_no_dictionary_id_and_frames_with_one_still_read():
    data = msgspec.msgpack.encode([msgspec.Raw(r) for r in records(5)])
    method, packed = compress(data)
    assert zstandard.get_frame_parameters(packed).dict_id == 0  # 4 bytes a set the method already says
    from sync.compression import _dictionary

    with_id = zstandard.ZstdCompressor(level=19, dict_data=_dictionary(), write_content_size=True).compress(data)
    assert zstandard.get_frame_parameters(with_id).dict_id != 0 and len(with_id) == len(packed) + 4
    assert decompress(ZSTD_D1, with_id) == decompress(method, packed) == data


def test_the_dictionary_is_prepared_once_and_compresses_as_level_19_with_the_raw_dictionary() -> None:
    # Each seal used to give the compressor the raw dictionary, which it prepared for level 19 anew
    # (~16 ms a set, most of sealing a feed set); now it is prepared once per process, same bytes out.
    import zstandard

    from sync import compression

    prepared = compression._compression_dictionary(compression.ZSTD_R2)
    assert compression._compression_dictionary(compression.ZSTD_R2) is prepared
    body = b"".join(b"case %d RS-001 349921001001 intake " % i for i in range(400))
    raw = zstandard.ZstdCompressor(
        level=compression._LEVEL,
        dict_data=compression._dictionary(compression.ZSTD_R2),
        write_content_size=True,
        write_dict_id=False,
    ).compress(body)
    assert compression._zstd(compression.ZSTD_R2, body) == raw
