"""The hub database schema as numbered migrations (the replicated tables are defined in sync.tables)."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from hub.store.db import write_txn

__all__ = (
    "DEPARTMENT_SQL",
    "OPEN_STATUSES_SQL",
    "TOWNSHIP_SQL",
    "migrate",
    "migrations",
)

migrations = Migrations("hub")


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
        # -- replicated tables (sync.tables): the station's columns, plus `versions` (sync.merge field versions) --
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


DEPARTMENT_SQL = "substr(item_code, 1, instr(item_code, '-') - 1)"
"""A case's department key in SQL (mirrors hub.departments.department_key). Index and queries must
spell it exactly so, or SQLite does not use the expression index."""

TOWNSHIP_SQL = "substr(village_code, 1, 9) || '000'"
"""The 12-digit township code of a village code."""

OPEN_STATUSES_SQL = "status IN ('RECEIVED', 'ACCEPTED', 'IN_PROGRESS')"
"""Cases whose legal clock runs (paused states do not count down): the partial index's condition,
repeated verbatim in the overdue queries so SQLite uses it."""


# m002's own helpers, frozen with it: a migration is literal history, so they spell the department
# and township expressions as they were then (DEPARTMENT_SQL, TOWNSHIP_SQL above are for queries;
# tests/hub/test_schema_frozen.py checks the two still agree, or SQLite would not use the indexes).


def _count_trigger_sql(sign: str, row: str) -> str:
    # One case row's contribution to case_counts, added (+) or taken away (-).
    return (
        f"INSERT INTO case_counts (department, township, status, n, accepted_n, days_n, days_sum) VALUES ("
        f"substr({row}.item_code, 1, instr({row}.item_code, '-') - 1), "
        f"substr({row}.village_code, 1, 9) || '000', {row}.status, {sign}1, "
        f"{sign}({row}.accepted_date IS NOT NULL), {sign}({row}.decision_days IS NOT NULL), "
        f"{sign}COALESCE({row}.decision_days, 0)) "
        "ON CONFLICT (department, township, status) DO UPDATE SET n = n + excluded.n, "
        "accepted_n = accepted_n + excluded.accepted_n, days_n = days_n + excluded.days_n, "
        "days_sum = days_sum + excluded.days_sum;"
    )


def _counter_sql(name: str, label: str, amount: str) -> str:
    return (
        f"INSERT INTO counters (name, label, value) VALUES ('{name}', {label}, {amount}) "
        "ON CONFLICT (name, label) DO UPDATE SET value = value + excluded.value;"
    )


@migrations()
def m002_accounts_dashboard(db: Database) -> None:
    """Accounts, sessions, tokens, login throttle, audit log; aggregates and indexes for the dashboard."""
    statements = [
        # -- accounts: people, not stations. Passwords are Argon2id hashes; tokens and session ids
        # are random and kept only as SHA-256, so a copy of the database logs nobody in.
        """CREATE TABLE users (
            user_id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            role TEXT NOT NULL CHECK (role IN ('admin', 'department')),
            department TEXT,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            disabled_at TEXT) STRICT""",
        """CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(user_id),
            csrf TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            ip TEXT) STRICT""",
        "CREATE INDEX sessions_user ON sessions(user_id)",
        """CREATE TABLE api_tokens (
            token_id TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(user_id),
            token_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT,
            revoked_at TEXT,
            last_used_at TEXT) STRICT""",
        "CREATE INDEX api_tokens_user ON api_tokens(user_id)",
        # Failed logins per account name and client address: the back-off is a refusal until
        # locked_until (429), never a sleep that would hold a worker.
        """CREATE TABLE login_failures (
            name TEXT NOT NULL,
            ip TEXT NOT NULL,
            failures INTEGER NOT NULL,
            last_at TEXT NOT NULL,
            locked_until TEXT,
            PRIMARY KEY (name, ip)) STRICT""",
        # Who saw a full ID or phone number, of which case, when. The numbers themselves never go here.
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            user_id INTEGER NOT NULL,
            user_name TEXT NOT NULL,
            department TEXT,
            action TEXT NOT NULL,
            case_no TEXT NOT NULL,
            fields TEXT NOT NULL,
            ip TEXT) STRICT""",
        "CREATE INDEX audit_log_at ON audit_log(at)",
        "DELETE FROM meta WHERE key = 'admin_token_sha256'",  # accounts replace the single admin token
        # -- county figures: counts per (department, township, status) kept by triggers in the same
        # transaction as every case write, so the figures read a few thousand rows, not a million.
        "ALTER TABLE cases ADD COLUMN decision_days INTEGER",
        """CREATE TABLE case_counts (
            department TEXT NOT NULL,
            township TEXT NOT NULL,
            status TEXT NOT NULL,
            n INTEGER NOT NULL,
            accepted_n INTEGER NOT NULL,
            days_n INTEGER NOT NULL,
            days_sum INTEGER NOT NULL,
            PRIMARY KEY (department, township, status)) STRICT""",
        """INSERT INTO case_counts (department, township, status, n, accepted_n, days_n, days_sum)
            SELECT substr(item_code, 1, instr(item_code, '-') - 1), substr(village_code, 1, 9) || '000', status,
                   COUNT(*), COUNT(accepted_date), COUNT(decision_days), COALESCE(SUM(decision_days), 0)
            FROM cases GROUP BY 1, 2, 3""",
        f"CREATE TRIGGER case_counts_insert AFTER INSERT ON cases BEGIN {_count_trigger_sql('+', 'NEW')} END",
        f"CREATE TRIGGER case_counts_delete AFTER DELETE ON cases BEGIN {_count_trigger_sql('-', 'OLD')} END",
        (
            "CREATE TRIGGER case_counts_update AFTER UPDATE OF status, accepted_date, decision_days, item_code, "
            f"village_code ON cases BEGIN {_count_trigger_sql('-', 'OLD')} {_count_trigger_sql('+', 'NEW')} END"
        ),
        # Department desks list their cases newest first, by status or not.
        "CREATE INDEX cases_department ON cases(substr(item_code, 1, instr(item_code, '-') - 1), received_at)",
        (
            "CREATE INDEX cases_department_status ON cases(substr(item_code, 1, instr(item_code, '-') - 1), status, "
            "received_at)"
        ),
        # Overdue: only open cases, a small part of a million; partial, and covering for the figures.
        (
            "CREATE INDEX cases_open_due ON cases(due_date, item_code, village_code, status) "
            "WHERE status IN ('RECEIVED', 'ACCEPTED', 'IN_PROGRESS')"
        ),
        "CREATE INDEX commitments_open_due ON commitments(due_date) WHERE status = 'open'",
        "CREATE INDEX forks_station ON forks(station_id)",
        # -- counters for /metrics, kept by triggers: they include files imported by the CLI and
        # survive restarts. Contacts are pruned to 100 per station, so that count starts here.
        """CREATE TABLE counters (
            name TEXT NOT NULL,
            label TEXT NOT NULL,
            value INTEGER NOT NULL,
            PRIMARY KEY (name, label)) STRICT""",
        "INSERT INTO counters SELECT 'contacts', kind || ',' || ok, COUNT(*) FROM contacts GROUP BY kind, ok",
        "INSERT INTO counters SELECT 'sets', via, COUNT(*) FROM sets_in GROUP BY via",
        "INSERT INTO counters SELECT 'changes', via, SUM(changes) FROM sets_in GROUP BY via",
        "INSERT INTO counters SELECT 'rejected', via, SUM(rejected) FROM sets_in GROUP BY via",
        "INSERT INTO counters SELECT 'forks', '', COUNT(*) FROM forks HAVING COUNT(*) > 0",
        "CREATE TRIGGER counters_contacts AFTER INSERT ON contacts BEGIN "
        + _counter_sql("contacts", "NEW.kind || ',' || NEW.ok", "1")
        + " END",
        "CREATE TRIGGER counters_sets AFTER INSERT ON sets_in BEGIN "
        + _counter_sql("sets", "NEW.via", "1")
        + _counter_sql("changes", "NEW.via", "NEW.changes")
        + _counter_sql("rejected", "NEW.via", "NEW.rejected")
        + " END",
        "CREATE TRIGGER counters_forks AFTER INSERT ON forks BEGIN " + _counter_sql("forks", "''", "1") + " END",
    ]
    for statement in statements:
        db.execute(statement)


