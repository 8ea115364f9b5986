"""HubStore's part for stations: enrolment codes, stations, their keys, counters and contact records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from hub.store.base import StoreBase

__all__ = ("Contact", "EnrolmentRow", "KeyRow", "StationRow", "StationStoreMixin")

CONTACTS_KEPT = 100
"""Contacts kept per station: enough for a dashboard's recent history, bounded for 395 villages."""
CONTACTS_TRIM_EVERY = 16
"""A station's log is cut back to :data:`CONTACTS_KEPT` when one of its new contacts takes an id that is a
multiple of this, not at every exchange (a statement, a round trip on PostgreSQL, each time). Ids count
every station's contacts, so a station holds about this many more rows on average (exactly at most this many
while it is the only one in contact), and :meth:`StationStoreMixin.contacts` lists the newest ``CONTACTS_KEPT``."""


class EnrolmentRow(msgspec.Struct, frozen=True, kw_only=True):
    """A one-time enrolment code as issued (``enrollments`` table)."""

    code_id: str
    secret: str
    village_code: str
    device: str
    created_at: str
    expires_at: str
    used_at: str | None = None
    station_id: str | None = None
    failures: int = 0


class StationRow(msgspec.Struct, frozen=True, kw_only=True):
    """An enrolled station with its chain head and contact record (``stations`` table)."""

    station_id: str
    village_code: str
    device: str
    serial: int
    key_id: str
    enrolled_at: str
    revoked_at: str | None = None
    revoke_reason: str | None = None
    applied_seq: int = 0
    applied_hash: bytes | None = None
    last_counter: int = 0
    last_contact: str | None = None
    last_push: str | None = None
    last_pull: str | None = None
    head_seq: int | None = None
    outbox_length: int | None = None
    feed_acked: int = 0
    clock_offset_ms: int | None = None
    software: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    features: int = 0
    """What the station reads beyond protocol 1 (sync.protocol FEATURE_* bits), as it last said."""


class KeyRow(msgspec.Struct, frozen=True, kw_only=True):
    """A station signing key (``station_keys``); ``after_seq`` is set when it is revoked, ``replaced_after``
    when the station handed over to a new key (``station rekey``) in that set."""

    key_id: str
    station_id: str
    sign_public: bytes
    box_public: bytes
    created_at: str
    revoked_at: str | None = None
    after_seq: int | None = None
    reason: str | None = None
    from_seq: int = 1
    """The first of the station's sets this key signs."""
    replaced_at: str | None = None
    replaced_after: int | None = None
    """The last set this key signs: the one that handed over to the station's next key."""


class Contact(msgspec.Struct, frozen=True, kw_only=True):
    """One contact of a station with the hub (a signed request, or a file carried by hand)."""

    at: str
    kind: str
    """push, pull, import, export."""
    ok: bool
    code: str | None = None
    """The error code when not ok."""
    sets: int = 0
    head_seq: int | None = None
    outbox_length: int | None = None
    clock_offset_ms: int | None = None
    software: str | None = None
    feed_after: int | None = None
    """The feed position the station reported (a pull's ``after``, a file's ``feed_after``)."""


def _row(cls: type[Any], cursor: Any) -> Any:
    row = cursor.fetchone()
    if row is None:
        return None
    return cls(**dict(zip([d[0] for d in cursor.description], row)))


def _rows(cls: type[Any], cursor: Any) -> list[Any]:
    columns = [d[0] for d in cursor.description]
    return [cls(**dict(zip(columns, row))) for row in cursor.fetchall()]


