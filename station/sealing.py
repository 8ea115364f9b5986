"""Sealing the outbox into signed, numbered, hash-chained change sets addressed to the hub."""

from __future__ import annotations

import datetime as dt

import msgspec

from station.errors import SyncError
from station.identity import HubPins, require_pins
from station.rekey import acknowledged, key_for_set, note_sealed, pending
from station.store import Station
from station.store.db import write_txn
from sync.crypto import KeyPair
from sync.limits import MAX_CHANGES_PER_SET, MAX_SET_INFLATED_BYTES
from sync.protocol import (
    CTX_UP,
    FEATURE_BOX_KEY,
    GENESIS,
    ProtocolError,
    ReceiptBody,
    full_receipt,
    is_short_receipt,
    seal_set,
    verify_receipt,
)
from sync.tables import TABLES
from sync.timeutil import iso_utc

__all__ = (
    "HUB_FEATURES_META",
    "MAX_CHANGES_PER_SET",
    "features_of",
    "head",
    "head_and_unsealed",
    "held_tables",
    "hub_features",
    "hub_time",
    "record_receipt",
    "seal_pending",
    "standing",
    "unacknowledged",
    "unsealed_count",
)

SET_RECORD_BYTES = MAX_SET_INFLATED_BYTES // 2
"""Record bytes sealed into one set at most (but always one change): the hub decodes a set within
MAX_SET_INFLATED_BYTES, the compact form and the records it expands to together (sync.budget)."""
HUB_FEATURES_META = "hub_features"
"""``meta`` key: what the hub last said it reads (sync.protocol FEATURE_* bits)."""


def hub_features(station: Station) -> int:
    """What the hub last said it reads; 0 (protocol 1's base) until it has said anything."""
    return features_of(station.meta.hub_features)


def features_of(stored: str | None) -> int:
    """The hub's features as ``meta`` holds them (:func:`hub_features`), from a value read with others."""
    return int(stored) if stored and stored.isdigit() else 0


