"""The hub database schema as numbered migrations, and the replicated columns a change may write."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from hub.db import write_txn

__all__ = ("DERIVED_COLUMNS", "PK_COLUMNS", "REPLICATED_COLUMNS", "REPLICATED_TABLES", "migrate", "migrations")

migrations = Migrations("hub")

REPLICATED_TABLES = ("intakes", "intake_materials", "commitments", "cases", "case_notes")
"""The station's replicated tables; the hub holds the same rows (station/schema.py m001)."""

PK_COLUMNS: dict[str, str] = {
    "intakes": "intake_id",
    "intake_materials": "material_id",
    "commitments": "commitment_id",
    "cases": "case_no",
    "case_notes": "note_id",
}
"""The one TEXT primary-key column of each replicated table."""

REPLICATED_COLUMNS: dict[str, frozenset[str]] = {
    "intakes": frozenset(
        {"intake_id", "bundle_code", "village_code", "received_at", "received_date", "agent", "catalog_version"}
    ),
    "intake_materials": frozenset({"material_id", "intake_id", "name_zh", "state", "updated_at"}),
    "commitments": frozenset(
        {"commitment_id", "intake_id", "material", "signer_name", "signed_at", "due_days", "status", "closed_at"}
    ),
    "cases": frozenset(
        {"case_no", "intake_id", "item_code", "bundle_code", "stage", "status", "outcome", "applicant_name",
         "id_number", "phone", "sex", "birth_date", "village_code", "received_at", "received_date",
         "accepted_date", "catalog_version"}
    ),
    "case_notes": frozenset({"note_id", "case_no", "at", "author", "text"}),
}
"""Columns a station's RowChange may carry. The column names in SQL come only from here, never
from the wire; anything else in a change is refused (``malformed``)."""

DERIVED_COLUMNS: dict[str, frozenset[str]] = {
    "cases": frozenset({"id_hash", "due_date", "due_provisional", "updated_at"}),
    "commitments": frozenset({"due_date", "due_provisional"}),
}
"""Columns each replica derives itself (lookup hash under the county key, due dates from the
hub's calendar): never sent, never accepted from a change."""


