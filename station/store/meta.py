"""The station's ``meta`` table (its settings, never replicated) through one typed accessor.

Every key the station keeps is an attribute of :class:`Meta`, documented where it is declared;
the stored key names and their text values are those of every release, so an old database reads
the same. Writes go through :meth:`Meta.update` (or :func:`set_meta`), inside the caller's write
transaction so a setting changes together with the rows it belongs to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from sqlite_utils import Database

__all__ = ("Meta", "get_meta", "get_meta_json", "set_meta")

T = TypeVar("T")


def get_meta(db: Database, key: str, default: str | None = None) -> str | None:
    """The text stored under ``key``, else ``default``."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else default


def get_meta_json(db: Database, key: str) -> Any:
    """A JSON-valued setting (fork and revocation records), None when unset."""
    text = get_meta(db, key)
    return json.loads(text) if text else None


def set_meta(db: Database, values: Mapping[str, str | int | None]) -> None:
    """Set (or, for None, delete) settings; call inside a write transaction to keep them with other writes.

    One statement for the keys set and one for those deleted, however many: a sync round stores four
    settings from each answer, and every statement a thread runs hands the interpreter to the others."""
    gone = [key for key, value in values.items() if value is None]
    kept = [(key, str(value)) for key, value in values.items() if value is not None]
    if gone:
        db.execute(f"DELETE FROM meta WHERE key IN ({', '.join('?' for _ in gone)})", gone)
    if kept:
        rows = ", ".join("(?, ?)" for _ in kept)
        db.execute(
            f"INSERT INTO meta (key, value) VALUES {rows} ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [part for pair in kept for part in pair],
        )


