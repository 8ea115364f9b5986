"""Writes to replicated tables that record their change in the outbox, in the same transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
from sqlite_utils import Database

from station.store.db import write_txn
from station.store.meta import Meta
from sync.changes import RowChange, StatusChange, decode_change, encode_change
from sync.errors import StoreError
from sync.hlc import HybridClock
from sync.merge import encode_versions
from sync.tables import BY_NAME
from sync.timeutil import iso_utc

__all__ = ("ChangeRecorder", "created_row", "recording")


class ChangeRecorder:
    """Writes rows and appends the matching change to the outbox; use inside :func:`recording`.

    Every public method both changes the table and appends one outbox row, so there is no way
    to write a replicated table through it without the change being recorded.
    """

    def __init__(self, db: Database, clock: HybridClock, now: dt.datetime, origin: str) -> None:
        self.db = db
        self.origin = origin
        self.clock = clock
        self.now = now
        self.now_iso = iso_utc(now)
        self._wall_ms = int(now.timestamp() * 1000)

    def _append(self, change: RowChange | StatusChange, kind: str, entity: str, entity_id: str) -> None:
        self.db.execute(
            "INSERT INTO outbox (hlc, kind, entity, entity_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [change.hlc, kind, entity, entity_id, encode_change(change), self.now_iso],
        )

    @staticmethod
    def _replicated(table: str, row: dict[str, Any]) -> dict[str, Any]:
        # Derived columns and field versions are each replica's own: they never go in a change.
        replicated = BY_NAME[table].replicated
        return {key: value for key, value in row.items() if key in replicated}

    def insert(self, table: str, row: dict[str, Any]) -> None:
        """Insert a new row of a replicated table and record it."""
        pk = str(row[BY_NAME[table].pk])
        hlc = self.clock.tick(self._wall_ms)
        stored = {**row, "versions": encode_versions({"*": (hlc, self.origin)})}
        columns = ", ".join(stored)
        marks = ", ".join("?" for _ in stored)
        self.db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(stored.values()))
        self._append(
            RowChange(table=table, pk=pk, hlc=hlc, fields=self._replicated(table, row), insert=True), "row", table, pk
        )

    def update(self, table: str, pk: str, fields: dict[str, Any]) -> None:
        """Change some fields of one row and record the new values (and their versions)."""
        replicated = self._replicated(table, fields)
        hlc = self.clock.tick(self._wall_ms) if replicated else 0
        assignments = ", ".join(f"{column} = ?" for column in fields)
        params = list(fields.values())
        if replicated:
            assignments += ", versions = json_patch(coalesce(versions, '{}'), ?)"
            params.append(encode_versions({field: (hlc, self.origin) for field in replicated}))
        cursor = self.db.execute(f"UPDATE {table} SET {assignments} WHERE {BY_NAME[table].pk} = ?", [*params, pk])
        if cursor.rowcount != 1:
            raise LookupError(f"{table} has no row {pk!r}")
        if replicated:
            self._append(RowChange(table=table, pk=pk, hlc=hlc, fields=replicated), "row", table, pk)

    def local_update(self, table: str, pk: str, fields: dict[str, Any]) -> None:
        """Change derived, never-replicated columns (sync.tables ``station_local``) of one row."""
        stray = set(fields) - BY_NAME[table].station_local
        if stray:
            raise ValueError(f"{sorted(stray)} of {table} are replicated: use update()")
        assignments = ", ".join(f"{column} = ?" for column in fields)
        self.db.execute(f"UPDATE {table} SET {assignments} WHERE {BY_NAME[table].pk} = ?", [*fields.values(), pk])

    def status(
        self,
        *,
        case_no: str,
        from_status: str,
        to_status: str,
        actor: str,
        by: str | None = None,
        reason: str | None = None,
        outcome: str | None = None,
    ) -> StatusChange:
        """Move a case to a new status (already checked against the lifecycle), with its history row."""
        hlc = self.clock.tick(self._wall_ms)
        # Unique county-wide: an origin's stamps strictly increase.
        event_id = f"{self.origin}:{hlc}"
        change = StatusChange(
            event_id=event_id,
            case_no=case_no,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            hlc=hlc,
            at=self.now_iso,
            reason=reason,
            outcome=outcome,
            by=by,
        )
        self.db.execute(
            "INSERT INTO case_events (event_id, case_no, from_status, to_status, actor, by, at, hlc, reason, outcome,"
            " origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [event_id, case_no, from_status, to_status, actor, by, self.now_iso, hlc, reason, outcome, self.origin],
        )
        fields: dict[str, Any] = {"status": to_status, "updated_at": self.now_iso}
        if outcome is not None:
            fields["outcome"] = outcome
        self.db.execute(
            f"UPDATE cases SET {', '.join(f'{c} = ?' for c in fields)} WHERE case_no = ?", [*fields.values(), case_no]
        )
        self._append(change, "status", "cases", case_no)
        return change


@contextmanager
def recording(db: Database, now: Callable[[], dt.datetime], origin: str) -> Iterator[ChangeRecorder]:
    """A write transaction with a change recorder; the clock state is saved with the changes."""
    with write_txn(db):
        meta = Meta(db)
        if meta.restored:
            # Restored from a backup: until the hub has confirmed the chain (and sent back what this
            # PC did after the backup), a new case could take a number the county already holds.
            raise StoreError(
                zh="本站数据刚从备份恢复，县平台尚未确认：请先同步（station sync），确认后才能办理新业务",
                en="this station was restored from a backup and the hub has not confirmed it yet: sync first "
                "('station sync'); new work can be recorded once it is confirmed",
                field="restored",
                code="store.restored_unconfirmed",
            )
        clock = HybridClock(meta.hlc_last or 0)
        recorder = ChangeRecorder(db, clock, now(), origin)
        yield recorder
        meta.update({"hlc_last": clock.last})


def created_row(db: Database, seq: int, idx: int, entity: str, entity_id: str) -> bool:
    """Whether the change at place ``idx`` of this station's set ``seq`` created the row ``entity_id`` of
    ``entity`` (a refusal of it means the county does not hold the row). The set's records are the outbox
    rows of that seq in order, as the hub numbers them."""
    body = db.execute("SELECT body FROM outbox WHERE set_seq = ? ORDER BY id LIMIT 1 OFFSET ?", [seq, idx]).fetchone()
    try:
        change = decode_change(bytes(body[0])) if body else None
    except msgspec.DecodeError:
        change = None  # another kind of record (a key change: station.rekey)
    return isinstance(change, RowChange) and change.insert and change.table == entity and change.pk == entity_id