@migrations()
def m001_hub(db: Database) -> None:
    """The first hub release: reference data, replicated case tables, stations, sets and feeds."""
    statements = [
        # Hub settings: admin token hash, HLC state. Never replicated.
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
        # Reference data the hub publishes. Catalogue bodies are msgspec JSON of sync.catalog.Catalog
        # (what a station stores); the division tree is kept in its source JSON form.
        """CREATE TABLE catalogs (
            version INTEGER PRIMARY KEY, body TEXT NOT NULL, published_at TEXT NOT NULL) STRICT""",
        """CREATE TABLE calendar_years (
            year INTEGER PRIMARY KEY, version INTEGER NOT NULL, source TEXT NOT NULL,
            body TEXT NOT NULL, published_at TEXT NOT NULL) STRICT""",
        """CREATE TABLE documents (
            kind TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL,
            published_at TEXT NOT NULL) STRICT""",
        # -- replicated tables: the station's columns, plus `versions` (sync.merge field versions) --
        """CREATE TABLE intakes (
            intake_id TEXT PRIMARY KEY,
            bundle_code TEXT,
            village_code TEXT NOT NULL,
            received_at TEXT NOT NULL,
            received_date TEXT NOT NULL,
            agent TEXT NOT NULL DEFAULT '',
            catalog_version INTEGER NOT NULL,
            versions TEXT) STRICT""",
        "CREATE INDEX intakes_village ON intakes(village_code)",
        """CREATE TABLE intake_materials (
            material_id TEXT PRIMARY KEY,
            intake_id TEXT NOT NULL REFERENCES intakes(intake_id),
            name_zh TEXT NOT NULL,
            state TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            versions TEXT,
            UNIQUE (intake_id, name_zh)) STRICT""",
        # due_date is derived here from the hub's calendar, so it may be NULL until computed.
        """CREATE TABLE commitments (
            commitment_id TEXT PRIMARY KEY,
            intake_id TEXT NOT NULL REFERENCES intakes(intake_id),
            material TEXT NOT NULL,
            signer_name TEXT NOT NULL,
            signed_at TEXT NOT NULL,
            due_days INTEGER NOT NULL,
            due_date TEXT,
            due_provisional INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'open',
            closed_at TEXT,
            versions TEXT) STRICT""",
        "CREATE INDEX commitments_intake ON commitments(intake_id)",
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
            id_hash TEXT,
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
            updated_at TEXT NOT NULL,
            versions TEXT) STRICT""",
        "CREATE INDEX cases_village_received ON cases(village_code, received_at)",
        "CREATE INDEX cases_status_received ON cases(status, received_at)",
        "CREATE INDEX cases_id_hash ON cases(id_hash)",
        "CREATE INDEX cases_intake ON cases(intake_id)",
        # Status history, from stations and from county decisions; rowid order is the hub's order.
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
            outcome TEXT,
            origin TEXT NOT NULL,
            recorded_at TEXT NOT NULL) STRICT""",
        "CREATE INDEX case_events_case ON case_events(case_no)",
        """CREATE TABLE case_notes (
            note_id TEXT PRIMARY KEY,
            case_no TEXT NOT NULL REFERENCES cases(case_no),
            at TEXT NOT NULL,
            author TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL,
            versions TEXT) STRICT""",
        "CREATE INDEX case_notes_case ON case_notes(case_no)",
        # -- the hub's own tables --
        # One row per enrolled PC: identity, chain head, request counter, contact record (invariant 8).
        """CREATE TABLE stations (
            station_id TEXT PRIMARY KEY,
            village_code TEXT NOT NULL,
            device TEXT NOT NULL,
            serial INTEGER NOT NULL,
            key_id TEXT NOT NULL,
            enrolled_at TEXT NOT NULL,
            revoked_at TEXT,
            revoke_reason TEXT,
            applied_seq INTEGER NOT NULL DEFAULT 0,
            applied_hash BLOB,
            last_counter INTEGER NOT NULL DEFAULT 0,
            last_contact TEXT,
            last_push TEXT,
            last_pull TEXT,
            head_seq INTEGER,
            outbox_length INTEGER,
            feed_acked INTEGER NOT NULL DEFAULT 0,
            clock_offset_ms INTEGER,
            software TEXT,
            last_error TEXT,
            last_error_at TEXT,
            UNIQUE (village_code, device, serial)) STRICT""",
        "CREATE INDEX stations_village ON stations(village_code)",
        # Every key a station ever had: a revoked key's sets up to after_seq stand (invariant 10).
        """CREATE TABLE station_keys (
            key_id TEXT PRIMARY KEY,
            station_id TEXT NOT NULL REFERENCES stations(station_id),
            sign_public BLOB NOT NULL,
            box_public BLOB NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT,
            after_seq INTEGER,
            reason TEXT) STRICT""",
        # One-time enrolment codes. The secret is stored as issued: the mac needs it, and the
        # hub database is the trust root anyway (docs/hub.md, "Enrolment codes").
        """CREATE TABLE enrollments (
            code_id TEXT PRIMARY KEY,
            secret TEXT NOT NULL,
            village_code TEXT NOT NULL,
            device TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT,
            station_id TEXT,
            failures INTEGER NOT NULL DEFAULT 0) STRICT""",
        "CREATE INDEX enrollments_village ON enrollments(village_code, device)",
        # Accepted sets exactly as received, and the receipts the hub signed for them.
        """CREATE TABLE sets_in (
            origin TEXT NOT NULL,
            seq INTEGER NOT NULL,
            hash BLOB NOT NULL,
            envelope BLOB NOT NULL,
            changes INTEGER NOT NULL,
            rejected INTEGER NOT NULL,
            via TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (origin, seq)) STRICT""",
        """CREATE TABLE receipts (
            origin TEXT NOT NULL,
            seq INTEGER NOT NULL,
            receipt BLOB NOT NULL,
            hub_ms INTEGER NOT NULL,
            PRIMARY KEY (origin, seq)) STRICT""",
        # Forks (invariant 3): the other set, whole, and a row for administrators to resolve.
        """CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY,
            origin TEXT NOT NULL,
            seq INTEGER NOT NULL,
            hash BLOB NOT NULL,
            envelope BLOB NOT NULL,
            reason TEXT NOT NULL,
            received_at TEXT NOT NULL,
            UNIQUE (origin, hash)) STRICT""",
        """CREATE TABLE forks (
            id INTEGER PRIMARY KEY,
            station_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            held_hash BLOB,
            quarantine_id INTEGER NOT NULL REFERENCES quarantine(id),
            reason TEXT NOT NULL,
            detected_at TEXT NOT NULL,
            resolved_at TEXT) STRICT""",
        # Changes kept but not applied (invariant 4), and values that lost a merge (invariant 7).
        """CREATE TABLE rejected (
            id INTEGER PRIMARY KEY,
            origin TEXT NOT NULL,
            seq INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            code TEXT NOT NULL,
            reason_en TEXT NOT NULL,
            reason_zh TEXT NOT NULL,
            change BLOB NOT NULL,
            recorded_at TEXT NOT NULL,
            UNIQUE (origin, seq, idx)) STRICT""",
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
        # Down items queued per station, encoded once; priority 0 = records, 1 = bulk reference data.
        """CREATE TABLE feed_items (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            station_id TEXT NOT NULL,
            priority INTEGER NOT NULL,
            kind TEXT NOT NULL,
            body BLOB NOT NULL,
            queued_at TEXT NOT NULL) STRICT""",
        "CREATE INDEX feed_items_station ON feed_items(station_id, priority, id)",
        # Sealed feed sets: one signed chain per station, stored as the envelope bytes sent.
        """CREATE TABLE feed_sets (
            station_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            prev BLOB NOT NULL,
            hash BLOB NOT NULL,
            envelope BLOB NOT NULL,
            items INTEGER NOT NULL,
            sealed_at TEXT NOT NULL,
            PRIMARY KEY (station_id, seq)) STRICT""",
        # The last 100 contacts per station: no personal data, only counters and codes.
        """CREATE TABLE contacts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            station_id TEXT NOT NULL,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            ok INTEGER NOT NULL,
            code TEXT,
            sets INTEGER NOT NULL DEFAULT 0,
            head_seq INTEGER,
            outbox_length INTEGER,
            clock_offset_ms INTEGER,
            software TEXT) STRICT""",
        "CREATE INDEX contacts_station ON contacts(station_id, id)",
    ]
    for statement in statements:
        db.execute(statement)


def migrate(db: Database) -> None:
    """Apply every pending migration under the write lock, so two hub processes never race."""
    if not migrations.pending(db):
        return
    with write_txn(db):
        migrations.apply(db)
