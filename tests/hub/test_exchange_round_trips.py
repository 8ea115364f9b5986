"""What one exchange costs the hub's database: the statements it runs (each a round trip on PostgreSQL) and the
transactions it opens, for a pull with nothing queued and for a push of a case."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import msgspec
import pytest
import sqlite_utils

from hub.feed import seal_pending
from hub.store import Contact, HubStore
from hub.store.base import StoreBase
from hub.store.pg import PgDatabase
from hub.store.stations import CONTACTS_TRIM_EVERY
from sync.protocol import SyncResponse
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # the same costs on SQLite and on PostgreSQL (docs/postgresql.md)

STATION_ROW = "SELECT * FROM stations WHERE station_id = ?"


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
    assert counted.count(STATION_ROW) == 1  # the signature's check; the ingest and recovery reuse it
    # The contact, and on SQLite the counter's advance (on PostgreSQL that one statement commits by itself);
    # nothing sealed, so no transaction (and no lock) for the feed.
    assert counted.transactions == (1 if hub_backend.postgres else 2)
    assert counted.count("UPDATE stations SET last_counter") == 1
    assert counted.count("INSERT INTO contacts") == 1


def test_a_push_reads_the_station_twice_and_records_both_contacts_in_one_statement(
    client, station, counted, hub_dir, hub_backend
):
    _answer(station.sync(client, []))  # the reference data down, as at enrolment
    counted.statements.clear()
    counted.transactions = 0
    _, changes = station.new_case()
    answer = _answer(station.sync(client, [station.seal(changes)], feed_after=2))
    assert [r.status for r in answer.results] == ["accepted"]
    # The signature's check and the set under the station's lock (the seq the hub needs next follows the set).
    assert counted.count(STATION_ROW) == 2
    # A new set (past the chain head) is not looked for among the held ones, nor its key looked up twice;
    # a hub key never rotated has no handover to read.
    assert counted.count("SELECT s.hash, r.receipt FROM sets_in") == 0
    assert counted.count("SELECT * FROM station_keys WHERE key_id") == 1  # the request's signer
    assert counted.count("SELECT * FROM station_keys WHERE station_id") == 1  # the key that signs the set's seq
    assert counted.count("SELECT MAX(gen) FROM hub_key_handovers") == 0
    assert counted.count("INSERT INTO contacts") == 1
    with HubStore.open_existing(hub_dir) as store:
        ids = [row[0] for row in store.db.execute("SELECT id FROM contacts ORDER BY id DESC LIMIT 2").fetchall()]
    # The log is cut back only when a new contact's id is a multiple of CONTACTS_TRIM_EVERY.
    assert counted.count("DELETE FROM contacts") == int(any(i % CONTACTS_TRIM_EVERY == 0 for i in ids))
    # The set, the contacts, and on SQLite the counter (the case's CaseState to the station's feed is not
    # queued: lean).
    assert counted.transactions == (2 if hub_backend.postgres else 3)
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
