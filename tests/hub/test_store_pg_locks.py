"""The store's advisory locks on PostgreSQL: several taken in one statement, in the order given; one a transaction
holds already not asked for again; one taken under a savepoint that rolled back taken again (PostgreSQL let it go)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.ingest import ingest_sets
from hub.keys import HubIdentity
from hub.store import HubStore
from hub.store.locks import COUNTS_LOCK
from hub.store.pg import LOCK_SPACE, PgDatabase
from tests.hub.builders import TestStation

pytestmark = pytest.mark.parametrize("hub_backend", ["postgresql"], indirect=True)

WAIT = 20.0
"""How long a test waits for a thread to reach a lock before it gives up (a hang, not a measure)."""


def _holders(observer: HubStore, key: str, *, granted: bool) -> int:
    """Connections holding (``granted``) or waiting for the advisory store lock ``key``."""
    row = observer.db.execute(
        f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND {'' if granted else 'NOT '}granted "
        "AND objsubid = 2 AND classid = ? AND objid::bigint = (hashtext(?)::bigint & 4294967295)",
        [LOCK_SPACE, key],
    ).fetchone()
    return int(row[0])


@pytest.fixture
def lock_statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The lock statements the store sends, as sent."""
    sent: list[str] = []
    execute = PgDatabase.execute

    def counting(self: PgDatabase, sql: str, params=None):
        if "pg_advisory_xact_lock" in sql:
            sent.append(sql)
        return execute(self, sql, params)

    monkeypatch.setattr(PgDatabase, "execute", counting)
    yield sent


def test_two_locks_go_in_one_statement_and_a_held_one_is_not_asked_for_again(
    store: HubStore, hub_dir: Path, lock_statements: list[str]
):
    with HubStore.open_existing(hub_dir) as observer:
        with store.transaction():
            store.lock("station:a", "counts")
            assert len(lock_statements) == 1 and lock_statements[0].count("pg_advisory_xact_lock") == 2
            assert _holders(observer, "station:a", granted=True) == 1
            assert _holders(observer, "counts", granted=True) == 1
            store.lock("counts")
            store.lock("station:a", "counts")
            assert len(lock_statements) == 1  # held already: nothing sent
        assert _holders(observer, "counts", granted=True) == 0  # the transaction ended: PostgreSQL let go
        with store.transaction():
            store.lock("counts")  # a new transaction holds nothing: asked for again
            assert _holders(observer, "counts", granted=True) == 1
        assert len(lock_statements) == 2


def test_a_lock_taken_under_a_savepoint_rolled_back_is_taken_again(store: HubStore, hub_dir: Path):
    with HubStore.open_existing(hub_dir) as observer, store.transaction():
        store.lock("station:a")
        with pytest.raises(RuntimeError), store.savepoint():
            store.lock("counts")
            assert _holders(observer, "counts", granted=True) == 1
            raise RuntimeError("a change that failed")
        # PostgreSQL released what was taken since the savepoint; the transaction's first lock stays.
        assert _holders(observer, "counts", granted=True) == 0
        assert _holders(observer, "station:a", granted=True) == 1
        store.lock("counts")
        assert _holders(observer, "counts", granted=True) == 1


def test_locks_in_one_statement_are_taken_in_the_order_given(store: HubStore, hub_dir: Path):
    """Another transaction holds the second lock: the first is taken, and the statement waits for the second
    (taken the other way round, it would wait holding neither: the order other writers rely on)."""
    errors: list[BaseException] = []
    with HubStore.open_existing(hub_dir) as holder, HubStore.open_existing(hub_dir) as observer:
        with holder.transaction():
            holder.lock("counts")

            def take_both() -> None:
                try:
                    with HubStore.open_existing(hub_dir) as other, other.transaction():
                        other.lock("station:a", "counts")
                except BaseException as exc:  # reported by the main thread
                    errors.append(exc)

            thread = threading.Thread(target=take_both)
            thread.start()
            deadline = time.monotonic() + WAIT
            while not _holders(observer, "counts", granted=False):
                assert time.monotonic() < deadline, "the other transaction never waited for the counts lock"
                time.sleep(0.01)
            assert _holders(observer, "station:a", granted=True) == 1  # taken first, held while it waits
        thread.join(WAIT)
    assert not thread.is_alive() and not errors


def test_the_counting_triggers_run_at_commit_and_take_the_counts_lock_there(
    store: HubStore, identity: HubIdentity, station: TestStation
) -> None:
    # Schema m018: the triggers that update the rows every station's writes share are deferred constraint
    # triggers whose functions first take the counts lock; a contact's counter (one row, alone in its
    # statement) stays an ordinary trigger.
    rows = store.db.execute(
        "SELECT t.tgname, t.tgdeferrable, t.tginitdeferred, p.prosrc FROM pg_trigger t "
        "JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal AND t.tgname IN "
        "('case_counts_insert', 'case_counts_delete', 'case_counts_update', 'counters_sets', 'counters_forks', "
        "'counters_contacts') ORDER BY t.tgname"
    ).fetchall()
    # The lock the triggers take is the one store.lock("counts") takes.
    taken = f"pg_advisory_xact_lock({LOCK_SPACE}, hashtext('{COUNTS_LOCK}'))"
    assert all(taken in source for name, _, _, source in rows if name != "counters_contacts")
    found = {
        name: (bool(deferrable), bool(deferred), "pg_advisory_xact_lock" in source)
        for name, deferrable, deferred, source in rows
    }
    assert found == {
        "case_counts_delete": (True, True, True),
        "case_counts_insert": (True, True, True),
        "case_counts_update": (True, True, True),
        "counters_contacts": (False, False, False),
        "counters_forks": (True, True, True),
        "counters_sets": (True, True, True),
    }
    # Within the transaction the counts wait for its commit; then they are there, once.
    counted = "SELECT coalesce(sum(n), 0) FROM case_counts"
    before = store.db.execute(counted).fetchone()[0]
    _, changes = station.new_case()
    with store.transaction():
        result = ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=station.clock)
        assert [r.status for r in result.results] == ["accepted"]
        assert store.db.execute(counted).fetchone()[0] == before
    assert store.db.execute(counted).fetchone()[0] == before + 1
