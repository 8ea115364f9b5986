"""The county at a glance: every village's stations as cells grouped by township, for the dashboard's picture.

Colour is the dashboard's own status of the row (``state``, hub.dashboard's classification); the
symbol says why, so the picture reads without colour: ✓ fine, ! a flag needs attention, … no recent
contact, ○ never contacted, × a fork, a station behind the hub or a failed last contact, ⊘ revoked,
· no station. Only station ids, village names and codes: administrators never see personal data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hub.dashboard import STATES

__all__ = ("CELL", "COLUMNS", "KINDS", "STATE_COLOURS", "cell_kind", "county_grid")

KINDS: dict[str, tuple[str, str, str]] = {
    "fault": ("×", "分叉、落后或出错", "fork, behind or failed"),
    "never": ("○", "从未联系", "never contacted"),
    "stale": ("…", "久未联系", "no recent contact"),
    "attention": ("!", "需关注", "needs attention"),
    "ok": ("✓", "正常", "ok"),
    "revoked": ("⊘", "已吊销", "revoked"),
    "none": ("·", "未注册", "not enrolled"),
}
"""A cell's kind, worst first: (symbol, Chinese label, English label)."""

STATE_COLOURS: dict[str, tuple[str, str]] = {
    "danger": ("#d9534f", "#ffffff"),
    "warning": ("#f2c744", "#3d2e00"),
    "never": ("#f5b971", "#4d2b00"),
    "ok": ("#8fcc8a", "#143d14"),
    "revoked": ("#c8c8c8", "#333333"),
    "not_enrolled": ("#ffffff", "#999999"),
}
"""(fill, symbol) colour of each dashboard status, drawn as SVG attributes: the pages'
Content-Security-Policy allows no style but base.html.j2's one style sheet."""

COLUMNS = 10
"""Cells per line in a township's block (the largest township has about 30 villages: three lines)."""
CELL = 18
"""A cell's pitch in px (a 16 px square and a 2 px gap): a finger- and mouse-sized link target."""
LABEL = 16
"""Room above a township's cells for its name."""

_FAULTS = frozenset({"fork", "behind", "error"})


def _colours(state: str) -> tuple[str, str]:
    return STATE_COLOURS.get(state, ("#dddddd", "#222222"))  # a status added later: grey, never a 500


def cell_kind(row: dict[str, Any]) -> str:
    """Why a row has its colour, as one of KINDS (the first that applies, worst first)."""
    if row["state"] == "not_enrolled":
        return "none"
    if row["state"] == "revoked":
        return "revoked"
    attention = set(row["attention"])
    if attention & _FAULTS:
        return "fault"
    # The contact state alone when the dashboard gives it; before, ``state`` was only that.
    if row.get("contact_state", row["state"]) == "never" or "never" in attention:
        return "never"
    if "stale" in attention:
        return "stale"
    if attention:
        return "attention"
    return "ok"


def county_grid(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The picture's data from hub.dashboard.station_rows (division order): townships, cells, counts.

    Each cell has its position in its township's block, so the template only draws.
    """
    townships: dict[str, dict[str, Any]] = {}
    kinds = dict.fromkeys(KINDS, 0)
    states = dict.fromkeys(STATES, 0)
    for row in rows:
        block = townships.setdefault(
            row["township_code"], {"code": row["township_code"], "name": row["township_name"], "cells": []}
        )
        kind = cell_kind(row)
        index = len(block["cells"])
        kinds[kind] += 1
        states[row["state"]] += 1
        block["cells"].append(
            {
                "station_id": row["station_id"],
                "village_code": row["village_code"],
                "village_name": row["village_name"],
                "state": row["state"],
                "fill": _colours(row["state"])[0],
                "ink": _colours(row["state"])[1],
                "kind": kind,
                "symbol": KINDS[kind][0],
                "attention": list(row["attention"]),
                "href": f"/dashboard/stations/{row['station_id']}" if row["station_id"] else None,
                "x": index % COLUMNS * CELL,
                "y": LABEL + index // COLUMNS * CELL,
            }
        )
    # Each block is an inline <svg>, so the blocks wrap like words at any page width: all as tall as
    # the largest (inline boxes line up at their foot), a gap of a cell on the right, and room for the
    # name (CJK: about 13 px a character at 12 px).
    lines = max((-(-len(block["cells"]) // COLUMNS) for block in townships.values()), default=1)
    for block in townships.values():
        block["width"] = max(min(len(block["cells"]), COLUMNS) * CELL, len(block["name"]) * 13) + CELL
        block["height"] = LABEL + lines * CELL + 6
    return {
        "townships": list(townships.values()),
        "kinds": [
            {"kind": kind, "symbol": symbol, "zh": zh, "en": en, "count": kinds[kind]}
            for kind, (symbol, zh, en) in KINDS.items()
        ],
        "states": [{"state": state, "count": n, "fill": _colours(state)[0]} for state, n in states.items()],
        "cell": CELL,
    }