@migrations()
def m003_station_features(db: Database) -> None:
    """What each station reads beyond protocol 1's base (sync.protocol FEATURE_* bits), as it last
    said: the hub seals its feed in the most compact form it reads."""
    db.execute("ALTER TABLE stations ADD COLUMN features INTEGER NOT NULL DEFAULT 0")


@migrations()
def m004_weekly_figures(db: Database) -> None:
    """Indexes for the figures page's weekly charts, so they read the last weeks and not every case:
    cases by receipt date (covering: the status says whether it was received), and a small partial
    index of completions by time."""
    db.execute("CREATE INDEX cases_received_date ON cases(received_date, status)")
    db.execute("CREATE INDEX case_events_completed ON case_events(at) WHERE to_status = 'COMPLETED'")


@migrations()
def m005_calendar_versions(db: Database) -> None:
    """Calendar publication: every version of a year's table as the county published it (the notice's
    named spans, for ``hub calendar show``), and the due dates each publication moved (case history)."""
    statements = [
        # calendar_years keeps the version in force (what stations get); this keeps them all.
        """CREATE TABLE calendar_versions (
            year INTEGER NOT NULL,
            version INTEGER NOT NULL,
            source TEXT NOT NULL,
            notice TEXT NOT NULL,
            published_at TEXT NOT NULL,
            PRIMARY KEY (year, version)) STRICT""",
        # One row per due date a calendar moved: kind 'case' (subject = case_no) or 'commitment'
        # (subject = commitment_id); a case's history shows its own and its intake's commitments'.
        """CREATE TABLE due_moves (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('case', 'commitment')),
            subject TEXT NOT NULL,
            intake_id TEXT NOT NULL,
            old_due TEXT,
            new_due TEXT,
            year INTEGER NOT NULL,
            version INTEGER NOT NULL,
            at TEXT NOT NULL) STRICT""",
        "CREATE INDEX due_moves_intake ON due_moves(intake_id)",
    ]
    for statement in statements:
        db.execute(statement)


