"""Sets of format 2 and the pair's box: shorter, and every check of format 1 still holds.

Since 0.6 only format 2 is written; sets of format 1 (sealed by releases up to 0.5, tests/support/
old_forms.py) stay in databases, feeds and on USB sticks and are read as they always were.
"""

from __future__ import annotations

import msgspec
import pytest

from sync.changes import RowChange, encode_change
from sync.compression import ZSTD_D1, ZSTD_R2, msgpack_array
from sync.crypto import CryptoError, KeyPair, open_box, seal_box
from sync.protocol import (
    CTX_UP,
    GENESIS,
    SET_FORMAT_2,
    Envelope,
    ProtocolError,
    SignedSet,
    decode_envelope,
    open_set,
    seal_set,
)
from tests.support.old_forms import seal_set as seal_0_5

ORIGIN = "349921001001-A-1"


@pytest.fixture
def station() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
def hub() -> KeyPair:
    return KeyPair.generate()


def records(n: int = 6) -> list[bytes]:
    return [
        encode_change(
            RowChange(
                table="cases",
                pk=f"{ORIGIN[:12]}-20261126-A{i:03d}",
                hlc=(i + 1) << 16,
                fields={"status": "DRAFT", "applicant_name": "王小明"},
                insert=True,
            )
        )
        for i in range(n)
    ]


def seal(
    station: KeyPair,
    hub: KeyPair,
    *,
    format_2: bool = True,
    seq: int = 1,
    prev: bytes = GENESIS,
    items: list[bytes] | None = None,
) -> tuple[bytes, bytes]:
    if format_2:
        return seal_set(
            origin=ORIGIN,
            seq=seq,
            prev=prev,
            records=items or records(),
            sign_private=station.sign_private,
            recipient_box_public=hub.box_public,
            sender_box_private=station.box_private,
            context=CTX_UP,
        )
    return seal_0_5(  # format 1, as releases up to 0.5 sealed it for a peer that had not said SETS_V2
        origin=ORIGIN,
        seq=seq,
        prev=prev,
        created_ms=1_790_000_000_000,
        hlc=77 << 16,
        records=items or records(),
        sign_private=station.sign_private,
        sign_public=station.sign_public,
        recipient_box_public=hub.box_public,
        context=CTX_UP,
        methods=(ZSTD_D1, ZSTD_R2),
    )


def open_up(envelope: bytes, station: KeyPair, hub: KeyPair) -> tuple[SignedSet, bytes, bytes]:
    return open_set(
        envelope,
        public_key_for=lambda key_id: station.sign_public,
        context=CTX_UP,
        box_private=hub.box_private,
        sender_box_public=station.box_public,
    )


def test_the_pair_box_opens_only_for_the_pair_and_its_place(station, hub):
    box = seal_box(hub.box_public, b"secret", b"place", sender_private=station.box_private)
    assert box[:1] == b"\x02" and len(box) == 1 + 12 + len(b"secret") + 16
    assert open_box(hub.box_private, box, b"place", sender_public=station.box_public) == b"secret"
    stranger = KeyPair.generate()
    for private, sender, place in [
        (hub.box_private, stranger.box_public, b"place"),
        (stranger.box_private, station.box_public, b"place"),
        (hub.box_private, station.box_public, b"elsewhere"),
    ]:
        with pytest.raises(CryptoError):
            open_box(private, box, place, sender_public=sender)
    with pytest.raises(CryptoError, match="sender"):
        open_box(hub.box_private, box, b"place")


def test_a_low_order_box_key_is_a_crypto_error_not_a_crash(station):
    with pytest.raises(CryptoError):
        seal_box(bytes(32), b"x", b"place", sender_private=station.box_private)


def test_a_set_of_format_2_is_shorter_and_opens_to_the_same_records(station, hub):
    short, short_hash = seal(station, hub)
    long, _ = seal(station, hub, format_2=False)
    assert decode_envelope(short).protocol == SET_FORMAT_2 and decode_envelope(short).key_id == ""
    assert len(long) - len(short) >= 70  # key id, times, count, flag, method name; 32 bytes of box
    signed, set_hash, body = open_up(short, station, hub)
    assert (signed.origin, signed.seq, signed.prev, signed.compression) == (ORIGIN, 1, GENESIS, ZSTD_R2)
    assert (signed.count, signed.created_ms, signed.hlc, set_hash) == (6, 0, 0, short_hash)
    assert body == msgpack_array(records())


def test_a_stored_set_of_format_1_with_a_zstd_d1_body_reads_as_it_always_did(station, hub):
    stored, stored_hash = seal_0_5(
        origin=ORIGIN,
        seq=1,
        prev=GENESIS,
        created_ms=1_790_000_000_000,
        hlc=77 << 16,
        records=records(),
        sign_private=station.sign_private,
        sign_public=station.sign_public,
        recipient_box_public=hub.box_public,
        context=CTX_UP,
    )  # what a station or hub of 0.3 sealed, and 0.4 and 0.5 for a peer that had said nothing
    assert (decode_envelope(stored).protocol, decode_envelope(stored).key_id) == (1, station.key_id)
    signed, set_hash, body = open_up(stored, station, hub)
    assert (signed.compression, signed.count, signed.created_ms, signed.hlc) == (
        ZSTD_D1,
        6,
        1_790_000_000_000,
        77 << 16,
    )
    assert (set_hash, body) == (stored_hash, msgpack_array(records()))


def test_sets_of_both_formats_chain_by_the_hash_of_what_was_signed(station, hub):
    first, first_hash = seal(station, hub, format_2=False)
    second, _ = seal(station, hub, seq=2, prev=first_hash)
    assert open_up(second, station, hub)[0].prev == open_up(first, station, hub)[1]


def test_a_flipped_byte_anywhere_in_a_set_of_format_2_is_refused_or_changes_nothing(station, hub):
    envelope, _ = seal(station, hub)
    refused = 0
    for position in range(len(envelope)):
        data = bytearray(envelope)
        data[position] ^= 0x01
        try:
            signed, _, body = open_up(bytes(data), station, hub)
        except (ProtocolError, ValueError):
            refused += 1
            continue
        # A flip that still opens can only have hit framing outside what is signed.
        assert (signed.origin, signed.seq, body) == (ORIGIN, 1, msgpack_array(records()))
    assert refused >= len(envelope) - 4


def test_a_set_of_format_2_that_names_a_key_is_malformed(station, hub):
    envelope, _ = seal(station, hub)
    outer = decode_envelope(envelope)
    renamed = msgspec.msgpack.encode(Envelope(outer.protocol, station.key_id, outer.payload, outer.signature))
    with pytest.raises(ProtocolError) as info:
        open_up(renamed, station, hub)
    assert info.value.code == "malformed"


def test_a_set_of_format_2_needs_the_senders_box_key(station, hub):
    envelope, _ = seal(station, hub)
    with pytest.raises(ProtocolError) as info:
        open_set(envelope, public_key_for=lambda _: station.sign_public, context=CTX_UP, box_private=hub.box_private)
    assert info.value.code == "bad_box"


def test_an_unknown_envelope_version_asks_for_an_update(station, hub):
    envelope, _ = seal(station, hub)
    outer = decode_envelope(envelope)
    future = msgspec.msgpack.encode(Envelope(3, "", outer.payload, outer.signature))
    with pytest.raises(ProtocolError) as info:
        open_up(future, station, hub)
    assert info.value.code == "protocol_version"