class _Key(Generic[T]):
    """One ``meta`` key read as a typed attribute of :class:`Meta` (read-only: write with ``update``)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __set_name__(self, owner: type, name: str) -> None:
        if name != self.key:  # the attribute is named as the stored key, so grep finds both
            raise TypeError(f"Meta.{name} must be named as its key {self.key!r}")

    def __get__(self, meta: Meta | None, owner: type) -> Any:
        if meta is None:
            return self
        return self.parse(get_meta(meta.db, self.key))

    def parse(self, text: str | None) -> T:
        raise NotImplementedError


class _Text(_Key[str | None]):
    """Text; None when unset (an empty string stays empty: some keys are cleared with '')."""

    def parse(self, text: str | None) -> str | None:
        return text


class _Int(_Key[int | None]):
    """An integer; None when unset or empty."""

    def parse(self, text: str | None) -> int | None:
        return int(text) if text else None


class _Count(_Key[int]):
    """A non-negative counter or position; 0 when unset or empty."""

    def parse(self, text: str | None) -> int:
        return int(text or 0)


class _Json(_Key[Any]):
    """A JSON record; None when unset or empty."""

    def parse(self, text: str | None) -> Any:
        return json.loads(text) if text else None


class Meta:
    """The ``meta`` settings of one station database, one attribute per key."""

    # -- who this station is (written by ``station init``, the origin id again at enrolment) ---
    village_code = _Text("village_code")
    """The 12-digit code of the village this station serves."""
    device = _Text("device")
    """The device letter (A-Z) that tells two PCs of one village apart in case numbers."""
    station_id = _Text("station_id")
    """The origin id of this station's change sets: the hub's once enrolled, a random local one before."""
    agent_name = _Text("agent_name")
    """The proxy agent's name, printed on receipts ('' or unset: none given)."""
    created_at = _Text("created_at")
    """When the data folder was initialised (ISO 8601, UTC)."""

    # -- the pinned hub (written once, at enrolment) --------------------------------------------
    hub_url = _Text("hub_url")
    """The hub's address given at enrolment."""
    hub_id = _Text("hub_id")
    """The hub's id; set (non-empty) exactly when the station is enrolled."""
    hub_sign_public = _Text("hub_sign_public")
    """The hub's signing public key, hex: feed sets and receipts are checked against it."""
    hub_box_public = _Text("hub_box_public")
    """The hub's encryption public key, hex: what the station seals its requests to."""
    query_key = _Text("query_key")
    """This PC's progress-query key (hex; station.ratings): made once, replicated to the hub once enrolled."""
    enrolled_at = _Text("enrolled_at")
    """When the station enrolled (ISO 8601, UTC); unset before."""

    # -- the sync link ------------------------------------------------------------------------
    request_counter = _Count("request_counter")
    """The last request counter used; saved before a request is sent so it never repeats."""
    feed_seq = _Count("feed_seq")
    """The seq of the last feed set applied (0 before the first)."""
    hub_feed_seq = _Int("hub_feed_seq")
    """The newest feed seq the hub last said it has (None until it said)."""
    hub_features = _Text("hub_features")
    """What the hub last said it reads (sync.protocol FEATURE_* bits), as stored: see station.sealing."""
    hlc_last = _Int("hlc_last")
    """The newest hybrid-clock stamp this station issued or saw (None before any)."""
    clock_offset_ms = _Int("clock_offset_ms")
    """How far the hub's clock was ahead of this PC's at the last contact, in ms."""
    clock_checked_at = _Text("clock_checked_at")
    """When ``clock_offset_ms`` was measured (ISO 8601, UTC)."""
    # exchange_missing_at (0.4 and 0.5: since when the hub had no exchange, to push and pull separately)
    # is read by no release since 0.6 (docs/protocol.md, "Support window"); a stored one is left alone.
    push_bytes = _Text("push_bytes")
    """The adapted byte budget of one upload request (station.link.budget), as stored."""
    feed_bytes = _Text("feed_bytes")
    """The adapted byte budget of one feed download request (station.link.budget), as stored."""
    scan_bytes = _Text("scan_bytes")
    """The adapted size of one chunk of a scanned page going up (station.link.scans), as stored."""
    fork = _Json("fork")
    """The hub holds another chain for this station: ``{code, detail, detail_zh, at}``; pushing stops."""
    revoked = _Json("revoked")
    """This station's key was revoked: ``{key_id, after_seq, at}``; syncing stops until it enrols again."""
    rekey = _Json("rekey")
    """A change of this station's key on its way to the hub (``station rekey``): ``{old, new, outbox_id, seq,
    acked, at}`` (station.rekey); cleared once the hub acknowledged it and station.key holds the new pair."""
    key_changed_at = _Text("key_changed_at")
    """When this station's key last changed (ISO 8601, UTC); unset: the key made at enrolment."""
    hub_key_gen = _Int("hub_key_gen")
    """The hub key generation pinned (None: the one pinned at enrolment, 1 for a hub that never rotated)."""
    hub_keys_before = _Json("hub_keys_before")
    """The hub keys pinned before a rotation, oldest first: ``[{gen, key_id, sign_public, box_public,
    until_feed_seq}]`` (hex keys); kept for the record, never used to check a set."""
    catalog_failure = _Json("catalog_failure")
    """Why ``catalog_failed`` was not installed: ``{code, reason}`` (sync.protocol.catalog_report), told to the
    hub in each exchange until a version as new is installed."""
    catalog_failed = _Int("catalog_failed")
    """A catalogue version the hub sent that could not be installed (its patch's base missing or not the
    hub's; station.feed logs why): the TUI says so until a version as new is installed."""
    rekey_after_fork = _Text("rekey_after_fork")
    """A fork resolved keeping this station's chain asked for a new key (``ForkResolved.rekey``, its fork id):
    once the branch's sets are up, the station changes its key (station.link.round), as with the hub's."""
    restored = _Json("restored")
    """Restored from a backup, its chain not yet confirmed by the hub: ``{at, backup_at, head_seq, feed_seq}``;
    nothing is written or sealed until the hub has confirmed it (station.backup, docs/protocol.md)."""

    # -- the ID lookup key (station.privacy) ---------------------------------------------------
    lookup_key = _Text("lookup_key")
    """The key of the ID lookup hashes, hex (kept inside the encrypted database)."""
    lookup_key_id = _Text("lookup_key_id")
    """The id of the lookup key the stored hashes were made under."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def several(self, *keys: str) -> dict[str, Any]:
        """Several keys read together, typed as their attributes are: one statement, where reading the
        attributes one by one takes one each (a sync round's open reads six; every statement a
        thread runs hands the interpreter over to others, which in a process running many rounds
        costs more than the statement)."""
        descriptors = {key: self._descriptor(key) for key in keys}
        marks = ", ".join("?" for _ in keys)
        stored = dict(self.db.execute(f"SELECT key, value FROM meta WHERE key IN ({marks})", list(keys)).fetchall())
        return {key: descriptor.parse(stored.get(key)) for key, descriptor in descriptors.items()}

    @classmethod
    def _descriptor(cls, key: str) -> _Key[Any]:
        descriptor = getattr(cls, key, None)
        if not isinstance(descriptor, _Key):
            raise KeyError(f"not a meta key: {key}")
        return descriptor

    def update(self, values: Mapping[str, str | int | None]) -> None:
        """Set (or, for None, delete) keys of this table; call inside a write transaction."""
        unknown = [key for key in values if not isinstance(getattr(type(self), key, None), _Key)]
        if unknown:
            raise KeyError(f"not a meta key: {', '.join(unknown)}")
        set_meta(self.db, values)
