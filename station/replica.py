"""Writing other origins' row changes into the station's tables with the shared merge rules, losers kept."""

from __future__ import annotations

import json
from typing import Any

from station.deadlines import compute_due, refresh_commitment_due
from station.store import Station
from sync.changes import RowChange
from sync.merge import Rejection, Versions, decide_row, decode_versions, encode_versions, version_of
from sync.tables import BY_NAME
from sync.timeutil import iso_utc

__all__ = ("apply_row_change", "record_conflict", "refresh_local", "write_hub_values")


def _known(table: str, fields: dict[str, Any]) -> dict[str, Any]:
    # Only the replicated columns of this release are written (allow-list, as at the hub): fields a
    # newer hub knows and this release does not are ignored (schema evolution), and derived local
    # columns and field versions are never taken from another replica.
    replicated = BY_NAME[table].replicated
    return {k: v for k, v in fields.items() if k in replicated}


def _row(station: Station, table: str, pk: str) -> dict[str, Any] | None:
    cursor = station.db.execute(f"SELECT * FROM {table} WHERE {BY_NAME[table].pk} = ?", [pk])
    row = cursor.fetchone()
    return None if row is None else dict(zip([d[0] for d in cursor.description], row))


def record_conflict(
    station: Station,
    table: str,
    pk: str,
    field: str,
    *,
    kept: Any,
    kept_version: tuple[int, str],
    lost: Any,
    lost_version: tuple[int, str],
) -> None:
    """Keep a value that lost a merge, with the one that won (architecture invariant 7: nothing lost)."""
    station.db.execute(
        "INSERT INTO conflicts (tbl, pk, field, kept, kept_hlc, kept_origin, lost, lost_hlc, lost_origin, detected_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            table,
            pk,
            field,
            json.dumps(kept, ensure_ascii=False),
            kept_version[0],
            kept_version[1],
            json.dumps(lost, ensure_ascii=False),
            lost_version[0],
            lost_version[1],
            iso_utc(station.now()),
        ],
    )


def apply_row_change(station: Station, change: RowChange, origin: str) -> Rejection | None:
    """Merge another origin's row change (call inside the feed's write transaction).

    Returns the Rejection when the merge refuses the change (the caller records it; the hub
    already applied the same rules, so it means the replicas had drifted).
    """
    if change.table not in BY_NAME:
        return Rejection("unknown_table", f"no replicated table {change.table!r}", f"没有可同步的表 {change.table!r}")
    current = _row(station, change.table, change.pk)
    versions = decode_versions(current["versions"]) if current else None
    decision = decide_row(versions if current else None, change, origin)
    if isinstance(decision, Rejection):
        return decision
    incoming = (change.hlc, origin)
    for field, value in decision.lost.items():
        held = version_of(versions or {}, field) or (0, "")
        record_conflict(
            station,
            change.table,
            change.pk,
            field,
            kept=current.get(field) if current else None,
            kept_version=held,
            lost=value,
            lost_version=incoming,
        )
    if decision.duplicate or not decision.write:
        return None
    write = _known(change.table, decision.write)
    if current is None:
        _insert(station, change.table, write, decision.versions)
    else:
        for field, value in write.items():
            overwritten = version_of(versions or {}, field)
            # The value written over lost too: keep it when it came from another origin (two
            # PCs, or this one and the county, edited the same field without seeing each other).
            if overwritten is not None and overwritten[1] != origin and current.get(field) != value:
                record_conflict(
                    station,
                    change.table,
                    change.pk,
                    field,
                    kept=value,
                    kept_version=incoming,
                    lost=current.get(field),
                    lost_version=overwritten,
                )
        _update(station, change.table, change.pk, write, decision.versions)
    refresh_local(station, change.table, change.pk)
    return None


def write_hub_values(station: Station, table: str, pk: str, values: dict[str, Any]) -> bool:
    """Take the hub's values for fields a rejected change of ours tried to write (RejectedItem.current).

    Our versions of those fields are dropped (back to the row's insert version), since the
    change that set them never took effect at the hub. Returns False when there is no such row.
    """
    if table not in BY_NAME:
        return False
    current = _row(station, table, pk)
    if current is None:
        return False
    definition = BY_NAME[table]
    write = {k: v for k, v in _known(table, values).items() if k != definition.pk}
    versions = decode_versions(current["versions"])
    for field in write:
        versions.pop(field, None)
    if write:
        _update(station, table, pk, write, versions)
        refresh_local(station, table, pk)
    return True


def _insert(station: Station, table: str, fields: dict[str, Any], versions: Versions) -> None:
    row = {**fields, "versions": encode_versions(versions)}
    if table == "cases":
        # NOT NULL local columns; filled properly by refresh_local right after.
        row.update(id_hash="", updated_at=iso_utc(station.now()))
    elif table == "commitments":
        row.setdefault("due_date", "")
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    station.db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values()))


def _update(station: Station, table: str, pk: str, fields: dict[str, Any], versions: Versions) -> None:
    assignments = ", ".join(f"{column} = ?" for column in fields)
    station.db.execute(
        f"UPDATE {table} SET {assignments}{', ' if fields else ''}versions = ? WHERE {BY_NAME[table].pk} = ?",
        [*fields.values(), encode_versions(versions), pk],
    )


def refresh_local(station: Station, table: str, pk: str) -> None:
    """Recompute the derived local columns of a row another replica changed."""
    if table == "cases":
        case = _row(station, "cases", pk)
        assert case is not None
        due = compute_due(station, case)
        station.db.execute(
            "UPDATE cases SET id_hash = ?, due_date = ?, due_provisional = ?, updated_at = ? WHERE case_no = ?",
            [
                station.id_hash(case["id_number"]),
                due.date.isoformat() if due else None,
                int(bool(due and due.provisional)),
                iso_utc(station.now()),
                pk,
            ],
        )
    elif table == "commitments":
        refresh_commitment_due(station, pk)
