"""Tests for the case lifecycle (sync.lifecycle): moves per actor, refusals, terminal states, bundle status."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from sync.errors import IllegalTransition, InputError
from sync.lifecycle import (
    CLOCK_PAUSED,
    DECIDED,
    TERMINAL,
    TRANSITIONS,
    Actor,
    Status,
    actor_label,
    allowed_targets,
    bundle_status,
    check_transition,
    status_label,
)

S = Status
STATION, TOWNSHIP, DEPARTMENT = Actor.STATION, Actor.TOWNSHIP, Actor.DEPARTMENT
ACTIVE = (S.RECEIVED, S.ACCEPTED, S.AWAITING_CORRECTION, S.IN_PROGRESS, S.SPECIAL_PROCEDURE, S.SUSPENDED)

# ---- the station's moves ---------------------------------------------------------------------


def test_station_moves_exactly() -> None:
    expected = {
        S.DRAFT: [S.RECEIVED],
        S.RECEIVED: [S.WITHDRAWN],
        S.ACCEPTED: [S.WITHDRAWN],
        S.AWAITING_CORRECTION: [S.RECEIVED, S.IN_PROGRESS, S.WITHDRAWN],
        S.IN_PROGRESS: [S.WITHDRAWN],
        S.SPECIAL_PROCEDURE: [S.WITHDRAWN],
        S.SUSPENDED: [S.WITHDRAWN],
        S.COMPLETED: [S.DELIVERED],
        S.DELIVERED: [],
        S.NOT_ACCEPTED: [],
        S.WITHDRAWN: [],
    }
    assert {state: allowed_targets(state, STATION) for state in S} == expected


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.DRAFT, S.RECEIVED),
        (S.COMPLETED, S.DELIVERED),
        (S.AWAITING_CORRECTION, S.RECEIVED),
        (S.AWAITING_CORRECTION, S.IN_PROGRESS),
        *((state, S.WITHDRAWN) for state in ACTIVE),
    ],
)
def test_station_may(current: Status, target: Status) -> None:
    check_transition(current, target, STATION)
    assert target in allowed_targets(current, STATION)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.RECEIVED, S.ACCEPTED),
        (S.RECEIVED, S.NOT_ACCEPTED),
        (S.RECEIVED, S.AWAITING_CORRECTION),
        (S.ACCEPTED, S.COMPLETED),
        (S.IN_PROGRESS, S.COMPLETED),
        (S.ACCEPTED, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.SUSPENDED),
    ],
)
def test_station_may_not_decide(current: Status, target: Status) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition(current, target, STATION)
    exc = info.value
    assert exc.actor == "station"
    assert (exc.from_status, exc.to_status) == (current.value, target.value)
    # Names the actor and the actors who may, in both languages.
    assert "station" in exc.message("en")
    assert "township" in exc.message("en") and "department" in exc.message("en")
    assert "村代办点" in exc.message("zh")
    assert "乡镇" in exc.message("zh") and "县直部门" in exc.message("zh")


@pytest.mark.parametrize("actor", [TOWNSHIP, DEPARTMENT])
def test_reviewers_may_decide(actor: Actor) -> None:
    check_transition(S.RECEIVED, S.ACCEPTED, actor)
    check_transition(S.RECEIVED, S.NOT_ACCEPTED, actor)
    check_transition(S.IN_PROGRESS, S.COMPLETED, actor)
    check_transition(S.ACCEPTED, S.COMPLETED, actor)


@pytest.mark.parametrize("actor", [TOWNSHIP, DEPARTMENT])
def test_reviewers_may_not_make_station_moves(actor: Actor) -> None:
    for current, target in [(S.DRAFT, S.RECEIVED), (S.COMPLETED, S.DELIVERED), (S.IN_PROGRESS, S.WITHDRAWN)]:
        with pytest.raises(IllegalTransition) as info:
            check_transition(current, target, actor)
        assert info.value.actor == actor.value
        assert "station" in info.value.message("en")
        assert "村代办点" in info.value.message("zh")


def test_strings_are_accepted() -> None:
    check_transition("DRAFT", "RECEIVED", "station")
    assert allowed_targets("COMPLETED", "station") == [S.DELIVERED]


def test_unknown_names_are_value_errors() -> None:
    with pytest.raises(ValueError):
        check_transition("DRAFT", "SENT", "station")
    with pytest.raises(ValueError):
        allowed_targets("DRAFT", "mayor")


# ---- refusals name both states and the actor --------------------------------------------------


def test_pair_not_in_lifecycle_names_both_states() -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition(S.DRAFT, S.COMPLETED, DEPARTMENT)
    exc = info.value
    assert isinstance(exc, InputError)
    assert exc.code == "illegal_transition"
    assert exc.field == "status"
    assert exc.from_status == "DRAFT"
    assert exc.to_status == "COMPLETED"
    assert exc.actor == "department"
    assert "DRAFT" in exc.message("en") and "COMPLETED" in exc.message("en")
    assert "暂存" in exc.message("zh") and "已办结" in exc.message("zh")
    assert "closed" not in exc.message("en")


def test_leaving_a_terminal_state_says_closed() -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition(S.DELIVERED, S.IN_PROGRESS, STATION)
    exc = info.value
    assert (exc.from_status, exc.to_status, exc.actor) == ("DELIVERED", "IN_PROGRESS", "station")
    assert "DELIVERED" in exc.message("en") and "IN_PROGRESS" in exc.message("en")
    assert "closed" in exc.message("en")
    assert "已送达" in exc.message("zh") and "办理中" in exc.message("zh")
    assert "已结束" in exc.message("zh")


def test_wrong_actor_names_both_states_in_both_languages() -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition(S.RECEIVED, S.ACCEPTED, STATION)
    exc = info.value
    assert "RECEIVED" in exc.message("en") and "ACCEPTED" in exc.message("en")
    assert "已收件" in exc.message("zh") and "已受理" in exc.message("zh")


def test_no_withdrawal_after_decision() -> None:
    for state in DECIDED:
        with pytest.raises(IllegalTransition):
            check_transition(state, S.WITHDRAWN, STATION)


def test_draft_cannot_be_withdrawn_or_skip_receipt() -> None:
    for target in S:
        if target is not S.RECEIVED:
            for actor in Actor:
                with pytest.raises(IllegalTransition):
                    check_transition(S.DRAFT, target, actor)


# ---- terminal states -------------------------------------------------------------------------


def test_terminal_states() -> None:
    assert TERMINAL == {S.NOT_ACCEPTED, S.DELIVERED, S.WITHDRAWN}
    assert not any(src in TERMINAL for src, _ in TRANSITIONS)
    for state in TERMINAL:
        for actor in Actor:
            assert allowed_targets(state, actor) == []


def test_every_non_terminal_state_has_an_exit() -> None:
    for state in S:
        if state not in TERMINAL:
            assert any(allowed_targets(state, actor) for actor in Actor), state


def test_delivered_only_from_completed() -> None:
    assert [src for src, dst in TRANSITIONS if dst is S.DELIVERED] == [S.COMPLETED]


def test_clock_paused_states_have_a_way_back_to_review() -> None:
    for state in CLOCK_PAUSED:
        assert S.IN_PROGRESS in allowed_targets(state, DEPARTMENT)


def test_exhaustive_check_transition_matches_table() -> None:
    for current, target, actor in itertools.product(S, S, Actor):
        allowed = actor in TRANSITIONS.get((current, target), frozenset())
        if allowed:
            check_transition(current, target, actor)
            assert target in allowed_targets(current, actor)
        else:
            with pytest.raises(IllegalTransition) as info:
                check_transition(current, target, actor)
            exc = info.value
            assert (exc.from_status, exc.to_status, exc.actor) == (current.value, target.value, actor.value)
            assert current.value in exc.message("en") and target.value in exc.message("en")
            assert status_label(current) in exc.message("zh") and status_label(target) in exc.message("zh")
            assert target not in allowed_targets(current, actor)


def test_allowed_targets_in_lifecycle_order() -> None:
    assert allowed_targets(S.IN_PROGRESS, DEPARTMENT) == [
        S.AWAITING_CORRECTION,
        S.SPECIAL_PROCEDURE,
        S.SUSPENDED,
        S.COMPLETED,
    ]


def test_labels() -> None:
    assert status_label(S.AWAITING_CORRECTION) == "待补正"
    assert status_label("COMPLETED", "en") == "completed"
    assert actor_label(STATION) == "村代办点"
    assert actor_label("department", "en") == "county department"
    for state in S:
        assert status_label(state, "zh") != status_label(state, "en")


# ---- random walks through the lifecycle ------------------------------------------------------


class LifecycleWalk(RuleBasedStateMachine):
    """A case moved only along allowed_targets, by random actors."""

    @initialize()
    def start(self) -> None:
        self.status = S.DRAFT
        self.history: list[Status] = [S.DRAFT]
        self.pairs: list[tuple[Status, Status, Actor]] = []

    @rule(actor=st.sampled_from(Actor), pick=st.integers(min_value=0, max_value=100))
    def move(self, actor: Actor, pick: int) -> None:
        targets = allowed_targets(self.status, actor)
        if not targets:
            # Nothing this actor may do here: every target is refused.
            for target in S:
                with pytest.raises(IllegalTransition):
                    check_transition(self.status, target, actor)
            return
        target = targets[pick % len(targets)]
        check_transition(self.status, target, actor)
        self.pairs.append((self.status, target, actor))
        self.status = target
        self.history.append(target)

    @invariant()
    def visited_pairs_are_in_the_table(self) -> None:
        for src, dst, actor in self.pairs:
            assert (src, dst) in TRANSITIONS
            assert actor in TRANSITIONS[(src, dst)]

    @invariant()
    def delivered_only_through_completed(self) -> None:
        for index, state in enumerate(self.history):
            if state is S.DELIVERED:
                assert self.history[index - 1] is S.COMPLETED

    @invariant()
    def nothing_leaves_a_terminal_state(self) -> None:
        for index, state in enumerate(self.history[:-1]):
            assert state not in TERMINAL, self.history[: index + 2]

    @invariant()
    def no_withdrawal_after_decision(self) -> None:
        if S.WITHDRAWN in self.history:
            before = self.history[: self.history.index(S.WITHDRAWN)]
            assert not DECIDED & set(before)

    @invariant()
    def starts_in_draft_and_draft_is_never_revisited(self) -> None:
        assert self.history[0] is S.DRAFT
        assert S.DRAFT not in self.history[1:]


TestLifecycleWalk = LifecycleWalk.TestCase


# ---- bundle status ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ([S.WITHDRAWN], S.WITHDRAWN),
        ([S.WITHDRAWN, S.WITHDRAWN], S.WITHDRAWN),
        ([S.NOT_ACCEPTED, S.NOT_ACCEPTED], S.NOT_ACCEPTED),
        ([S.NOT_ACCEPTED, S.WITHDRAWN], S.NOT_ACCEPTED),
        ([S.AWAITING_CORRECTION, S.COMPLETED], S.AWAITING_CORRECTION),
        ([S.DRAFT, S.AWAITING_CORRECTION], S.AWAITING_CORRECTION),
        ([S.AWAITING_CORRECTION, S.WITHDRAWN], S.AWAITING_CORRECTION),
        ([S.DRAFT, S.COMPLETED], S.DRAFT),
        ([S.RECEIVED, S.ACCEPTED, S.DELIVERED], S.RECEIVED),
        ([S.ACCEPTED, S.IN_PROGRESS], S.ACCEPTED),
        ([S.SUSPENDED, S.COMPLETED], S.IN_PROGRESS),
        ([S.SPECIAL_PROCEDURE, S.DELIVERED], S.IN_PROGRESS),
        ([S.SPECIAL_PROCEDURE, S.SUSPENDED], S.IN_PROGRESS),
        ([S.COMPLETED, S.DELIVERED], S.COMPLETED),
        ([S.DELIVERED, S.DELIVERED], S.DELIVERED),
        # A refused member counts as finished.
        ([S.NOT_ACCEPTED, S.ACCEPTED], S.ACCEPTED),
        ([S.NOT_ACCEPTED, S.SUSPENDED], S.IN_PROGRESS),
        ([S.NOT_ACCEPTED, S.COMPLETED], S.COMPLETED),
        ([S.NOT_ACCEPTED, S.DELIVERED], S.DELIVERED),
        ([S.DELIVERED, S.NOT_ACCEPTED, S.WITHDRAWN], S.DELIVERED),
        # Withdrawn members are ignored.
        ([S.WITHDRAWN, S.RECEIVED], S.RECEIVED),
        (["IN_PROGRESS", "COMPLETED"], S.IN_PROGRESS),
    ],
)
def test_bundle_status(members: list[Status], expected: Status) -> None:
    assert bundle_status(members) is expected


def test_bundle_status_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError):
        bundle_status([])


_PROGRESS = [S.DRAFT, S.RECEIVED, S.ACCEPTED, S.IN_PROGRESS, S.COMPLETED, S.DELIVERED]


@given(st.lists(st.sampled_from(list(S)), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_bundle_status_properties(members: list[Status], rnd: object) -> None:
    result = bundle_status(members)
    shuffled = list(members)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert bundle_status(shuffled) is result  # order of members does not matter
    active = [m for m in members if m is not S.WITHDRAWN]
    live = [m for m in active if m is not S.NOT_ACCEPTED]
    if not active:
        assert result is S.WITHDRAWN
    elif not live:
        assert result is S.NOT_ACCEPTED
    elif S.AWAITING_CORRECTION in live:
        assert result is S.AWAITING_CORRECTION
    else:
        # The least advanced member that is neither withdrawn nor refused; review states read as IN_PROGRESS.
        review = {S.SPECIAL_PROCEDURE: S.IN_PROGRESS, S.SUSPENDED: S.IN_PROGRESS}
        rank = {s: i for i, s in enumerate(_PROGRESS)}
        assert result is min((review.get(m, m) for m in live), key=rank.__getitem__)
