"""The station database schema, as numbered migrations: an old database opens and upgrades."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from station.store.db import OperationalError, write_txn
from station.store.outbox import created_row

__all__ = ("migrate", "migrations")

migrations = Migrations("station")
_NAMES: list[str] = []
"""Every migration's name, in order (as ``migrations`` records them once applied)."""

_Migration = TypeVar("_Migration", bound=Callable[[Database], None])


def _migration(function: _Migration) -> _Migration:
    """Register ``function`` as the next migration of the station's schema."""
    _NAMES.append(function.__name__)
    return migrations()(function)


@_migration
def m001_case_book(db: Database) -> None:
    """The first release: settings, reference data, the case book and the outbox."""
    statements = [
        # Station settings (village, device letter, clock), never replicated.
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
        # Reference data the hub publishes: whole documents, by kind and version.
        """CREATE TABLE catalogs (
            version INTEGER PRIMARY KEY, body TEXT NOT NULL, received_at TEXT NOT NULL) STRICT""",
        """CREATE TABLE calendar_years (
            year INTEGER PRIMARY KEY, version INTEGER NOT NULL, source TEXT NOT NULL,
            body TEXT NOT NULL, received_at TEXT NOT NULL) STRICT""",
        """CREATE TABLE documents (
            kind TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL,
            received_at TEXT NOT NULL) STRICT""",
        # One intake = one visit of an applicant: one item, or one bundle (一件事) with its
        # member cases. Materials belong to the intake, so a bundle records them once.
        """CREATE TABLE intakes (
            intake_id TEXT PRIMARY KEY,
            bundle_code TEXT,
            village_code TEXT NOT NULL,
            received_at TEXT NOT NULL,
            received_date TEXT NOT NULL,
            agent TEXT NOT NULL DEFAULT '',
            catalog_version INTEGER NOT NULL) STRICT""",
        # Every replicated table has one TEXT primary key, so a change names its row simply.
        """CREATE TABLE intake_materials (
            material_id TEXT PRIMARY KEY,
            intake_id TEXT NOT NULL REFERENCES intakes(intake_id),
            name_zh TEXT NOT NULL,
            state TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (intake_id, name_zh)) STRICT""",
        # 容缺 commitments: who promised which material by when.
        """CREATE TABLE commitments (
            commitment_id TEXT PRIMARY KEY,
            intake_id TEXT NOT NULL REFERENCES intakes(intake_id),
            material TEXT NOT NULL,
            signer_name TEXT NOT NULL,
            signed_at TEXT NOT NULL,
            due_days INTEGER NOT NULL,
            due_date TEXT NOT NULL,
            due_provisional INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'open',
            closed_at TEXT) STRICT""",
        """CREATE TABLE cases (
            case_no TEXT PRIMARY KEY,
            intake_id TEXT NOT NULL REFERENCES intakes(intake_id),
            item_code TEXT NOT NULL,
            bundle_code TEXT,
            stage INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL,
            outcome TEXT,
            applicant_name TEXT NOT NULL,
            id_number TEXT NOT NULL,
            id_hash TEXT NOT NULL,
            phone TEXT NOT NULL,
            sex TEXT NOT NULL,
            birth_date TEXT NOT NULL,
            village_code TEXT NOT NULL,
            received_at TEXT NOT NULL,
            received_date TEXT NOT NULL,
            accepted_date TEXT,
            due_date TEXT,
            due_provisional INTEGER NOT NULL DEFAULT 0,
            catalog_version INTEGER NOT NULL,
            updated_at TEXT NOT NULL) STRICT""",
        "CREATE INDEX cases_status ON cases(status, due_date)",
        "CREATE INDEX cases_due ON cases(due_date)",
        "CREATE INDEX cases_item ON cases(item_code)",
        "CREATE INDEX cases_id_hash ON cases(id_hash)",
        "CREATE INDEX cases_received ON cases(received_at)",
        "CREATE INDEX cases_intake ON cases(intake_id)",
        # Status history: one row per lifecycle move, from this station or from the county.
        """CREATE TABLE case_events (
            event_id TEXT PRIMARY KEY,
            case_no TEXT NOT NULL REFERENCES cases(case_no),
            from_status TEXT NOT NULL,
            to_status TEXT NOT NULL,
            actor TEXT NOT NULL,
            by TEXT,
            at TEXT NOT NULL,
            hlc INTEGER NOT NULL,
            reason TEXT,
            outcome TEXT) STRICT""",
        "CREATE INDEX case_events_case ON case_events(case_no, hlc)",
        """CREATE TABLE case_notes (
            note_id TEXT PRIMARY KEY,
            case_no TEXT NOT NULL REFERENCES cases(case_no),
            at TEXT NOT NULL,
            author TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL) STRICT""",
        "CREATE INDEX case_notes_case ON case_notes(case_no, at)",
        # Case-number counters: one per receipt date (China time), so numbers never collide.
        "CREATE TABLE counters (day TEXT PRIMARY KEY, last INTEGER NOT NULL) STRICT",
        # The outbox: every replicated write, encoded once (sync.changes) in the same transaction.
        # `set_seq` stays NULL until the change is sealed into a change set.
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            hlc INTEGER NOT NULL,
            kind TEXT NOT NULL,
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            body BLOB NOT NULL,
            created_at TEXT NOT NULL,
            set_seq INTEGER) STRICT""",
        "CREATE INDEX outbox_unsealed ON outbox(set_seq, id)",
    ]
    for statement in statements:
        db.execute(statement)


@_migration
def m002_sync(db: Database) -> None:
    """Release 0.2: field versions for merging, sealed sets, the applied feed, rejections, conflicts."""
    statements = [
        # Field versions of each replicated row (sync.merge.Versions as JSON): local, never sent.
        # Literal history: the replicated tables of this release (sync.tables holds today's).
        "ALTER TABLE intakes ADD COLUMN versions TEXT",
        "ALTER TABLE intake_materials ADD COLUMN versions TEXT",
        "ALTER TABLE commitments ADD COLUMN versions TEXT",
        "ALTER TABLE cases ADD COLUMN versions TEXT",
        "ALTER TABLE case_notes ADD COLUMN versions TEXT",
        "ALTER TABLE case_events ADD COLUMN origin TEXT",
        # Status lists sorted by receipt (measured: 17 ms -> 0.3 ms at 50,000 cases).
        "CREATE INDEX cases_status_received ON cases(status, received_at)",
        # Sets sealed from the outbox, as the exact envelope bytes sent (never re-encoded).
        """CREATE TABLE sets_out (
            seq INTEGER PRIMARY KEY,
            hash BLOB NOT NULL,
            envelope BLOB NOT NULL,
            changes INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            acked_at TEXT,
            receipt BLOB) STRICT""",
        # Feed sets from the hub, applied in order.
        """CREATE TABLE feed_in (
            seq INTEGER PRIMARY KEY,
            hash BLOB NOT NULL,
            items INTEGER NOT NULL,
            applied_at TEXT NOT NULL) STRICT""",
        # Changes of ours the hub kept but did not apply, with its reason (shown on the case).
        """CREATE TABLE rejections (
            id INTEGER PRIMARY KEY,
            seq INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            code TEXT NOT NULL,
            reason_en TEXT NOT NULL,
            reason_zh TEXT NOT NULL,
            received_at TEXT NOT NULL,
            UNIQUE (seq, idx)) STRICT""",
        "CREATE INDEX rejections_entity ON rejections(entity_id)",
        # Values that lost a last-writer-wins merge, with both sides (architecture invariant 7).
        """CREATE TABLE conflicts (
            id INTEGER PRIMARY KEY,
            tbl TEXT NOT NULL,
            pk TEXT NOT NULL,
            field TEXT NOT NULL,
            kept TEXT,
            kept_hlc INTEGER NOT NULL,
            kept_origin TEXT NOT NULL,
            lost TEXT,
            lost_hlc INTEGER NOT NULL,
            lost_origin TEXT NOT NULL,
            detected_at TEXT NOT NULL) STRICT""",
        "CREATE INDEX conflicts_pk ON conflicts(pk)",
        # Each sync attempt: what the status command and the TUI status bar show.
        """CREATE TABLE sync_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            ok INTEGER NOT NULL,
            pushed INTEGER NOT NULL DEFAULT 0,
            pulled INTEGER NOT NULL DEFAULT 0,
            detail TEXT) STRICT""",
    ]
    for statement in statements:
        db.execute(statement)


@_migration
def m003_case_sync_index(db: Database) -> None:
    """Release 0.2: a case's detail finds the outbox rows of its entities (its sync state) by index."""
    db.execute("CREATE INDEX outbox_entity ON outbox(entity_id)")


