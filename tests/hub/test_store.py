"""The hub store: opening, pragmas, migrations, settings, the hub clock, reference data, keys on disk.

Runs on both engines (BOTH_BACKENDS); the SQLite file's own pragmas and upgrade path only on SQLite.
"""

from __future__ import annotations

import datetime as dt

import pytest

from hub.bootstrap import init_hub
from hub.keys import KEY_FILE, create_identity, id_lookup_hash, load_identity
from hub.settings import Settings, default_data_dir
from hub.store import HubStore
from hub.store.schema import migrations
from sync.errors import InputError, StoreError
from sync.tables import TABLE_NAMES
from sync.workdays import YearTable
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS


def _applied(store: HubStore) -> list[str]:
    if store.dialect == "postgresql":
        from hub.store import pg

        return pg.applied(store.db.conn)
    return [m.name for m in migrations.applied(store.db)]


def test_connection_pragmas_and_schema(store):
    if store.dialect == "postgresql":
        pytest.skip("SQLite's pragmas (PostgreSQL's schema: test_store_pg_schema.py)")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert migrations.pending(store.db) == []
    for table in TABLE_NAMES:
        assert "versions" in store.db[table].columns_dict
    assert store.db["case_events"].columns_dict["origin"] is str


def test_reopening_migrates_nothing_twice(hub_dir):
    with HubStore.open(hub_dir) as first:
        applied = _applied(first)
    with HubStore.open(hub_dir) as second:
        assert _applied(second) == applied == [m.name for m in migrations._migrations]
        assert applied[:8] == (
            [
                "m001_hub",
                "m002_accounts_dashboard",
                "m003_station_features",
                "m004_weekly_figures",
                "m005_calendar_versions",
                "m006_catalog_publication",
                "m007_key_rotation",
                "m008_fork_resolution",
            ]
        )


def test_open_existing_refuses_an_empty_folder(tmp_path):
    with pytest.raises(StoreError) as caught:
        HubStore.open_existing(tmp_path)
    assert "hub init" in caught.value.en and caught.value.code == "store.not_initialised"


def test_a_transaction_rolls_back_whole(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.set_meta("x", "1")
        raise RuntimeError
    assert store.get_meta("x") is None


def test_the_hub_clock_never_goes_back(store):
    with store.transaction():
        first = store.tick_clock(2_000_000)
        second = store.tick_clock(1_000_000)  # the server clock was set back
    assert second > first and int(store.get_meta("hlc_last")) == second


def test_reference_data_after_init(store):
    assert store.catalog().version == 1 and len(store.catalog().items) == 31
    assert sum(1 for _ in store.divisions().villages()) == 395
    calendar = store.calendar()
    assert 2026 in calendar.years
    older = YearTable(year=2026, holidays=(), workdays=(), source="test", version=0)
    with store.transaction():
        store.put_calendar_year(older, dt.datetime.now(dt.UTC))
    assert store.calendar().table(2026).version == 1  # a lower version never replaces


def test_init_refuses_a_folder_that_holds_a_hub(hub_dir):
    with pytest.raises(InputError):
        init_hub(hub_dir)


def test_identity_file_is_private_and_never_replaced(hub_dir, identity):
    assert ((hub_dir / KEY_FILE).stat().st_mode & 0o777) == 0o600
    assert load_identity(hub_dir) == identity
    with pytest.raises(StoreError):
        create_identity(hub_dir)
    (hub_dir / KEY_FILE).write_bytes(b"damaged")
    with pytest.raises(StoreError):
        load_identity(hub_dir)


def test_init_creates_no_account_and_no_admin_token(store):
    assert store.users() == [] and store.get_meta("admin_token_sha256") is None


def test_an_old_hub_loses_its_admin_token_when_upgraded(tmp_path, hub_backend):
    if hub_backend.postgres:
        pytest.skip("a 0.2 hub is a SQLite file (it reaches PostgreSQL by hub migrate --to)")
    # A 0.2 hub database: only m001, with the single admin token that accounts replace.
    from hub.store.db import open_db

    db = open_db(tmp_path / "hub.db")
    migrations.apply(db, stop_before="m002_accounts_dashboard")
    db.execute("INSERT INTO meta (key, value) VALUES ('admin_token_sha256', 'x')")
    db.close()
    with HubStore.open(tmp_path) as upgraded:
        assert upgraded.get_meta("admin_token_sha256") is None
        assert upgraded.users() == [] and upgraded.case_counts() == []


def test_id_lookup_hash_normalises():
    key = bytes(32)
    assert id_lookup_hash(key, "34992119500101001x") == id_lookup_hash(key, "34992119500101001X")


def test_settings_from_the_environment(tmp_path):
    assert Settings.from_env({"HUB_DATA_DIR": str(tmp_path)}).data_dir == tmp_path
    tuned = Settings.from_env(
        {
            "HUB_DATA_DIR": str(tmp_path),
            "HUB_WARN_DAYS": "2",
            "HUB_DANGER_DAYS": "5.5",
            "HUB_COOKIE_SECURE": "1",
            "HUB_METRICS_TOKEN": "m",
        }
    )
    assert (tuned.warn_after_days, tuned.danger_after_days, tuned.cookie_secure, tuned.metrics_token) == (
        2.0,
        5.5,
        True,
        "m",
    )
    plain = Settings.from_env({"HUB_DATA_DIR": str(tmp_path)})
    assert (plain.warn_after_days, plain.danger_after_days, plain.cookie_secure, plain.metrics_token) == (
        3.0,
        7.0,
        False,
        None,
    )
    assert default_data_dir({}).name == "proxyapp-hub"


def test_a_key_with_nul_finds_nothing_and_a_rejection_quoting_it_is_kept(store):
    # PostgreSQL's text cannot hold NUL; a station's hostile pk must not fail the request on either engine.
    assert store.row("cases", "a\x00") is None
    with store.transaction():
        store.add_rejected(
            origin="s", seq=1, index=0, entity="cases", entity_id="a\x00", code="malformed",
            reason_en="bad a\x00", reason_zh="坏", change=b"\x00raw", at="2026-11-26T02:00:00Z",
        )  # fmt: skip
    (kept,) = store.rejected("s")
    assert kept["entity_id"] == "a\ufffd" and kept["reason_en"] == "bad a\ufffd"
    row = store.db.execute("SELECT change FROM rejected WHERE origin = 's'").fetchone()
    assert bytes(row[0]) == b"\x00raw"  # the change's own bytes whole
