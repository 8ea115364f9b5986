"""The exchange's messages and compact header: small on the wire, readable by older and newer readers."""

from __future__ import annotations

import base64

import msgspec
import pytest

from sync.crypto import KeyPair, key_id_of, verify
from sync.protocol import (
    CTX_REQUEST,
    HEADER_SIGNATURE,
    HEADER_STATION,
    ProtocolError,
    PushResponse,
    SetResult,
    SyncRequest,
    SyncResponse,
    SyncResult,
    canonical_request,
    compact_auth,
    expand_auth,
    sign_request,
    sync_auth_key,
)

STATION = "349921001001-A-1"


def signed(keys: KeyPair, body: bytes = b"body", software: str = "0.2.0") -> dict[str, str]:
    return sign_request(sign_private=keys.sign_private, sign_public=keys.sign_public, method="POST",
                        path_qs="/api/v1/sync", station_id=STATION, counter=42, station_ms=1_790_000_000_123,
                        body=body, head_seq=7, outbox_length=3, software=software)


def test_the_compact_header_carries_the_same_signature_in_half_the_bytes():
    keys = KeyPair.generate()
    headers = signed(keys)
    compact = compact_auth(headers)
    assert sync_auth_key(compact) == key_id_of(keys.sign_public)
    assert expand_auth(compact, STATION) == headers
    long_form = sum(len(k) + len(v) + 4 for k, v in headers.items())
    assert len("X-Sync: ") + len(compact) + 2 < long_form * 0.6
    # What the hub verifies from it is what the station signed.
    canonical = canonical_request(method="POST", path_qs="/api/v1/sync", station_id=STATION,
                                  key_id=key_id_of(keys.sign_public), counter=42, station_ms=1_790_000_000_123,
                                  body=b"body")
    expanded = expand_auth(compact, STATION)
    assert verify(keys.sign_public, CTX_REQUEST, canonical, base64.b64decode(expanded[HEADER_SIGNATURE]))


def test_an_empty_software_version_travels_as_a_dash():
    headers = signed(KeyPair.generate(), software="")
    assert compact_auth(headers).split(" ")[5] == "-"
    assert expand_auth(compact_auth(headers), STATION)["X-Software"] == ""


@pytest.mark.parametrize("value", [
    "", "a b c", "k 1 2 3 4 5 sig extra", "k  1 2 3 4 5 sig",
    "k 1 2 3 4 5 not+base64url/", "k 1 2 3 4 5 @@@@",
])
def test_a_malformed_compact_header_is_unauthenticated(value):
    with pytest.raises(ProtocolError) as caught:
        expand_auth(value, STATION)
    assert caught.value.code == "unauthenticated"


def test_the_exchange_messages_are_arrays():
    request = msgspec.msgpack.encode(SyncRequest(1, [], 5, 4096, 3))
    assert msgspec.msgpack.decode(request) == [1, [], 5, 4096, 3]
    result = SyncResult.of(SetResult(seq=3, status="accepted", receipt=b"r"))
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(result)) == [3, "accepted", b"r", None, None]
    assert result.as_set_result() == SetResult(seq=3, status="accepted", receipt=b"r")
    gap = SyncResult.of(SetResult(seq=4, status="gap", code="gap"))
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(gap)) == [4, "gap", None, "gap", None]
    answer = msgspec.msgpack.decode(msgspec.msgpack.encode(
        SyncResponse(results=[result], next_seq=4, hub_ms=1, feed=[], feed_last_seq=0)), type=SyncResponse)
    assert answer.results == [result]


def test_a_request_from_an_older_writer_reads_with_the_defaults():
    # An array without the trailing fields decodes with their defaults (schema evolution).
    assert msgspec.msgpack.decode(msgspec.msgpack.encode([1, [], 0]), type=SyncRequest).feed_bytes == 0
    answer = msgspec.msgpack.decode(msgspec.msgpack.encode([[], 1, 2]), type=SyncResponse)
    assert (answer.feed, answer.feed_last_seq) == ([], 0)


def test_a_set_result_leaves_its_nulls_out_and_older_readers_still_read_it():
    encoded = msgspec.msgpack.encode(SetResult(seq=1, status="accepted", receipt=b"r"))
    assert msgspec.msgpack.decode(encoded) == {"seq": 1, "status": "accepted", "receipt": b"r"}

    class OldSetResult(msgspec.Struct, kw_only=True):  # as 0.2 declared it
        seq: int
        status: str
        receipt: bytes | None = None
        code: str | None = None
        detail: str | None = None

    old = msgspec.msgpack.decode(encoded, type=OldSetResult)
    assert (old.code, old.detail) == (None, None)
    push = msgspec.msgpack.decode(msgspec.msgpack.encode(PushResponse(results=[], next_seq=1, hub_ms=0)))
    assert push == {"results": [], "next_seq": 1, "hub_ms": 0}
    assert HEADER_STATION == "X-Station"