@migrations()
def m006_catalog_publication(db: Database) -> None:
    """Catalogue publication (``hub catalog publish``): each version's note and its changes in words, and
    which version went to which station in which form and feed set, so the dashboard knows the
    version each station holds (a delivery counts once the station acknowledged its feed set)."""
    statements = [
        "ALTER TABLE catalogs ADD COLUMN note TEXT",
        # JSON list of sync.catalog_patch.CatalogChange, from the version before.
        "ALTER TABLE catalogs ADD COLUMN changes TEXT",
        """CREATE TABLE catalog_deliveries (
            station_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            form TEXT NOT NULL CHECK (form IN ('full', 'patch', 'legacy')),
            item_bytes INTEGER NOT NULL,
            queued_at TEXT NOT NULL,
            feed_seq INTEGER,
            PRIMARY KEY (station_id, version)) STRICT""",
        # Stations enrolled before: they were sent the one version there was at enrolment, in a form
        # their release wrote again ('legacy': the next version goes to them whole). It is in the
        # feed set sealed by now, unless still queued.
        """INSERT INTO catalog_deliveries (station_id, version, form, item_bytes, queued_at, feed_seq)
            SELECT s.station_id, (SELECT MAX(version) FROM catalogs), 'legacy', 0, s.enrolled_at,
                CASE WHEN EXISTS (SELECT 1 FROM feed_items i WHERE i.station_id = s.station_id AND i.kind = 'catalog')
                THEN NULL ELSE (SELECT MAX(f.seq) FROM feed_sets f WHERE f.station_id = s.station_id) END
            FROM stations s WHERE EXISTS (SELECT 1 FROM catalogs)""",
    ]
    for statement in statements:
        db.execute(statement)


