"""The ID-lookup key: kept beside the database, swapped for the county's without a window for mismatch."""

from __future__ import annotations

import secrets

import pytest

from station import cases as ops
from station.db import write_txn
from station.privacy import LOOKUP_KEY_FILE, PENDING_LOOKUP_KEY_FILE, id_lookup_hash, stage_lookup_key
from station.queries import CaseFilter, list_cases
from station.store import Station
from sync.errors import StoreError
from tests.station.conftest import WANG, pension_enrolment


def _found(st: Station) -> list[str]:
    return [c.case_no for c in list_cases(st, CaseFilter(text=WANG))]


def test_a_crash_before_the_rehash_commits_keeps_the_old_key(station, station_dir, clock):
    number = ops.new_intake(station, pension_enrolment()).number
    old = (station_dir / LOOKUP_KEY_FILE).read_bytes()
    new = secrets.token_bytes(32)
    stage_lookup_key(station_dir, new)
    with pytest.raises(RuntimeError):
        with write_txn(station.db):
            station.rehash_ids(new)
            raise RuntimeError("power cut")
    station.close()
    with Station.open(station_dir, now=clock) as st:
        assert not (station_dir / PENDING_LOOKUP_KEY_FILE).exists()
        assert (station_dir / LOOKUP_KEY_FILE).read_bytes() == old
        assert _found(st) == [number]


def test_a_crash_after_the_rehash_commits_finishes_the_swap(station, station_dir, clock):
    number = ops.new_intake(station, pension_enrolment()).number
    new = secrets.token_bytes(32)
    stage_lookup_key(station_dir, new)
    with write_txn(station.db):
        station.rehash_ids(new)
    station.close()  # before the staged file was promoted
    with Station.open(station_dir, now=clock) as st:
        assert (station_dir / LOOKUP_KEY_FILE).read_bytes() == new
        assert not (station_dir / PENDING_LOOKUP_KEY_FILE).exists()
        assert st.id_hash(WANG) == id_lookup_hash(new, WANG)
        assert _found(st) == [number]


def test_a_key_file_from_another_backup_is_refused(station, station_dir):
    new = secrets.token_bytes(32)
    stage_lookup_key(station_dir, new)
    with write_txn(station.db):
        station.rehash_ids(new)
    station.close()
    (station_dir / PENDING_LOOKUP_KEY_FILE).unlink()
    (station_dir / LOOKUP_KEY_FILE).write_bytes(secrets.token_bytes(32))
    with pytest.raises(StoreError) as info:
        Station.open(station_dir)
    assert "does not belong to this database" in info.value.message("en")