@_migration
def m004_due_moves(db: Database) -> None:
    """Calendar publication: the due dates a year table moved, for the case's history (local, never
    replicated: the hub writes its own). kind 'case' (subject = case_no) or 'commitment' (commitment_id)."""
    db.execute(
        """CREATE TABLE due_moves (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('case', 'commitment')),
            subject TEXT NOT NULL,
            intake_id TEXT NOT NULL,
            old_due TEXT,
            new_due TEXT,
            year INTEGER NOT NULL,
            version INTEGER NOT NULL,
            at TEXT NOT NULL) STRICT"""
    )
    db.execute("CREATE INDEX due_moves_intake ON due_moves(intake_id)")


@_migration
def m005_forks(db: Database) -> None:
    """Fork resolution (station.forks): this station's sets and changes of a branch the county did not keep,
    set aside whole (never deleted); ``rerecorded_as`` is the outbox row a change was recorded again as."""
    db.execute(
        """CREATE TABLE forked_sets (
            fork_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            hash BLOB NOT NULL,
            envelope BLOB NOT NULL,
            changes INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            set_aside_at TEXT NOT NULL,
            PRIMARY KEY (fork_id, seq)) STRICT"""
    )
    db.execute(
        """CREATE TABLE forked_outbox (
            fork_id INTEGER NOT NULL,
            id INTEGER NOT NULL,
            hlc INTEGER NOT NULL,
            kind TEXT NOT NULL,
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            body BLOB NOT NULL,
            created_at TEXT NOT NULL,
            set_seq INTEGER,
            held_at_hub INTEGER NOT NULL,
            rerecorded_as INTEGER,
            PRIMARY KEY (fork_id, id)) STRICT"""
    )


