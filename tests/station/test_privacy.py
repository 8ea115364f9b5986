"""The ID-lookup key: inside the encrypted database, changed in one transaction with the hashes made under it."""

from __future__ import annotations

import secrets

import pytest

from station import cases as ops
from station.privacy import LOOKUP_KEY_FILE, PENDING_LOOKUP_KEY_FILE, id_lookup_hash, stored_lookup_key
from station.queries import CaseFilter, list_cases
from station.store import DB_FILE, Station
from station.store.db import write_txn
from tests.station.conftest import WANG, pension_enrolment


def _found(st: Station) -> list[str]:
    return [c.case_no for c in list_cases(st, CaseFilter(text=WANG))]


def test_the_key_lives_inside_the_encrypted_database_not_beside_it(station, station_dir, clock):
    number = ops.new_intake(station, pension_enrolment()).number
    key = stored_lookup_key(station.db)
    assert not (station_dir / LOOKUP_KEY_FILE).exists() and not (station_dir / PENDING_LOOKUP_KEY_FILE).exists()
    assert (
        key not in (station_dir / DB_FILE).read_bytes()
        and key.hex().encode() not in (station_dir / DB_FILE).read_bytes()
    )
    station.close()
    with Station.open(station_dir, now=clock) as st:
        assert st.id_hash(WANG) == id_lookup_hash(key, WANG)
        assert _found(st) == [number]


def test_a_crash_before_the_rehash_commits_keeps_the_old_key(station, station_dir, clock):
    number = ops.new_intake(station, pension_enrolment()).number
    old = stored_lookup_key(station.db)
    new = secrets.token_bytes(32)
    with pytest.raises(RuntimeError), write_txn(station.db):
        station.rehash_ids(new)
        raise RuntimeError("power cut")
    station.close()
    with Station.open(station_dir, now=clock) as st:
        assert stored_lookup_key(st.db) == old
        assert _found(st) == [number]


def test_a_rehash_that_commits_puts_the_new_key_in_force(station, station_dir, clock):
    number = ops.new_intake(station, pension_enrolment()).number
    new = secrets.token_bytes(32)
    with write_txn(station.db):
        station.rehash_ids(new)
    station.close()
    with Station.open(station_dir, now=clock) as st:
        assert st.id_hash(WANG) == id_lookup_hash(new, WANG)
        assert _found(st) == [number]


def test_another_program_changing_the_key_is_noticed(station, station_dir, clock):
    # `station enroll` beside a running TUI installs the county's key: the TUI's Station finds by it.
    number = ops.new_intake(station, pension_enrolment()).number
    new = secrets.token_bytes(32)
    with Station.open(station_dir, now=clock) as other, write_txn(other.db):
        other.rehash_ids(new)
    assert station.id_hash(WANG) == id_lookup_hash(new, WANG)
    assert _found(station) == [number]
