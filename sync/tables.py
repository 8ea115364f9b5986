"""The replicated tables, defined once: name, primary key, the columns a change carries, the columns each side derives."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import msgspec

from sync.ratings import FEATURE_RATINGS
from sync.scans import FEATURE_SCANS

__all__ = ("BY_NAME", "TABLES", "TABLE_NAMES", "VERSIONS", "ReplicatedTable")

VERSIONS = "versions"
"""The column of every replicated table, at both sides, holding its field versions (sync.merge):
the merge's bookkeeping, local, never sent."""


class ReplicatedTable(msgspec.Struct, frozen=True, kw_only=True):
    """One replicated table: its primary key, the columns a RowChange may carry, the columns each side derives."""

    name: str
    pk: str
    """The one TEXT primary-key column, so a change names its row simply."""
    replicated: frozenset[str]
    """Columns a RowChange may carry (the key included). Column names in SQL come only from here,
    never from the wire; a change naming any other column is refused (hub) or ignored (station)."""
    derived: frozenset[str] = frozenset()
    """Columns each replica derives itself: the lookup hash depends on the key in force, due dates
    on the calendar each side holds (the hub computes the binding one). Never sent, never accepted."""
    hub_derived: frozenset[str] = frozenset()
    """Columns only the hub has, derived there (for the county figures)."""
    feature: int = 0
    """The protocol feature (sync.protocol ``FEATURE_*``) a peer must have said before rows of this
    table are sent to it: a station holds them unsealed until its hub has said it, the hub sends them
    down only to a station that has (0: every release within the support window reads the table)."""

    @property
    def station_local(self) -> frozenset[str]:
        """The station's columns of this table that are not replicated."""
        return self.derived | {VERSIONS}

    @property
    def hub_local(self) -> frozenset[str]:
        """The hub's columns of this table that are not replicated."""
        return self.derived | self.hub_derived | {VERSIONS}


TABLES: tuple[ReplicatedTable, ...] = (
    ReplicatedTable(
        name="intakes",
        pk="intake_id",
        replicated=frozenset(
            {
                "intake_id",
                "bundle_code",
                "village_code",
                "received_at",
                "received_date",
                "agent",
                "catalog_version",
            }
        ),
    ),
    ReplicatedTable(
        name="intake_materials",
        pk="material_id",
        replicated=frozenset({"material_id", "intake_id", "name_zh", "state", "updated_at"}),
    ),
    ReplicatedTable(
        name="commitments",
        pk="commitment_id",
        replicated=frozenset(
            {
                "commitment_id",
                "intake_id",
                "material",
                "signer_name",
                "signed_at",
                "due_days",
                "status",
                "closed_at",
            }
        ),
        derived=frozenset({"due_date", "due_provisional"}),
    ),
    ReplicatedTable(
        name="cases",
        pk="case_no",
        replicated=frozenset(
            {
                "case_no",
                "intake_id",
                "item_code",
                "bundle_code",
                "stage",
                "status",
                "outcome",
                "applicant_name",
                "id_number",
                "phone",
                "sex",
                "birth_date",
                "village_code",
                "received_at",
                "received_date",
                "accepted_date",
                "catalog_version",
            }
        ),
        derived=frozenset({"id_hash", "due_date", "due_provisional", "updated_at"}),
        hub_derived=frozenset({"decision_days"}),
    ),
    ReplicatedTable(
        name="case_notes",
        pk="note_id",
        replicated=frozenset({"note_id", "case_no", "at", "author", "text"}),
    ),
    # One scanned page of a material of a case (issue 15): the page's bytes travel apart, announced by
    # ``sha256`` (docs/protocol.md, "Scanned pages"). Keyed ``CASE_NO/first 32 hex of sha256``: one page
    # once per case; ``dropped`` and ``page`` (the order within the material) change, the row stays.
    ReplicatedTable(
        name="attachments",
        pk="attachment_id",
        replicated=frozenset(
            {"attachment_id", "case_no", "material", "page", "sha256", "size", "format", "attached_at", "dropped"}
        ),
        feature=FEATURE_SCANS,
    ),
    # A PC's progress-query key (sync.ratings), keyed by its station id: one row per PC, sent once, never
    # changed; every query code of an intake that PC recorded is derived from it (hex, 16 bytes).
    ReplicatedTable(
        name="query_keys",
        pk="key_id",
        replicated=frozenset({"key_id", "query_key", "created_at"}),
        feature=FEATURE_RATINGS,
    ),
    # 好差评: a case's (a stage's) rating, keyed INTAKE/CASE, or a whole bundle's, INTAKE/overall.
    ReplicatedTable(
        name="ratings",
        pk="rating_id",
        replicated=frozenset({"rating_id", "intake_id", "case_no", "level", "comment", "channel", "rated_at", "agent"}),
        feature=FEATURE_RATINGS,
    ),
)
"""Every replicated table, parents before children (the order a village's history is sent in).
Case history is not a replicated table: it travels as StatusChange records."""

TABLE_NAMES: tuple[str, ...] = tuple(table.name for table in TABLES)
"""The names of the replicated tables, in the order of TABLES."""

BY_NAME: Mapping[str, ReplicatedTable] = MappingProxyType({table.name: table for table in TABLES})
"""Each replicated table's definition by its name (read-only); a name not in it is not replicated."""
