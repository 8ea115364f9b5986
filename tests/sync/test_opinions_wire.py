"""The case state's opinions on the wire: a station before the field reads the state and skips them (no feature bit)."""

from __future__ import annotations

import msgspec

from sync.protocol import CaseState, DownItem
from sync.protocol.opinions import JointOpinion


class CaseStateBefore(msgspec.Struct, tag="case_state", frozen=True, kw_only=True):
    """CaseState as a station of the release before reads it."""

    case_no: str
    status: str
    outcome: str | None = None
    accepted_date: str | None = None
    due_date: str | None = None
    through_seq: int = 0


def test_an_older_station_reads_a_state_with_opinions_and_a_newer_one_a_state_without():
    opinion = JointOpinion(
        department="YB", name_zh="县医疗保障局", requested_at="2026-09-29T02:00:00.000Z", due_date="2026-10-09"
    )
    new = CaseState(case_no="349921001001-20260928-A001", status="ACCEPTED", through_seq=3, opinions=[opinion])
    old = msgspec.msgpack.decode(msgspec.msgpack.encode([new]), type=list[CaseStateBefore])
    assert old == [CaseStateBefore(case_no=new.case_no, status="ACCEPTED", through_seq=3)]
    before = msgspec.msgpack.encode([CaseStateBefore(case_no=new.case_no, status="ACCEPTED")])
    (read,) = msgspec.msgpack.decode(before, type=list[DownItem])
    assert isinstance(read, CaseState) and read.opinions is None  # not said: the station keeps what it holds
