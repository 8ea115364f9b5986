"""HubStore's part for the protocol: sets received, receipts, forks, rejections, conflicts and feeds."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import msgspec

from hub.store.base import StoreBase

__all__ = ("ExchangeGlance", "FeedSetRow", "ForkRow", "SyncStoreMixin")


class ForkRow(msgspec.Struct, frozen=True, kw_only=True):
    """A fork for administrators: the station, the seq, what the hub held and the quarantined set."""

    id: int
    station_id: str
    seq: int
    held_hash: bytes | None
    quarantine_id: int
    reason: str
    detected_at: str
    resolved_at: str | None = None
    quarantined_hash: bytes = b""
    resolution: str | None = None
    """``hub`` or ``station`` once resolved (hub.forks): the branch the county kept."""
    resolved_by: str | None = None


class FeedSetRow(msgspec.Struct, frozen=True, kw_only=True):
    """A sealed feed set of one station."""

    seq: int
    hash: bytes
    envelope: bytes
    items: int


class ExchangeGlance(msgspec.Struct, frozen=True, kw_only=True):
    """What an exchange's answer needs to know of a station once its sets went in, read in one statement."""

    feed_head: int
    """The seq of the station's newest feed set (0: none)."""
    restart: str | None
    """The feed's restart point after a restore (meta), or None."""
    restored: bool
    """The hub was restored from a backup (meta): a station's feed position may say what it lost."""
    pending: bool
    """Items wait in the station's feed queue, to be sealed."""
    catalog_failure: bool
    """A station's report that it could not install a catalogue version is on record."""


_KEEP_SET = "INSERT INTO sets_in (origin, seq, hash, envelope, changes, rejected, via, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_KEEP_RECEIPT = "INSERT INTO receipts (origin, seq, receipt, hub_ms) VALUES (?, ?, ?, ?)"
_MOVE_HEAD = "UPDATE stations SET applied_seq = ?, applied_hash = ? WHERE station_id = ?"


def _no_nul(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=repr)