@migrations()
def m007_key_rotation(db: Database) -> None:
    """Key rotation: a station's keys each sign its sets from one seq on (``station rekey`` hands over in a
    set), and each station's feed is under one hub key generation until a handover set (``hub key
    rotate``): which generation each station was sent, in which feed set."""
    statements = [
        "ALTER TABLE station_keys ADD COLUMN from_seq INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE station_keys ADD COLUMN replaced_at TEXT",
        "ALTER TABLE station_keys ADD COLUMN replaced_after INTEGER",
        # feed_seq: the feed set carrying the handover (0: pinned at enrolment; NULL: still queued).
        """CREATE TABLE hub_key_handovers (
            station_id TEXT NOT NULL,
            gen INTEGER NOT NULL,
            queued_at TEXT NOT NULL,
            feed_seq INTEGER,
            PRIMARY KEY (station_id, gen)) STRICT""",
    ]
    for statement in statements:
        db.execute(statement)


@migrations()
def m008_fork_resolution(db: Database) -> None:
    """Fork resolution (``hub forks resolve``): the branch the county kept and who chose it, and the hub's
    own sets of a station that a resolution keeping the station's branch set aside (kept whole, as evidence)."""
    statements = [
        "ALTER TABLE forks ADD COLUMN resolution TEXT",
        "ALTER TABLE forks ADD COLUMN resolved_by TEXT",
        """CREATE TABLE superseded_sets (
            origin TEXT NOT NULL,
            seq INTEGER NOT NULL,
            hash BLOB NOT NULL,
            envelope BLOB NOT NULL,
            receipt BLOB,
            received_at TEXT NOT NULL,
            fork_id INTEGER NOT NULL REFERENCES forks(id),
            superseded_at TEXT NOT NULL,
            PRIMARY KEY (origin, fork_id, seq)) STRICT""",
    ]
    for statement in statements:
        db.execute(statement)


@migrations()
def m009_upstream(db: Database) -> None:
    """A county forwarding to its province (docs/protocol.md, "County and province"): the link, the items
    queued for the county's own chain, its sealed sets, and what was already sent of each station, key,
    case and county move (so each goes once, and again only when it changed)."""
    statements = [
        # One row: the province this county forwards to.
        """CREATE TABLE upstream_link (
            link TEXT PRIMARY KEY CHECK (link = 'province'),
            url TEXT NOT NULL,
            county TEXT NOT NULL,
            province_id TEXT NOT NULL,
            sign_public BLOB NOT NULL,
            box_public BLOB NOT NULL,
            gen INTEGER NOT NULL,
            enrolled_at TEXT NOT NULL,
            acked_seq INTEGER NOT NULL DEFAULT 0,
            last_push TEXT,
            last_ok TEXT,
            last_error TEXT) STRICT""",
        """CREATE TABLE upstream_items (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            body BLOB NOT NULL,
            queued_at TEXT NOT NULL,
            set_seq INTEGER) STRICT""",
        "CREATE INDEX upstream_items_set ON upstream_items(set_seq, id)",
        """CREATE TABLE upstream_sets (
            seq INTEGER PRIMARY KEY,
            hash BLOB NOT NULL,
            envelope BLOB NOT NULL,
            items INTEGER NOT NULL,
            sealed_at TEXT NOT NULL) STRICT""",
        """CREATE TABLE upstream_sent (
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            digest TEXT NOT NULL,
            PRIMARY KEY (kind, name)) STRICT""",
        "CREATE INDEX cases_updated ON cases(updated_at)",
        "CREATE INDEX case_events_recorded ON case_events(recorded_at)",
    ]
    for statement in statements:
        db.execute(statement)


