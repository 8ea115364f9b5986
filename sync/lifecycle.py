"""The case lifecycle: states, the transitions allowed between them, and who may make each."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from sync.errors import IllegalTransition

__all__ = (
    "CLOCK_PAUSED",
    "DECIDED",
    "TERMINAL",
    "TRANSITIONS",
    "Actor",
    "Status",
    "allowed_targets",
    "bundle_status",
    "check_transition",
    "status_label",
)


class Status(enum.StrEnum):
    """A case's state (brief §6.1). The values are what the store and the wire carry."""

    DRAFT = "DRAFT"
    RECEIVED = "RECEIVED"
    ACCEPTED = "ACCEPTED"
    NOT_ACCEPTED = "NOT_ACCEPTED"
    AWAITING_CORRECTION = "AWAITING_CORRECTION"
    IN_PROGRESS = "IN_PROGRESS"
    SPECIAL_PROCEDURE = "SPECIAL_PROCEDURE"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    DELIVERED = "DELIVERED"
    WITHDRAWN = "WITHDRAWN"


class Actor(enum.StrEnum):
    """Who makes a change: the village station's agent, a township reviewer, a county department."""

    STATION = "station"
    TOWNSHIP = "township"
    DEPARTMENT = "department"


_LABELS: dict[Status, tuple[str, str]] = {
    Status.DRAFT: ("暂存", "draft"),
    Status.RECEIVED: ("已收件", "received"),
    Status.ACCEPTED: ("已受理", "accepted"),
    Status.NOT_ACCEPTED: ("不予受理", "not accepted"),
    Status.AWAITING_CORRECTION: ("待补正", "awaiting correction"),
    Status.IN_PROGRESS: ("办理中", "in progress"),
    Status.SPECIAL_PROCEDURE: ("特别程序", "special procedure"),
    Status.SUSPENDED: ("挂起", "suspended"),
    Status.COMPLETED: ("已办结", "completed"),
    Status.DELIVERED: ("已送达", "delivered"),
    Status.WITHDRAWN: ("已撤回", "withdrawn"),
}

_ACTOR_LABELS: dict[Actor, tuple[str, str]] = {
    Actor.STATION: ("村代办点", "village station"),
    Actor.TOWNSHIP: ("乡镇", "township"),
    Actor.DEPARTMENT: ("县直部门", "county department"),
}

TERMINAL = frozenset({Status.NOT_ACCEPTED, Status.DELIVERED, Status.WITHDRAWN})
"""States no transition leaves."""

CLOCK_PAUSED = frozenset({Status.AWAITING_CORRECTION, Status.SUSPENDED, Status.SPECIAL_PROCEDURE})
"""States whose days do not count towards the due date (brief §6.1, §7.3)."""

DECIDED = frozenset({Status.COMPLETED, Status.DELIVERED, Status.NOT_ACCEPTED})
"""States after which the applicant can no longer withdraw."""

_S, _T, _D = Actor.STATION, Actor.TOWNSHIP, Actor.DEPARTMENT
_REVIEWERS = frozenset({_T, _D})

# Why these: the station owns intake facts (receipt, corrections handed in, delivery, withdrawal
# on request); reviewers (the township, or the county department; a township acts as the deciding
# body for items delegated to it, such as homestead approval) own acceptance and decisions.
# A correction handed in before acceptance sends the case back to RECEIVED (the acceptance date is
# the day the last correction arrived, brief §6.1); one handed in after acceptance resumes the review.
TRANSITIONS: dict[tuple[Status, Status], frozenset[Actor]] = {
    (Status.DRAFT, Status.RECEIVED): frozenset({_S}),
    (Status.RECEIVED, Status.ACCEPTED): _REVIEWERS,
    (Status.RECEIVED, Status.NOT_ACCEPTED): _REVIEWERS,
    (Status.RECEIVED, Status.AWAITING_CORRECTION): _REVIEWERS,
    (Status.ACCEPTED, Status.IN_PROGRESS): _REVIEWERS,
    (Status.ACCEPTED, Status.AWAITING_CORRECTION): _REVIEWERS,
    (Status.ACCEPTED, Status.SPECIAL_PROCEDURE): _REVIEWERS,
    (Status.ACCEPTED, Status.COMPLETED): _REVIEWERS,
    (Status.IN_PROGRESS, Status.AWAITING_CORRECTION): _REVIEWERS,
    (Status.IN_PROGRESS, Status.SPECIAL_PROCEDURE): _REVIEWERS,
    (Status.IN_PROGRESS, Status.SUSPENDED): _REVIEWERS,
    (Status.IN_PROGRESS, Status.COMPLETED): _REVIEWERS,
    # The township's forward of its initial review to the county department (township_or_county
    # items): the state stays, the level holding the case changes (sync.levels.is_forward).
    (Status.IN_PROGRESS, Status.IN_PROGRESS): frozenset({_T}),
    (Status.AWAITING_CORRECTION, Status.RECEIVED): frozenset({_S, _T, _D}),
    (Status.AWAITING_CORRECTION, Status.IN_PROGRESS): frozenset({_S, _T, _D}),
    (Status.SPECIAL_PROCEDURE, Status.IN_PROGRESS): _REVIEWERS,
    (Status.SUSPENDED, Status.IN_PROGRESS): _REVIEWERS,
    (Status.COMPLETED, Status.DELIVERED): frozenset({_S}),
    **{
        (state, Status.WITHDRAWN): frozenset({_S})
        for state in (
            Status.RECEIVED,
            Status.ACCEPTED,
            Status.AWAITING_CORRECTION,
            Status.IN_PROGRESS,
            Status.SPECIAL_PROCEDURE,
            Status.SUSPENDED,
        )
    },
}


