"""What one exchange costs the hub's database: the statements it runs (each a round trip on PostgreSQL) and the
transactions it opens, for a pull with nothing queued and for a push of a case."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import msgspec
import pytest
import sqlite_utils

from hub.feed import RESTORED_META, feed_reach, glance, seal_pending
from hub.store import Contact, HubStore
from hub.store.base import StoreBase
from hub.store.pg import PgDatabase
from hub.store.stations import CONTACTS_TRIM_EVERY
from sync.protocol import SyncResponse
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # the same costs on SQLite and on PostgreSQL (docs/postgresql.md)

STATION_ROW = "SELECT * FROM stations WHERE station_id = ?"
KEY_AND_STATION = "SELECT k.*, s.* FROM station_keys k LEFT JOIN stations s"
GLANCE = "SELECT (SELECT seq FROM feed_sets WHERE station_id = ? ORDER BY seq DESC LIMIT 1), (SELECT value FROM meta"
READ_ONE_BY_ONE = (
    "SELECT value FROM meta WHERE key = ?",  # the restored hub's mark
    "SELECT 1 FROM feed_items WHERE station_id = ?",  # items waiting
    "SELECT * FROM catalog_failures WHERE station_id = ?",  # a catalogue failure on record
    "SELECT seq, hash, envelope, items FROM feed_sets WHERE station_id = ? AND seq > ?",  # sets past the position
)


class Counted:
    """The statements run (whitespace folded, ``?`` for PostgreSQL's ``%s``) and the transactions opened."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.transactions = 0

    def count(self, text: str) -> int:
        return sum(1 for statement in self.statements if statement.startswith(text))


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counted]:
    seen = Counted()
    for engine in (sqlite_utils.Database, PgDatabase):
        original = engine.execute

        def execute(self, sql, params=None, *, _original=original):
            seen.statements.append(" ".join(str(sql).split()))
            return _original(self, sql) if params is None else _original(self, sql, params)

        monkeypatch.setattr(engine, "execute", execute)
    opened = StoreBase.transaction

    @contextlib.contextmanager
    def transaction(self):
        outer = not getattr(self, "_counted_depth", 0)
        seen.transactions += outer
        self._counted_depth = getattr(self, "_counted_depth", 0) + 1
        try:
            with opened(self):
                yield
        finally:
            self._counted_depth -= 1

    monkeypatch.setattr(StoreBase, "transaction", transaction)
    yield seen


def _contacts_recorded(counted: Counted, hub_backend) -> int:
    """Statements that recorded contacts: on PostgreSQL the station's row and the log in one."""
    if hub_backend.postgres:
        assert counted.count("UPDATE stations SET last_contact") == 0
        return counted.count("WITH recorded AS (UPDATE stations SET last_contact")
    assert counted.count("UPDATE stations SET last_contact") == 1
    return counted.count("INSERT INTO contacts")


def _answer(response) -> SyncResponse:
    assert response.status_code == 200, response.text
    return msgspec.msgpack.decode(response.content, type=SyncResponse)


def test_a_pull_with_nothing_queued_reads_the_station_once_and_opens_no_transaction_to_seal(
    client, store, identity, station, clock, counted, hub_backend
):
    seal_pending(store, identity, station.station_id, clock())  # the reference data enrolment queued
    head = store.feed_head(station.station_id)[0]
    _answer(station.sync(client, [], feed_after=head))  # the first tells the hub the station's features
    counted.statements.clear()
    counted.transactions = 0
    answer = _answer(station.sync(client, [], feed_after=head))
    assert answer.feed == [] and answer.feed_last_seq == head
    # The signature's check reads the request's key with its station in one statement; the ingest and
    # recovery reuse the row.
    assert counted.count(KEY_AND_STATION) == 1 and counted.count(STATION_ROW) == 0
    # The feed's head, the restored hub's mark, items waiting and a catalogue failure in one statement; with
    # no set past the station's position, no set is read.
    assert counted.count(GLANCE) == 1
    assert [counted.count(text) for text in READ_ONE_BY_ONE] == [0, 0, 0, 0]
    # On SQLite the counter's advance and the contacts; on PostgreSQL each is one statement that commits by
    # itself (no BEGIN and COMMIT round trips). Nothing sealed, so no transaction (and no lock) for the feed.
    assert counted.transactions == (0 if hub_backend.postgres else 2)
    assert counted.count("UPDATE stations SET last_counter") == 1
    assert _contacts_recorded(counted, hub_backend) == 1


