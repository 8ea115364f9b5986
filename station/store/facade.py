"""A station's data folder: its encrypted database, settings, and the reference data the hub publishes."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import secrets
import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec
import platformdirs
from sqlite_utils import Database

from station.deadlines import install_calendar_year, store_year
from station.errors import PassphraseError
from station.fsutil import make_all_private, private_folder
from station.identity import MIN_PASSPHRASE, PASSPHRASE_ENV, has_keypair, load_keypair
from station.privacy import id_lookup_hash, lookup_key_id, rehash, settle_lookup_key, stored_lookup_key
from station.store import datakey
from station.store.db import encrypt_in_place, finish_interrupted_encryption, is_plain, open_db, write_txn
from station.store.meta import Meta
from station.store.schema import migrate
from sync.catalog import Catalog, load_catalog
from sync.divisions import DivisionTree, load_divisions, parse_division_code
from sync.errors import DivisionCodeError, InputError, StoreError
from sync.samples import sample_catalog_json, sample_divisions_json
from sync.timeutil import business_date, iso_utc, utc_now
from sync.workdays import WorkCalendar, YearTable, seed_year_tables, validate_year_table

__all__ = ("DB_FILE", "PRIVATE_NAMES", "PRIVATE_SUBFOLDERS", "Station", "default_data_dir")

_OPEN_KEYS = ("village_code", "device", "station_id", "agent_name", "lookup_key", "lookup_key_id")
"""The settings a Station reads when it opens, together."""

DB_FILE = "station.db"
PRIVATE_NAMES = ("station.", "lookup.", "tui.json")
"""Files of the data folder made owner-only (0600) at every open: the database with its -wal and
-shm, the keys, settings. Named, not all: ``STATION_DATA_DIR`` may be a folder that holds more."""
PRIVATE_SUBFOLDERS = ("drafts", "receipts", "print")
"""Folders of the TUI (tui.drafts, tui.receipt) that hold personal data: 0700, their files 0600."""


def default_data_dir(environ: dict[str, str] | None = None) -> Path:
    """``STATION_DATA_DIR`` if set, else the per-user data folder of this OS."""
    env = os.environ if environ is None else environ
    if env.get("STATION_DATA_DIR"):
        return Path(env["STATION_DATA_DIR"])
    return Path(platformdirs.user_data_dir("proxyapp-station", appauthor=False))


class Station:
    """An opened station data folder. Create one with :meth:`init`, open it with :meth:`open`.

    Holds one database connection, so one Station belongs to one thread; a worker thread opens
    its own with :meth:`open`.
    """

    def __init__(
        self,
        data_dir: Path,
        db: Database,
        *,
        now: Callable[[], dt.datetime] = utc_now,
        stored: Mapping[str, Any] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.db = db
        self.now = now
        self.meta = Meta(db)
        """The station's settings (the ``meta`` table), one typed attribute per key."""
        # ``stored``: the settings of _OPEN_KEYS as open() just read them (one statement for all).
        stored = stored if stored is not None else self.meta.several(*_OPEN_KEYS)
        self.village_code: str = stored["village_code"]
        self.device: str = stored["device"]
        self.station_id: str = stored["station_id"]
        self.agent_name: str = stored["agent_name"] or ""
        self._lookup_key = settle_lookup_key(data_dir, db, (stored["lookup_key"], stored["lookup_key_id"]))
        self._lookup_key_id: str | None = lookup_key_id(self._lookup_key)

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(
        cls, data_dir: Path | str, *, passphrase: str | None = None, now: Callable[[], dt.datetime] = utc_now
    ) -> Station:
        """Open an initialised data folder (the schema is upgraded if it is from an older release).

        The database is encrypted under the station's data key, unlocked by ``passphrase``, else
        ``$STATION_PASSPHRASE``, else a key this process unlocked before, else the OS keyring
        (:func:`station.store.datakey.unlock`). A database of release 0.4 or older is encrypted in place
        on this first open with the passphrase.

        Raises:
            PassphraseError: wrong passphrase, or none anywhere (code ``passphrase.needed``, or
                ``passphrase.new`` when an older database waits for its first passphrase).
            StoreError: no station here, or the database and its key do not belong together.
        """
        data_dir = Path(data_dir)
        if not (data_dir / DB_FILE).exists():
            raise StoreError(
                zh=f"此处没有代办点数据：{data_dir} 中没有 {DB_FILE}；请先运行“station init --village 村代码”",
                en=f"no station here: {data_dir} has no {DB_FILE}; run 'station init --village CODE' first",
                field="data_dir",
                code="store.not_initialised",
            )
        db = _open(data_dir / DB_FILE, _data_key(data_dir, passphrase))
        try:
            stored = Meta(db).several(*_OPEN_KEYS)
        except BaseException:
            db.close()
            raise
        if stored["village_code"] is None:
            db.close()
            raise StoreError(
                zh=f"{data_dir} 未完成初始化；请删除 {DB_FILE} 后重新运行“station init”",
                en=f"{data_dir} was not fully initialised; delete {DB_FILE} and run 'station init' again",
                field="data_dir",
                code="store.not_initialised",
            )
        try:
            return cls(data_dir, db, now=now, stored=stored)
        except BaseException:
            db.close()
            raise

    @classmethod
    def init(
        cls,
        data_dir: Path | str,
        *,
        village_code: str,
        device: str = "A",
        agent_name: str = "",
        catalog_data: dict[str, Any] | None = None,
        divisions_data: dict[str, Any] | None = None,
        station_id: str | None = None,
        passphrase: str | None = None,
        now: Callable[[], dt.datetime] = utc_now,
    ) -> Station:
        """Create a station data folder for one village, with a catalogue, calendar and division tree.

        Args:
            village_code: the 12-digit code of the village this station serves.
            device: one capital letter telling this PC apart from another in the same village;
                it is part of every case number, so two PCs never issue the same number.
            catalog_data: a catalogue in its JSON form; the bundled sample when None.
            divisions_data: the division tree in its JSON form; the bundled sample when None.
            station_id: the origin id the hub assigned at enrolment; a local one when None.
            passphrase: the station passphrase, which wraps the new data key that encrypts the
                database; ``$STATION_PASSPHRASE`` when None.

        Raises:
            InputError: bad village code or device letter, or the folder already holds a station.
            PassphraseError: no passphrase (code ``passphrase.new``), or one too short.
        """
        data_dir = Path(data_dir)
        device = device.strip().upper()
        if len(device) != 1 or device not in string.ascii_uppercase:
            raise InputError(
                zh=f"设备代号应为一个大写字母 A-Z（收到 {device!r}）；同村第二台电脑用 B",
                en=f"device must be one letter A-Z (got {device!r}); use B for a second PC in the village",
                field="device",
            )
        code = parse_division_code(village_code)
        if code.level != "village":
            raise DivisionCodeError(
                zh=f"{code.code} 是{'县' if code.level == 'county' else '乡镇'}级代码，不是村级：请填写本站所在村的 12 位代码",
                en=f"{code.code} is a {code.level}, not a village: give the 12-digit code of the station's village",
                field="village",
            )
        divisions_json = divisions_data if divisions_data is not None else sample_divisions_json()
        divisions = load_divisions(divisions_json)
        divisions.village(code.code)  # raises when the village is not in the tree
        catalog = load_catalog(catalog_data if catalog_data is not None else sample_catalog_json())

        private_folder(data_dir)
        path = data_dir / DB_FILE
        if path.exists() and path.stat().st_size > 0:
            key = _data_key(data_dir, passphrase)
            db = _open(path, key)
            initialised = Meta(db).village_code is not None
            db.close()
            if initialised:
                raise InputError(
                    zh=f"{data_dir} 已有代办点数据，未做任何更改",
                    en=f"{data_dir} already holds a station; nothing was changed",
                    field="data_dir",
                    code="store.exists",
                )
        else:
            chosen = _new_passphrase(passphrase)
            # A key file without a database is kept when the passphrase opens it: a database
            # restored from the backup later still opens.
            if datakey.has_data_key(data_dir):
                key = datakey.open_data_key(data_dir, chosen)
            else:
                key = datakey.create_data_key(data_dir, chosen)
        db = _open(path, key)
        moment = now()
        stamp = iso_utc(moment)
        with write_txn(db):
            meta = {
                "village_code": code.code,
                "device": device,
                # The origin id of this station's change sets: the hub's at enrolment; until then
                # random, so a restored clone re-initialised elsewhere never shares it by accident.
                "station_id": station_id or f"{code.code}-{device}-{secrets.token_hex(4)}",
                "agent_name": agent_name,
                "created_at": stamp,
            }
            Meta(db).update(meta)
            db.execute(
                "INSERT INTO catalogs (version, body, received_at) VALUES (?, ?, ?)",
                [catalog.version, msgspec.json.encode(catalog).decode(), stamp],
            )
            for table in seed_year_tables():
                store_year(db, table, stamp)
            db.execute(
                "INSERT INTO documents (kind, version, body, received_at) VALUES ('divisions', 1, ?, ?)",
                [json.dumps(divisions_json, ensure_ascii=False), stamp],
            )
        return cls(data_dir, db, now=now)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Station:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reference data ----------------------------------------------------------------------

    @functools.cached_property
    def catalog(self) -> Catalog:
        """The newest catalogue this station holds."""
        row = self.db.execute("SELECT body FROM catalogs ORDER BY version DESC LIMIT 1").fetchone()
        return msgspec.json.decode(row[0], type=Catalog)

    def catalog_version(self, version: int) -> Catalog:
        """The catalogue a case was received under (cases keep their version's rules)."""
        if version == self.catalog.version:
            return self.catalog
        row = self.db.execute("SELECT body FROM catalogs WHERE version = ?", [version]).fetchone()
        if row is None:
            raise StoreError(
                zh=f"本站缺少目录版本 {version}；请与县平台同步",
                en=f"catalogue version {version} is missing from this station; sync with the hub",
                field="catalog_version",
            )
        return msgspec.json.decode(row[0], type=Catalog)

    @functools.cached_property
    def calendar(self) -> WorkCalendar:
        """The working-day calendar from the year tables this station holds."""
        rows = self.db.execute("SELECT body FROM calendar_years ORDER BY year").fetchall()
        return WorkCalendar(msgspec.json.decode(body, type=YearTable) for (body,) in rows)

    @functools.cached_property
    def divisions(self) -> DivisionTree:
        row = self.db.execute("SELECT body FROM documents WHERE kind = 'divisions'").fetchone()
        return load_divisions(json.loads(row[0]))

    def install_calendar_year(self, table: YearTable) -> int:
        """Store a year table (as the hub publishes it) and recompute the due dates it affects
        (:func:`station.deadlines.install_calendar_year`).

        Returns the number of cases and commitments whose due date was recomputed.
        """
        validate_year_table(table)  # before the write lock: a bad table never waits for it
        with write_txn(self.db):
            return install_calendar_year(self, table)

    # -- helpers shared by the case modules --------------------------------------------------

    def today(self) -> dt.date:
        """Today's date in China, the date that counts for deadlines and case numbers."""
        return business_date(self.now())

    def id_hash(self, id_number: str) -> str:
        """The keyed lookup hash of an ID number, under the key in force."""
        # Another process (``station enroll`` beside a running TUI) may have installed the
        # county's key since this Station was opened: the database says which key is in force.
        if self.meta.lookup_key_id != self._lookup_key_id:
            self.reload_lookup_key()
        return id_lookup_hash(self._lookup_key, id_number)

    def reload_lookup_key(self) -> None:
        """Take up the lookup key the database was last hashed under (after a key change)."""
        self._lookup_key = stored_lookup_key(self.db)
        self._lookup_key_id = lookup_key_id(self._lookup_key)

    def rehash_ids(self, key: bytes) -> int:
        """Re-hash every case's ID under ``key`` and store it as the key in force, inside the
        database (call inside a write transaction). Returns the cases re-hashed."""
        return rehash(self.db, key)