class StationStoreMixin(StoreBase):
    """Enrolment codes, stations and keys. Mixed into :class:`hub.store.HubStore`."""

    # -- enrolment codes -----------------------------------------------------------------------

    def add_enrolment(self, row: EnrolmentRow) -> None:
        """Record an issued enrolment code."""
        self.db.execute(
            "INSERT INTO enrollments (code_id, secret, village_code, device, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [row.code_id, row.secret, row.village_code, row.device, row.created_at, row.expires_at],
        )

    def enrolment(self, code_id: str) -> EnrolmentRow | None:
        """The enrolment code with this id, or None."""
        return _row(EnrolmentRow, self.db.execute("SELECT * FROM enrollments WHERE code_id = ?", [code_id]))

    def enrolment_to_check(self, code_id: str, *, stand_in_secret: str, at: str) -> tuple[EnrolmentRow, bool]:
        """(the code with this id, True); or, for an id never issued, (a stand-in that is never open, False).

        One query and one row built either way, so the two take the same time (hub.enroll.enroll).
        """
        cursor = self.db.execute(
            "SELECT 1 AS known, code_id, secret, village_code, device, created_at, expires_at, used_at, station_id, "
            "failures FROM enrollments WHERE code_id = ? "
            "UNION ALL SELECT 0, ?, ?, '', '', ?, ?, NULL, NULL, 0 LIMIT 1",
            [code_id, code_id, stand_in_secret, at, at],
        )
        values = cursor.fetchone()
        fields = dict(zip([d[0] for d in cursor.description], values))
        known = bool(fields.pop("known"))
        return EnrolmentRow(**fields), known

    def enrolment_failed(self, code_id: str) -> None:
        """Count a refused attempt against a code (shown to administrators; it never voids the code)."""
        self.db.execute("UPDATE enrollments SET failures = failures + 1 WHERE code_id = ?", [code_id])

    def enrolment_unknown_failed(self) -> None:
        """Count an attempt naming a code id never issued (one row written, as for a known id)."""
        self.db.execute(
            "INSERT INTO counters (name, label, value) VALUES ('enrol_unknown_code', '', 1) "
            "ON CONFLICT (name, label) DO UPDATE SET value = counters.value + 1"
        )

    def enrolment_unknown_failures(self) -> int:
        """Enrolment attempts that named a code id the hub never issued."""
        row = self._one("SELECT value FROM counters WHERE name = 'enrol_unknown_code' AND label = ''")
        return int(row[0]) if row else 0

    def void_enrolment(self, code_id: str, at: str) -> bool:
        """End an open code now (it reads as expired at ``at``); False when no open code has that id."""
        cursor = self.db.execute(
            "UPDATE enrollments SET expires_at = ? WHERE code_id = ? AND used_at IS NULL AND expires_at > ?",
            [at, code_id, at],
        )
        return cursor.rowcount == 1

    def enrolments(self) -> list[EnrolmentRow]:
        """Every code ever issued, oldest first."""
        return _rows(EnrolmentRow, self.db.execute("SELECT * FROM enrollments ORDER BY created_at, code_id"))

    def enrolment_used(self, code_id: str, station_id: str, at: str) -> None:
        """Mark a code used by the station it enrolled."""
        self.db.execute(
            "UPDATE enrollments SET used_at = ?, station_id = ? WHERE code_id = ?", [at, station_id, code_id]
        )

    def devices_given(self, village_code: str) -> set[str]:
        """Every device letter ever issued for a village (in a code or to a station)."""
        rows = self.db.execute(
            "SELECT device FROM enrollments WHERE village_code = ? UNION SELECT device FROM stations WHERE village_code = ?",
            [village_code, village_code],
        )
        return {device for (device,) in rows.fetchall()}

    def devices_busy(self, village_code: str, now_iso: str) -> set[str]:
        """Letters held now: by an enrolled station not revoked, or by an open, unexpired code."""
        rows = self.db.execute(
            "SELECT device FROM stations WHERE village_code = ? AND revoked_at IS NULL "
            "UNION SELECT device FROM enrollments WHERE village_code = ? AND used_at IS NULL AND expires_at > ?",
            [village_code, village_code, now_iso],
        )
        return {device for (device,) in rows.fetchall()}

    def open_enrolments(self, now_iso: str) -> list[EnrolmentRow]:
        """Codes issued, not used, not expired."""
        return _rows(
            EnrolmentRow,
            self.db.execute(
                "SELECT * FROM enrollments WHERE used_at IS NULL AND expires_at > ? ORDER BY created_at", [now_iso]
            ),
        )

    # -- stations and keys -----------------------------------------------------------------------

    def next_serial(self, village_code: str, device: str) -> int:
        """The enrolment serial the next station of this village and device letter gets."""
        row = self.db.execute(
            "SELECT COALESCE(MAX(serial), 0) + 1 FROM stations WHERE village_code = ? AND device = ?",
            [village_code, device],
        ).fetchone()
        return int(row[0])

    def add_station(self, station: StationRow, key: KeyRow) -> None:
        """Record an enrolled station and its first key."""
        self.db.execute(
            "INSERT INTO stations (station_id, village_code, device, serial, key_id, enrolled_at, software)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                station.station_id,
                station.village_code,
                station.device,
                station.serial,
                station.key_id,
                station.enrolled_at,
                station.software,
            ],
        )
        self.db.execute(
            "INSERT INTO station_keys (key_id, station_id, sign_public, box_public, created_at) VALUES (?, ?, ?, ?, ?)",
            [key.key_id, key.station_id, key.sign_public, key.box_public, key.created_at],
        )

    def station(self, station_id: str) -> StationRow | None:
        """The station with this id, or None."""
        return _row(StationRow, self.db.execute("SELECT * FROM stations WHERE station_id = ?", [station_id]))

    def stations(self, *, village_code: str | None = None, enrolled_only: bool = False) -> list[StationRow]:
        """Stations in enrolment order, optionally of one village, optionally only those not revoked."""
        sql, params = "SELECT * FROM stations WHERE 1 = 1", []
        if village_code is not None:
            sql += " AND village_code = ?"
            params.append(village_code)
        if enrolled_only:
            sql += " AND revoked_at IS NULL"
        return _rows(StationRow, self.db.execute(sql + " ORDER BY village_code, device, serial", params))

    def station_and_village(self, station_id: str, village_code: str) -> tuple[StationRow | None, list[StationRow]]:
        """The station's row, and the stations of ``village_code`` not revoked (as :meth:`stations` lists them),
        in one statement (a set's apply reads both under the station's lock)."""
        rows = _rows(
            StationRow,
            self.db.execute(
                "SELECT * FROM stations WHERE station_id = ? OR (village_code = ? AND revoked_at IS NULL)"
                " ORDER BY village_code, device, serial",
                [station_id, village_code],
            ),
        )
        station = next((row for row in rows if row.station_id == station_id), None)
        return station, [row for row in rows if row.village_code == village_code and row.revoked_at is None]

    def key(self, key_id: str) -> KeyRow | None:
        """The station key with this key id (current or revoked), or None."""
        return _row(KeyRow, self.db.execute("SELECT * FROM station_keys WHERE key_id = ?", [key_id]))

    def key_and_station(self, key_id: str) -> tuple[KeyRow | None, StationRow | None]:
        """The station key with this key id and the row of the station it is of, in one statement (a signed
        request names its key first); (None, None) for a key the hub does not know."""
        cursor = self.db.execute(
            "SELECT k.*, s.* FROM station_keys k LEFT JOIN stations s ON s.station_id = k.station_id"
            " WHERE k.key_id = ?",
            [key_id],
        )
        row = cursor.fetchone()
        if row is None:
            return None, None
        names = [d[0] for d in cursor.description]
        split = len(KeyRow.__struct_fields__)  # the key's columns first: the table's, as KeyRow's fields are
        key = KeyRow(**dict(zip(names[:split], row[:split])))
        station = dict(zip(names[split:], row[split:]))
        return key, None if station["station_id"] is None else StationRow(**station)

    def station_key(self, station_id: str) -> KeyRow | None:
        """The station's current key."""
        return _row(
            KeyRow,
            self.db.execute(
                "SELECT k.* FROM station_keys k JOIN stations s ON s.key_id = k.key_id WHERE s.station_id = ?",
                [station_id],
            ),
        )

    def revoke_station(self, station_id: str, *, reason: str | None, at: str) -> int:
        """Revoke the station and its current key; returns ``after_seq`` (its last applied seq)."""
        row = self.db.execute("SELECT applied_seq, key_id FROM stations WHERE station_id = ?", [station_id]).fetchone()
        after_seq, key_id = int(row[0]), row[1]
        self.db.execute(
            "UPDATE stations SET revoked_at = ?, revoke_reason = ? WHERE station_id = ?", [at, reason, station_id]
        )
        self.db.execute(
            "UPDATE station_keys SET revoked_at = ?, after_seq = ?, reason = ? WHERE key_id = ?",
            [at, after_seq, reason, key_id],
        )
        return after_seq

    def set_features(self, station_id: str, features: int) -> None:
        """Record what the station says it reads (a write only when it changed)."""
        self.db.execute(
            "UPDATE stations SET features = ? WHERE station_id = ? AND features != ?", [features, station_id, features]
        )

    def advance_counter(self, station_id: str, counter: int) -> int | None:
        """Take ``counter`` as the station's newest request counter; None if accepted, else the last one seen.

        One conditional UPDATE, so two requests racing with the same counter cannot both pass; it commits by
        itself (:meth:`alone`) unless the caller holds a transaction.
        """
        with self.alone():
            cursor = self.db.execute(
                "UPDATE stations SET last_counter = ? WHERE station_id = ? AND last_counter < ?",
                [counter, station_id, counter],
            )
        if cursor.rowcount == 1:
            return None
        row = self.db.execute("SELECT last_counter FROM stations WHERE station_id = ?", [station_id]).fetchone()
        return int(row[0]) if row else 0

    def set_applied(self, station_id: str, seq: int, set_hash: bytes) -> None:
        """Move the station's chain head: the newest seq applied and its hash."""
        self.db.execute(
            "UPDATE stations SET applied_seq = ?, applied_hash = ? WHERE station_id = ?", [seq, set_hash, station_id]
        )

    def record_contact(self, station_id: str, contact: Contact) -> None:
        """Update the station's contact record and append to its bounded contact log (no personal data)."""
        self.record_contacts(station_id, [contact])

    def record_contacts(self, station_id: str, contacts: Sequence[Contact]) -> None:
        """:meth:`record_contact` for each, in order, whatever their number in two statements on SQLite and one
        on PostgreSQL (an exchange records its push and its pull: each statement is a round trip there), and a
        third when the log is cut back (one contact in :data:`CONTACTS_TRIM_EVERY`). Inside a transaction, or
        on its own: :meth:`alone` (the statements after the first only trim the log)."""
        if not contacts:
            return
        fields: dict[str, Any] = {}
        for contact in contacts:  # a later contact's value stands, as if each had updated the row in turn
            fields["last_contact"] = contact.at
            for name in ("head_seq", "outbox_length", "clock_offset_ms", "software"):
                value = getattr(contact, name)
                if value is not None:
                    fields[name] = value
            if contact.feed_after is not None:
                fields["feed_acked"] = contact.feed_after
            if contact.ok and contact.kind in ("push", "import"):
                fields["last_push"] = contact.at
            if contact.ok and contact.kind in ("pull", "export"):
                fields["last_pull"] = contact.at
            if not contact.ok:
                fields["last_error"] = contact.code
                fields["last_error_at"] = contact.at
        assignments = ", ".join(f"{name} = ?" for name in fields)
        update = f"UPDATE stations SET {assignments} WHERE station_id = ?"
        updated = [*fields.values(), station_id]
        # One row each, in the order given: the log's ids (newest first in contacts()) follow it on both engines.
        insert = (
            "INSERT INTO contacts (station_id, at, kind, ok, code, sets, head_seq, outbox_length, clock_offset_ms,"
            " software) VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(contacts)) + " RETURNING id"
        )
        inserted = [
            value
            for contact in contacts
            for value in (
                station_id,
                contact.at,
                contact.kind,
                int(contact.ok),
                contact.code,
                contact.sets,
                contact.head_seq,
                contact.outbox_length,
                contact.clock_offset_ms,
                contact.software,
            )
        ]
        if self.dialect == "postgresql":  # one statement: atomic by itself, and one round trip
            added = self.db.execute(f"WITH recorded AS ({update}) {insert}", [*updated, *inserted]).fetchall()
        else:
            self.db.execute(update, updated)
            added = self.db.execute(insert, inserted).fetchall()
        if any(int(row[0]) % CONTACTS_TRIM_EVERY == 0 for row in added):
            self.db.execute(
                "DELETE FROM contacts WHERE station_id = ? AND id <= "
                "(SELECT id FROM contacts WHERE station_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                [station_id, station_id, CONTACTS_KEPT],
            )

    def contacts(self, station_id: str) -> list[Contact]:
        """The station's recent contacts, newest first."""
        cursor = self.db.execute(
            "SELECT at, kind, ok, code, sets, head_seq, outbox_length, clock_offset_ms, software FROM contacts "
            "WHERE station_id = ? ORDER BY id DESC LIMIT ?",
            [station_id, CONTACTS_KEPT],
        )
        columns = [d[0] for d in cursor.description]
        return [Contact(**{**dict(zip(columns, row)), "ok": bool(row[2])}) for row in cursor.fetchall()]
