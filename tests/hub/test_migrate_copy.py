"""``hub migrate --to``: a SQLite hub with real stations, synced cases, a county decision and an account is
copied into an empty PostgreSQL database row for row, verified, and the target refused a second time."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from bench.bench_sync import Workload, record_day
from hub.accounts import add_user, hasher_for
from hub.cli import main
from hub.decisions import decide
from hub.enroll import issue_code
from hub.migrate_store import migrate_to_postgresql
from hub.settings import Settings, parse_database_url
from hub.store import DB_FILE, HubStore, pg
from hub.store.location import DATABASE_FILE
from hub.testing import live_server
from hub.web.app import create_app
from station.enrolment import enroll
from station.identity import load_keypair
from station.link import sync_once
from station.store import Station, datakey
from sync.timeutil import utc_now
from tests.hub.test_counted_writers import _exact_counts as exact_counts

PASSPHRASE = "migrate-passphrase-1"
ENV: dict[str, str | None] = {"LANG": "", "LC_ALL": "", "HUB_DATABASE_URL": None}


def county(hub_dir: Path, root: Path, stations: int = 2) -> list[str]:
    """Real stations enrolled over HTTP, each with a day's work synced; the first case accepted by the county
    (a feed set for its station). Returns the stations' ids."""
    settings = Settings(data_dir=hub_dir, argon2_time_cost=1, argon2_memory_kib=1024)
    ids = []
    with HubStore.open_existing(hub_dir) as store:
        villages = [v.code for v, _ in zip(store.divisions().villages(), range(stations), strict=False)]
        codes = [issue_code(store, v).code for v in villages]
        add_user(store, "admin", "admin", "a-long-password-1", hasher=hasher_for(settings), now=utc_now())
    with live_server(create_app(settings)) as url:
        for n, code in enumerate(codes):
            data_dir = root / f"station-{n}"
            ids.append(enroll(data_dir, hub_url=url, code=code, passphrase=PASSPHRASE, key_work=2**10).station_id)
            keys = load_keypair(data_dir, PASSPHRASE)
            record_day(data_dir, Workload(random.Random(n)), 3)
            assert sync_once(data_dir, hub_url=url, keys=keys).in_step
        with HubStore.open_existing(hub_dir) as store:
            case_no = store.list_cases(limit=1)[0]["case_no"]
            decide(store, case_no, "ACCEPTED", by="人社局")
        for n in range(stations):  # the decision goes down: each station's feed head moves
            data_dir = root / f"station-{n}"
            assert sync_once(data_dir, hub_url=url, keys=load_keypair(data_dir, PASSPHRASE)).in_step
    return ids


