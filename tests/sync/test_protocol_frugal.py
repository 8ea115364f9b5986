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
    full_receipt,
    is_short_receipt,
    make_receipt,
    request_mac,
    request_mac_key,
    short_receipt,
    sign_request,
    sync_auth_key,
    verify_receipt,
)
from sync.protocol.catalog_report import CatalogFailure

STATION = "349921001001-A-1"


def signed(keys: KeyPair, body: bytes = b"body", software: str = "0.2.0") -> dict[str, str]:
    return sign_request(
        sign_private=keys.sign_private,
        sign_public=keys.sign_public,
        method="POST",
        path_qs="/api/v1/sync",
        station_id=STATION,
        counter=42,
        station_ms=1_790_000_000_123,
        body=body,
        head_seq=7,
        outbox_length=3,
        software=software,
    )


def test_the_compact_header_carries_the_same_signature_in_half_the_bytes():
    keys = KeyPair.generate()
    headers = signed(keys)
    compact = compact_auth(headers)
    assert sync_auth_key(compact) == key_id_of(keys.sign_public)
    assert expand_auth(compact, STATION) == headers
    long_form = sum(len(k) + len(v) + 4 for k, v in headers.items())
    assert len("X-Sync: ") + len(compact) + 2 < long_form * 0.6
    # What the hub verifies from it is what the station signed.
    canonical = canonical_request(
        method="POST",
        path_qs="/api/v1/sync",
        station_id=STATION,
        key_id=key_id_of(keys.sign_public),
        counter=42,
        station_ms=1_790_000_000_123,
        body=b"body",
    )
    expanded = expand_auth(compact, STATION)
    assert verify(keys.sign_public, CTX_REQUEST, canonical, base64.b64decode(expanded[HEADER_SIGNATURE]))


def test_an_empty_software_version_travels_as_a_dash():
    headers = signed(KeyPair.generate(), software="")
    assert compact_auth(headers).split(" ")[5] == "-"
    assert expand_auth(compact_auth(headers), STATION)["X-Software"] == ""


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a b c",
        "k 1 2 3 4 5 sig extra",
        "k  1 2 3 4 5 sig",
        "k 1 2 3 4 5 not+base64url/",
        "k 1 2 3 4 5 @@@@",
    ],
)
def test_a_malformed_compact_header_is_unauthenticated(value):
    with pytest.raises(ProtocolError) as caught:
        expand_auth(value, STATION)
    assert caught.value.code == "unauthenticated"


def test_the_exchange_messages_are_arrays():
    request = SyncRequest(1, [], 5, 4096, 3).encode()
    assert msgspec.msgpack.decode(request) == [1, [], 5, 4096, 3]  # no report: not a byte more
    assert msgspec.msgpack.decode(request, type=SyncRequest) == SyncRequest(1, [], 5, 4096, 3)
    reporting = SyncRequest(1, [], 5, 4096, 3, CatalogFailure(7, "patch_base"))
    assert msgspec.msgpack.decode(reporting.encode(), type=SyncRequest) == reporting
    result = SyncResult.of(SetResult(seq=3, status="accepted", receipt=b"r"))
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(result)) == [3, "accepted", b"r", None, None]
    assert result.as_set_result() == SetResult(seq=3, status="accepted", receipt=b"r")
    gap = SyncResult.of(SetResult(seq=4, status="gap", code="gap"))
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(gap)) == [4, "gap", None, "gap", None]
    answer = msgspec.msgpack.decode(
        msgspec.msgpack.encode(SyncResponse(results=[result], next_seq=4, hub_ms=1, feed=[], feed_last_seq=0)),
        type=SyncResponse,
    )
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


# -- features: short receipts and request MACs ------------------------------------------------------


def test_a_short_receipt_rebuilds_the_exact_receipt_the_hub_signed():
    hub = KeyPair.generate()
    set_hash = bytes(range(32))
    receipt = make_receipt(
        origin=STATION,
        seq=7,
        set_hash=set_hash,
        hub_ms=1_790_000_000_123,
        sign_private=hub.sign_private,
        sign_public=hub.sign_public,
    )
    short = short_receipt(receipt)
    assert len(short) == 72 and is_short_receipt(short) and not is_short_receipt(receipt)
    rebuilt = full_receipt(short, origin=STATION, seq=7, set_hash=set_hash, hub_public=hub.sign_public)
    assert rebuilt == receipt
    assert verify_receipt(rebuilt, hub.sign_public).hub_ms == 1_790_000_000_123