def status_label(status: Status | str, lang: str = "zh") -> str:
    """The status as a person reads it, in ``lang``."""
    zh, en = _LABELS[Status(status)]
    return en if lang == "en" else zh


def actor_label(actor: Actor | str, lang: str = "zh") -> str:
    """The actor as a person reads it, in ``lang``."""
    zh, en = _ACTOR_LABELS[Actor(actor)]
    return en if lang == "en" else zh


def allowed_targets(current: Status | str, actor: Actor | str) -> list[Status]:
    """The states ``actor`` may move a case in ``current`` to, in lifecycle order."""
    current, actor = Status(current), Actor(actor)
    return [to for (src, to), actors in TRANSITIONS.items() if src is current and actor in actors]


def check_transition(current: Status | str, target: Status | str, actor: Actor | str) -> None:
    """Raise IllegalTransition (naming both states and the actor) unless the move is allowed."""
    current, target, actor = Status(current), Status(target), Actor(actor)
    actors = TRANSITIONS.get((current, target))
    if actors is None:
        raise IllegalTransition(
            zh=f"办件不能从“{status_label(current)}”变为“{status_label(target)}”"
            + ("（办件已结束）" if current in TERMINAL else ""),
            en=f"a case cannot go from {current.value} to {target.value}"
            + (" (it is closed)" if current in TERMINAL else ""),
            from_status=current.value,
            to_status=target.value,
            actor=actor.value,
        )
    if actor not in actors:
        who = "、".join(actor_label(a) for a in sorted(actors))
        raise IllegalTransition(
            zh=f"{actor_label(actor)}无权将办件从“{status_label(current)}”变为“{status_label(target)}”，应由{who}办理",
            en=f"a {actor.value} may not move a case from {current.value} to {target.value}; "
            f"only: {', '.join(sorted(a.value for a in actors))}",
            from_status=current.value,
            to_status=target.value,
            actor=actor.value,
        )


# Progress rank of each state for a bundle's derived status: the bundle is as far as its least
# advanced member. A refused member is finished as far as the bundle is concerned.
_RANK: dict[Status, int] = {
    Status.DRAFT: 0,
    Status.RECEIVED: 1,
    Status.ACCEPTED: 2,
    Status.IN_PROGRESS: 3,
    Status.SPECIAL_PROCEDURE: 3,
    Status.SUSPENDED: 3,
    Status.COMPLETED: 4,
    Status.DELIVERED: 5,
    Status.NOT_ACCEPTED: 5,
}


def bundle_status(members: Iterable[Status | str]) -> Status:
    """The status of a bundle (一件事), derived from its member cases' statuses.

    Rules: all withdrawn → WITHDRAWN; all refused → NOT_ACCEPTED; any member awaiting correction
    → AWAITING_CORRECTION (the applicant has something to do); otherwise the least advanced active
    member's state, where review states (in progress, special procedure, suspended) read as
    IN_PROGRESS and a refused member counts as finished.
    """
    statuses = [Status(s) for s in members]
    if not statuses:
        raise ValueError("a bundle has at least one member case")
    active = [s for s in statuses if s is not Status.WITHDRAWN]
    if not active:
        return Status.WITHDRAWN
    if all(s is Status.NOT_ACCEPTED for s in active):
        return Status.NOT_ACCEPTED
    if Status.AWAITING_CORRECTION in active:
        return Status.AWAITING_CORRECTION
    least = min(active, key=lambda s: _RANK[s])
    if _RANK[least] == 3:
        return Status.IN_PROGRESS
    if least is Status.NOT_ACCEPTED:
        # Every active member is refused or delivered: the bundle's business is over.
        return Status.DELIVERED
    return least
