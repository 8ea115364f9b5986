"""The county's side of a simulated day: departments deciding the cases that reached the hub."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable

from hub.decisions import decide
from hub.levels import case_level
from hub.store import HubStore
from sync.errors import ProxyAppError
from sync.levels import Level
from sync.lifecycle import Status

TOWNSHIP_HELD = (Level.TOWNSHIP, Level.TOWNSHIP_INITIAL)

__all__ = ("PLAN", "decide_day")

# For each status: (chance, alias) in order; the first draw that hits is the decision, none means
# "not today". Roughly a county where most applications are accepted and done within two weeks.
PLAN: dict[str, tuple[tuple[float, str], ...]] = {
    "RECEIVED": ((0.08, "correct"), (0.04, "refuse"), (0.55, "accept")),
    "ACCEPTED": ((0.03, "correct"), (0.20, "review"), (0.35, "complete")),
    "IN_PROGRESS": ((0.02, "suspend"), (0.40, "complete")),
    "SUSPENDED": ((0.50, "resume"),),
}


def _pick(rng: random.Random, choices: tuple[tuple[float, str], ...]) -> str | None:
    draw = rng.random()
    for chance, alias in choices:
        if draw < chance:
            return alias
        draw -= chance
    return None


def decide_day(store: HubStore, rng: random.Random, now: Callable[[], dt.datetime], decided: Counter[str]) -> None:
    """One working day of the county's departments on every open case the hub holds (seeded, in case order)."""
    catalog = store.catalog()
    for status, choices in PLAN.items():
        rows = store.list_cases(status=status, limit=10**7)
        for row in sorted(rows, key=lambda r: r["case_no"]):
            alias = _pick(rng, choices)
            if alias is None:
                continue
            kwargs: dict[str, object] = {}
            if alias == "complete":
                kwargs["outcome"] = "approved" if rng.random() < 0.85 else "denied"
            elif alias == "refuse":
                kwargs["reason"] = "不符合申请条件"
            elif alias == "correct":
                materials = [m.name_zh for m in catalog.item(row["item_code"]).materials]
                kwargs["missing"] = [rng.choice(materials)]
            # Township review (issue 16): the level holding the case decides; a township ends its
            # initial review of a county item by forwarding it with its opinion, never by completing it.
            level = case_level(store, row)
            actor, by = ("township", "乡镇便民服务中心") if level in TOWNSHIP_HELD else ("department", "县直部门")
            if level is Level.TOWNSHIP_INITIAL and alias == "complete":
                if status == "IN_PROGRESS":
                    alias, kwargs = "forward", {"reason": "经入户调查，情况属实，同意上报"}
                else:
                    alias, kwargs = "review", {}
            try:
                if alias == "forward":
                    decide(store, row["case_no"], Status.IN_PROGRESS, actor=actor, by=by, now=now, **kwargs)  # type: ignore[arg-type]
                else:
                    decide(store, row["case_no"], alias, actor=actor, by=by, now=now, **kwargs)  # type: ignore[arg-type]
                decided[alias if actor == "department" else f"township:{alias}"] += 1
            except ProxyAppError as exc:  # a move the lifecycle no longer allows (the station moved first)
                decided[f"refused:{getattr(exc, 'code', None) or type(exc).__name__}"] += 1
