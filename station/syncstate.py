"""Where sync stands, for the status command, the TUI status bar and each case's detail."""

from __future__ import annotations

from typing import Literal

import msgspec

from station.identity import get_meta, get_meta_json, hub_pins, public_key_id
from station.store import Station

__all__ = (
    "CLOCK_WARNING_MS",
    "CaseSync",
    "ConflictView",
    "ReceiptView",
    "RejectionView",
    "SyncStatus",
    "case_sync",
    "sync_status",
)

CLOCK_WARNING_MS = 5 * 60 * 1000
"""Hub and station clocks further apart than this are worth a warning (stamps and deadlines)."""

CaseSyncState = Literal["saved", "sealed", "acknowledged"]


class SyncStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The station's side of sync at a glance (no personal data: safe to show and to log)."""

    station_id: str
    enrolled: bool
    hub_url: str | None
    hub_fingerprint: str | None
    key_id: str | None
    head_seq: int
    """Newest sealed set."""
    unacknowledged: int
    """Sealed sets without the hub's receipt."""
    unsealed: int
    """Changes saved here and not yet sealed."""
    feed_seq: int
    """Last feed set applied."""
    hub_feed_seq: int | None
    """The hub's newest feed set for this station, as of the last contact."""
    last_success: str | None
    last_error: str | None
    last_error_detail: str | None
    clock_offset_ms: int | None
    clock_warning: bool
    fork: str | None
    """Why pushing stopped (the hub holds another chain for this station), or None."""
    revoked: str | None
    """The revoked key's id when the county revoked this station's key, or None."""


class ReceiptView(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    hub_time: str
    hash_prefix: str


class RejectionView(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    entity: str
    code: str
    reason_en: str
    reason_zh: str
    received_at: str


class ConflictView(msgspec.Struct, frozen=True, kw_only=True):
    table: str
    field: str
    kept: str | None
    kept_origin: str
    lost: str | None
    lost_origin: str
    detected_at: str


class CaseSync(msgspec.Struct, frozen=True, kw_only=True):
    state: CaseSyncState
    """"saved": some change is only here; "sealed": all in sets, some not yet acknowledged;
    "acknowledged": the hub's receipt holds for every set carrying the case's changes."""
    receipts: list[ReceiptView] = []
    rejections: list[RejectionView] = []
    conflicts: list[ConflictView] = []


def sync_status(station: Station) -> SyncStatus:
    db = station.db
    pins = hub_pins(db)
    head_seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM sets_out").fetchone()[0]
    unacknowledged = db.execute("SELECT COUNT(*) FROM sets_out WHERE acked_at IS NULL").fetchone()[0]
    unsealed = db.execute("SELECT COUNT(*) FROM outbox WHERE set_seq IS NULL").fetchone()[0]
    success = db.execute("SELECT MAX(at) FROM sync_log WHERE ok = 1 AND kind IN ('sync', 'import')").fetchone()[0]
    error = db.execute(
        "SELECT at, detail FROM sync_log WHERE ok = 0 AND kind IN ('sync', 'import') ORDER BY id DESC LIMIT 1"
    ).fetchone()
    offset_text = get_meta(db, "clock_offset_ms")
    offset = int(offset_text) if offset_text else None
    hub_feed = get_meta(db, "hub_feed_seq")
    fork = get_meta_json(db, "fork")
    revoked = get_meta_json(db, "revoked")
    return SyncStatus(
        station_id=station.station_id,
        enrolled=pins is not None,
        hub_url=pins.url if pins else None,
        hub_fingerprint=pins.fingerprint if pins else None,
        key_id=public_key_id(station.data_dir),
        head_seq=head_seq,
        unacknowledged=unacknowledged,
        unsealed=unsealed,
        feed_seq=int(get_meta(db, "feed_seq", "0") or 0),
        hub_feed_seq=int(hub_feed) if hub_feed else None,
        last_success=success,
        # An error older than the last success is history, not the state of things.
        last_error=error[0] if error and (success is None or error[0] > success) else None,
        last_error_detail=error[1] if error and (success is None or error[0] > success) else None,
        clock_offset_ms=offset,
        clock_warning=offset is not None and abs(offset) > CLOCK_WARNING_MS,
        fork=fork["detail"] if fork else None,
        revoked=revoked["key_id"] if revoked else None,
    )


def _case_entities(case_no: str, intake_id: str) -> tuple[str, list[str]]:
    """SQL condition on (entity, entity_id) for every replicated row a case's detail shows."""
    # The case row and its status moves carry the case number; the intake, its materials and
    # commitments carry the intake id (alone, or before a "/"); notes are found by their case.
    return (
        "(entity_id = ? OR entity_id = ? OR (entity_id >= ? AND entity_id < ?) "
        "OR (entity = 'case_notes' AND entity_id IN (SELECT note_id FROM case_notes WHERE case_no = ?)))",
        [case_no, intake_id, intake_id + "/", intake_id + "0", case_no],
    )


def case_sync(station: Station, case_no: str, intake_id: str) -> CaseSync:
    """The case's sync state, the receipts that prove its filing, the hub's rejections, its conflicts."""
    db = station.db
    where, params = _case_entities(case_no, intake_id)
    seqs = [row[0] for row in db.execute(f"SELECT DISTINCT set_seq FROM outbox WHERE {where}", params)]
    sealed = sorted(s for s in seqs if s is not None)
    receipts: list[ReceiptView] = []
    acked = 0
    for seq, set_hash, acked_at in db.execute(
        f"SELECT seq, hash, acked_at FROM sets_out WHERE seq IN ({', '.join('?' for _ in sealed)}) ORDER BY seq",
        sealed,
    ) if sealed else ():
        if acked_at is not None:
            acked += 1
            receipts.append(ReceiptView(seq=seq, hub_time=acked_at, hash_prefix=bytes(set_hash).hex()[:12]))
    if None in seqs:
        state: CaseSyncState = "saved"
    elif acked < len(sealed):
        state = "sealed"
    else:
        # Including a case with no change of ours at all: it came from the hub.
        state = "acknowledged"
    rejections = [
        RejectionView(seq=seq, entity=entity, code=code, reason_en=en, reason_zh=zh, received_at=at)
        for seq, entity, code, en, zh, at in db.execute(
            f"SELECT seq, entity, code, reason_en, reason_zh, received_at FROM rejections WHERE {where} "
            "ORDER BY seq, idx",
            params,
        )
    ]
    conflicts = [
        ConflictView(table=t, field=f, kept=k, kept_origin=ko, lost=lo, lost_origin=lso, detected_at=at)
        for t, f, k, ko, lo, lso, at in db.execute(
            "SELECT tbl, field, kept, kept_origin, lost, lost_origin, detected_at FROM conflicts "
            "WHERE pk = ? OR pk = ? OR (pk >= ? AND pk < ?) ORDER BY id",
            [case_no, intake_id, intake_id + "/", intake_id + "0"],
        )
    ]
    return CaseSync(state=state, receipts=receipts, rejections=rejections, conflicts=conflicts)