@migrations()
def m010_province(db: Database) -> None:
    """A province hub: its counties (keys pinned at enrolment, codes), each county's chain, the station keys
    of their rosters, every forwarded station set with its receipt and disclosed key (the evidence), and
    the province's view of each case and of the counties' own moves, without personal data."""
    statements = [
        """CREATE TABLE counties (
            county TEXT PRIMARY KEY,
            enrolled_at TEXT,
            revoked_at TEXT,
            head_seq INTEGER NOT NULL DEFAULT 0,
            head_hash BLOB,
            last_contact TEXT,
            last_set_at TEXT,
            pending INTEGER NOT NULL DEFAULT 0,
            oldest_pending TEXT,
            sets INTEGER NOT NULL DEFAULT 0,
            moves INTEGER NOT NULL DEFAULT 0) STRICT""",
        """CREATE TABLE county_keys (
            key_id TEXT PRIMARY KEY,
            county TEXT NOT NULL,
            gen INTEGER NOT NULL,
            sign_public BLOB NOT NULL,
            box_public BLOB NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT) STRICT""",
        "CREATE INDEX county_keys_county ON county_keys(county, gen)",
        """CREATE TABLE county_codes (
            code_id TEXT PRIMARY KEY,
            secret TEXT NOT NULL,
            county TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT,
            failures INTEGER NOT NULL DEFAULT 0) STRICT""",
        """CREATE TABLE county_sets (
            county TEXT NOT NULL,
            seq INTEGER NOT NULL,
            hash BLOB NOT NULL,
            envelope BLOB NOT NULL,
            items INTEGER NOT NULL,
            via TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (county, seq)) STRICT""",
        """CREATE TABLE province_stations (
            station_id TEXT PRIMARY KEY,
            county TEXT NOT NULL,
            village_code TEXT NOT NULL,
            applied_seq INTEGER NOT NULL DEFAULT 0,
            applied_hash BLOB,
            county_seq INTEGER NOT NULL DEFAULT 0,
            last_contact TEXT,
            revoked INTEGER NOT NULL DEFAULT 0) STRICT""",
        "CREATE INDEX province_stations_county ON province_stations(county)",
        """CREATE TABLE province_station_keys (
            key_id TEXT PRIMARY KEY,
            station_id TEXT NOT NULL,
            sign_public BLOB NOT NULL,
            box_public BLOB NOT NULL,
            from_seq INTEGER NOT NULL,
            revoked_after INTEGER) STRICT""",
        "CREATE INDEX province_station_keys_station ON province_station_keys(station_id, from_seq)",
        """CREATE TABLE province_sets (
            station_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            hash BLOB NOT NULL,
            envelope BLOB NOT NULL,
            receipt BLOB NOT NULL,
            body_key BLOB NOT NULL,
            county TEXT NOT NULL,
            county_seq INTEGER NOT NULL,
            changes INTEGER NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (station_id, seq)) STRICT""",
        # A station's sets the province held when its county resolved a fork keeping the station's branch.
        """CREATE TABLE province_superseded (
            station_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            hash BLOB NOT NULL,
            envelope BLOB NOT NULL,
            receipt BLOB NOT NULL,
            body_key BLOB NOT NULL,
            county_seq INTEGER NOT NULL,
            superseded_at TEXT NOT NULL,
            PRIMARY KEY (station_id, seq, hash)) STRICT""",
        """CREATE TABLE province_cases (
            case_no TEXT PRIMARY KEY,
            county TEXT NOT NULL,
            village_code TEXT NOT NULL,
            item_code TEXT NOT NULL,
            status TEXT NOT NULL,
            outcome TEXT,
            received_date TEXT,
            accepted_date TEXT,
            due_date TEXT,
            updated_at TEXT NOT NULL) STRICT""",
        "CREATE INDEX province_cases_county ON province_cases(county, status)",
        # Cases per county and status, kept as cases change: the dashboard never counts a million rows.
        """CREATE TABLE province_counts (
            county TEXT NOT NULL,
            status TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (county, status)) STRICT""",
        """CREATE TABLE province_moves (
            event_id TEXT PRIMARY KEY,
            county TEXT NOT NULL,
            case_no TEXT NOT NULL,
            from_status TEXT NOT NULL,
            to_status TEXT NOT NULL,
            actor TEXT NOT NULL,
            at TEXT NOT NULL,
            by TEXT,
            reason TEXT,
            outcome TEXT,
            county_seq INTEGER NOT NULL) STRICT""",
    ]
    for statement in statements:
        db.execute(statement)


