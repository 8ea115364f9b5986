"""County → province forms: a disclosed body key opens its set and no other; forwarded sets checked; items bounded."""

from __future__ import annotations

import msgspec
import pytest

from sync.crypto import CryptoError, KeyPair, box_key, open_box_with_key, seal_box
from sync.protocol import CTX_UP, GENESIS, ProtocolError, SignedSet2, decode_envelope, seal_set
from sync.protocol.upstream import CaseFigure, decode_item, open_forwarded

AAD = b"349921001001-A-1/1"


@pytest.mark.parametrize("paired", [True, False])
def test_a_disclosed_key_opens_its_box_and_nothing_moved(paired: bool) -> None:
    station, county = KeyPair.generate(), KeyPair.generate()
    box = seal_box(county.box_public, b"body", AAD, sender_private=station.box_private if paired else None)
    key = box_key(county.box_private, box, sender_public=station.box_public)
    assert open_box_with_key(key, box, AAD) == b"body"
    with pytest.raises(CryptoError):
        open_box_with_key(key, box, b"349921001001-A-1/2")  # the same box moved to another set
    with pytest.raises(CryptoError):
        open_box_with_key(bytes(32), box, AAD)
    other = seal_box(county.box_public, b"body", AAD)  # a box of the first layout has its own key
    if not paired:
        with pytest.raises(CryptoError):
            open_box_with_key(key, other, AAD)


def _set(station: KeyPair, county: KeyPair) -> tuple[bytes, bytes]:
    records = [msgspec.msgpack.encode({"type": "row", "n": i}) for i in range(3)]
    envelope, set_hash = seal_set(
        origin="349921001001-A-1",
        seq=1,
        prev=GENESIS,
        records=records,
        sign_private=station.sign_private,
        recipient_box_public=county.box_public,
        sender_box_private=station.box_private,
        context=CTX_UP,
    )
    return envelope, set_hash


def test_open_forwarded_checks_signature_then_key() -> None:
    station, county = KeyPair.generate(), KeyPair.generate()
    envelope, set_hash = _set(station, county)
    body = msgspec.msgpack.decode(bytes(decode_envelope(envelope).payload), type=SignedSet2).body
    key = box_key(county.box_private, body, sender_public=station.box_public)
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
