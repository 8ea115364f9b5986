"""Parallel review's opinions as stations see them (sync.protocol.opinions): departments, kinds and times."""

from __future__ import annotations

from hub.departments import departments
from hub.store import HubStoreProtocol
from sync.protocol.opinions import JointOpinion

__all__ = ("REVIEWED_STATUSES", "joint_opinions_down")

REVIEWED_STATUSES = frozenset({"ACCEPTED", "IN_PROGRESS"})
"""The states a case is in while departments give their opinions: a new PC's history asks only those cases
for them (one query each), not every closed case of the village."""


def joint_opinions_down(store: HubStoreProtocol, case_no: str) -> list[JointOpinion]:
    """The case's parallel-review requests as stations see them: department, opinion, times. Who asked and
    who answered (staff names) and the reasons stay at the hub."""
    rows = store.joint_opinions(case_no)
    if not rows:  # most cases: no catalogue read for them
        return []
    names = {d.key: d for d in departments(store.catalog())}
    result = []
    for row in rows:
        known = names.get(row["department"])
        result.append(
            JointOpinion(
                department=row["department"],
                name_zh=known.name_zh if known else row["department"],
                name_en=known.name_en if known else row["department"],
                opinion=row["opinion"],
                requested_at=row["requested_at"],
                due_date=row["due_date"],
                answered_at=row["answered_at"],
            )
        )
    return result
