"""Enrolment: the code proves both sides, the hub's keys are pinned, the county lookup key installed."""

from __future__ import annotations

import httpx
import pytest

from station import cases as ops
from station.enrolment import enroll, parse_code
from station.errors import SyncError
from station.identity import hub_pins, load_keypair
from station.privacy import id_lookup_hash, stored_lookup_key
from station.queries import CaseFilter, list_cases
from station.store import Station
from sync.crypto import fingerprint
from sync.errors import InputError
from tests.station.conftest import VILLAGE, WANG, pension_enrolment

PASS = "村代办点口令2026"
WORK = 2**10


def _enroll(data_dir, hub, code=None, **kwargs):
    return enroll(
        data_dir,
        hub_url="http://hub.test",
        code=code or hub.issue_code(),
        passphrase=PASS,
        transport=hub.transport(),
        key_work=WORK,
        **kwargs,
    )


def test_code_is_split_into_id_and_secret_and_forgives_confusable_letters():
    parsed = parse_code(" k7px-9qrs-2tvw-3xyz ")
    assert (parsed.code_id, parsed.secret) == ("K7PX", b"9QRS2TVW3XYZ")
    assert parse_code("K7PX-9QRS-2TVW-3XYO").secret.endswith(b"Y0")  # O read as 0


@pytest.mark.parametrize("code", ["", "K7PX-9QRS-2TVW", "K7PX-9QRS-2TVW-3XYZU", "K7PX-9QRS-2TVW-3XY!"])
def test_malformed_codes_are_refused_before_anything_is_sent(code, tmp_path):
    with pytest.raises(InputError):
        parse_code(code)


def test_enrolment_creates_the_station_from_the_hubs_answer(tmp_path, hub):
    data_dir = tmp_path / "new"
    result = _enroll(data_dir, hub, agent_name="李代办")
    assert result.created and result.station_id == f"{VILLAGE}-A-1"
    assert result.hub_fingerprint == fingerprint(hub.keys.sign_public)
    with Station.open(data_dir) as st:
        assert (st.station_id, st.village_code, st.device, st.agent_name) == (f"{VILLAGE}-A-1", VILLAGE, "A", "李代办")
        pins = hub_pins(st.db)
        assert pins is not None and (pins.sign_public, pins.box_public) == (hub.keys.sign_public, hub.keys.box_public)
        assert st.id_hash(WANG) == id_lookup_hash(hub.lookup_key, WANG)
        assert stored_lookup_key(st.db) == hub.lookup_key
    keys = load_keypair(data_dir, PASS)
    assert hub.station_keys == (keys.sign_public, keys.box_public)


def test_an_existing_station_adopts_the_hub_id_and_rehashes_its_cases(station, station_dir, hub, clock):
    number = ops.new_intake(station, pension_enrolment()).number
    old_id = station.station_id
    station.close()
    result = _enroll(station_dir, hub, now=clock)
    assert not result.created and result.rehashed == 1
    with Station.open(station_dir, now=clock) as st:
        assert st.station_id == f"{VILLAGE}-A-1"
        hashed = st.db.execute("SELECT id_hash FROM cases WHERE case_no = ?", [number]).fetchone()[0]
        assert hashed == id_lookup_hash(hub.lookup_key, WANG)
        assert [c.case_no for c in list_cases(st, CaseFilter(text=WANG))] == [number]
        versions = " ".join(v for (v,) in st.db.execute("SELECT versions FROM cases"))
        assert old_id not in versions and st.station_id in versions
        assert st.db.execute("SELECT COUNT(*) FROM case_events WHERE origin = ?", [old_id]).fetchone()[0] == 0


def test_a_running_station_takes_up_the_new_key_without_reopening(station, station_dir, hub):
    ops.new_intake(station, pension_enrolment())
    _enroll(station_dir, hub)  # another process, as the CLI beside a running TUI
    assert station.id_hash(WANG) == id_lookup_hash(hub.lookup_key, WANG)


def test_a_code_for_another_village_changes_nothing(station, station_dir, hub):
    before = stored_lookup_key(station.db)
    station.close()
    with pytest.raises(InputError) as info:
        _enroll(station_dir, hub, code=hub.issue_code(village="349921001002"))
    assert info.value.code == "enroll.other_station"
    with Station.open(station_dir) as st:
        assert hub_pins(st.db) is None and st.station_id.startswith(f"{VILLAGE}-A-")
        assert stored_lookup_key(st.db) == before
    assert not (station_dir / "station.key").exists()


def test_an_answer_without_the_codes_proof_is_refused(tmp_path, hub):
    hub.tamper_enroll_mac = True
    with pytest.raises(SyncError) as info:
        _enroll(tmp_path / "new", hub)
    assert info.value.code == "enroll_mac" and "middle" in info.value.message("en")
    assert not (tmp_path / "new").exists()


def test_a_refused_code_says_what_to_do(tmp_path, hub):
    with pytest.raises(SyncError) as info:
        _enroll(tmp_path / "new", hub, code="ABCD-EFGH-JKMN-PQRS")
    assert info.value.code == "enroll_code" and "new one" in info.value.message("en")


def test_an_unreachable_hub_is_reported(tmp_path, hub):
    hub.faults.append(httpx.ConnectError("refused"))
    with pytest.raises(SyncError) as info:
        _enroll(tmp_path / "new", hub)
    assert info.value.code == "unreachable" and "hub.test" in info.value.message("en")


def test_enrolling_twice_is_refused(tmp_path, hub):
    _enroll(tmp_path / "s", hub)
    with pytest.raises(InputError) as info:
        _enroll(tmp_path / "s", hub)
    assert info.value.code == "enroll.already"


def test_a_short_passphrase_is_refused_before_the_code_is_spent(tmp_path, hub):
    code = hub.issue_code()
    with pytest.raises(InputError):
        enroll(tmp_path / "s", hub_url="http://hub.test", code=code, passphrase="short", transport=hub.transport())
    assert hub.requests == []
