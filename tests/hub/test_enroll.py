"""Enrolment codes, the enrol exchange, device letters and revocation."""

from __future__ import annotations

import re

import msgspec
import pytest

from hub.enroll import CROCKFORD, enroll, issue_code, normalize_code, response_mac, revoke_station, split_code
from sync.crypto import KeyPair, mac, open_box
from sync.errors import DivisionCodeError, InputError
from sync.protocol import HUB_FEATURES, STATION_FEATURES, ProtocolError
from tests.hub.builders import VILLAGE, enrol, enroll_request

CODE = re.compile(rf"^[{CROCKFORD}]{{4}}(-[{CROCKFORD}]{{4}}){{3}}$")


def test_a_code_has_four_crockford_groups_and_reserves_the_next_letter(store, clock):
    first = issue_code(store, VILLAGE, now=clock)
    second = issue_code(store, VILLAGE, now=clock)
    assert CODE.match(first.code) and CODE.match(second.code)
    assert (first.device, second.device) == ("A", "B")
    assert first.code_id == first.code[:4]
    assert store.enrolment(first.code_id).secret == first.code[5:].replace("-", "")


def test_codes_read_forgivingly():
    assert normalize_code("abcd-efgh-jkmn-pqrs") == "ABCDEFGHJKMNPQRS"
    assert split_code("0O1I-LLLL-0000-1111") == ("0011", b"111100001111")
    with pytest.raises(InputError):
        normalize_code("ABCD-EFGH-JKMN-PQU1")  # U is not Crockford
    with pytest.raises(InputError):
        normalize_code("ABCD-EFGH")


def test_enrolment_records_the_station_and_answers_with_a_mac(store, identity, clock):
    issued = issue_code(store, VILLAGE, now=clock)
    keys = KeyPair.generate()
    request, secret = enroll_request(issued.code, keys)
    response = enroll(store, identity, request, now=clock)
    assert response.station_id == f"{VILLAGE}-A-1"
    assert (response.village_code, response.device, response.hub_id) == (VILLAGE, "A", identity.hub_id)
    assert response.hub_sign_public == identity.keys.sign_public
    assert response.mac == response_mac(secret, response)
    assert open_box(keys.box_private, response.lookup_key_box, b"lookup-key/" + response.station_id.encode()) == (
        identity.lookup_key
    )
    station = store.station(response.station_id)
    assert station.key_id == keys.key_id and station.revoked_at is None
    assert store.enrolment(issued.code_id).station_id == response.station_id


def test_a_station_that_says_its_features_hears_the_hubs_under_the_mac(store, identity, clock):
    request, secret = enroll_request(issue_code(store, VILLAGE, now=clock).code, KeyPair.generate())
    response = enroll(store, identity, msgspec.structs.replace(request, features=STATION_FEATURES), now=clock)
    assert response.features == HUB_FEATURES and response.mac == response_mac(secret, response)
    assert store.station(response.station_id).features == STATION_FEATURES
    altered = msgspec.structs.replace(response, features=0)
    assert response_mac(secret, altered) != response.mac  # nobody in the middle can change it


def test_a_station_of_0_3_gets_the_answer_and_the_mac_it_knows(store, identity, clock):
    request, secret = enroll_request(issue_code(store, VILLAGE, now=clock).code, KeyPair.generate())
    response = enroll(store, identity, request, now=clock)  # no features in the request
    assert response.features == 0
    old_mac = mac(
        secret,
        b"enroll-response",
        response.station_id.encode(),
        response.village_code.encode(),
        response.device.encode(),
        response.hub_sign_public,
        response.hub_box_public,
        response.lookup_key_box,
    )
    assert response.mac == old_mac


def _refused(store, identity, request, clock) -> str:
    with pytest.raises(ProtocolError) as caught:
        enroll(store, identity, request, now=clock)
    return caught.value.code


def test_an_expired_code_is_refused(store, identity, clock):
    issued = issue_code(store, VILLAGE, expires_hours=1, now=clock)
    clock.advance(hours=1, seconds=1)
    assert _refused(store, identity, enroll_request(issued.code, KeyPair.generate())[0], clock) == "enroll_code"


def test_a_used_code_is_refused(store, identity, clock):
    issued = issue_code(store, VILLAGE, now=clock)
    enroll(store, identity, enroll_request(issued.code, KeyPair.generate())[0], now=clock)
    assert _refused(store, identity, enroll_request(issued.code, KeyPair.generate())[0], clock) == "enroll_code"


def test_a_wrong_mac_is_refused_and_counted(store, identity, clock):
    issued = issue_code(store, VILLAGE, now=clock)
    wrong = issued.code[:5] + ("0000" if issued.code[5:9] != "0000" else "1111") + issued.code[9:]
    assert _refused(store, identity, enroll_request(wrong, KeyPair.generate())[0], clock) == "enroll_code"
    assert store.enrolment(issued.code_id).failures == 1
    assert store.stations() == []


def test_an_unknown_code_or_protocol_is_refused(store, identity, clock):
    request, _ = enroll_request("ZZZZ-ZZZZ-ZZZZ-ZZZZ", KeyPair.generate())
    assert _refused(store, identity, request, clock) == "enroll_code"
    assert _refused(store, identity, msgspec.structs.replace(request, protocol=9), clock) == "protocol_version"
    assert _refused(store, identity, msgspec.structs.replace(request, sign_public=b"x"), clock) == "malformed"


def test_an_unknown_village_is_refused(store, clock):
    with pytest.raises(DivisionCodeError) as caught:
        issue_code(store, "349921001999", now=clock)
    assert caught.value.code == "division_code.unknown"
    with pytest.raises(DivisionCodeError):
        issue_code(store, "3499210010", now=clock)


def test_a_device_letter_is_never_reused_unless_asked_for(store, identity, clock):
    a = enrol(store, identity, clock)
    revoke_station(store, a.station_id, now=clock)
    assert issue_code(store, VILLAGE, now=clock).device == "B"
    # Re-enrolling the PC that numbers cases with A, after its old key was revoked:
    again = enrol(store, identity, clock, device="a")
    assert again.station_id == f"{VILLAGE}-A-2"
    with pytest.raises(InputError):
        issue_code(store, VILLAGE, device="A", now=clock)  # held by the enrolled A-2
    with pytest.raises(InputError):
        issue_code(store, VILLAGE, device="B", now=clock)  # held by an open code
    with pytest.raises(InputError):
        issue_code(store, VILLAGE, device="AB", now=clock)


def test_revoking_twice_or_an_unknown_station_is_bad_input(store, identity, station, clock):
    revoke_station(store, station.station_id, now=clock)
    with pytest.raises(InputError):
        revoke_station(store, station.station_id, now=clock)
    with pytest.raises(InputError):
        revoke_station(store, "nope", now=clock)
