"""``station rekey``: the station changes its key pair, handing over from the old key to the new one.

The station makes a new signing and box key pair and records a :class:`~sync.protocol.KeyChange` (the
new public keys, signed by the current key and by the new one) in its outbox. The set that carries it
is signed by the current key; every set after it by the new one. Requests stay signed by the current
key until the hub acknowledges that set (its receipt): from then on the station signs with the new
key, and the hub refuses the old one (``retired_key``), so a copy of the old key, lost or stolen, is
of no use to anyone. The old signing key is then dropped from ``station.key``; the old box key is kept,
since feed sets the hub sealed to it before it learned the new one may still be on their way
(docs/protocol.md, "Key rotation"; docs/security.md, "Changing keys").

What the handover is at any moment is ``meta.rekey``: ``{old, new, outbox_id, seq, acked, at}``, where
``seq`` is the set carrying the change once it is sealed and ``acked`` says the hub acknowledged it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from station.errors import SyncError
from station.identity import StationKeys, public_key_id, require_pins, save_keys
from station.store import Station
from station.store.db import write_txn
from sync.crypto import KeyPair
from sync.errors import InputError
from sync.hlc import HybridClock
from sync.protocol import FEATURE_KEY_ROTATION, sign_key_change
from sync.timeutil import iso_utc

__all__ = (
    "RekeyResult",
    "acknowledged",
    "key_for_set",
    "note_sealed",
    "pending",
    "rekey",
    "rekey_keys",
    "request_keys",
    "settle",
    "stale_keys",
)

_ENCODER = msgspec.msgpack.Encoder()


class RekeyResult(msgspec.Struct, frozen=True, kw_only=True):
    """What ``station rekey`` made: the key ids old and new, and when."""

    old_key_id: str
    new_key_id: str
    at: str


def pending(station: Station) -> dict[str, Any] | None:
    """The key change on its way (``meta.rekey``), or None."""
    record = station.meta.rekey
    return record if isinstance(record, dict) else None


def stale_keys(station: Station, keys: StationKeys | KeyPair, record: dict[str, Any] | None) -> SyncError | None:
    """An error when ``keys`` were unlocked before the station's key changed (another program ran
    ``station rekey``, or settled one): they lack the pair ``station.key`` now holds. None when they serve.
    ``record``: the key change on its way as the caller just read it (``meta.rekey``, see :func:`pending`)."""
    current = public_key_id(station.data_dir)
    lacks_new = record is not None and (not isinstance(keys, StationKeys) or keys.by_id(record["new"]) is None)
    if (current is None or keys.key_id == current) and not lacks_new:
        return None
    return SyncError(
        zh="本站密钥已更换（station rekey），此处解开的是旧密钥：请重新输入口令解锁后再同步",
        en="this station's key was changed ('station rekey') after it was unlocked here: unlock it again, then sync",
        code="stale_keys",
    )


def rekey(station: Station, keys: StationKeys) -> RekeyResult:
    """Make a new key pair and record the handover in the outbox; it goes up with the next sync
    (:func:`rekey_keys`, for a caller that goes on sealing with the keys)."""
    return rekey_keys(station, keys)[0]


def rekey_keys(station: Station, keys: StationKeys) -> tuple[RekeyResult, StationKeys]:
    """Make a new key pair and record the handover in the outbox; it goes up with the next sync.
    Returns what was made and the keys as ``station.key`` now holds them (the new pair pending).

    The new pair is written to ``station.key`` (as pending, under the same passphrase) before the
    handover is recorded, so a crash between the two leaves the station on its current key.

    Raises:
        InputError: not enrolled, revoked, restored and not yet confirmed, the hub has not said it
            takes a station's new key (an older hub: upgrade it first), or a key change is already on
            its way (sync first).
    """
    require_pins(station.db)
    if station.meta.revoked:
        raise InputError(
            zh="本站密钥已被吊销：不能更换密钥，请向县管理员申请重新登记",
            en="this station's key was revoked: it cannot be changed; ask the county administrator to enrol again",
            field="key",
            code="rekey.revoked",
        )
    said = station.meta.hub_features  # as station.sealing.hub_features reads it (which imports this module)
    if not (int(said) if said and said.isdigit() else 0) & FEATURE_KEY_ROTATION:
        raise InputError(
            zh="县平台尚未表示可接受代办点的新密钥（版本较旧，或本站还未与其同步过）：请先同步一次；"
            "仍不行时请县管理员升级县平台",
            en="the hub has not said it takes a station's new key (an older release, or this station has not "
            "synced with it yet): sync once first; if that does not help, ask the county to upgrade the hub",
            field="key",
            code="rekey.hub_too_old",
        )
    record = pending(station)
    if record is not None:
        raise InputError(
            zh=f"上一次更换的密钥（{record['new']}，{record['at']}）尚未经县平台确认：请先同步",
            en=f"the key change made at {record['at']} (key {record['new']}) has not been acknowledged by the hub "
            "yet: sync first",
            field="key",
            code="rekey.pending",
        )
    if not keys.wrap_key:
        raise InputError(zh="需要用口令解开本站密钥", en="the station key must be unlocked with its passphrase")
    new = KeyPair.generate()
    handed = msgspec.structs.replace(keys, pending=new)
    save_keys(station.data_dir, handed)
    with write_txn(station.db):
        now = station.now()
        at = iso_utc(now)
        clock = HybridClock(station.meta.hlc_last or 0)
        hlc = clock.tick(int(now.timestamp() * 1000))
        change = sign_key_change(
            station_id=station.station_id,
            old_sign_private=keys.sign_private,
            old_sign_public=keys.sign_public,
            new_sign_private=new.sign_private,
            new_sign_public=new.sign_public,
            new_box_public=new.box_public,
            hlc=hlc,
            at=at,
        )
        cursor = station.db.execute(
            "INSERT INTO outbox (hlc, kind, entity, entity_id, body, created_at) VALUES (?, 'key', 'station_keys', ?,"
            " ?, ?)",
            [hlc, new.key_id, _ENCODER.encode(change), at],
        )
        station.meta.update(
            {
                "hlc_last": clock.last,
                "rekey": msgspec.json.encode(
                    {
                        "old": keys.key_id,
                        "new": new.key_id,
                        "outbox_id": cursor.lastrowid,
                        "seq": None,
                        "acked": False,
                        "at": at,
                    }
                ).decode(),
            }
        )
    return RekeyResult(old_key_id=keys.key_id, new_key_id=new.key_id, at=at), handed


def key_for_set(keys: StationKeys | KeyPair, seq: int, record: dict[str, Any] | None) -> tuple[KeyPair, int | None]:
    """(the pair that signs set ``seq``, the last outbox id it may hold or None for no bound).

    While a key change is on its way (``record``, as :func:`pending` read it in the sealing
    transaction), the set holding it (the outbox rows up to it) is the old key's and every later set
    the new key's. Outside one, the current pair, unbounded.
    """
    if record is None or not isinstance(keys, StationKeys):
        return keys, None
    old, new = keys.by_id(record["old"]), keys.by_id(record["new"])
    if record["seq"] is None:
        if old is None:  # pragma: no cover - the old pair goes only once the change was sealed and acked
            raise _lost(record)
        return old, int(record["outbox_id"])
    if seq <= int(record["seq"]):  # pragma: no cover - sets are sealed once, in order
        raise _lost(record)
    if new is None:
        raise _lost(record)
    return new, None


def note_sealed(station: Station, seq: int, last_id: int, record: dict[str, Any] | None) -> None:
    """Inside the sealing transaction: the set ``seq`` (outbox rows up to ``last_id``) holds the key change
    (``record``, as :func:`pending` read it in that transaction)."""
    if record is not None and record["seq"] is None and last_id >= int(record["outbox_id"]):
        station.meta.update({"rekey": msgspec.json.encode({**record, "seq": seq}).decode()})


def acknowledged(station: Station, seq: int) -> None:
    """Inside a write transaction: the hub acknowledged set ``seq`` (a receipt). The key change is
    acknowledged once the set carrying it is."""
    record = pending(station)
    if record is not None and record["seq"] is not None and seq >= int(record["seq"]) and not record["acked"]:
        station.meta.update({"rekey": msgspec.json.encode({**record, "acked": True}).decode()})


def request_keys(station: Station, keys: StationKeys | KeyPair, *, hinted: bool = False) -> KeyPair:
    """The pair that signs requests and files: the new one once the hub has acknowledged the change
    (or, ``hinted``, once it answered ``retired_key`` for the old one: also for a station restored from a
    backup that holds the change unsealed), the current one before."""
    record = pending(station)
    if record is None or not isinstance(keys, StationKeys):
        return keys
    # A station restored from a backup taken before its key change was sealed: the hub holds the change
    # from the sets the PC sealed after the backup (the hint says so), not yet this copy.
    if record["acked"] or (hinted and (record["seq"] is not None or station.meta.restored)):
        new = keys.by_id(record["new"])
        if new is None:
            raise _lost(record)
        return new
    old = keys.by_id(record["old"])
    if old is None:
        raise _lost(record)
    return old


def settle(station: Station, keys: StationKeys) -> StationKeys:
    """Once the hub acknowledged the change: ``station.key`` holds the new pair as current, the old box
    key among the older ones, and no longer the old signing key; ``meta.rekey`` is cleared and the time
    of the change kept (``key_changed_at``). Returns the keys as they now are (the same before that)."""
    record = pending(station)
    if record is None or not record["acked"]:
        return keys
    new = keys.by_id(record["new"])
    if new is None:
        raise _lost(record)
    if keys.key_id != new.key_id:
        keys = StationKeys(
            new.sign_private,
            new.sign_public,
            new.box_private,
            new.box_public,
            pending=None,
            older_box=(keys.box_private, *keys.older_box),
            older_box_public=(keys.box_public, *keys.older_box_public),
            wrap_key=keys.wrap_key,
            wrapped=keys.wrapped,
        )
        save_keys(station.data_dir, keys)
    with write_txn(station.db):
        station.meta.update({"rekey": None, "key_changed_at": record["at"]})
    return keys


def _lost(record: dict[str, Any]) -> SyncError:
    return SyncError(
        zh=f"本站密钥文件中缺少更换密钥所需的密钥（{record['old']} → {record['new']}）：请重新解锁，或从备份恢复 station.key",
        en=f"station.key lacks a key of the key change {record['old']} -> {record['new']}: unlock again, or restore "
        "station.key from the backup",
        code="stale_keys",
    )