@_migration
def m006_scans(db: Database) -> None:
    """Scanned materials (issue 15): each page of a case's material (replicated, ``attachments``), and the
    pages' bytes, once per station by their SHA-256 (``scan_blobs``, local: they travel apart, in chunks).

    ``scan_blobs`` sits in the encrypted database like every other piece of personal data. ``hub_held`` is
    how many bytes of the page the hub said it holds, ``in_flight`` 1 while a chunk is on its way (its
    answer not yet heard: the next round asks the hub where it stands first), ``acked_at`` when the hub
    held it whole, ``deleted_at`` when retention dropped the bytes (hash and metadata stay)."""
    db.execute(
        """CREATE TABLE attachments (
            attachment_id TEXT PRIMARY KEY,
            case_no TEXT NOT NULL REFERENCES cases(case_no),
            material TEXT NOT NULL,
            page INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            format TEXT NOT NULL,
            attached_at TEXT NOT NULL,
            dropped INTEGER NOT NULL DEFAULT 0,
            versions TEXT) STRICT"""
    )
    db.execute("CREATE INDEX attachments_case ON attachments(case_no, material, page)")
    db.execute("CREATE INDEX attachments_sha ON attachments(sha256)")
    db.execute(
        """CREATE TABLE scan_blobs (
            sha256 TEXT PRIMARY KEY,
            data BLOB,
            size INTEGER NOT NULL,
            format TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            stored_at TEXT NOT NULL,
            hub_held INTEGER NOT NULL DEFAULT 0,
            in_flight INTEGER NOT NULL DEFAULT 0,
            acked_at TEXT,
            deleted_at TEXT) STRICT"""
    )
    db.execute("CREATE INDEX scan_blobs_waiting ON scan_blobs(acked_at, stored_at)")