class SyncStoreMixin(StoreBase):
    """Sets in, receipts, quarantine and forks, rejected changes, conflicts, feed queue and feed sets."""

    # -- sets received -------------------------------------------------------------------------

    def set_in(self, origin: str, seq: int) -> tuple[bytes, bytes | None] | None:
        """(hash, receipt) of the set held at (origin, seq), or None."""
        row = self.db.execute(
            "SELECT s.hash, r.receipt FROM sets_in s LEFT JOIN receipts r ON r.origin = s.origin AND r.seq = s.seq "
            "WHERE s.origin = ? AND s.seq = ?",
            [origin, seq],
        ).fetchone()
        return (row[0], row[1]) if row else None

    def set_in_envelope(self, origin: str, seq: int) -> bytes | None:
        """The envelope of the set held at (origin, seq), exactly as it was received, or None."""
        row = self.db.execute("SELECT envelope FROM sets_in WHERE origin = ? AND seq = ?", [origin, seq]).fetchone()
        return bytes(row[0]) if row else None

    def accept_set(
        self,
        *,
        origin: str,
        seq: int,
        set_hash: bytes,
        envelope: bytes,
        changes: int,
        rejected: int,
        via: str,
        at: str,
        receipt: bytes,
        hub_ms: int,
    ) -> None:
        """Keep an accepted set exactly as received, with the receipt the hub signed for it, and move the
        station's chain head to it (call inside the set's transaction). One statement on PostgreSQL (three
        round trips were a fifth of the time the ingest holds the counts lock), three on SQLite."""
        kept = [origin, seq, set_hash, envelope, changes, rejected, via, at]
        signed, head = [origin, seq, receipt, hub_ms], [seq, set_hash, origin]
        if self.dialect == "postgresql":
            self.db.execute(
                f"WITH kept AS ({_KEEP_SET}), signed AS ({_KEEP_RECEIPT}) {_MOVE_HEAD}", [*kept, *signed, *head]
            )
            return
        self.db.execute(_KEEP_SET, kept)
        self.db.execute(_KEEP_RECEIPT, signed)
        self.db.execute(_MOVE_HEAD, head)

    def count_sets_in(self, origin: str) -> int:
        """How many sets of this origin the hub holds."""
        return int(self.db.execute("SELECT COUNT(*) FROM sets_in WHERE origin = ?", [origin]).fetchone()[0])

    # -- forks -----------------------------------------------------------------------------------

    def quarantine(
        self, *, origin: str, seq: int, set_hash: bytes, envelope: bytes, held_hash: bytes | None, reason: str, at: str
    ) -> int:
        """Keep a forked set whole and open a fork row; the same set twice is kept once. Returns the fork id."""
        row = self.db.execute("SELECT id FROM quarantine WHERE origin = ? AND hash = ?", [origin, set_hash]).fetchone()
        if row is not None:
            fork = self.db.execute("SELECT id FROM forks WHERE quarantine_id = ?", [row[0]]).fetchone()
            return int(fork[0])
        quarantined = self.db.execute(
            "INSERT INTO quarantine (origin, seq, hash, envelope, reason, received_at) VALUES (?, ?, ?, ?, ?, ?) "
            "RETURNING id",
            [origin, seq, set_hash, envelope, reason, at],
        ).fetchone()
        fork = self.db.execute(
            "INSERT INTO forks (station_id, seq, held_hash, quarantine_id, reason, detected_at) VALUES (?, ?, ?, ?, ?, ?) "
            "RETURNING id",
            [origin, seq, held_hash, quarantined[0], reason, at],
        ).fetchone()
        return int(fork[0])

    def forks(self, *, open_only: bool = True) -> list[ForkRow]:
        """Forks for administrators, oldest first."""
        cursor = self.db.execute(
            "SELECT f.*, q.hash AS quarantined_hash FROM forks f JOIN quarantine q ON q.id = f.quarantine_id"
            + (" WHERE f.resolved_at IS NULL" if open_only else "")
            + " ORDER BY f.id"
        )
        columns = [d[0] for d in cursor.description]
        return [ForkRow(**dict(zip(columns, row))) for row in cursor.fetchall()]

    def quarantined_envelope(self, quarantine_id: int) -> bytes | None:
        """The exact bytes of a quarantined set, for administrators."""
        row = self.db.execute("SELECT envelope FROM quarantine WHERE id = ?", [quarantine_id]).fetchone()
        return row[0] if row else None

    # -- rejected changes and conflicts ----------------------------------------------------------

    def add_rejected(
        self,
        *,
        origin: str,
        seq: int,
        index: int,
        entity: str,
        entity_id: str,
        code: str,
        reason_en: str,
        reason_zh: str,
        change: bytes,
        at: str,
    ) -> None:
        """Keep a change that was not applied, with its reason (invariant 4). The change's bytes are kept whole;
        its id and the reasons, which quote what a station sent, without NUL (PostgreSQL's text cannot hold it:
        U+FFFD on both engines)."""
        entity_id, reason_en, reason_zh = (_no_nul(t) for t in (entity_id, reason_en, reason_zh))
        self.db.execute(
            "INSERT INTO rejected (origin, seq, idx, entity, entity_id, code, reason_en, reason_zh, change, recorded_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [origin, seq, index, entity, entity_id, code, reason_en, reason_zh, change, at],
        )

    def rejected(self, origin: str | None = None) -> list[dict[str, Any]]:
        """Rejected changes (without the change bytes), oldest first."""
        sql = "SELECT origin, seq, idx, entity, entity_id, code, reason_en, reason_zh, recorded_at FROM rejected"
        params: list[Any] = []
        if origin is not None:
            sql += " WHERE origin = ?"
            params.append(origin)
        return self._dicts(sql + " ORDER BY id", params)

    def refused_as_numbered_twice(self, origin: str) -> set[tuple[str, str]]:
        """(table, key) of the cases and intakes of ``origin`` refused as another record's number
        (``duplicate_row``), or as the child of one (``parent_refused``): what the station adds to them is
        its own applicant's, never the record the hub holds under that number (hub.apply)."""
        rows = self.db.execute(
            "SELECT entity, entity_id FROM rejected WHERE origin = ? AND entity IN ('cases', 'intakes')"
            " AND code IN ('duplicate_row', 'parent_refused')",
            [origin],
        ).fetchall()
        return {(str(entity), str(key)) for entity, key in rows}

    def add_conflict(
        self,
        *,
        table: str,
        pk: str,
        field: str,
        kept: Any,
        kept_version: tuple[int, str],
        lost: Any,
        lost_version: tuple[int, str],
        at: str,
    ) -> None:
        """A value that lost a last-writer-wins merge, with the value that won (both as JSON)."""
        self.db.execute(
            "INSERT INTO conflicts (tbl, pk, field, kept, kept_hlc, kept_origin, lost, lost_hlc, lost_origin, detected_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                table,
                pk,
                field,
                _json(kept),
                kept_version[0],
                kept_version[1],
                _json(lost),
                lost_version[0],
                lost_version[1],
                at,
            ],
        )

    def conflicts(self, pk: str | None = None) -> list[dict[str, Any]]:
        """Values that lost a merge (of one row, or all), oldest first."""
        sql, params = "SELECT * FROM conflicts", []
        if pk is not None:
            sql += " WHERE pk = ?"
            params.append(pk)
        return self._dicts(sql + " ORDER BY id", params)

    # -- the feed: queued items and sealed sets ----------------------------------------------------

    def queue_items(self, station_ids: Iterable[str], *, kind: str, body: bytes, priority: int, at: str) -> None:
        """Queue one encoded down item for each station."""
        for station_id in station_ids:
            self.db.execute(
                "INSERT INTO feed_items (station_id, priority, kind, body, queued_at) VALUES (?, ?, ?, ?, ?)",
                [station_id, priority, kind, body, at],
            )

    def pending_items(self, station_id: str) -> list[tuple[int, str, bytes]]:
        """(id, kind, body) of the station's queued items: records first, then bulk, each in queue order."""
        return [
            (int(i), kind, body)
            for i, kind, body in self.db.execute(
                "SELECT id, kind, body FROM feed_items WHERE station_id = ? ORDER BY priority, id", [station_id]
            ).fetchall()
        ]

    def pending_count(self, station_id: str) -> int:
        """How many down items wait to be sealed for the station."""
        row = self.db.execute("SELECT COUNT(*) FROM feed_items WHERE station_id = ?", [station_id]).fetchone()
        return int(row[0])

    def has_pending(self, station_id: str) -> bool:
        """Whether any down item waits to be sealed for the station (one index probe, no count)."""
        return (
            self.db.execute("SELECT 1 FROM feed_items WHERE station_id = ? LIMIT 1", [station_id]).fetchone()
            is not None
        )

    def drop_items(self, ids: list[int]) -> None:
        """Remove items once sealed into a set (the set now carries them)."""
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            self.db.execute(f"DELETE FROM feed_items WHERE id IN ({', '.join('?' for _ in chunk)})", chunk)

    def feed_head(self, station_id: str) -> tuple[int, bytes] | None:
        """(seq, hash) of the station's newest feed set, or None."""
        row = self.db.execute(
            "SELECT seq, hash FROM feed_sets WHERE station_id = ? ORDER BY seq DESC LIMIT 1", [station_id]
        ).fetchone()
        return (int(row[0]), row[1]) if row else None

    def feed_head_seq_and_meta(self, station_id: str, key: str) -> tuple[int, str | None]:
        """The seq of the station's newest feed set (0 for none) and the meta value at ``key``, in one statement
        (a feed's reach is the greater of its head and a restart point kept in meta: hub.feed.feed_reach)."""
        row = self.db.execute(
            "SELECT (SELECT seq FROM feed_sets WHERE station_id = ? ORDER BY seq DESC LIMIT 1),"
            " (SELECT value FROM meta WHERE key = ?)",
            [station_id, key],
        ).fetchone()
        return int(row[0] or 0), row[1]

    def exchange_glance(self, station_id: str, *, restart_key: str, restored_key: str) -> ExchangeGlance:
        """The feed head, the meta values at ``restart_key`` and ``restored_key``, whether items wait and whether
        a catalogue failure is on record, for the station, in one statement (four round trips fewer an exchange
        on PostgreSQL than read one by one)."""
        row = self.db.execute(
            "SELECT (SELECT seq FROM feed_sets WHERE station_id = ? ORDER BY seq DESC LIMIT 1),"
            " (SELECT value FROM meta WHERE key = ?), (SELECT value FROM meta WHERE key = ?),"
            " EXISTS (SELECT 1 FROM feed_items WHERE station_id = ?),"
            " EXISTS (SELECT 1 FROM catalog_failures WHERE station_id = ?)",
            [station_id, restart_key, restored_key, station_id, station_id],
        ).fetchone()
        return ExchangeGlance(
            feed_head=int(row[0] or 0),
            restart=row[1],
            restored=bool(row[2]),
            pending=bool(row[3]),
            catalog_failure=bool(row[4]),
        )

    def add_feed_set(
        self, *, station_id: str, seq: int, prev: bytes, set_hash: bytes, envelope: bytes, items: int, at: str
    ) -> None:
        """Keep a sealed feed set exactly as it will be sent."""
        self.db.execute(
            "INSERT INTO feed_sets (station_id, seq, prev, hash, envelope, items, sealed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [station_id, seq, prev, set_hash, envelope, items, at],
        )

    def feed_sets_after(self, station_id: str, after: int, limit: int | None = None) -> list[FeedSetRow]:
        """The station's sealed feed sets with seq > ``after``, oldest first, at most ``limit``."""
        sql = "SELECT seq, hash, envelope, items FROM feed_sets WHERE station_id = ? AND seq > ? ORDER BY seq"
        params: list[Any] = [station_id, after]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [FeedSetRow(seq=r[0], hash=r[1], envelope=r[2], items=r[3]) for r in self.db.execute(sql, params)]
