"""The typed accessor of the station's ``meta`` table reads the keys the station writes, as stored."""

from __future__ import annotations

import pytest

from station import cases as ops
from station.store.db import write_txn
from station.store.meta import Meta
from station.syncstate import sync_status
from tests.station.conftest import pension_enrolment


def test_every_key_a_station_writes_is_a_typed_attribute(station, keys):
    ops.new_intake(station, pension_enrolment())  # writes the clock stamp
    stored = dict(station.db.execute("SELECT key, value FROM meta").fetchall())
    assert {"village_code", "station_id", "hub_id", "enrolled_at", "hlc_last", "lookup_key"} <= stored.keys()
    for key in stored:
        assert hasattr(Meta, key), key
    meta = station.meta
    assert meta.village_code == stored["village_code"] == station.village_code
    assert meta.hlc_last == int(stored["hlc_last"]) > 0
    assert meta.feed_seq == 0 and meta.fork is None and meta.revoked is None


def test_update_writes_the_same_text_old_releases_read(station):
    with write_txn(station.db):
        station.meta.update({"clock_offset_ms": -1500, "fork": '{"code": "x", "detail": "d"}', "hub_feed_seq": 7})
    rows = dict(station.db.execute("SELECT key, value FROM meta").fetchall())
    assert rows["clock_offset_ms"] == "-1500" and rows["hub_feed_seq"] == "7"
    assert station.meta.clock_offset_ms == -1500 and station.meta.fork == {"code": "x", "detail": "d"}
    status = sync_status(station)
    assert status.clock_offset_ms == -1500 and status.hub_feed_seq == 7 and status.fork == "d"
    with write_txn(station.db):
        station.meta.update({"fork": None})
    assert station.meta.fork is None


def test_update_sets_every_key_in_one_statement_and_deletes_in_another(station):
    with write_txn(station.db):
        station.meta.update({"clock_offset_ms": 5, "hub_feed_seq": 3, "fork": '{"code": "x", "detail": "d"}'})
    statements: list[str] = []
    station.db.conn.set_trace_callback(statements.append)
    with write_txn(station.db):
        station.meta.update(
            {"clock_offset_ms": -20, "hub_feed_seq": None, "clock_checked_at": "2026-12-04T00:00:00Z", "fork": None}
        )
    station.db.conn.set_trace_callback(None)
    writes = [s for s in statements if not s.startswith(("BEGIN", "COMMIT"))]
    assert len(writes) == 2, writes  # one INSERT of both values, one DELETE of both keys
    rows = dict(station.db.execute("SELECT key, value FROM meta").fetchall())
    assert rows["clock_offset_ms"] == "-20" and rows["clock_checked_at"] == "2026-12-04T00:00:00Z"
    assert "hub_feed_seq" not in rows and "fork" not in rows


def test_update_refuses_a_key_the_station_does_not_keep(station):
    with pytest.raises(KeyError), write_txn(station.db):
        station.meta.update({"hlc_lats": 1})
    assert station.db.execute("SELECT 1 FROM meta WHERE key = 'hlc_lats'").fetchone() is None


def test_several_keys_are_read_in_one_statement_typed_as_their_attributes(station, monkeypatch):
    with write_txn(station.db):
        station.meta.update({"feed_seq": 4, "fork": '{"code": "fork", "detail": "d"}', "hub_features": "5"})
    statements: list[str] = []
    station.db.conn.set_trace_callback(statements.append)
    values = station.meta.several("feed_seq", "fork", "restored", "village_code", "hub_features")
    station.db.conn.set_trace_callback(None)
    assert len(statements) == 1
    assert values == {
        "feed_seq": 4,
        "fork": {"code": "fork", "detail": "d"},
        "restored": None,
        "village_code": station.village_code,
        "hub_features": "5",
    }
    assert values == {key: getattr(station.meta, key) for key in values}  # as the attributes read them
    with pytest.raises(KeyError, match="hlc_lats"):
        station.meta.several("feed_seq", "hlc_lats")