@migrations()
def m011_attachments(db: Database) -> None:
    """Scanned materials (issue 15): the replicated ``attachments`` rows (a page of a case's material, by
    its SHA-256) and ``scans``, one row per page the hub was told of by a signed record: its size, which
    station announced it first, how many bytes of it have arrived (``held``) and when it was whole and
    its hash checked (``complete_at``). The bytes are files under the data folder (hub.scans), not rows."""
    statements = [
        """CREATE TABLE attachments (
            attachment_id TEXT PRIMARY KEY,
            case_no TEXT NOT NULL,
            material TEXT NOT NULL,
            page INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            format TEXT NOT NULL,
            attached_at TEXT NOT NULL,
            dropped INTEGER NOT NULL DEFAULT 0,
            versions TEXT) STRICT""",
        "CREATE INDEX attachments_case ON attachments(case_no, material, page)",
        "CREATE INDEX attachments_sha ON attachments(sha256)",
        """CREATE TABLE scans (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            format TEXT NOT NULL,
            station_id TEXT NOT NULL,
            announced_at TEXT NOT NULL,
            held INTEGER NOT NULL DEFAULT 0,
            complete_at TEXT) STRICT""",
        "CREATE INDEX scans_waiting ON scans(station_id, complete_at)",
    ]
    for statement in statements:
        db.execute(statement)


@migrations()
def m012_township_review(db: Database) -> None:
    """Township review and escalation (issue 16): township clerks (``role = 'township'`` with their
    township's code), department and township heads (``head``: overdue cases reach them), an e-mail
    address for the daily alert digest, the joint-review opinions of parallel approval (缺席默认:
    ``deemed_consent`` written by the system at the deadline) and the days the digest went out."""
    # SQLite cannot alter a CHECK constraint, and rebuilding users is impossible while sessions and
    # tokens reference it with foreign keys on (inside this transaction). The documented way to widen
    # a CHECK (sqlite.org/lang_altertable.html, "making other kinds of table schema changes") is to
    # edit the stored definition and bump the schema version; existing rows all satisfy the wider one.
    version = db.execute("PRAGMA schema_version").fetchone()[0]
    db.execute("PRAGMA writable_schema = ON")
    db.execute(
        "UPDATE sqlite_master SET sql = replace(sql, "
        "\"CHECK (role IN ('admin', 'department'))\", \"CHECK (role IN ('admin', 'department', 'township'))\") "
        "WHERE type = 'table' AND name = 'users'"
    )
    db.execute(f"PRAGMA schema_version = {int(version) + 1}")
    db.execute("PRAGMA writable_schema = OFF")
    statements = [
        "ALTER TABLE users ADD COLUMN township TEXT",
        "ALTER TABLE users ADD COLUMN head INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE users ADD COLUMN email TEXT",
        # One row per department asked to join a case's parallel review; opinion NULL = not answered.
        """CREATE TABLE joint_opinions (
            case_no TEXT NOT NULL REFERENCES cases(case_no),
            department TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            due_date TEXT NOT NULL,
            opinion TEXT CHECK (opinion IN ('consent', 'object', 'deemed_consent')),
            reason TEXT,
            answered_by TEXT,
            answered_at TEXT,
            PRIMARY KEY (case_no, department)) STRICT""",
        "CREATE INDEX joint_opinions_open ON joint_opinions(due_date) WHERE opinion IS NULL",
        "CREATE INDEX joint_opinions_department ON joint_opinions(department, case_no)",
        # The daily digest: one row per China date it was sent, so a restart does not send it twice.
        """CREATE TABLE alert_runs (
            day TEXT PRIMARY KEY,
            at TEXT NOT NULL,
            backend TEXT NOT NULL,
            digests INTEGER NOT NULL,
            deemed INTEGER NOT NULL) STRICT""",
    ]
    for statement in statements:
        db.execute(statement)


