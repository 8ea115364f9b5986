"""Parallel review at the station: the departments' opinions arrive with the case's state and show on the case."""

from __future__ import annotations

import json

from click.testing import CliRunner

from station import cases as ops
from station.cli import main
from station.feed import apply_feed_set
from station.queries import get_case
from station.render import case_text
from sync.protocol import CaseState
from sync.protocol.opinions import JointOpinion
from sync.timeutil import format_local
from tests.station.conftest import pension_enrolment

ASKED = "2026-09-29T02:00:00.000Z"


def _opinion(department: str, name: str, opinion: str | None = None, at: str | None = None) -> JointOpinion:
    return JointOpinion(
        department=department,
        name_zh=name,
        name_en=f"{department} bureau",
        opinion=opinion,
        requested_at=ASKED,
        due_date="2026-10-09",
        answered_at=at,
    )


def _state(case_no: str, opinions: list[JointOpinion] | None) -> CaseState:
    return CaseState(case_no=case_no, status="ACCEPTED", accepted_date="2026-09-29", opinions=opinions)


def test_the_opinions_show_in_the_case_detail_and_its_json(station, hub, keys, station_dir):
    case_no = ops.new_intake(station, pension_enrolment()).number
    first = [_opinion("YB", "县医疗保障局"), _opinion("MZ", "县民政局")]
    assert apply_feed_set(station, hub.feed_set(_state(case_no, first)), keys).applied
    assert [(o.department, o.opinion) for o in get_case(station, case_no).opinions] == [("MZ", None), ("YB", None)]
    answered = [
        _opinion("YB", "县医疗保障局", "consent", "2026-09-30T03:00:00.000Z"),
        _opinion("MZ", "县民政局", "deemed_consent", "2026-10-10T01:00:00.000Z"),
    ]
    assert apply_feed_set(station, hub.feed_set(_state(case_no, answered)), keys).applied
    # A later state that says nothing of opinions (a decision's) keeps what the station holds.
    assert apply_feed_set(station, hub.feed_set(_state(case_no, None)), keys).applied
    detail = get_case(station, case_no)
    assert [(o.department, o.opinion) for o in detail.opinions] == [("MZ", "deemed_consent"), ("YB", "consent")]
    zh = case_text(detail, "zh")
    assert "并联审批（各部门意见）：" in zh
    assert f"  县民政局：缺席默认（系统，视为同意） {format_local('2026-10-10T01:00:00.000Z')}" in zh
    assert f"  县医疗保障局：同意 {format_local('2026-09-30T03:00:00.000Z')}" in zh
    en = case_text(detail, "en")
    assert (
        "  MZ bureau: deemed consent (by the system, no answer in time) " + format_local("2026-10-10T01:00:00.000Z")
        in en
    )
    station.close()

    env = {"STATION_DATA_DIR": str(station_dir), "LANG": "", "LC_ALL": ""}
    shown = CliRunner().invoke(main, ["case", "show", case_no, "--json"], env=env, catch_exceptions=False)
    opinions = json.loads(shown.output)["opinions"]
    assert [(o["department"], o["opinion"], o["answered_at"]) for o in opinions] == [
        ("MZ", "deemed_consent", "2026-10-10T01:00:00.000Z"),
        ("YB", "consent", "2026-09-30T03:00:00.000Z"),
    ]
    assert set(opinions[0]) == {
        "department",
        "name_zh",
        "name_en",
        "opinion",
        "requested_at",
        "due_date",
        "answered_at",
    }


def test_a_department_not_yet_answering_is_named_as_holding_the_case(station, hub, keys):
    case_no = ops.new_intake(station, pension_enrolment()).number
    assert apply_feed_set(station, hub.feed_set(_state(case_no, [_opinion("YB", "县医疗保障局")])), keys).applied
    assert "  县医疗保障局：待答复（2026-10-09 前）" in case_text(get_case(station, case_no), "zh")
    assert "  YB bureau: awaiting its answer (by 2026-10-09)" in case_text(get_case(station, case_no), "en")
