"""County → province forms: a disclosed body key opens its set and no other; forwarded sets checked; items bounded;
the per-set box (layout 0x03): its key opens that set alone, the hub and the station read it, same length as 0x02."""

from __future__ import annotations

import msgspec
import pytest

from sync.crypto import CryptoError, KeyPair, box_key, box_layout, open_box, open_box_with_key, seal_box
from sync.protocol import CTX_UP, GENESIS, ProtocolError, SignedSet2, decode_envelope, open_set, seal_set
from sync.protocol.upstream import CaseFigure, decode_item, open_forwarded

AAD = b"349921001001-A-1/1"


@pytest.mark.parametrize("paired", [True, False])
def test_a_disclosed_key_opens_its_box_and_nothing_moved(paired: bool) -> None:
    station, county = KeyPair.generate(), KeyPair.generate()
    box = seal_box(county.box_public, b"body", AAD, sender_private=station.box_private if paired else None)
    key = box_key(county.box_private, box, AAD, sender_public=station.box_public)
    assert open_box_with_key(key, box, AAD) == b"body"
    with pytest.raises(CryptoError):
        open_box_with_key(key, box, b"349921001001-A-1/2")  # the same box moved to another set
    with pytest.raises(CryptoError):
        open_box_with_key(bytes(32), box, AAD)
    other = seal_box(county.box_public, b"body", AAD)  # a box of the first layout has its own key
    if not paired:
        with pytest.raises(CryptoError):
            open_box_with_key(key, other, AAD)


def _set(station: KeyPair, county: KeyPair, *, seq: int = 1, per_box: bool = False) -> tuple[bytes, bytes]:
    records = [msgspec.msgpack.encode({"type": "row", "n": i}) for i in range(3)]
    envelope, set_hash = seal_set(
        origin="349921001001-A-1",
        seq=seq,
        prev=GENESIS,
        records=records,
        sign_private=station.sign_private,
        recipient_box_public=county.box_public,
        sender_box_private=station.box_private,
        context=CTX_UP,
        per_box=per_box,
    )
    return envelope, set_hash


def _body(envelope: bytes) -> bytes:
    return msgspec.msgpack.decode(bytes(decode_envelope(envelope).payload), type=SignedSet2).body


@pytest.mark.parametrize("per_box", [False, True])
def test_open_forwarded_checks_signature_then_key(per_box: bool) -> None:
    station, county = KeyPair.generate(), KeyPair.generate()
    envelope, set_hash = _set(station, county, per_box=per_box)
    body = _body(envelope)
    assert box_layout(body) == (3 if per_box else 2)
    key = box_key(county.box_private, body, AAD, sender_public=station.box_public)
    signed, got_hash, plain = open_forwarded(
        envelope, sign_public=station.sign_public, key_id=station.key_id, key=key, context=CTX_UP
    )
    assert (signed.seq, signed.count, got_hash) == (1, 3, set_hash)
    with pytest.raises(ProtocolError) as wrong:
        open_forwarded(envelope, sign_public=station.sign_public, key_id=station.key_id, key=bytes(32), context=CTX_UP)
    assert wrong.value.code == "bad_key"
    with pytest.raises(ProtocolError) as forged:
        open_forwarded(
            envelope, sign_public=KeyPair.generate().sign_public, key_id=station.key_id, key=key, context=CTX_UP
        )
    assert forged.value.code == "bad_signature"


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x91" * 10_000, msgspec.msgpack.encode({"type": "nope"})])
def test_an_item_that_is_none_of_them_is_malformed(data: bytes) -> None:
    with pytest.raises(ProtocolError) as refused:
        decode_item(data)
    assert refused.value.code == "malformed"


def test_a_case_figure_carries_no_personal_field() -> None:
    assert not {"applicant_name", "id_number", "phone", "birth_date", "sex"} & set(CaseFigure.__struct_fields__)


def test_a_per_set_key_opens_that_set_alone_and_not_the_pairs_other_boxes() -> None:
    station, county = KeyPair.generate(), KeyPair.generate()
    first, second = _set(station, county, seq=1, per_box=True)[0], _set(station, county, seq=2, per_box=True)[0]
    key = box_key(county.box_private, _body(first), AAD, sender_public=station.box_public)
    open_forwarded(first, sign_public=station.sign_public, key_id=station.key_id, key=key, context=CTX_UP)
    with pytest.raises(ProtocolError) as other_set:  # the station's next set, to the same county key
        open_forwarded(second, sign_public=station.sign_public, key_id=station.key_id, key=key, context=CTX_UP)
    assert other_set.value.code == "bad_key"
    # the county's feed to the station, sealed by the same pair: neither layout opens under the disclosed key
    feed_aad = b"hub>349921001001-A/1"
    for per_box in (False, True):
        feed = seal_box(station.box_public, b"feed", feed_aad, sender_private=county.box_private, per_box=per_box)
        with pytest.raises(CryptoError):
            open_box_with_key(key, feed, feed_aad)
    # nor a scanned page's chunk or any 0x02 box of the pair: the per-set key is not the pair's key
    pair_box = seal_box(county.box_public, b"page", AAD, sender_private=station.box_private)
    with pytest.raises(CryptoError):
        open_box_with_key(key, pair_box, AAD)
    assert key != box_key(county.box_private, pair_box, AAD, sender_public=station.box_public)


def test_a_per_set_box_is_as_long_as_the_pairs_and_both_sides_open_it_with_their_keys() -> None:
    station, county = KeyPair.generate(), KeyPair.generate()
    pair = seal_box(county.box_public, b"x" * 100, AAD, sender_private=station.box_private)
    own = seal_box(county.box_public, b"x" * 100, AAD, sender_private=station.box_private, per_box=True)
    assert (own[0], pair[0], len(own)) == (3, 2, len(pair))
    assert open_box(county.box_private, own, AAD, sender_public=station.box_public) == b"x" * 100
    with pytest.raises(CryptoError):
        open_box(county.box_private, own, b"349921001001-A-1/2", sender_public=station.box_public)  # moved
    with pytest.raises(CryptoError):  # a layout of its own needs the sender's key: no ephemeral form
        seal_box(county.box_public, b"x", AAD, per_box=True)


@pytest.mark.parametrize("per_box", [False, True])
def test_a_set_sealed_either_way_is_the_same_length_and_opens_at_the_receiver(per_box: bool) -> None:
    station, county = KeyPair.generate(), KeyPair.generate()
    envelope, set_hash = _set(station, county, per_box=per_box)
    other, _ = _set(station, county, per_box=not per_box)
    assert len(envelope) == len(other)  # the per-set key costs no byte on the wire
    signed, got_hash, plain = open_set(
        envelope,
        public_key_for=lambda _: station.sign_public,
        context=CTX_UP,
        box_private=county.box_private,
        sender_box_public=station.box_public,
    )
    assert (signed.count, got_hash) == (3, set_hash)
    assert msgspec.msgpack.decode(plain)[2] == {"type": "row", "n": 2}