def head(station: Station) -> tuple[int, bytes]:
    """(seq, hash) of the newest sealed set; (0, GENESIS) before the first."""
    row = station.db.execute("SELECT seq, hash FROM sets_out ORDER BY seq DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


def unsealed_count(station: Station, features: int | None = None) -> int:
    """Changes waiting to be sealed and sent (not those held back for a feature the hub has not said).
    ``features``: what the hub reads, when the caller holds it (a sync round's Link); read here when None."""
    sql, params = _unsealed_query(station, features)
    return station.db.execute(sql, params).fetchone()[0]


def standing(station: Station, features: int | None = None) -> tuple[int, int]:
    """(sealed sets the hub has not acknowledged, changes waiting to be sealed: :func:`unsealed_count`), read
    in one statement: where a sync round leaves the station."""
    unsealed, params = _unsealed_query(station, features)
    row = station.db.execute(
        f"SELECT (SELECT COUNT(*) FROM sets_out WHERE acked_at IS NULL), ({unsealed})", params
    ).fetchone()
    return row[0], row[1]


def head_and_unsealed(station: Station, features: int | None = None) -> tuple[int, int]:
    """(the newest sealed set's seq, changes waiting to be sealed) in one statement: what a signed request
    tells the hub of this station's outbox (sync.auth's head_seq and outbox_length)."""
    unsealed, params = _unsealed_query(station, features)
    row = station.db.execute(f"SELECT (SELECT coalesce(max(seq), 0) FROM sets_out), ({unsealed})", params).fetchone()
    return row[0], row[1]


def _unsealed_query(station: Station, features: int | None) -> tuple[str, list[str]]:
    held = held_tables(hub_features(station) if features is None else features)
    held_sql = f" AND entity NOT IN ({', '.join('?' for _ in held)})" if held else ""
    return f"SELECT COUNT(*) FROM outbox WHERE set_seq IS NULL{held_sql}", held


def unacknowledged(station: Station, *, from_seq: int = 1) -> list[tuple[int, bytes]]:
    """(seq, envelope) of the sealed sets the hub has not acknowledged, from ``from_seq``, in seq order."""
    return station.db.execute(
        "SELECT seq, envelope FROM sets_out WHERE acked_at IS NULL AND seq >= ? ORDER BY seq", [from_seq]
    ).fetchall()


def seal_pending(
    station: Station,
    keys: KeyPair,
    *,
    limit: int = MAX_CHANGES_PER_SET,
    features: int | None = None,
    pins: HubPins | None = None,
) -> list[int]:
    """Seal every unsealed outbox change into sets of at most ``limit`` changes; returns the new seqs.

    Each set is one write transaction: the envelope goes into ``sets_out`` and its changes get
    their ``set_seq`` together, so a crash leaves a change either sealed once or still unsealed,
    never both and never twice. Calling it again seals only what is still unsealed. ``features``
    and ``pins``: what the hub reads and its pinned keys, when the caller holds them (read here when None).
    """
    pins = require_pins(station.db) if pins is None else pins
    sealed: list[int] = []
    features = hub_features(station) if features is None else features
    # Each set's body under its own key once the hub has said it reads that (0x03, the same bytes on the wire):
    # a key the county discloses to its province then opens that set alone (docs/protocol.md).
    per_box = bool(features & FEATURE_BOX_KEY)
    held = held_tables(features)
    held_sql = f" AND entity NOT IN ({', '.join('?' for _ in held)})" if held else ""
    waiting = f"SELECT id, hlc, body FROM outbox WHERE set_seq IS NULL{held_sql} ORDER BY id LIMIT ?"
    # Nothing to seal (most rounds of a PC that recorded nothing since): one read, no write lock taken.
    if not station.db.execute(waiting, [*held, 1]).fetchone():
        return sealed
    while True:
        with write_txn(station.db):
            rows = station.db.execute(waiting, [*held, limit]).fetchall()
            if not rows:
                return sealed
            found = len(rows)
            last_seq, last_hash = head(station)
            seq = last_seq + 1
            # While a key change is on its way, the set carrying it ends with it and is signed by the old
            # key, and every later set by the new one (station.rekey).
            change = pending(station)
            signer, last_id = key_for_set(keys, seq, change)
            if last_id is not None:
                rows = [row for row in rows if row[0] <= last_id]
                if not rows:  # pragma: no cover - the change's own row is sealed with the set that carries it
                    return sealed
            rows = _within_bytes(rows)
            moment = station.now()
            # A set is sealed once and sent as sealed, in format 2 with a zstd-r2 body: every hub within
            # the support window reads it (0.4 on), whether or not this one has said so yet (a folder
            # upgraded from 0.3, or a station that only carries files, may not have heard it).
            envelope, set_hash = seal_set(
                origin=station.station_id,
                seq=seq,
                prev=last_hash,
                # The bytes written with the change, as they are: nothing is re-encoded.
                records=[bytes(body) for _, _, body in rows],
                sign_private=signer.sign_private,
                recipient_box_public=pins.box_public,
                sender_box_private=signer.box_private,
                context=CTX_UP,
                per_box=per_box,
            )
            station.db.execute(
                "INSERT INTO sets_out (seq, hash, envelope, changes, created_at) VALUES (?, ?, ?, ?, ?)",
                [seq, set_hash, envelope, len(rows), iso_utc(moment)],
            )
            _mark_sealed(station, seq, [row[0] for row in rows])
            note_sealed(station, seq, rows[-1][0], change)
        sealed.append(seq)
        if len(rows) == found < limit:
            # Every waiting change went into this set: nothing is left to look for (a change recorded
            # meanwhile is sealed by the round's next look, or the next round's).
            return sealed


def _within_bytes(rows: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """The first rows whose bodies fit SET_RECORD_BYTES (at least one); the rest go in the next set."""
    size = 0
    for count, (_, _, body) in enumerate(rows):
        size += len(body)
        if count and size > SET_RECORD_BYTES:
            return rows[:count]
    return rows


def _mark_sealed(station: Station, seq: int, ids: list[int]) -> None:
    # By id, not by range: rows held back for a feature the hub has not said (held_tables) may lie
    # between the rows sealed, and must stay unsealed.
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        station.db.execute(
            f"UPDATE outbox SET set_seq = ? WHERE set_seq IS NULL AND id IN ({', '.join('?' for _ in chunk)})",
            [seq, *chunk],
        )


def held_tables(features: int) -> list[str]:
    """The replicated tables whose changes wait unsealed until the hub says the feature they need
    (sync.tables ``feature``): an older hub would refuse them as unknown and they would be lost to it."""
    return [table.name for table in TABLES if table.feature and not features & table.feature]


def hub_time(hub_ms: int) -> str:
    """The hub's clock reading (ms since the epoch) as a stored UTC timestamp."""
    return iso_utc(dt.datetime.fromtimestamp(hub_ms / 1000, dt.UTC))


def _never_sealed(seq: int) -> SyncError:
    return SyncError(
        zh=f"县平台确认了数据集 {seq}，但本站从未封装过它（数据目录是否从旧备份恢复？）",
        en=f"the hub acknowledged set {seq}, which this station never sealed "
        "(was the data folder restored from an old backup?)",
        code="fork",
    )


def record_receipt(
    station: Station, pins: HubPins, receipt: bytes, *, seq: int | None = None, answer_ms: int | None = None
) -> tuple[ReceiptBody, bool]:
    """Check a receipt against the pinned hub key and our own set, then store it with the set.

    A short receipt (sync.protocol.short_receipt: the signature, with the hub time unless it is
    the answer's ``answer_ms``) needs ``seq``; the full receipt is rebuilt from this station's id
    and its own set's hash, checked and stored. Returns the receipt and whether it acknowledged
    the set just now (False: the set was acknowledged before).

    Raises:
        SyncError: bad signature, another station's receipt, a seq we never sealed, or a hash
            that is not our set's (``fork``: the hub holds a different set at that seq).
    """
    # All in one write transaction, the set's hash read once: the check is a signature, well under a
    # millisecond, and a receipt comes only from an answer this station is handling anyway.
    with write_txn(station.db):
        short = is_short_receipt(receipt) and seq is not None
        row = _set_hash(station, seq) if short and seq is not None else None
        try:
            if short and seq is not None and row is not None:
                receipt = full_receipt(
                    receipt,
                    origin=station.station_id,
                    seq=seq,
                    set_hash=row,
                    hub_public=pins.sign_public,
                    answer_ms=answer_ms,
                )
            body = verify_receipt(receipt, pins.sign_public)
        except ProtocolError as exc:
            raise SyncError(zh=f"回执无效：{exc.zh}", en=f"receipt refused: {exc.en}", code=exc.code) from None
        except (msgspec.DecodeError, ValueError) as exc:  # ValueError: a string that is not UTF-8
            raise SyncError(
                zh="回执无效：格式错误", en=f"receipt refused: malformed ({exc})", code="malformed"
            ) from None
        if body.origin != station.station_id or (seq is not None and body.seq != seq):
            raise SyncError(
                zh=f"县平台发来的回执属于 {body.origin} 的数据集 {body.seq}，不是本站的",
                en=f"the hub sent a receipt for {body.origin} set {body.seq}, "
                f"not for this station's set {seq or body.seq}",
                code="bad_receipt",
            )
        if not short:
            row = _set_hash(station, body.seq)
        if row != body.hash:
            raise SyncError(
                zh=f"县平台收到的数据集 {body.seq} 与本站封装的不同",
                en=f"the hub holds a different set {body.seq} than this station sealed",
                code="fork",
            )
        newly = station.db.execute(
            "UPDATE sets_out SET acked_at = ?, receipt = ? WHERE seq = ? AND acked_at IS NULL",
            [hub_time(body.hub_ms), receipt, body.seq],
        ).rowcount
        acknowledged(station, body.seq)  # a key change the set carried is acknowledged with it
    return body, newly == 1


def _set_hash(station: Station, seq: int) -> bytes:
    """The hash of this station's own set ``seq``; a receipt for a set it never sealed is a fork."""
    row = station.db.execute("SELECT hash FROM sets_out WHERE seq = ?", [seq]).fetchone()
    if row is None:
        raise _never_sealed(seq)
    return bytes(row[0])
