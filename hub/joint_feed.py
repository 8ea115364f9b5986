"""Parallel review's opinions down the feed: each station of the case's village learns which departments were
asked and what each said (or that its silence was deemed consent), with the case's state."""

from __future__ import annotations

from typing import Any

import msgspec

from hub.deadlines import case_state
from hub.feed import queue
from hub.opinions import joint_opinions_down
from hub.store import HubStoreProtocol

__all__ = ("queue_opinions",)


def queue_opinions(store: HubStoreProtocol, case_no: str, *, at: str) -> None:
    """Queue the case's state with its opinions to every enrolled station of its village (call inside the
    transaction that recorded the request, the answer or the deemed consent).

    A state with the same status re-applies nothing at the station beyond its own later moves (its
    ``through_seq`` is the station's own last applied set, as for a decision)."""
    case: dict[str, Any] | None = store.row("cases", case_no)
    if case is None:
        return
    opinions = joint_opinions_down(store, case_no)
    for station in store.stations(village_code=case["village_code"], enrolled_only=True):
        item = msgspec.structs.replace(case_state(case, station.applied_seq), opinions=opinions)
        queue(store, [station.station_id], item, at=at)
