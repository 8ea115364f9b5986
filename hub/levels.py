"""The level holding a case at the hub (sync.levels over the case's catalogue version and history)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.store import HubStoreProtocol
from sync.errors import IllegalTransition, ProxyAppError
from sync.levels import TOWNSHIP_LEVELS, Level, holding_level, level_label

__all__ = ("approver_level", "case_level", "levels_of", "refuse_unless_county", "township_items")


def approver_level(store: HubStoreProtocol, case: dict[str, Any]) -> str:
    """The ``approver_level`` of the case's item in the catalogue version it was received under."""
    try:
        return store.catalog(case["catalog_version"]).item(case["item_code"]).approver_level
    except ProxyAppError:
        return "county"


def case_level(store: HubStoreProtocol, case: dict[str, Any]) -> Level | None:
    """Who holds the case now (None once it is closed)."""
    return holding_level(case["status"], approver_level(store, case), store.case_events(case["case_no"]))


def levels_of(store: HubStoreProtocol, rows: Sequence[dict[str, Any]]) -> dict[str, Level | None]:
    """The level of each listed case, with one query for the forwards among them."""
    levels = {row["case_no"]: approver_level(store, row) for row in rows}
    forwarded = store.forwarded_cases([no for no, level in levels.items() if level == "township_or_county"])
    forward = [{"actor": "township", "from_status": "IN_PROGRESS", "to_status": "IN_PROGRESS"}]
    return {
        row["case_no"]: holding_level(
            row["status"], levels[row["case_no"]], forward if row["case_no"] in forwarded else ()
        )
        for row in rows
    }


def township_items(store: HubStoreProtocol) -> list[str]:
    """Item codes a township reviews (``township`` or ``township_or_county``), in every catalogue version.

    Cases keep the version they were received under, so an item once delegated stays on the desk.
    """
    codes: set[str] = set()
    latest = store.catalog()
    for version in {latest.version, *range(1, latest.version)}:
        try:
            catalog = store.catalog(version)
        except ProxyAppError:
            continue
        codes.update(item.code for item in catalog.items if item.approver_level in TOWNSHIP_LEVELS)
    return sorted(codes)


def refuse_unless_county(store: HubStoreProtocol, case: dict[str, Any]) -> None:
    """A county department decides only cases at the county level (not a township's, nor one in initial review).

    Raises:
        IllegalTransition: the case is held by a township.
    """
    level = case_level(store, case)
    if level in (Level.TOWNSHIP, Level.TOWNSHIP_INITIAL):
        raise IllegalTransition(
            zh=f"办件 {case['case_no']} {level_label(level)}，由乡镇办理；乡镇转报后县级部门方可办理",
            en=f"case {case['case_no']} is with the township ({level_label(level, 'en')}); the county "
            "department decides once the township forwards it",
            from_status=case["status"],
            to_status=case["status"],
            actor="department",
        )
