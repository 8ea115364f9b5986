"""sync.crypto's pair keys and signatures: the same from either side and on every call (loaded keys are kept)."""

from __future__ import annotations

import pytest

from sync.crypto import CryptoError, KeyPair, pair_key, sign, verify


def test_a_pair_key_is_the_same_from_either_side_on_every_call_and_differs_by_purpose():
    a, b, c = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    first = pair_key(a.box_private, b.box_public, b"purpose")
    assert pair_key(b.box_private, a.box_public, b"purpose") == first
    assert pair_key(a.box_private, b.box_public, b"purpose") == first  # the pair's secret made once, same key
    assert pair_key(a.box_private, b.box_public, b"other") != first
    assert pair_key(a.box_private, c.box_public, b"purpose") != first
    assert pair_key(c.box_private, b.box_public, b"purpose") != first


@pytest.mark.parametrize("peer", [bytes(32), b"\x01" + bytes(31), b"short"])
def test_an_unusable_peer_key_is_refused_every_time(peer):
    own = KeyPair.generate()
    for _ in range(2):  # a failure is never remembered as a key
        with pytest.raises(CryptoError, match="not usable"):
            pair_key(own.box_private, peer, b"purpose")


def test_signatures_of_two_keys_each_verify_only_under_their_own_key():
    a, b = KeyPair.generate(), KeyPair.generate()
    for _ in range(2):
        signature = sign(a.sign_private, b"ctx", b"data")
        assert verify(a.sign_public, b"ctx", b"data", signature)
        assert not verify(b.sign_public, b"ctx", b"data", signature)
        assert verify(b.sign_public, b"ctx", b"data", sign(b.sign_private, b"ctx", b"data"))