def test_a_push_reads_the_station_with_its_key_and_under_the_lock_with_its_village(
    client, station, counted, hub_dir, hub_backend
):
    _answer(station.sync(client, []))  # the reference data down, as at enrolment
    counted.statements.clear()
    counted.transactions = 0
    _, changes = station.new_case()
    answer = _answer(station.sync(client, [station.seal(changes)], feed_after=2))
    assert [r.status for r in answer.results] == ["accepted"]
    # The signature's check (with the key) and the set under the station's lock (the seq the hub needs next
    # follows the set).
    assert counted.count(KEY_AND_STATION) == 1
    assert counted.count(STATION_ROW) == counted.count(STATION_ROW + " OR (village_code = ?") == 1
    # A new set (past the chain head) is not looked for among the held ones, nor its key looked up twice;
    # a hub key never rotated has no handover to read.
    assert counted.count("SELECT s.hash, r.receipt FROM sets_in") == 0
    assert counted.count("SELECT * FROM station_keys WHERE key_id") == 0  # read with the station, above
    assert counted.count("SELECT * FROM station_keys WHERE station_id") == 1  # the key that signs the set's seq
    assert counted.count("SELECT MAX(gen) FROM hub_key_handovers") == 0
    # The station's lock only, one statement (PostgreSQL; none on SQLite): the counts lock is the triggers', at
    # commit (schema m018).
    locks = [s for s in counted.statements if "pg_advisory_xact_lock" in s]
    assert [s.count("pg_advisory_xact_lock") for s in locks] == ([1] if hub_backend.postgres else [])
    assert counted.count(GLANCE) == 1 and [counted.count(text) for text in READ_ONE_BY_ONE] == [0, 0, 0, 0]
    # The set, its receipt and the chain head's move: one statement on PostgreSQL; and the village's stations
    # read with the station's row under the lock.
    if hub_backend.postgres:
        assert (
            counted.count("WITH kept AS (INSERT INTO sets_in") == 1
            and counted.count("UPDATE stations SET applied") == 0
        )
    else:
        assert counted.count("INSERT INTO sets_in") == 1 and counted.count("UPDATE stations SET applied") == 1
    assert counted.count("SELECT * FROM stations WHERE station_id = ? OR (village_code = ?") == 1
    assert counted.count("SELECT * FROM stations WHERE 1 = 1") == 0
    assert _contacts_recorded(counted, hub_backend) == 1
    with HubStore.open_existing(hub_dir) as store:
        ids = [row[0] for row in store.db.execute("SELECT id FROM contacts ORDER BY id DESC LIMIT 2").fetchall()]
    # The log is cut back only when a new contact's id is a multiple of CONTACTS_TRIM_EVERY.
    assert counted.count("DELETE FROM contacts") == int(any(i % CONTACTS_TRIM_EVERY == 0 for i in ids))
    # The set, and on SQLite the contacts and the counter (the case's CaseState to the station's feed is not
    # queued: lean).
    assert counted.transactions == (1 if hub_backend.postgres else 3)
    with HubStore.open_existing(hub_dir) as store:
        kinds = [(c.kind, c.ok, c.sets) for c in store.contacts(station.station_id)[:2]]
    assert kinds == [("pull", True, 0), ("push", True, 1)]  # newest first: the pull was recorded after the push


def test_contacts_recorded_together_leave_what_one_by_one_leaves(store, station, station_b):
    push = Contact(
        at="2026-11-26T02:00:00Z",
        kind="push",
        ok=False,
        code="gap",
        sets=2,
        head_seq=9,
        outbox_length=3,
        clock_offset_ms=-40,
        software="station/0.4",
    )
    pull = Contact(at="2026-11-26T02:00:01Z", kind="pull", ok=True, sets=1, head_seq=9, outbox_length=3, feed_after=4)
    with store.transaction():
        store.record_contacts(station.station_id, [push, pull])
        store.record_contact(station_b.station_id, push)
        store.record_contact(station_b.station_id, pull)
    together, one_by_one = store.station(station.station_id), store.station(station_b.station_id)
    fields = [f for f in together.__struct_fields__ if f not in ("station_id", "device", "serial", "key_id")]
    assert {f: getattr(together, f) for f in fields} == {f: getattr(one_by_one, f) for f in fields}
    assert (together.last_error, together.last_push, together.last_pull) == ("gap", None, pull.at)
    assert store.contacts(station.station_id) == store.contacts(station_b.station_id)
    assert [c.kind for c in store.contacts(station.station_id)[:2]] == ["pull", "push"]


def test_the_glance_reads_the_feed_the_restored_mark_the_queue_and_a_catalogue_failure_in_one_statement(
    store, identity, station, clock, counted
):
    station_id = station.station_id
    counted.statements.clear()
    first = glance(store, station_id)
    assert len(counted.statements) == 1
    # Enrolment queued the reference data; nothing sealed yet, no restore, no failure on record.
    assert (first.feed_head, first.restart, first.restored, first.pending, first.catalog_failure) == (
        0,
        None,
        False,
        True,
        False,
    )
    sealed = seal_pending(store, identity, station_id, clock())
    with store.transaction():
        store.set_meta(RESTORED_META, "2026-11-26T02:00:00Z")
        store.set_meta("feed_restart:" + station_id, "40")
        store.put_catalog_failure(station_id, version=2, code="base_differs", reason="", resent_version=2, at="x")
    after = glance(store, station_id)
    assert (after.feed_head, after.restart, after.restored, after.pending, after.catalog_failure) == (
        sealed,
        "40",
        True,
        False,
        True,
    )
    assert feed_reach(store, station_id) == 40  # the restart point past the head, as the glance's reader takes it


def test_a_key_with_its_station_and_a_station_with_its_village_each_in_one_statement(
    store, station, station_b, other_station, counted
):
    key_id = store.station(station.station_id).key_id
    counted.statements.clear()
    key, row = store.key_and_station(key_id)
    assert len(counted.statements) == 1
    assert key == store.key(key_id) and row == store.station(station.station_id)
    assert store.key_and_station("no-such-key") == (None, None)
    with store.transaction():
        store.db.execute(
            "UPDATE stations SET revoked_at = ? WHERE station_id = ?", ["2026-11-26T02:00:00Z", station_b.station_id]
        )
    counted.statements.clear()
    found, village = store.station_and_village(station_b.station_id, station.village_code)
    assert len(counted.statements) == 1
    # The station's own row even when revoked; its village's stations not revoked, as stations() lists them.
    assert found == store.station(station_b.station_id) and found.revoked_at is not None
    assert village == store.stations(village_code=station.village_code, enrolled_only=True)
    assert [s.station_id for s in village] == [station.station_id]  # not station_b (revoked), not other_station
