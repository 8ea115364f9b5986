"""Replica snapshots read straight from SQLite (station or hub), compared case by case, with integrity checks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlcipher3 import dbapi2 as sqlcipher

from station.store import datakey
from station.store.db import is_plain

__all__ = ("CASE_FIELDS", "diff", "integrity", "readonly", "sets_contiguous", "snapshot")

CASE_FIELDS = (
    "status",
    "outcome",
    "accepted_date",
    "applicant_name",
    "phone",
    "id_number",
    "item_code",
    "received_date",
    "intake_id",
)
"""What every replica must agree on for a case, beside its materials, commitments and status history."""


@contextlib.contextmanager
def readonly(path: Path) -> Iterator[Any]:
    """A read-only connection (a live hub or station may hold the file open: WAL lets us read).

    A station's database is encrypted: it is read with the data key this process unlocked for
    its folder (the fleet and the tests enrol their stations in this process).
    """
    key = None if is_plain(path) else datakey.held_key(Path(path).parent)
    conn = sqlcipher.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    if key is not None:
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    try:
        yield conn
    finally:
        conn.close()


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of a database file: "ok" or SQLite's complaint."""
    with readonly(path) as conn:
        return "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))


def snapshot(path: Path, village: str | None = None) -> dict[str, dict[str, Any]]:
    """case_no → its agreed fields, materials {name: state}, commitments {material: status}, event ids."""
    with readonly(path) as conn:
        where, params = ("WHERE c.village_code = ?", [village]) if village else ("", [])
        rows = conn.execute(
            f"SELECT c.case_no, {', '.join('c.' + f for f in CASE_FIELDS)} FROM cases c {where}", params
        ).fetchall()
        cases = {r[0]: dict(zip(CASE_FIELDS, r[1:])) for r in rows}
        for case in cases.values():
            case.update(materials={}, commitments={}, events=set())
        by_intake: dict[str, list[dict[str, Any]]] = {}
        for case in cases.values():
            by_intake.setdefault(case["intake_id"], []).append(case)
        for intake_id, name, state in conn.execute("SELECT intake_id, name_zh, state FROM intake_materials"):
            for case in by_intake.get(intake_id, ()):
                case["materials"][name] = state
        for intake_id, material, status in conn.execute("SELECT intake_id, material, status FROM commitments"):
            for case in by_intake.get(intake_id, ()):
                case["commitments"][material] = status
        for case_no, event_id in conn.execute("SELECT case_no, event_id FROM case_events"):
            if case_no in cases:
                cases[case_no]["events"].add(event_id)
    return cases


def diff(station: dict[str, dict[str, Any]], hub: dict[str, dict[str, Any]], limit: int = 5) -> list[str]:
    """Where a station's replica and the hub's differ: missing cases on either side, then field by field."""
    problems = [f"only at the station: {c}" for c in sorted(set(station) - set(hub))[:limit]]
    problems += [f"only at the hub: {c}" for c in sorted(set(hub) - set(station))[:limit]]
    for case_no in sorted(set(station) & set(hub)):
        mine, theirs = station[case_no], hub[case_no]
        for key in mine:
            if mine[key] != theirs[key]:
                problems.append(f"{case_no} {key}: station {mine[key]!r} != hub {theirs[key]!r}")
        if len(problems) > 3 * limit:
            break
    return problems


def sets_contiguous(hub_db: Path, origin: str) -> list[int]:
    """The seqs the hub holds for an origin; raises AssertionError when they are not 1..n (each once)."""
    with readonly(hub_db) as conn:
        held = [r[0] for r in conn.execute("SELECT seq FROM sets_in WHERE origin = ? ORDER BY seq", [origin])]
    assert held == list(range(1, len(held) + 1)), f"{origin}: hub holds seqs {held}"
    return held