_made_private: set[str] = set()


def _open(path: Path, key: bytes) -> Database:
    """The station database at ``path``, its schema upgraded to this release's."""
    db = open_db(path, key=key)
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


def _new_passphrase(passphrase: str | None) -> str:
    chosen = passphrase if passphrase is not None else os.environ.get(PASSPHRASE_ENV) or None
    if chosen is None:
        raise PassphraseError(
            zh=f"本站数据将以本站密钥口令加密：请设定口令（至少 8 个字符）并设置环境变量 {PASSPHRASE_ENV}，"
            "或在终端中运行命令以输入口令",
            en=f"the station's data is encrypted under the station passphrase: choose one (at least 8 characters) "
            f"and set {PASSPHRASE_ENV}, or run the command at a terminal to be asked for it",
            field="passphrase",
            code="passphrase.new",
        )
    if len(chosen) < MIN_PASSPHRASE:
        raise PassphraseError(
            zh=f"本站密钥口令至少需要 {MIN_PASSPHRASE} 个字符",
            en=f"the station passphrase must be at least {MIN_PASSPHRASE} characters",
            field="passphrase",
            code="passphrase.short",
        )
    return chosen


def _data_key(data_dir: Path, passphrase: str | None) -> bytes:
    """The data key of an existing database, after encrypting it if it is still plain (0.4)."""
    path = data_dir / DB_FILE
    folder = os.path.realpath(data_dir)
    if folder not in _made_private:  # once per program: the TUI opens the station every few seconds
        make_all_private(data_dir, PRIVATE_NAMES, PRIVATE_SUBFOLDERS)
        _made_private.add(folder)
    if not is_plain(path):
        finish_interrupted_encryption(path)  # a crash after the encrypted file took the plain one's place
        return datakey.unlock(data_dir, passphrase)

    def checked() -> str | None:
        """The passphrase for a new key, checked; None when a key exists (checked by unlocking)."""
        if datakey.has_data_key(data_dir):  # an encryption cut short, or another program's under way
            datakey.unlock(data_dir, passphrase)
            return None
        chosen = _new_passphrase(passphrase)
        if has_keypair(data_dir):
            # An enrolled station: its passphrase already guards the station key, and must be
            # that one (a typo here would lock the data under a passphrase nobody knows).
            load_keypair(data_dir, chosen)
        return chosen

    def make_key() -> bytes:
        chosen = checked()
        return datakey.unlock(data_dir, passphrase) if chosen is None else datakey.create_data_key(data_dir, chosen)

    checked()  # a wrong or missing passphrase is refused before anything is touched
    key = encrypt_in_place(path, make_key)
    return key if key is not None else datakey.unlock(data_dir, passphrase)
