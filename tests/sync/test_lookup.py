"""The ID lookup hash is HMAC-SHA256 of the normalised number under the county's key, whatever keys a process holds."""

from __future__ import annotations

import hashlib
import hmac

from sync.lookup import id_lookup_hash


def test_the_lookup_hash_is_hmac_sha256_of_the_normalised_number_under_each_key():
    # The key's HMAC state is made once and copied: two keys (one past SHA-256's block) must not mix.
    keys = [b"k" * 32, bytes(range(100))]
    for _ in range(2):
        for key in keys:
            for number in ("34992119430825965x", "349921194308259656"):
                normalised = number.upper().encode()
                assert id_lookup_hash(key, number) == hmac.new(key, normalised, hashlib.sha256).hexdigest()
    assert id_lookup_hash(keys[0], "349921194308259656") != id_lookup_hash(keys[1], "349921194308259656")