@migrations()
def m013_ratings_queries(db: Database) -> None:
    """Ratings (好差评) and progress queries (issue 16): the two replicated tables of sync.ratings, the county's
    follow-up of each bad rating (call back, fix, answer) and the log of residents' progress queries."""
    statements = [
        # Each station PC's progress-query key (sync.ratings), sent once: query codes are derived from it.
        """CREATE TABLE query_keys (
            key_id TEXT PRIMARY KEY,
            query_key TEXT NOT NULL,
            created_at TEXT NOT NULL,
            versions TEXT) STRICT""",
        """CREATE TABLE ratings (
            rating_id TEXT PRIMARY KEY,
            intake_id TEXT NOT NULL,
            case_no TEXT,
            level INTEGER NOT NULL,
            comment TEXT,
            channel TEXT NOT NULL,
            rated_at TEXT NOT NULL,
            agent TEXT NOT NULL DEFAULT '',
            versions TEXT) STRICT""",
        "CREATE INDEX ratings_case ON ratings(case_no)",
        "CREATE INDEX ratings_intake ON ratings(intake_id)",
        # One follow-up per bad rating (levels 1-2), on the desk of the department of the rated case
        # (a bundle's overall rating: of its first member). due_date: working days set by
        # `hub ratings followup-days` (meta followup_days) from the day the rating reached the hub.
        """CREATE TABLE followups (
            rating_id TEXT PRIMARY KEY,
            case_no TEXT NOT NULL,
            department TEXT NOT NULL,
            township TEXT NOT NULL,
            level INTEGER NOT NULL,
            opened_at TEXT NOT NULL,
            due_date TEXT NOT NULL,
            called_at TEXT,
            called_by TEXT,
            fixed_at TEXT,
            fixed_by TEXT,
            answered_at TEXT,
            answered_by TEXT,
            answer TEXT) STRICT""",
        "CREATE INDEX followups_department ON followups(department, answered_at, due_date)",
        # Every progress query asked of the hub: the case number asked for, whether it matched, the
        # client's address key and the channel (page, api). Never the code typed.
        """CREATE TABLE query_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            case_no TEXT NOT NULL,
            matched INTEGER NOT NULL,
            ip TEXT,
            channel TEXT NOT NULL) STRICT""",
        "CREATE INDEX query_log_at ON query_log(at)",
        "CREATE INDEX query_log_case ON query_log(case_no)",
    ]
    for statement in statements:
        db.execute(statement)


@migrations()
def m014_fleet(db: Database) -> None:
    """A station's standing report that it could not install a catalogue version (sync.protocol.catalog_report):
    the version, why (a code and the station's words), when, and the version the hub sent whole in answer."""
    db.execute(
        """CREATE TABLE catalog_failures (
            station_id TEXT PRIMARY KEY REFERENCES stations(station_id),
            version INTEGER NOT NULL,
            code TEXT NOT NULL,
            reason TEXT NOT NULL,
            reported_at TEXT NOT NULL,
            resent_version INTEGER) STRICT"""
    )


@migrations()
def m015_county_receipts_forks(db: Database) -> None:
    """County → province: the province's signed receipt of each county set (kept at both ends, the same bytes
    for a resend), a county set that conflicts with the chain held (a county restored from an old backup, a
    cloned server) quarantined whole, and the sets a resolved county fork set aside (kept whole)."""
    statements = [
        "ALTER TABLE county_sets ADD COLUMN receipt BLOB",
        "ALTER TABLE upstream_sets ADD COLUMN receipt BLOB",
        "ALTER TABLE upstream_link ADD COLUMN fork_seq INTEGER",
        """CREATE TABLE county_forks (
            id INTEGER PRIMARY KEY,
            county TEXT NOT NULL,
            seq INTEGER NOT NULL,
            hash BLOB NOT NULL,
            envelope BLOB NOT NULL,
            held_hash BLOB,
            reason TEXT NOT NULL,
            via TEXT NOT NULL,
            received_at TEXT NOT NULL,
            resolved_at TEXT,
            resolved_by TEXT,
            UNIQUE (county, hash)) STRICT""",
        """CREATE TABLE county_superseded (
            county TEXT NOT NULL,
            seq INTEGER NOT NULL,
            hash BLOB NOT NULL,
            envelope BLOB NOT NULL,
            receipt BLOB,
            items INTEGER NOT NULL,
            received_at TEXT NOT NULL,
            fork_id INTEGER NOT NULL,
            superseded_at TEXT NOT NULL,
            PRIMARY KEY (county, seq, hash)) STRICT""",
    ]
    for statement in statements:
        db.execute(statement)


