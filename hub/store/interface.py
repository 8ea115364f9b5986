"""HubStoreProtocol: what the hub asks of its storage, on either engine (SQLite, PostgreSQL: docs/postgresql.md).

:class:`hub.store.HubStore` implements it on both engines; code outside hub.store types against this where
it only calls methods. The rows it takes and returns are the msgspec Structs of hub.store's parts.
Opening is the backend's own (``HubStore.open``), so it is not part of the protocol.

Over 500 lines on purpose: one signature per store method, the whole contract a backend implements
in one place (tests/hub/test_store_interface.py holds HubStore to it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

if TYPE_CHECKING:
    from hub.store.accounts import SessionRow, TokenRow, UserRow
    from hub.store.calendar import CalendarVersionRow, YearRow
    from hub.store.catalog import CatalogDelivery, CatalogVersionRow
    from hub.store.forks import ResolvedForkRow
    from hub.store.scans import ScanRow, StationScans
    from hub.store.stations import Contact, EnrolmentRow, KeyRow, StationRow
    from hub.store.sync import ExchangeGlance, FeedSetRow, ForkRow
    from sync.catalog import Catalog
    from sync.divisions import DivisionTree
    from sync.workdays import WorkCalendar, YearTable

__all__ = ("HubStoreProtocol",)

T = TypeVar("T")


class HubStoreProtocol(Protocol):
    """Everything the hub keeps, behind methods; one instance belongs to one request or command at a time."""

    # -- HubStore (hub.store) --

    def close(self) -> None:
        """Close the connection."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One atomic unit of work, write lock taken up front; nested use joins the outer one."""
        ...

    def alone(self) -> contextlib.AbstractContextManager[None]:
        """For one write statement: committed by itself on PostgreSQL outside a transaction (no BEGIN and COMMIT
        round trips), :meth:`transaction` otherwise."""
        ...

    def holds_hub(self) -> bool:
        """Whether the database holds a hub's tables at all (an empty PostgreSQL database does not)."""
        ...

    def lock(self, *keys: str) -> None:
        """Serialise the rest of this transaction with every other transaction that locks one of ``keys``
        (``station:<id>`` for a station's chain and feed), taken in the order given: advisory locks on
        PostgreSQL, where several workers write at once, in one round trip and none twice in a transaction;
        nothing on SQLite, whose one writer at a time serialises everything."""
        ...

    def locked(self, *, station_id: str | None = None) -> contextlib.AbstractContextManager[None]:
        """A transaction holding the station's lock (when given) to its end, taken before its first write; the
        rows the counting triggers follow are written at commit, under the counts lock (hub.store.locks)."""
        ...

    def in_transaction(self) -> bool:
        """Whether a transaction of this store is open."""
        ...

    def retrying(self, work: Callable[[], T], *, attempts: int = 5) -> T:
        """``work()`` (its own transaction) run again when PostgreSQL rolled it back for a deadlock or a
        serialisation failure, as the ingest's sets are; once when a transaction is open already."""
        ...

    def get_meta(self, key: str) -> str | None:
        """A hub setting, or None."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Set a hub setting."""
        ...

    def tick_clock(self, wall_ms: int) -> int:
        """A new hybrid-logical-clock stamp of the hub, persisted (call inside a transaction)."""
        ...

    def publish_catalog(self, catalog: Catalog, now: dt.datetime) -> None:
        """Store a catalogue version (immutable once published)."""
        ...

    def catalog_version(self) -> int | None:
        """The newest catalogue version, or None before ``hub init``."""
        ...

    def catalog_body(self, version: int | None = None) -> tuple[int, bytes]:
        """(version, JSON bytes) of a catalogue version (the newest when None), as stations store it."""
        ...

    def catalog(self, version: int | None = None) -> Catalog:
        """A catalogue version, decoded (the newest when None); the body is read only on a cache miss."""
        ...

    def put_calendar_year(self, table: YearTable, now: dt.datetime) -> None:
        """Store a year table; a lower version never replaces a higher one."""
        ...

    def calendar_tables(self, from_year: int = 0) -> list[YearTable]:
        """The year tables from ``from_year`` on, oldest first."""
        ...

    def calendar(self) -> WorkCalendar:
        """The hub's working-day calendar: the binding one for due dates (invariant 8)."""
        ...

    def put_divisions(self, data: dict[str, Any], version: int, now: dt.datetime) -> None:
        """Store the division tree in its JSON form (check it with sync.divisions.load_divisions first)."""
        ...

    def divisions_body(self) -> tuple[int, bytes]:
        """(version, JSON bytes) of the division tree."""
        ...

    def divisions(self) -> DivisionTree:
        """The county's division tree (villages are checked against it)."""
        ...

    # -- StationStoreMixin (hub.store.stations) --

    def add_enrolment(self, row: EnrolmentRow) -> None:
        """Record an issued enrolment code."""
        ...

    def enrolment(self, code_id: str) -> EnrolmentRow | None:
        """The enrolment code with this id, or None."""
        ...

    def enrolment_to_check(self, code_id: str, *, stand_in_secret: str, at: str) -> tuple[EnrolmentRow, bool]:
        """(the code with this id, True); or, for an id never issued, (a stand-in that is never open, False)."""
        ...

    def enrolment_failed(self, code_id: str) -> None:
        """Count a refused attempt against a code (shown to administrators; it never voids the code)."""
        ...

    def enrolment_unknown_failed(self) -> None:
        """Count an attempt naming a code id never issued (one row written, as for a known id)."""
        ...

    def enrolment_unknown_failures(self) -> int:
        """Enrolment attempts that named a code id the hub never issued."""
        ...

    def void_enrolment(self, code_id: str, at: str) -> bool:
        """End an open code now (it reads as expired at ``at``); False when no open code has that id."""
        ...

    def enrolments(self) -> list[EnrolmentRow]:
        """Every code ever issued, oldest first."""
        ...

    def enrolment_used(self, code_id: str, station_id: str, at: str) -> None:
        """Mark a code used by the station it enrolled."""
        ...

    def devices_given(self, village_code: str) -> set[str]:
        """Every device letter ever issued for a village (in a code or to a station)."""
        ...

    def devices_busy(self, village_code: str, now_iso: str) -> set[str]:
        """Letters held now: by an enrolled station not revoked, or by an open, unexpired code."""
        ...

    def open_enrolments(self, now_iso: str) -> list[EnrolmentRow]:
        """Codes issued, not used, not expired."""
        ...

    def next_serial(self, village_code: str, device: str) -> int:
        """The enrolment serial the next station of this village and device letter gets."""
        ...

    def add_station(self, station: StationRow, key: KeyRow) -> None:
        """Record an enrolled station and its first key."""
        ...

    def station(self, station_id: str) -> StationRow | None:
        """The station with this id, or None."""
        ...

    def stations(self, *, village_code: str | None = None, enrolled_only: bool = False) -> list[StationRow]:
        """Stations in enrolment order, optionally of one village, optionally only those not revoked."""
        ...

    def station_and_village(self, station_id: str, village_code: str) -> tuple[StationRow | None, list[StationRow]]:
        """The station's row and the stations of ``village_code`` not revoked, in one statement."""
        ...

    def key(self, key_id: str) -> KeyRow | None:
        """The station key with this key id (current or revoked), or None."""
        ...

    def key_and_station(self, key_id: str) -> tuple[KeyRow | None, StationRow | None]:
        """The station key with this key id and its station's row, in one statement; (None, None) if unknown."""
        ...

    def station_key(self, station_id: str) -> KeyRow | None:
        """The station's current key."""
        ...

    def revoke_station(self, station_id: str, *, reason: str | None, at: str) -> int:
        """Revoke the station and its current key; returns ``after_seq`` (its last applied seq)."""
        ...

    def set_features(self, station_id: str, features: int) -> None:
        """Record what the station says it reads (a write only when it changed)."""
        ...

    def advance_counter(self, station_id: str, counter: int) -> int | None:
        """Take ``counter`` as the station's newest request counter; None if accepted, else the last one seen.
        Committed at once unless the caller holds a transaction."""
        ...

    def set_applied(self, station_id: str, seq: int, set_hash: bytes) -> None:
        """Move the station's chain head: the newest seq applied and its hash."""
        ...

    def record_contact(self, station_id: str, contact: Contact) -> None:
        """Update the station's contact record and append to its bounded contact log (no personal data)."""
        ...

    def record_contacts(self, station_id: str, contacts: Sequence[Contact]) -> None:
        """:meth:`record_contact` for each, in order, in three statements whatever their number."""
        ...

    def contacts(self, station_id: str) -> list[Contact]:
        """The station's recent contacts, newest first."""
        ...

    # -- SyncStoreMixin (hub.store.sync) --

    def set_in(self, origin: str, seq: int) -> tuple[bytes, bytes | None] | None:
        """(hash, receipt) of the set held at (origin, seq), or None."""
        ...

    def set_in_envelope(self, origin: str, seq: int) -> bytes | None:
        """The envelope of the set held at (origin, seq), exactly as it was received, or None."""
        ...

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
        station's chain head to it (inside the set's transaction; one statement on PostgreSQL)."""
        ...

    def count_sets_in(self, origin: str) -> int:
        """How many sets of this origin the hub holds."""
        ...

    def quarantine(
        self, *, origin: str, seq: int, set_hash: bytes, envelope: bytes, held_hash: bytes | None, reason: str, at: str
    ) -> int:
        """Keep a forked set whole and open a fork row; the same set twice is kept once. Returns the fork id."""
        ...

    def forks(self, *, open_only: bool = True) -> list[ForkRow]:
        """Forks for administrators, oldest first."""
        ...

    def quarantined_envelope(self, quarantine_id: int) -> bytes | None:
        """The exact bytes of a quarantined set, for administrators."""
        ...

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
        """Keep a change that was not applied, with its reason (invariant 4)."""
        ...

    def rejected(self, origin: str | None = None) -> list[dict[str, Any]]:
        """Rejected changes (without the change bytes), oldest first."""
        ...

    def refused_as_numbered_twice(self, origin: str) -> set[tuple[str, str]]:
        """(table, key) of ``origin``'s cases and intakes refused ``duplicate_row`` or ``parent_refused``."""
        ...

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
        ...

    def conflicts(self, pk: str | None = None) -> list[dict[str, Any]]:
        """Values that lost a merge (of one row, or all), oldest first."""
        ...

    def queue_items(self, station_ids: Iterable[str], *, kind: str, body: bytes, priority: int, at: str) -> None:
        """Queue one encoded down item for each station."""
        ...

    def pending_items(self, station_id: str) -> list[tuple[int, str, bytes]]:
        """(id, kind, body) of the station's queued items: records first, then bulk, each in queue order."""
        ...

    def pending_count(self, station_id: str) -> int:
        """How many down items wait to be sealed for the station."""
        ...

    def has_pending(self, station_id: str) -> bool:
        """Whether any down item waits to be sealed for the station (one index probe, no count)."""
        ...

    def drop_items(self, ids: list[int]) -> None:
        """Remove items once sealed into a set (the set now carries them)."""
        ...

    def feed_head(self, station_id: str) -> tuple[int, bytes] | None:
        """(seq, hash) of the station's newest feed set, or None."""
        ...

    def feed_head_seq_and_meta(self, station_id: str, key: str) -> tuple[int, str | None]:
        """The seq of the station's newest feed set (0 for none) and the meta value at ``key``, in one statement."""
        ...

    def exchange_glance(self, station_id: str, *, restart_key: str, restored_key: str) -> ExchangeGlance:
        """The feed head, two meta values, whether items wait and whether a catalogue failure is on record,
        for the station, in one statement."""
        ...

    def add_feed_set(
        self, *, station_id: str, seq: int, prev: bytes, set_hash: bytes, envelope: bytes, items: int, at: str
    ) -> None:
        """Keep a sealed feed set exactly as it will be sent."""
        ...

    def feed_sets_after(self, station_id: str, after: int, limit: int | None = None) -> list[FeedSetRow]:
        """The station's sealed feed sets with seq > ``after``, oldest first, at most ``limit``."""
        ...

    # -- CaseStoreMixin (hub.store.cases) --

    def row(self, table: str, pk: str) -> dict[str, Any] | None:
        """One row of a replicated table as a dict (``versions`` included), or None."""
        ...

    def insert_row(self, table: str, values: dict[str, Any]) -> None:
        """Insert a new row (column names checked against the schema)."""
        ...

    def insert_new_row(self, table: str, values: dict[str, Any]) -> bool:
        """Insert a row unless one with its key is held already (nothing written then); whether it was."""
        ...

    def insert_new_rows(self, table: str, rows: list[dict[str, Any]]) -> int:
        """insert_new_row for many rows, in order, in as few statements as the engine allows; how many were
        inserted (a row whose key is held is left out)."""
        ...

    def insert_new_case_moved(self, case: dict[str, Any], event: dict[str, Any]) -> dict[str, Any] | None:
        """A new case and the history line of its first move, the line only when the case went in: the case
        as inserted (every column), or None when one was held (nothing written)."""
        ...

    def insert_new_cases_moved(self, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> int:
        """New cases and the history lines of their first moves, in order, none read back: how many cases went
        in (fewer than all: the lines are not all written, and the caller rolls the transaction back)."""
        ...

    def update_row(self, table: str, pk: str, values: dict[str, Any]) -> None:
        """Set some columns of one row (column names checked against the schema)."""
        ...

    def village_of_intake(self, intake_id: str) -> str | None:
        """The village an intake belongs to, or None when there is no such intake."""
        ...

    def village_of_case(self, case_no: str) -> str | None:
        """The village a case belongs to, or None when there is no such case."""
        ...

    def has_event(self, event_id: str) -> bool:
        """Whether a lifecycle move with this event id was applied already."""
        ...

    def add_event(self, values: dict[str, Any]) -> None:
        """Append a lifecycle move to the case's history (the hub's order is insertion order)."""
        ...

    def case_events(self, case_no: str) -> list[dict[str, Any]]:
        """The case's moves in the order the hub applied them."""
        ...

    def intake_received_date(self, intake_id: str) -> str | None:
        """The receipt date of an intake (ISO), or None."""
        ...

    def village_rows(self, table: str, village_code: str) -> list[dict[str, Any]]:
        """Every row of a replicated table that belongs to a village, oldest first (a new PC's catch-up)."""
        ...

    def list_cases(
        self, *, village_code: str | None = None, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Cases newest first, full rows (the caller masks personal data before showing them)."""
        ...

    def count_rows(self, table: str) -> int:
        """Rows in a replicated table (for status pages and tests)."""
        ...

    # -- AccountStoreMixin (hub.store.accounts) --

    def add_user(self, *, name: str, role: str, department: str | None, password_hash: str, at: str) -> int:
        """Create an account; returns its id (IntegrityError when the name is taken, any case)."""
        ...

    def user(self, user_id: int) -> UserRow | None:
        """The account with this id, or None."""
        ...

    def user_named(self, name: str) -> UserRow | None:
        """The account with this name (case-insensitive), or None."""
        ...

    def users(self) -> list[UserRow]:
        """Every account, by name."""
        ...

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace an account's password hash (a new password, or a rehash with stronger parameters)."""
        ...

    def disable_user(self, user_id: int, at: str) -> None:
        """Disable an account and end its sessions and tokens at once."""
        ...

    def add_session(self, row: SessionRow) -> None:
        """Record a new browser session."""
        ...

    def session(self, token_hash: str) -> SessionRow | None:
        """The session with this cookie hash, or None."""
        ...

    def touch_session(self, token_hash: str, at: str) -> None:
        """Note that the session was used (its idle time restarts)."""
        ...

    def drop_session(self, token_hash: str) -> None:
        """End a session (logout, expiry)."""
        ...

    def drop_user_sessions(self, user_id: int) -> None:
        """End every session of an account (a new password, a disabled account)."""
        ...

    def drop_sessions_before(self, last_seen_before: str, created_before: str) -> None:
        """Forget sessions idle or old past their limits, so the table does not grow without end."""
        ...

    def add_token(self, row: TokenRow) -> None:
        """Record a new API token (its hash only)."""
        ...

    def token(self, token_id: str) -> TokenRow | None:
        """The token with this id, or None."""
        ...

    def tokens(self, user_id: int | None = None) -> list[TokenRow]:
        """Tokens (of one user, or all), newest first."""
        ...

    def revoke_token(self, token_id: str, at: str) -> bool:
        """Revoke a token; False when there is no such token or it was revoked already."""
        ...

    def token_used(self, token_id: str, at: str) -> None:
        """Note when a token was last used (shown by 'hub token list')."""
        ...

    def login_failures(self, name: str, ip: str) -> tuple[int, str | None]:
        """(failures, locked_until) for an account name and client address; read and then written"""
        ...

    def record_login_failure(self, name: str, ip: str, *, failures: int, at: str, locked_until: str | None) -> None:
        """Store the failure count and back-off of an account name and address."""
        ...

    def login_failures_row(self, name: str, ip: str) -> tuple[int, str | None, str | None]:
        """(failures, last checked attempt, locked_until) for an account name and client address."""
        ...

    def count_refused_login(self, name: str, ip: str) -> None:
        """Count an attempt refused while locked; ``last_at`` stays the last attempt that was checked."""
        ...

    def prune_login_failures(self, quiet_since: str, now: str) -> int:
        """Forget (name, address) rows with no attempt since ``quiet_since`` and no lock running; how many."""
        ...

    def clear_login_failures(self, name: str, ip: str) -> None:
        """A successful login forgets the failures of that name and address."""
        ...

    def add_audit(self, *, at: str, user: UserRow, action: str, case_no: str, fields: str, ip: str | None) -> None:
        """Record that a user saw personal data of a case in full (which fields, never their values)."""
        ...

    def audit_entries(
        self, *, limit: int = 200, offset: int = 0, user_name: str | None = None, case_no: str | None = None
    ) -> list[dict[str, Any]]:
        """Audit entries, newest first, optionally of one user or one case."""
        ...

    # -- DashboardStoreMixin (hub.store.dashboard) --

    def station_table(self, station_id: str | None = None) -> list[dict[str, Any]]:
        """Every station (or one) with its contact record and the counts the dashboard shows."""
        ...

    def station_rejections(self, station_id: str, limit: int = 20) -> tuple[dict[str, int], list[dict[str, Any]]]:
        """(count per code, the newest ``limit``) of a station's rejected changes, without reasons or values."""
        ...

    def case_counts(self) -> list[dict[str, Any]]:
        """The trigger-kept aggregate: cases per (department, township, status), with acceptance and decision sums."""
        ...

    def overdue_counts(self, today: str) -> list[tuple[str, str, int]]:
        """(department, township, cases) of open cases whose due date is before ``today`` (ISO date)."""
        ...

    def received_per_day(self, since: str) -> list[tuple[str, int]]:
        """(China date, cases) received each day from ``since`` (ISO date) on; drafts are not received yet."""
        ...

    def completed_per_hour(self, since: str) -> list[tuple[str, int]]:
        """(UTC hour ``YYYY-MM-DDTHH``, cases) completed each hour from ``since`` (a stored UTC timestamp) on."""
        ...

    def open_commitments(self, today: str) -> tuple[int, int]:
        """(open 容缺 commitments, of which past their due date)."""
        ...

    def counters(self) -> list[tuple[str, str, int]]:
        """(name, label, value) of the trigger-kept counters behind /metrics."""
        ...

    def open_fork_count(self) -> int:
        """Forks not yet resolved."""
        ...

    def department_cases(
        self,
        department: str,
        *,
        status: str | None = None,
        township: str | None = None,
        village: str | None = None,
        overdue_before: str | None = None,
        case_no: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """A department's cases, newest first (full rows: the caller decides what to show)."""
        ...

    def intake_materials(self, intake_id: str) -> list[dict[str, Any]]:
        """The materials recorded at intake, with their state (presented, deferred …)."""
        ...

    def intake_commitments(self, intake_id: str) -> list[dict[str, Any]]:
        """The 容缺 commitments of an intake (who signed is personal data: the caller decides)."""
        ...

    # -- CalendarStoreMixin (hub.store.calendar) --

    def put_calendar_version(self, table: YearTable, notice: str, now: dt.datetime) -> None:
        """Record a published version (its notice JSON) and put it in force (call inside a transaction)."""
        ...

    def calendar_year(self, year: int) -> YearRow | None:
        """The table in force for ``year`` (seeded by ``hub init`` or published), or None."""
        ...

    def calendar_versions(self, year: int) -> list[CalendarVersionRow]:
        """The versions of ``year`` published with ``hub calendar publish``, oldest first."""
        ...

    def cases_through_year(self, year: int) -> list[dict[str, Any]]:
        """Cases a table for ``year`` may move: every provisional one, and every open one whose count
        runs through the year."""
        ...

    def commitments_through_year(self, year: int) -> list[dict[str, Any]]:
        """容缺 commitments a table for ``year`` may move (with their intake's ``received_date``)."""
        ...

    def add_due_move(
        self,
        *,
        kind: str,
        subject: str,
        intake_id: str,
        old_due: str | None,
        new_due: str | None,
        year: int,
        version: int,
        at: str,
    ) -> None:
        """Record that a calendar table moved a due date (``kind`` "case" or "commitment")."""
        ...

    def due_moves(self, case_no: str) -> list[dict[str, Any]]:
        """The due-date moves of a case and of its intake's 容缺 commitments (with the material), oldest first."""
        ...

    # -- CatalogStoreMixin (hub.store.catalog) --

    def put_catalog_version(
        self, version: int, body: bytes, *, note: str | None, changes: str | None, now: dt.datetime
    ) -> None:
        """Store a published version's body exactly as stations will hold it (call inside a transaction)."""
        ...

    def catalog_versions(self) -> list[CatalogVersionRow]:
        """Every catalogue version, oldest first, with the stations holding each."""
        ...

    def add_catalog_delivery(self, station_id: str, version: int, *, form: str, item_bytes: int, at: str) -> None:
        """Record that a version was queued to a station (with the item that carries it)."""
        ...

    def last_catalog_delivery(self, station_id: str) -> CatalogDelivery | None:
        """The newest version queued to the station, or None."""
        ...

    def catalog_deliveries(self, version: int) -> list[CatalogDelivery]:
        """Every delivery of a version, by station."""
        ...

    def note_catalog_sealed(self, station_id: str, version: int, seq: int) -> None:
        """The station's feed set ``seq`` carries ``version`` (sealed now)."""
        ...

    # -- CatalogReportStoreMixin (hub.store.catalog_reports) --

    def catalog_failure(self, station_id: str) -> dict[str, Any] | None:
        """The station's report (``station_id, version, code, reason, reported_at, resent_version``), or None."""
        ...

    def catalog_failures(self) -> dict[str, dict[str, Any]]:
        """Every standing report, by station."""
        ...

    def put_catalog_failure(
        self, station_id: str, *, version: int, code: str, reason: str, resent_version: int | None, at: str
    ) -> None:
        """Record (or replace) the station's report, and the version sent whole in answer (None: none held)."""
        ...

    def clear_catalog_failure(self, station_id: str) -> None:
        """The station no longer reports a failure (a version as new installed)."""
        ...

    # -- KeyStoreMixin (hub.store.keys) --

    def replace_station_key(self, station_id: str, new: KeyRow, *, after_seq: int, at: str) -> None:
        """The station handed over to ``new`` in set ``after_seq`` (``station rekey``)."""
        ...

    def station_key_for_seq(self, station_id: str, seq: int) -> KeyRow | None:
        """The key that signs the station's set ``seq``."""
        ...

    def station_keys(self, station_id: str) -> list[KeyRow]:
        """Every key the station had, oldest first."""
        ...

    def hub_key_pinned(self, station_id: str, gen: int, at: str) -> None:
        """The station pinned hub key generation ``gen`` at enrolment."""
        ...

    def hub_key_queued(self, station_id: str, gen: int, at: str) -> None:
        """The handover to hub key generation ``gen`` was queued to the station's feed."""
        ...

    def hub_key_sealed(self, station_id: str, gen: int, seq: int) -> None:
        """The station's feed set ``seq`` carries the handover to generation ``gen``."""
        ...

    def hub_key_seen(self, station_id: str, gen: int, position: int, at: str) -> None:
        """The station showed that it holds hub key generation ``gen`` at feed ``position``."""
        ...

    def hub_key_held(self, station_id: str, position: int) -> int:
        """The hub key generation a station holds once it applied its feed up to ``position``."""
        ...

    def hub_key_latest(self, station_id: str) -> int:
        """The newest hub key generation handed over to the station, sealed or queued."""
        ...

    def case_numbers(self, village_code: str, device: str) -> list[tuple[str, int]]:
        """(day, highest counter) of the case numbers of a village's device letter the hub holds."""
        ...

    # -- ForkStoreMixin (hub.store.forks) --

    def fork(self, fork_id: int) -> ResolvedForkRow | None:
        """One fork, open or resolved, or None."""
        ...

    def station_forks(self, station_id: str) -> list[ResolvedForkRow]:
        """A station's forks, open and resolved, oldest first."""
        ...

    def resolve_forks(self, station_id: str, *, resolution: str, by: str, at: str) -> list[int]:
        """Mark every open fork of the station resolved with the branch kept; returns their ids."""
        ...

    def set_aside_sets_in(self, origin: str, *, after_seq: int, fork_id: int, at: str) -> int:
        """Move the hub's sets of ``origin`` after ``after_seq`` out of the chain into superseded_sets."""
        ...

    def superseded_sets(self, origin: str) -> list[dict[str, Any]]:
        """The sets of ``origin`` a resolution set aside (without their bytes), oldest first."""
        ...

    # -- TownshipStoreMixin (hub.store.township) --

    def set_user_scope(self, user_id: int, *, township: str | None, head: bool, email: str | None) -> None:
        """An account's township (township clerks), head flag (overdue cases reach it) and digest address."""
        ...

    def township_cases(
        self,
        township: str,
        item_codes: Sequence[str],
        *,
        status: str | None = None,
        overdue_before: str | None = None,
        case_no: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Cases of the township's villages for the given items, newest first (full rows: the caller masks)."""
        ...

    def forwarded_cases(self, case_nos: Sequence[str]) -> set[str]:
        """Which of these cases a township forwarded to the county department (sync.levels.is_forward)."""
        ...

    def open_cases_due_by(self, last_day: str) -> list[dict[str, Any]]:
        """Open cases (clock running) due on or before ``last_day``: numbers, codes and dates, no personal data."""
        ...

    def request_joint_opinion(self, case_no: str, department: str, *, by: str, at: str, due_date: str) -> bool:
        """Ask a department to join a case's review by ``due_date``; False when it was asked already."""
        ...

    def answer_joint_opinion(
        self, case_no: str, department: str, *, opinion: str, reason: str | None, by: str, at: str
    ) -> bool:
        """Record a department's opinion (or the system's deemed consent); False if none was pending."""
        ...

    def joint_opinions(self, case_no: str) -> list[dict[str, Any]]:
        """Every department asked to join the case's review, with its opinion (NULL: not answered yet)."""
        ...

    def joint_requests_for(self, department: str, *, pending_only: bool = True) -> list[dict[str, Any]]:
        """The cases a department is asked to give its opinion on, soonest due first."""
        ...

    def joint_requests_past(self, today: str) -> list[dict[str, Any]]:
        """Unanswered joint-review requests whose due date is before ``today``."""
        ...

    def alert_run(self, day: str) -> dict[str, Any] | None:
        """The digest run of a China date, or None when it has not gone out."""
        ...

    def record_alert_run(self, day: str, *, at: str, backend: str, digests: int, deemed: int) -> bool:
        """Note that the digest of ``day`` went out; False when another run had noted it first."""
        ...

    # -- StoreBase (hub.store.base) --

    def is_row_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the driver refusing a row's values (what ``savepoint`` turns into RowError)."""
        ...

    def savepoint(self, name: str = "change") -> contextlib.AbstractContextManager[None]:
        """A nested unit inside a transaction: on error, undo only what happened inside it."""
        ...

    # -- scanned pages (hub.store.scans) --

    def announce_scan(self, *, sha256: str, size: int, format: str, station_id: str, at: str) -> None:
        """Note a page a signed record names (the first announcement stands; call inside a transaction)."""
        ...

    def scan(self, sha256: str) -> ScanRow | None:
        """The page with this hash, if a signed record announced it."""
        ...

    def scan_in_village(self, sha256: str, village_code: str) -> bool:
        """Whether a page of this hash is attached to a case of the village (its stations may send it)."""
        ...

    def set_scan_held(self, sha256: str, held: int, *, was: int) -> bool:
        """Move a page's arrived bytes from ``was`` to ``held``; False when another request moved it first."""
        ...

    def complete_scan(self, sha256: str, at: str) -> None:
        """The page is here whole and its hash checked."""
        ...

    def case_attachments(self, case_no: str) -> list[dict[str, Any]]:
        """A case's pages (dropped ones left out) by material and page, each with whether it is here whole."""
        ...

    def case_has_scan(self, case_no: str, sha256: str) -> bool:
        """Whether the page of this hash is one of the case's (not dropped)."""
        ...

    def scans_waiting(self) -> list[StationScans]:
        """Per station that announced pages not yet here whole: pages, bytes to come, the oldest's announcement."""
        ...

    # -- RatingStoreMixin (hub.store.ratings) --

    def open_followup(self, values: dict[str, Any]) -> bool:
        """Open the follow-up of a bad rating (once: a rating seen again opens nothing); True when opened."""
        ...

    def followup(self, rating_id: str) -> dict[str, Any] | None:
        """One follow-up with its rating's comment and channel and its case's item, village and status."""
        ...

    def department_followups(
        self, department: str, *, open_only: bool = True, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        """A department's follow-ups, the soonest due first (open ones only unless ``open_only`` is False)."""
        ...

    def record_followup_step(self, rating_id: str, step: str, *, by: str, at: str, answer: str | None = None) -> bool:
        """Record a step of a follow-up (``call``, ``fix``, ``answer``) once; False when it was recorded before
        or there is no such follow-up."""
        ...

    def followup_counts(self, today: str) -> list[dict[str, Any]]:
        """Per department: follow-ups open, open past their due date, answered (no personal data)."""
        ...

    def rating_counts(self) -> list[dict[str, Any]]:
        """Ratings of cases counted by (item, village, level): what the satisfaction figures sum up."""
        ...

    def bundle_rating_counts(self) -> list[dict[str, Any]]:
        """Overall ratings of bundles counted by (bundle, village, level)."""
        ...

    def progress_case(self, case_no: str) -> dict[str, Any] | None:
        """A case as a progress query shows it, with its intake's versions (None: no such case)."""
        ...

    def outstanding_materials(self, intake_id: str) -> list[str]:
        """The intake's materials not yet handed in (deferred under 容缺 or not provided)."""
        ...

    def query_key(self, key_id: str) -> str | None:
        """A station PC's progress-query key (hex), None when it has not sent one."""
        ...

    def log_query(self, *, at: str, case_no: str, matched: bool, ip: str | None, channel: str) -> None:
        """Record a progress query (the case number asked for, never the code typed)."""
        ...

    def query_log(self, *, limit: int = 200, case_no: str | None = None) -> list[dict[str, Any]]:
        """Progress queries, newest first, optionally of one case number."""
        ...

    # -- a county forwarding to its province (hub.store.upstream) --------------------------------

    def upstream_link(self) -> dict[str, Any] | None:
        """The province this county forwards to, or None before ``hub upstream enroll``."""
        ...

    def set_upstream_link(
        self, *, url: str, county: str, province_id: str, sign_public: bytes, box_public: bytes, gen: int, at: str
    ) -> None:
        """Record (or replace, at a re-enrolment) the province and the key generation it pinned."""
        ...

    def note_upstream(self, **fields: Any) -> None:
        """Update the link's counters."""
        ...

    def queue_upstream(self, kind: str, body: bytes, at: str) -> None:
        """Queue one encoded item for the county's next set."""
        ...

    def upstream_unsealed(self, limit: int) -> list[tuple[int, bytes]]:
        """(id, body) of the items not yet in a set, in queue order."""
        ...

    def upstream_items_of(self, seq: int) -> list[bytes]:
        """The items sealed into the county's set ``seq``, in order."""
        ...

    def add_upstream_set(self, *, seq: int, set_hash: bytes, envelope: bytes, item_ids: list[int], at: str) -> None:
        """Store a sealed county set and mark its items as in it."""
        ...

    def upstream_head(self) -> tuple[int, bytes] | None:
        """(seq, hash) of the county's newest sealed set, or None."""
        ...

    def set_upstream_receipt(self, seq: int, receipt: bytes) -> None:
        """Keep the province's verified receipt for the county's set ``seq``."""
        ...

    def upstream_receipts(self) -> tuple[int, int | None]:
        """(county sets holding the province's receipt, the newest such seq)."""
        ...

    def upstream_receipt(self, seq: int) -> bytes | None:
        """The province's receipt for the county's set ``seq``, or None."""
        ...

    def upstream_set_hash(self, seq: int) -> bytes | None:
        """The hash of the county's set ``seq``, or None."""
        ...

    def upstream_sets_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """(seq, envelope) of the county's sets after ``seq``, oldest first."""
        ...

    def upstream_unseal_after(self, seq: int) -> int:
        """Drop the county's sets after ``seq`` and put their items back in the queue (re-sealed under a new"""
        ...

    def upstream_pending(self, acked_seq: int) -> tuple[int, str | None]:
        """(items not yet acknowledged by the province, when the oldest of them was queued)."""
        ...

    def upstream_sent(self, kind: str) -> dict[str, str]:
        """``name -> digest`` of what was queued of ``kind`` (station seqs, roster keys, figures, moves)."""
        ...

    def upstream_sent_one(self, kind: str, name: str) -> str | None:
        """The digest queued of one ``kind``/``name``, or None."""
        ...

    def set_upstream_sent(self, kind: str, name: str, digest: str) -> None:
        """Remember what was queued of ``kind``/``name``."""
        ...

    def accepted_sets(self, station_id: str, after: int, limit: int) -> list[tuple[int, bytes, bytes]]:
        """(seq, envelope, receipt) of a station's accepted sets after ``after``, in seq order."""
        ...

    def cases_updated_since(self, since: str, limit: int) -> list[dict[str, Any]]:
        """The non-personal columns of cases updated at or after ``since``, oldest change first."""
        ...

    def county_moves_since(self, since: str, origin: str, limit: int) -> list[dict[str, Any]]:
        """The county's own moves (``origin``) recorded at or after ``since``, oldest first."""
        ...

    # -- a province hub (hub.store.province) -----------------------------------------------------

    def county(self, county: str) -> dict[str, Any] | None:
        """One county's row, or None."""
        ...

    def counties(self) -> list[dict[str, Any]]:
        """Every county, by code."""
        ...

    def add_county_code(self, *, code_id: str, secret: str, county: str, at: str, expires_at: str) -> None:
        """Issue a one-time enrolment code for ``county`` (its row made if new)."""
        ...

    def county_code(self, code_id: str) -> dict[str, Any] | None:
        """An enrolment code's row, or None."""
        ...

    def county_code_failed(self, code_id: str) -> None:
        """Count a wrong mac against a code (it is voided after a few)."""
        ...

    def enrol_county(
        self, *, code_id: str, county: str, key_id: str, gen: int, sign_public: bytes, box_public: bytes, at: str
    ) -> None:
        """Use the code, pin the county's hub key (its earlier keys stay, for the receipts they signed)."""
        ...

    def county_keys(self, county: str) -> list[dict[str, Any]]:
        """The county's hub keys, newest generation (then newest pinned) first."""
        ...

    def county_key(self, key_id: str) -> dict[str, Any] | None:
        """One county key by id, or None."""
        ...

    def revoke_county(self, county: str, at: str) -> int:
        """Revoke every key of the county; its chain stops until it enrols again. Returns keys revoked."""
        ...

    def note_county_contact(self, county: str, *, at: str, pending: int, oldest_pending: str | None) -> None:
        """A county's request reached the province: what it says is waiting, and when."""
        ...

    def county_set(self, county: str, seq: int) -> bytes | None:
        """The hash of a county set held, or None."""
        ...

    def county_set_receipt(self, county: str, seq: int) -> bytes | None:
        """The province's receipt for a county set held (the same bytes for every resend), or None."""
        ...

    def set_county_set_receipt(self, county: str, seq: int, receipt: bytes) -> None:
        """Keep the receipt of a county set held before receipts were kept."""
        ...

    def add_county_set(
        self,
        *,
        county: str,
        seq: int,
        set_hash: bytes,
        envelope: bytes,
        items: int,
        via: str,
        at: str,
        receipt: bytes | None = None,
    ) -> None:
        """Keep a county set as received (with the province's receipt for it) and move the county's head to it."""
        ...

    def add_county_fork(
        self,
        *,
        county: str,
        seq: int,
        set_hash: bytes,
        envelope: bytes,
        held_hash: bytes | None,
        reason: str,
        via: str,
        at: str,
    ) -> int:
        """Quarantine a county set that conflicts with the chain held; returns the fork's id."""
        ...

    def county_forks(self, county: str | None = None, *, open_only: bool = True) -> list[dict[str, Any]]:
        """Quarantined county sets (without their bytes), oldest first; only the unresolved by default."""
        ...

    def county_fork_counts(self) -> dict[str, int]:
        """Unresolved county forks per county."""
        ...

    def resolve_county_fork(self, fork_id: int, *, from_seq: int, by: str, at: str) -> int:
        """Resolve a county fork taking the county's branch from ``from_seq``; returns the sets set aside."""
        ...

    def add_province_station_fork(
        self,
        *,
        county: str,
        station_id: str,
        seq: int,
        set_hash: bytes,
        envelope: bytes,
        receipt: bytes,
        body_key: bytes,
        held_hash: bytes | None,
        reason: str,
        county_seq: int,
        at: str,
    ) -> bool:
        """Quarantine a forwarded station set that conflicts with the chain held (once); True when new."""
        ...

    def province_station_forks(
        self, county: str | None = None, *, station_id: str | None = None, open_only: bool = True
    ) -> list[dict[str, Any]]:
        """Quarantined forwarded station sets (without their bytes), oldest first; only the unresolved by default."""
        ...

    def province_station_fork(self, fork_id: int) -> dict[str, Any] | None:
        """One quarantined forwarded station set with its bytes, or None."""
        ...

    def province_station_fork_hashed(self, station_id: str, set_hash: bytes) -> bool:
        """Whether a set of the station with this hash was ever quarantined at the province (open or resolved)."""
        ...

    def province_station_fork_counts(self) -> dict[str, int]:
        """Unresolved station forks per county."""
        ...

    def province_station_forks_kept_out(self, county: str, *, since: str) -> list[dict[str, Any]]:
        """A county's station sets the province's operator resolved since ``since`` keeping the province's chain."""
        ...

    def resolve_province_station_forks(
        self, station_id: str, *, after_seq: int | None = None, set_hash: bytes | None = None, by: str, at: str
    ) -> int:
        """Mark a station's open forks at the province resolved (past ``after_seq``, or the one ``set_hash``)."""
        ...

    def pin_county_key(
        self, *, county: str, key_id: str, gen: int, sign_public: bytes, box_public: bytes, at: str
    ) -> None:
        """A key handover in the county's chain: its next generation."""
        ...

    def province_station(self, station_id: str) -> dict[str, Any] | None:
        """A station as the province knows it from its county's roster, or None."""
        ...

    def put_roster_key(
        self,
        *,
        county: str,
        station_id: str,
        village_code: str,
        key_id: str,
        sign_public: bytes,
        box_public: bytes,
        from_seq: int,
        revoked_after: int | None,
    ) -> None:
        """A station key from a county's roster (a later roster item for the key updates its revocation)."""
        ...

    def province_key_for_seq(self, station_id: str, seq: int) -> dict[str, Any] | None:
        """The roster key that signs the station's set ``seq``."""
        ...

    def province_set(self, station_id: str, seq: int) -> tuple[bytes, bytes] | None:
        """(hash, disclosed key) of a forwarded set held, or None."""
        ...

    def add_province_set(
        self,
        *,
        station_id: str,
        seq: int,
        set_hash: bytes,
        envelope: bytes,
        receipt: bytes,
        body_key: bytes,
        county: str,
        county_seq: int,
        changes: int,
        at: str,
    ) -> None:
        """Keep a forwarded set with its receipt and key, and move the station's head to it."""
        ...

    def set_aside_province_sets(self, station_id: str, *, after_seq: int, county_seq: int, at: str) -> int:
        """Move the station's sets after ``after_seq`` to ``province_superseded`` (kept whole) and its head back."""
        ...

    def note_station_status(
        self, *, station_id: str, applied_seq: int, last_contact: str | None, revoked: bool, county_seq: int
    ) -> None:
        """A station's sync status at its county, as the county last said it."""
        ...

    def province_station_states(
        self, *, warn_before: str, danger_before: str, county: str | None = None
    ) -> dict[str, dict[str, int]]:
        """Stations per county by state: ``revoked``, ``never``, ``danger``."""
        ...

    def province_stations(self, county: str | None = None) -> list[dict[str, Any]]:
        """The stations of one county (or all), by id."""
        ...

    def put_province_case(self, county: str, figure: dict[str, Any]) -> None:
        """The county's view of a case (an earlier change at the county never replaces a later one); the
        counts per county and status follow."""
        ...

    def add_province_move(self, county: str, county_seq: int, move: dict[str, Any]) -> None:
        """A county's own move on a case (kept once, whatever number of times it comes)."""
        ...

    def province_case_counts(self) -> list[tuple[str, str, int]]:
        """(county, status, cases) over every county."""
        ...

    def province_case(self, case_no: str) -> dict[str, Any] | None:
        """The province's view of one case, or None."""
        ...
