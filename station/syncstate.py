"""Where sync stands, for the status command, the TUI status bar and each case's detail."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from station.errors import RefusedChange
from station.identity import hub_pins, public_key_id
from station.scans.store import backlog as scan_backlog
from station.sealing import held_tables, hub_features, unsealed_count
from station.store import Station
from station.store.outbox import created_row
from sync.hlc import unpack

__all__ = (
    "CLOCK_WARNING_MS",
    "CaseSync",
    "ConflictView",
    "ReceiptView",
    "Refusal",
    "RejectionView",
    "SyncStatus",
    "blank_status",
    "case_sync",
    "is_enrolled",
    "last_refusal_id",
    "recent_rejections",
    "refusals",
    "refused_cases",
    "stamp_lead_ms",
    "sync_status",
)

CLOCK_WARNING_MS = 5 * 60 * 1000
"""Hub and station clocks further apart than this are worth a warning (stamps and deadlines)."""

CaseSyncState = Literal["saved", "sealed", "acknowledged"]

REFUSALS_SHOWN = 20
"""Refused cases ``sync_status`` lists one by one (it counts them all)."""


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """A change of this station's that the county kept but did not apply, named by its case.

    Case numbers, codes and the hub's reasons only: no personal data, safe to print and to log.
    """

    case_no: str
    """The case the change was about (for an intake's own rows, the intake's number: a bundle's)."""
    entity: str
    code: str
    """The hub's rejection code (docs/protocol.md): ``other_village``, ``foreign_id``, ``duplicate_row`` ..."""
    reason_en: str
    reason_zh: str
    seq: int
    """The set of ours that carried the change."""
    received_at: str
    created: bool
    """The change created the row: the county does not hold it (for an intake or a case row: the case
    is not filed there). Such a refusal stands: the case is never in step until the county acts."""

    def error(self) -> RefusedChange:
        """The refusal as a bilingual error (what the CLI prints, and what a script matches on by code)."""
        # A refused intake or case row: the county holds no such case. A refused material or note
        # of a case it holds is a change refused, the case itself is filed.
        filed = not (self.created and self.entity in ("intakes", "cases"))
        return RefusedChange(self.case_no, self.code, reason_zh=self.reason_zh, reason_en=self.reason_en, filed=filed)

    def message(self, lang: str = "zh") -> str:
        """One line naming the case, the code and the hub's reason, in ``lang``."""
        return self.error().message(lang)


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
    refused_cases: int = 0
    """Cases the county refused to file, or a row of which it refused to create (a material, a note):
    never in step until the county acts."""
    refused: list[Refusal] = []
    """The newest of those, at most REFUSALS_SHOWN, one per case."""
    restored: str | None = None
    """When the backup this station was restored from was taken, while the hub has not yet confirmed
    its chain (no new work until then: station.restore), or None."""
    scans_pages: int = 0
    """Scanned pages not yet held whole by the hub (they go after the records: station.link.scans)."""
    scans_total: int = 0
    """Bytes of those pages, in all."""
    scans_waiting: int = 0
    """Bytes of them the hub does not hold yet."""

    @property
    def online(self) -> bool:
        """The last contact with the hub succeeded (there is no newer error)."""
        return self.last_success is not None and self.last_error is None

    @property
    def needs_admin(self) -> bool:
        """Pushing stopped (a fork) or the key was revoked: a person at the county must act."""
        return bool(self.fork or self.revoked)

    @property
    def clock_skew_seconds(self) -> float | None:
        """Station clock minus hub clock, when known."""
        return -self.clock_offset_ms / 1000 if self.clock_offset_ms is not None else None


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


def blank_status(station_id: str = "") -> SyncStatus:
    """Where sync stands before the station exists (no database yet): nothing enrolled, nothing waiting."""
    return SyncStatus(
        station_id=station_id,
        enrolled=False,
        hub_url=None,
        hub_fingerprint=None,
        key_id=None,
        head_seq=0,
        unacknowledged=0,
        unsealed=0,
        feed_seq=0,
        hub_feed_seq=None,
        last_success=None,
        last_error=None,
        last_error_detail=None,
        clock_offset_ms=None,
        clock_warning=False,
        fork=None,
        revoked=None,
    )


def is_enrolled(station: Station) -> bool:
    """True once the station holds a hub identity (``meta.hub_id``)."""
    return bool(station.meta.hub_id)


def stamp_lead_ms(station: Station, now: dt.datetime | None = None) -> float | None:
    """How far the newest clock stamp this station wrote is ahead of its clock now, in ms (None before any).

    A clock set back runs behind the stamps it wrote before: with no hub contact to compare
    with, that lead is the only sign of it.
    """
    newest = station.meta.hlc_last
    if newest is None:
        return None
    newest_ms, _counter = unpack(newest)
    return newest_ms - (now or station.now()).timestamp() * 1000


def sync_status(station: Station) -> SyncStatus:
    db = station.db
    pins = hub_pins(db)
    head_seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM sets_out").fetchone()[0]
    unacknowledged = db.execute("SELECT COUNT(*) FROM sets_out WHERE acked_at IS NULL").fetchone()[0]
    unsealed = unsealed_count(station)  # rows held back for a feature the hub has not said are not counted
    success = db.execute("SELECT MAX(at) FROM sync_log WHERE ok = 1 AND kind IN ('sync', 'import')").fetchone()[0]
    error = db.execute(
        "SELECT at, detail FROM sync_log WHERE ok = 0 AND kind IN ('sync', 'import') ORDER BY id DESC LIMIT 1"
    ).fetchone()
    meta = station.meta
    offset = meta.clock_offset_ms
    fork = meta.fork
    revoked = meta.revoked
    standing = refused_cases(station)
    scans = scan_backlog(station)
    return SyncStatus(
        station_id=station.station_id,
        enrolled=pins is not None,
        hub_url=pins.url if pins else None,
        hub_fingerprint=pins.fingerprint if pins else None,
        key_id=public_key_id(station.data_dir),
        head_seq=head_seq,
        unacknowledged=unacknowledged,
        unsealed=unsealed,
        feed_seq=meta.feed_seq,
        hub_feed_seq=meta.hub_feed_seq,
        last_success=success,
        # An error older than the last success is history, not the state of things.
        last_error=error[0] if error and (success is None or error[0] > success) else None,
        last_error_detail=error[1] if error and (success is None or error[0] > success) else None,
        clock_offset_ms=offset,
        clock_warning=offset is not None and abs(offset) > CLOCK_WARNING_MS,
        fork=fork["detail"] if fork else None,
        revoked=revoked["key_id"] if revoked else None,
        refused_cases=len(standing),
        refused=sorted(standing.values(), key=lambda r: r.received_at, reverse=True)[:REFUSALS_SHOWN],
        restored=meta.restored["backup_at"] if meta.restored else None,
        scans_pages=scans.pages,
        scans_total=scans.total,
        scans_waiting=scans.waiting,
    )


def recent_rejections(station: Station, limit: int) -> list[tuple[str, RejectionView]]:
    """The hub's newest rejections of this station's changes across all cases, newest first,
    each with the id of the row it refused (:func:`station.queries.case_for_entity` names its case)."""
    return [
        (entity_id, RejectionView(seq=seq, entity=entity, code=code, reason_en=en, reason_zh=zh, received_at=at))
        for seq, entity, entity_id, code, en, zh, at in station.db.execute(
            "SELECT seq, entity, entity_id, code, reason_en, reason_zh, received_at FROM rejections "
            "ORDER BY received_at DESC, id DESC LIMIT ?",
            [limit],
        )
    ]


def last_refusal_id(station: Station) -> int:
    """A mark in the county's refusals received so far (see :func:`refusals`)."""
    return int(station.db.execute("SELECT COALESCE(MAX(id), 0) FROM rejections").fetchone()[0])


def refusals(station: Station, *, after: int = 0) -> list[Refusal]:
    """The county's refusals of this station's changes received after the mark ``after``, oldest first."""
    rows = station.db.execute(
        "SELECT seq, idx, entity, entity_id, code, reason_en, reason_zh, received_at FROM rejections "
        "WHERE id > ? ORDER BY id",
        [after],
    ).fetchall()
    return [_refusal(station, *row) for row in rows]


def refused_cases(station: Station) -> dict[str, Refusal]:
    """Cases the county refused to file, or a row of which (a material, a note) it refused to create:
    case number -> the refusal of the change that created the row.

    Such a case stays here and is not at the county (its number taken first by another station, a
    number not this station's to give): it is never in step, and is shown flagged until the county
    sorts it out. A refused move or edit is different: the station takes the county's values and
    the refusal stays on the case's detail.
    """
    standing: dict[str, Refusal] = {}
    for row in station.db.execute(
        "SELECT seq, idx, entity, entity_id, code, reason_en, reason_zh, received_at FROM rejections "
        "WHERE entity IN ('intakes', 'cases', 'intake_materials', 'commitments', 'case_notes') ORDER BY id"
    ).fetchall():
        refusal = _refusal(station, *row)
        if not refusal.created:
            continue
        numbers = [refusal.case_no]
        if refusal.entity in ("intakes", "intake_materials", "commitments"):  # every case of the intake (a bundle's)
            numbers += [
                n
                for (n,) in station.db.execute(
                    "SELECT case_no FROM cases WHERE intake_id = ? AND case_no != ?", [refusal.case_no, refusal.case_no]
                )
            ]
        for case_no in numbers:
            standing.setdefault(case_no, refusal)
    return standing


def _refusal(
    station: Station,
    seq: int,
    idx: int,
    entity: str,
    entity_id: str,
    code: str,
    reason_en: str,
    reason_zh: str,
    received_at: str,
) -> Refusal:
    db = station.db
    if entity == "case_notes":
        row = db.execute("SELECT case_no FROM case_notes WHERE note_id = ?", [entity_id]).fetchone()
        case_no = row[0] if row else entity_id
    else:
        case_no = entity_id.split("/", 1)[0]  # an intake's materials and commitments: INTAKE/NAME
    created = created_row(db, seq, idx, entity, entity_id)
    return Refusal(
        case_no=case_no,
        entity=entity,
        code=code,
        reason_en=reason_en,
        reason_zh=reason_zh,
        seq=seq,
        received_at=received_at,
        created=created,
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
    # Rows held back for a feature this hub has not said (a rating, a query code) do not make the case unsent.
    held = held_tables(hub_features(station))
    held_sql = f" AND entity NOT IN ({', '.join('?' for _ in held)})" if held else ""
    seqs = [
        row[0] for row in db.execute(f"SELECT DISTINCT set_seq FROM outbox WHERE {where}{held_sql}", [*params, *held])
    ]
    sealed = sorted(s for s in seqs if s is not None)
    receipts: list[ReceiptView] = []
    acked = 0
    for seq, set_hash, acked_at in (
        db.execute(
            f"SELECT seq, hash, acked_at FROM sets_out WHERE seq IN ({', '.join('?' for _ in sealed)}) ORDER BY seq",
            sealed,
        )
        if sealed
        else ()
    ):
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