def test_a_receipt_made_at_the_answers_time_is_the_signature_alone():
    hub = KeyPair.generate()
    receipt = make_receipt(
        origin=STATION,
        seq=7,
        set_hash=bytes(32),
        hub_ms=1_790_000_000_123,
        sign_private=hub.sign_private,
        sign_public=hub.sign_public,
    )
    short = short_receipt(receipt, answer_ms=1_790_000_000_123)
    assert len(short) == 64 and is_short_receipt(short)
    assert (
        full_receipt(
            short, origin=STATION, seq=7, set_hash=bytes(32), hub_public=hub.sign_public, answer_ms=1_790_000_000_123
        )
        == receipt
    )
    assert len(short_receipt(receipt, answer_ms=1_790_000_000_124)) == 72  # another time: it travels
    wrong_time = full_receipt(
        short, origin=STATION, seq=7, set_hash=bytes(32), hub_public=hub.sign_public, answer_ms=1_790_000_000_124
    )
    with pytest.raises(ProtocolError):
        verify_receipt(wrong_time, hub.sign_public)
    with pytest.raises(ProtocolError):  # the signature alone, and no time to go with it
        full_receipt(short, origin=STATION, seq=7, set_hash=bytes(32), hub_public=hub.sign_public)


@pytest.mark.parametrize(
    "other",
    [
        {"origin": "349921001001-A-2"},
        {"seq": 8},
        {"set_hash": bytes(32)},
    ],
)
def test_a_short_receipt_for_another_set_does_not_verify(other):
    hub = KeyPair.generate()
    facts = {"origin": STATION, "seq": 7, "set_hash": bytes(range(32))}
    receipt = make_receipt(**facts, hub_ms=5, sign_private=hub.sign_private, sign_public=hub.sign_public)
    rebuilt = full_receipt(short_receipt(receipt), **{**facts, **other}, hub_public=hub.sign_public)
    with pytest.raises(ProtocolError) as info:
        verify_receipt(rebuilt, hub.sign_public)
    assert info.value.code == "bad_signature"


def test_a_malformed_short_receipt_is_refused():
    with pytest.raises(ProtocolError) as info:
        full_receipt(b"\x00" * 10, origin=STATION, seq=1, set_hash=bytes(32), hub_public=bytes(32))
    assert info.value.code == "malformed"


def test_station_and_hub_derive_the_same_request_mac_key_and_no_one_else_does():
    station, hub, stranger = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    key = request_mac_key(station.box_private, hub.box_public)
    assert key == request_mac_key(hub.box_private, station.box_public)
    assert key != request_mac_key(stranger.box_private, hub.box_public)


def test_a_mac_authenticated_header_is_48_bytes_shorter_and_checks_only_under_the_pair_key():
    station, hub = KeyPair.generate(), KeyPair.generate()
    key = request_mac_key(station.box_private, hub.box_public)
    with_signature = compact_auth(signed(station))
    headers = sign_request(
        sign_private=station.sign_private,
        sign_public=station.sign_public,
        method="POST",
        path_qs="/api/v1/sync",
        station_id=STATION,
        counter=42,
        station_ms=1_790_000_000_123,
        body=b"body",
        head_seq=7,
        outbox_length=3,
        software="0.2.0",
        mac_key=key,
    )
    with_mac = compact_auth(headers)
    assert len(with_signature) - len(with_mac) == 86 - 22
    proof = base64.b64decode(expand_auth(with_mac, STATION)[HEADER_SIGNATURE])
    canonical = canonical_request(
        method="POST",
        path_qs="/api/v1/sync",
        station_id=STATION,
        key_id=key_id_of(station.sign_public),
        counter=42,
        station_ms=1_790_000_000_123,
        body=b"body",
    )
    assert proof == request_mac(key, canonical)
    assert proof != request_mac(key, canonical.replace(b"42", b"43"))
