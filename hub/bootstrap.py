"""Creating a hub data folder: keys, database, sample catalogue, calendar years, division tree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from hub.keys import KEY_FILE, create_identity
from hub.store import DB_FILE, HubStore
from hub.store.location import database_url, record_database_url, redacted
from sync.catalog import load_catalog
from sync.divisions import load_divisions
from sync.errors import InputError
from sync.samples import sample_catalog_json, sample_divisions_json
from sync.timeutil import utc_now
from sync.workdays import seed_year_tables

__all__ = ("HubInit", "init_hub")


class HubInit(msgspec.Struct, frozen=True, kw_only=True):
    """What ``hub init`` reports. There is no account yet: the operator adds one with ``hub user add``."""

    data_dir: str
    hub_id: str
    fingerprint: str
    catalog_version: int
    calendar_years: tuple[int, ...]
    villages: int


def init_hub(
    data_dir: Path | str,
    *,
    catalog_data: dict[str, Any] | None = None,
    divisions_data: dict[str, Any] | None = None,
    now: Callable[[], dt.datetime] = utc_now,
    database: str | None = None,
) -> HubInit:
    """Create a hub in ``data_dir``: identity, database and reference data (no accounts yet).

    Args:
        catalog_data: a catalogue in its JSON form; the bundled sample (as version 1) when None.
        divisions_data: the division tree in its JSON form; the bundled sample when None.
        database: a ``postgresql://`` URL (checked by hub.settings first) to keep the store in, recorded in
            the folder; None: ``HUB_DATABASE_URL`` if set (recorded too), else the SQLite file ``hub.db``.

    Raises:
        InputError: the folder, or the PostgreSQL database, already holds a hub (nothing is changed).
        CatalogError, DivisionCodeError: the reference data is malformed.
    """
    data_dir = Path(data_dir)
    if (data_dir / KEY_FILE).exists() or (data_dir / DB_FILE).exists():
        raise InputError(
            zh=f"{data_dir} 已有县平台数据，未做任何更改",
            en=f"{data_dir} already holds a hub; nothing was changed",
            field="data_dir",
            code="store.exists",
        )
    url = database or database_url(data_dir)
    if url:
        with HubStore.open(data_dir, database=url, migrate=False) as existing:
            if existing.holds_hub():
                raise InputError(
                    zh=f"PostgreSQL 数据库 {redacted(url)} 已有县平台数据，未做任何更改；请使用一个空数据库",
                    en=f"the PostgreSQL database {redacted(url)} already holds a hub; nothing was changed. "
                    "Use an empty database",
                    field="database",
                    code="store.exists",
                )
    # Check the reference data before anything is written, so a bad file leaves no half hub.
    divisions_json = divisions_data if divisions_data is not None else sample_divisions_json()
    divisions = load_divisions(divisions_json)
    catalog = load_catalog(catalog_data if catalog_data is not None else sample_catalog_json(), version=1)
    tables = seed_year_tables()

    # Owner-only: the folder holds the hub key and every case of the county.
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    identity = create_identity(data_dir)
    if url:
        record_database_url(data_dir, url)  # every later command finds the store without the variable
    moment = now()
    with HubStore.open(data_dir, database=url) as store, store.transaction():
        store.set_meta("hub_id", identity.hub_id)
        store.set_meta("created_at", moment.isoformat())
        store.publish_catalog(catalog, moment)
        for table in tables:
            store.put_calendar_year(table, moment)
        store.put_divisions(divisions_json, 1, moment)
    return HubInit(
        data_dir=str(data_dir),
        hub_id=identity.hub_id,
        fingerprint=identity.fingerprint,
        catalog_version=catalog.version,
        calendar_years=tuple(t.year for t in tables),
        villages=sum(1 for _ in divisions.villages()),
    )
