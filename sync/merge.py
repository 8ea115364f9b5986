"""The merge rules both replicas apply: last writer wins per field by HLC, status only by the lifecycle.

Pure decisions: given what a replica holds and an incoming change, say what to write, what
loses (kept in a conflicts table) and what must be rejected. Station and hub each store the
outcome in their own database; because both decide with these functions, replicas holding
the same changes hold the same rows (architecture invariant 7).
"""

from __future__ import annotations

from typing import Any

import msgspec

from sync.changes import RowChange, StatusChange
from sync.i18n import label
from sync.lifecycle import TRANSITIONS, Actor, Status

__all__ = (
    "CASE_INSERT_STATE",
    "STATUS_FIELDS",
    "Rejection",
    "RowDecision",
    "Version",
    "Versions",
    "decide_row",
    "decide_status",
    "decode_versions",
    "encode_versions",
    "version_of",
)

Version = tuple[int, str]
"""(hlc, origin): compared as a tuple, so equal clocks are broken by origin id."""

Versions = dict[str, Version]
"""Field → version; the key ``"*"`` is the version of every field not listed (the insert's)."""

STATUS_FIELDS = frozenset({"status", "outcome", "accepted_date"})
"""Fields that change only through lifecycle moves, never by a row change."""

CASE_INSERT_STATE = {"status": "DRAFT", "outcome": None, "accepted_date": None}
"""A case is created as a draft; its first lifecycle move (DRAFT → RECEIVED) follows it."""


class Rejection(msgspec.Struct, frozen=True):
    """Why a change was kept but not applied; ``code`` is listed in docs/protocol.md."""

    code: str
    en: str
    zh: str


class RowDecision(msgspec.Struct, frozen=True, kw_only=True):
    write: dict[str, Any]
    """Fields to write, with their values."""
    versions: Versions
    """The row's versions after the write."""
    lost: dict[str, Any]
    """Incoming values that lost to a newer one already held (record them as conflicts)."""
    duplicate: bool = False
    """The change was already applied here (same versions): nothing to do."""


def version_of(versions: Versions, field: str) -> Version | None:
    return versions.get(field, versions.get("*"))


def encode_versions(versions: Versions) -> str:
    return msgspec.json.encode(versions).decode()


def decode_versions(text: str | None) -> Versions:
    if not text:
        return {}
    return {field: (int(v[0]), str(v[1])) for field, v in msgspec.json.decode(text).items()}


def decide_row(current: Versions | None, change: RowChange, origin: str) -> RowDecision | Rejection:
    """Merge a row change into a row whose field versions are ``current`` (None: no such row).

    Insert of a new row: every field, versioned ``"*"``. Insert of a row held with another
    version: a duplicate key from another origin (rejected). Update of a missing row: rejected
    (an origin's insert always precedes its updates, and the hub forwards in its own order).
    Update: each field is written when its incoming version is newer than the one held.
    """
    incoming: Version = (change.hlc, origin)
    if (
        change.table == "cases"
        and change.insert
        and any(change.fields.get(field) != value for field, value in CASE_INSERT_STATE.items())
    ):
        return Rejection(
            "status_by_row",
            f"case {change.pk} must be created as a DRAFT; status moves are status changes",
            f"办件 {change.pk} 必须以暂存状态创建；状态只能通过办理环节变更",
        )
    if current is None:
        if not change.insert:
            return Rejection(
                "row_missing",
                f"{change.table} {change.pk} does not exist here",
                f"{label('table', change.table)}中不存在 {change.pk}",
            )
        return RowDecision(write=dict(change.fields), versions={"*": incoming}, lost={})
    if change.insert:
        if current.get("*") == incoming:
            return RowDecision(write={}, versions=current, lost={}, duplicate=True)
        return Rejection(
            "duplicate_row",
            f"{change.table} {change.pk} already exists from another origin; the number was used twice",
            f"{label('table', change.table)}中 {change.pk} 已由其他来源创建，编号重复",
        )
    touched = set(change.fields) & STATUS_FIELDS if change.table == "cases" else set()
    if touched:
        return Rejection(
            "status_by_row",
            f"{', '.join(sorted(touched))} change only through lifecycle moves",
            f"{'、'.join(sorted(touched))} 只能通过办理环节变更",
        )
    write: dict[str, Any] = {}
    lost: dict[str, Any] = {}
    versions = dict(current)
    for field, value in change.fields.items():
        held = version_of(current, field)
        if held is None or incoming > held:
            write[field] = value
            versions[field] = incoming
        elif incoming < held:
            lost[field] = value
    duplicate = not write and not lost
    return RowDecision(write=write, versions=versions, lost=lost, duplicate=duplicate)


def decide_status(current_status: str, change: StatusChange, *, origin_actors: frozenset[Actor]) -> Rejection | None:
    """None when the move may be applied to a case now in ``current_status``; else why not.

    ``origin_actors`` are the actors the sending origin may speak for: a station speaks only as
    the station, so a station cannot smuggle in a department's decision.
    """
    try:
        actor = Actor(change.actor)
        target = Status(change.to_status)
        current = Status(current_status)
    except ValueError:
        return Rejection(
            "bad_status", f"unknown status or actor in move {change.event_id}", "办理环节中的状态或角色未知"
        )
    if actor not in origin_actors:
        return Rejection(
            "actor_not_allowed",
            f"this origin may not act as {actor.value}",
            f"该来源无权以“{actor.value}”身份办理",
        )
    allowed = TRANSITIONS.get((current, target))
    if allowed is None or actor not in allowed:
        return Rejection(
            "illegal_transition",
            f"the case is {current.value} at the county; it cannot go to {target.value} by {actor.value}",
            f"县平台上该办件状态为 {current.value}，不能由 {actor.value} 变更为 {target.value}",
        )
    return None