@migrations()
def m017_province_station_forks(db: Database) -> None:
    """County → province: a station set inside a county's set that conflicts with the station's chain the province
    holds (another set at that seq, or a set that does not follow it) is quarantined whole with the county's
    receipt and its disclosed key, as a county quarantines a station's fork: the county's set is taken, its
    other stations' sets with it."""
    db.execute(
        """CREATE TABLE province_station_forks (
            id INTEGER PRIMARY KEY,
            county TEXT NOT NULL,
            station_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            hash BLOB NOT NULL,
            envelope BLOB NOT NULL,
            receipt BLOB NOT NULL,
            body_key BLOB NOT NULL,
            held_hash BLOB,
            reason TEXT NOT NULL,
            county_seq INTEGER NOT NULL,
            received_at TEXT NOT NULL,
            resolved_at TEXT,
            resolved_by TEXT,
            UNIQUE (station_id, hash)) STRICT"""
    )
    db.execute("CREATE INDEX province_station_forks_open ON province_station_forks (county, resolved_at)")


@migrations()
def m018_counts_at_commit(db: Database) -> None:
    """PostgreSQL: the shared counted rows are updated at commit, under the counts lock taken there.

    m002's triggers updated ``case_counts`` and ``counters`` as each row was written, so two transactions
    could lock those rows in opposite orders (a deadlock), and every writer took the counts lock before its
    first write: every station's set, across every worker, applied one at a time. Here they become deferred
    constraint triggers, run when the transaction commits, each first taking the counts lock (re-entrant
    within the transaction): sets apply side by side and queue only for the moment their counts are
    written. ``counters_contacts`` stays as it is: a contact updates one row, alone in its statement.
    SQLite has one writer at a time: nothing changes there."""
    if getattr(db, "dialect", "sqlite") != "postgresql":
        return
    conn: Any = db.conn  # hub.store.pg's migration db: its psycopg connection
    # store.lock("counts") as hub.store.pg takes it (LOCK_SPACE, hashtext of the name), spelled as it was when
    # this was written (tests/hub/test_store_pg_locks.py checks the two still agree).
    lock = "PERFORM pg_advisory_xact_lock(1213547057, hashtext('counts'));"
    for name, table, event in (
        ("case_counts_insert", "cases", "INSERT"),
        ("case_counts_delete", "cases", "DELETE"),
        ("case_counts_update", "cases", "UPDATE OF status, accepted_date, decision_days, item_code, village_code"),
        ("counters_sets", "sets_in", "INSERT"),
        ("counters_forks", "forks", "INSERT"),
    ):
        function = f"{name}_fn"
        (body,) = conn.execute("SELECT prosrc FROM pg_proc WHERE oid = %s::regproc", [function]).fetchone()
        if lock not in body:
            body = body.replace("BEGIN\n", f"BEGIN\n  {lock}\n", 1)
        conn.execute(f"DROP TRIGGER {name} ON {table}".encode())
        conn.execute(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $trigger${body}$trigger$".encode()
        )
        conn.execute(
            f"CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON {table} DEFERRABLE INITIALLY DEFERRED "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()".encode()
        )


def migrate(db: Database) -> None:
    """Apply every pending migration under the write lock, so two hub processes never race."""
    if not migrations.pending(db):
        return
    with write_txn(db):
        migrations.apply(db)