@_migration
def m007_ratings_queries(db: Database) -> None:
    """Ratings (好差评) and progress-query keys (sync.ratings): two replicated tables."""
    statements = [
        # Each PC's query key (its own, and the village's other PCs' from the hub): an intake's query
        # code is derived from the key of the PC that recorded it (docs/security.md).
        """CREATE TABLE query_keys (
            key_id TEXT PRIMARY KEY,
            query_key TEXT NOT NULL,
            created_at TEXT NOT NULL,
            versions TEXT) STRICT""",
        # One rating per case (a bundle member: a stage), and one overall per bundle (case_no NULL).
        """CREATE TABLE ratings (
            rating_id TEXT PRIMARY KEY,
            intake_id TEXT NOT NULL REFERENCES intakes(intake_id),
            case_no TEXT,
            level INTEGER NOT NULL,
            comment TEXT,
            channel TEXT NOT NULL,
            rated_at TEXT NOT NULL,
            agent TEXT NOT NULL DEFAULT '',
            versions TEXT) STRICT""",
        "CREATE INDEX ratings_case ON ratings(case_no)",
        "CREATE INDEX ratings_intake ON ratings(intake_id)",
    ]
    for statement in statements:
        db.execute(statement)


@_migration
def m008_refused_rows(db: Database) -> None:
    """Whether each refusal of the county's struck the change that created its row (``rejections.created``):
    a page whose attachment record the county refused, or whose case it refused to file, is never sent
    (station.scans.store), and that must be a query, not a decode of each set's records. And the
    departments asked to join a case's parallel review with their opinions, as the hub's case states
    bring them (``joint_opinions``, local: the hub's to say; sync.protocol.opinions).

    Refusals received before this release are settled from the outbox (the records each set carried)."""
    db.execute(
        """CREATE TABLE joint_opinions (
            case_no TEXT NOT NULL REFERENCES cases(case_no),
            department TEXT NOT NULL,
            name_zh TEXT NOT NULL,
            name_en TEXT NOT NULL,
            opinion TEXT,
            requested_at TEXT NOT NULL,
            due_date TEXT NOT NULL,
            answered_at TEXT,
            PRIMARY KEY (case_no, department)) STRICT"""
    )
    db.execute("ALTER TABLE rejections ADD COLUMN created INTEGER NOT NULL DEFAULT 0")
    rows = db.execute("SELECT id, seq, idx, entity, entity_id FROM rejections").fetchall()
    for rejection_id, seq, idx, entity, entity_id in rows:
        if created_row(db, seq, idx, entity, entity_id):
            db.execute("UPDATE rejections SET created = 1 WHERE id = ?", [rejection_id])
    db.execute("CREATE INDEX rejections_created ON rejections(entity, entity_id) WHERE created = 1")


def migrate(db: Database) -> None:
    """Apply every pending migration, under the write lock so two processes never race."""
    if _up_to_date(db) or not migrations.pending(db):
        return
    with write_txn(db):
        migrations.apply(db)


def _up_to_date(db: Database) -> bool:
    """Every migration of this release is recorded as applied: one statement, where asking
    ``migrations.pending`` takes five (every open of the station asks)."""
    try:
        rows = db.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = ?", [migrations.name]).fetchall()
    except (OperationalError, sqlite3.OperationalError):  # no such table: a new database
        return False
    return {name for (name,) in rows}.issuperset(_NAMES)
