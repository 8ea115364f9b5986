"""Random interleavings of edits, decisions, syncs and lost responses across three stations and a live hub.

At the end of each run every replica agrees with the hub on every case it may see, and every
case recorded anywhere is at the hub exactly once.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from station import cases as ops
from sync.errors import InputError, ProxyAppError
from sync.protocol import SyncRequest
from tests.integration.county import V1, V2, County, county

pytestmark = pytest.mark.timeout(600)


class DropFirstPushResponse(httpx.HTTPTransport):
    """The hub gets the push and commits; the answer is lost on the way back (the duplicate maker)."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        # An exchange that carries sets (POST /api/v1/sync, docs/protocol.md "Exchange").
        pushes = bool(
            request.url.path.endswith("/api/v1/sync") and msgspec.msgpack.decode(request.content, type=SyncRequest).sets
        )
        if not self.dropped and pushes:
            response.read()
            response.close()
            self.dropped = True
            raise httpx.ReadError("response lost on the way back", request=request)
        return response


class CountySync(RuleBasedStateMachine):
    hub_template: Path

    def __init__(self) -> None:
        super().__init__()
        self._tmp = tempfile.TemporaryDirectory()
        self._county_cm = county(Path(self._tmp.name), self.hub_template)
        self.county: County = self._county_cm.__enter__()
        self.serial = 0
        self.created: set[str] = set()

    @initialize()
    def enrol_three_stations(self) -> None:
        for village in (V1, V1, V2):
            self.county.enrol(village)

    def _local(self, index: int, *statuses: str) -> list[str]:
        with self.county.stations[index].open() as station:
            rows = station.db.execute(
                f"SELECT case_no FROM cases WHERE status IN ({', '.join('?' for _ in statuses)}) ORDER BY case_no",
                list(statuses),
            ).fetchall()
        return [r[0] for r in rows]

    @rule(index=st.integers(0, 2))
    def record_a_case(self, index: int) -> None:
        self.serial += 1
        self.created.add(self.county.stations[index].new_case("王小明", self.serial))

    @rule(index=st.integers(0, 2), data=st.data())
    def correct_a_phone(self, index: int, data: st.DataObject) -> None:
        candidates = self._local(index, "RECEIVED", "AWAITING_CORRECTION")
        if candidates:
            case_no = data.draw(st.sampled_from(candidates))
            with self.county.stations[index].open() as station:
                try:
                    ops.correct_intake(station, case_no, phone=f"137{data.draw(st.integers(0, 10**8 - 1)):08d}")
                except InputError as refused:
                    # The same phone drawn twice changes nothing, and a correction that changes nothing is refused.
                    assert refused.code == "correct.nothing"

    @rule(index=st.integers(0, 2), data=st.data())
    def withdraw_a_case(self, index: int, data: st.DataObject) -> None:
        candidates = self._local(index, "RECEIVED", "ACCEPTED", "AWAITING_CORRECTION", "IN_PROGRESS")
        if candidates:
            with self.county.stations[index].open() as station:
                ops.withdraw(station, data.draw(st.sampled_from(candidates)), reason="申请人撤回")

    @rule(index=st.integers(0, 2), data=st.data())
    def deliver_a_result(self, index: int, data: st.DataObject) -> None:
        candidates = self._local(index, "COMPLETED")
        if candidates:
            with self.county.stations[index].open() as station:
                ops.deliver(station, data.draw(st.sampled_from(candidates)))

    @rule(data=st.data(), decision=st.sampled_from(["ACCEPTED", "COMPLETED", "AWAITING_CORRECTION", "NOT_ACCEPTED"]))
    def county_decides(self, data: st.DataObject, decision: str) -> None:
        cases = sorted(self.county.hub_cases())
        if not cases:
            return
        case_no = data.draw(st.sampled_from(cases))
        try:
            self.county.decide(
                case_no, decision, outcome="approved" if decision == "COMPLETED" else None, reason="审核意见"
            )
        except ProxyAppError:
            pass  # a move the lifecycle does not allow from the case's state: refused, nothing changes

    @rule(index=st.integers(0, 2), lose_response=st.booleans())
    def sync(self, index: int, lose_response: bool) -> None:
        transport = DropFirstPushResponse() if lose_response else None
        self.county.stations[index].sync(transport=transport)

    @invariant()
    def hub_never_holds_a_case_twice_or_one_never_made(self) -> None:
        with self.county.store() as store:
            rows = store.db.execute("SELECT case_no FROM cases").fetchall()
        numbers = [r[0] for r in rows]
        assert len(numbers) == len(set(numbers))
        assert set(numbers) <= self.created

    def teardown(self) -> None:
        try:
            self.county.sync_all(rounds=3)
            self.county.assert_converged()
            assert set(self.county.hub_cases()) == self.created  # nothing lost
            with self.county.store() as store:
                seqs = store.db.execute("SELECT origin, seq FROM sets_in ORDER BY origin, seq").fetchall()
            by_origin: dict[str, list[int]] = {}
            for origin, seq in seqs:
                by_origin.setdefault(origin, []).append(seq)
            for held in by_origin.values():
                assert held == list(range(1, len(held) + 1))  # each set applied once, in order
        finally:
            self._county_cm.__exit__(None, None, None)
            self._tmp.cleanup()


def test_random_interleavings_converge(hub_template):
    CountySync.hub_template = hub_template[0]
    run_state_machine_as_test(
        CountySync,
        settings=settings(
            max_examples=int(os.environ.get("CONVERGENCE_EXAMPLES", "15")),
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