def _value(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


def rows(conn: Any, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    cols = ", ".join(f'"{c}"' for c in columns)
    found = [tuple(_value(v) for v in r) for r in conn.execute(f'SELECT {cols} FROM "{table}"').fetchall()]
    return sorted(found, key=repr)


@pytest.mark.timeout(240)
def test_a_hub_is_copied_row_for_row_and_verified(
    hub_dir: Path, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datakey, "KEY_WORK", 2**10)
    ids = county(hub_dir, tmp_path)
    before = (hub_dir / DB_FILE).read_bytes()

    result = CliRunner().invoke(
        main, ["--data-dir", str(hub_dir), "--lang", "en", "migrate", "--to", postgres_url], env=ENV
    )

    assert result.exit_code == 0, result.output
    password = postgres_url.split("@")[0].rsplit(":", 1)[1]
    assert password not in result.output
    assert "Verified: row counts equal in every table; chain heads of 2 station(s) and feed heads of 2 equal" in (
        result.output
    )
    masked = postgres_url.replace(f":{password}@", ":***@")
    assert f"  HUB_DATABASE_URL={masked}\n" in result.output
    assert (hub_dir / DB_FILE).read_bytes() == before  # the SQLite hub is left as it was

    source = sqlite3.connect(hub_dir / DB_FILE)
    tables = [
        r[0]
        for r in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_%' "
            "ESCAPE '\\'"
        )
    ]
    assert {"cases", "sets_in", "feed_sets", "case_counts", "counters", "stations", "users"} <= set(tables)
    with psycopg.connect(postgres_url) as target:
        for table in tables:
            columns = [r[1] for r in source.execute(f'PRAGMA table_info("{table}")')]
            assert rows(target, table, columns) == rows(source, table, columns), table
        assert len(rows(target, "cases", ["case_no"])) == 6
        assert {r[0] for r in rows(target, "sets_in", ["origin"])} == set(ids)
        # Identity counters go on after the copied ids (a new feed item does not collide with a copied one).
        top_row = target.execute("SELECT MAX(id) FROM feed_items").fetchone()
        assert top_row is not None
        top = top_row[0] or 0
        fresh_row = target.execute(
            "INSERT INTO feed_items (station_id, kind, body, priority, queued_at) "
            "VALUES (%s, 'x', '\\x00', 1, '2026-12-02T00:00:00Z') RETURNING id",
            [ids[0]],
        ).fetchone()
        assert fresh_row is not None and fresh_row[0] > top
        target.rollback()
    source.close()

    recorded = hub_dir / DATABASE_FILE  # as `hub init --database` records it: the hub opens PostgreSQL now
    assert recorded.read_text().strip() == postgres_url and recorded.stat().st_mode & 0o777 == 0o600
    again = CliRunner().invoke(
        main, ["--data-dir", str(hub_dir), "--lang", "en", "migrate", "--to", postgres_url], env=ENV
    )
    assert again.exit_code == 2 and "already keeps its store in PostgreSQL" in again.output


def station_status(data_dir: Path, case_no: str) -> str:
    with Station.open(data_dir, passphrase=PASSPHRASE) as station:
        return str(station.db.execute("SELECT status FROM cases WHERE case_no = ?", [case_no]).fetchone()[0])


@pytest.mark.timeout(240)
def test_a_migrated_hub_serves_from_postgresql_and_its_stations_sync_on(
    hub_dir: Path, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datakey, "KEY_WORK", 2**10)
    ids = county(hub_dir, tmp_path)
    migrated = CliRunner().invoke(main, ["--data-dir", str(hub_dir), "migrate", "--to", postgres_url], env=ENV)
    assert migrated.exit_code == 0, migrated.output
    (hub_dir / DB_FILE).rename(hub_dir / "hub.db.kept")  # nothing reads the SQLite file from here on

    settings = Settings(data_dir=hub_dir, argon2_time_cost=1, argon2_memory_kib=1024)
    with live_server(create_app(settings)) as url:
        for n in range(len(ids)):  # the next day's work goes up to the hub now on PostgreSQL
            data_dir = tmp_path / f"station-{n}"
            record_day(data_dir, Workload(random.Random(100 + n)), 2)
            report = sync_once(data_dir, hub_url=url, keys=load_keypair(data_dir, PASSPHRASE))
            assert report.in_step and report.pushed, report.errors
        with HubStore.open_existing(hub_dir) as store:
            assert isinstance(store.db, pg.PgDatabase)
            assert store.count_rows("cases") == 3 * len(ids) + 2 * len(ids)
            # The counting triggers, off while the rows were copied, count the new day's cases again.
            exact_counts(store)
            second_station = store.station(ids[1])
            assert second_station is not None
            newest = store.list_cases(village_code=second_station.village_code, limit=1)[0]["case_no"]
            decide(store, newest, "ACCEPTED", by="人社局")
        second = tmp_path / "station-1"  # and the county's decision comes down its feed, after the copied sets
        assert sync_once(second, hub_url=url, keys=load_keypair(second, PASSPHRASE)).in_step
        assert station_status(second, newest) == "ACCEPTED"
    assert not (hub_dir / DB_FILE).exists()


def test_progress_is_told_per_table_and_for_the_checks(hub_dir: Path, postgres_url: str) -> None:
    seen: list[tuple[str, int, int]] = []
    result = migrate_to_postgresql(hub_dir, parse_database_url(postgres_url), progress=lambda *a: seen.append(a))
    stages = [s for s, _, _ in seen]
    assert stages[0] == "schema" and stages[-1] == "verify"
    assert {"cases", "stations", "catalogs", "case_counts"} <= set(stages)
    for table, copied in result.rows.items():
        assert (table, copied, copied) in seen or copied == 0  # each table's bar reaches its end
    assert seen[-1][1] == seen[-1][2]
