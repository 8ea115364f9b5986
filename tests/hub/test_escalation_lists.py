"""Who hears of which alert (hub.escalation): handlers by the level holding the case, heads the overdue cases
they answer for, the county counts per department and township."""

from __future__ import annotations

from hub.escalation import CaseAlert, county_counts, for_handler, for_head

TW1, TW2 = "349921101000", "349921102000"


def alert(case_no: str, item: str, township: str, level: str, kind: str) -> CaseAlert:
    return CaseAlert(
        case_no=case_no, item_code=item, department=item.split("-")[0], township=township,
        village_code=township[:9] + "001", status="IN_PROGRESS", level=level, due_date="2026-10-08",
        kind=kind, days_left=-1 if kind == "overdue" else 1,  # type: ignore[arg-type]
    )  # fmt: skip


ALERTS = [
    alert("a", "MZ-001", TW1, "township_initial", "overdue"),  # the township's initial review is late
    alert("b", "MZ-001", TW1, "county", "due_soon"),  # forwarded: the county department holds it
    alert("c", "NY-002", TW2, "township", "overdue"),  # another township's delegated item
    alert("d", "RS-001", TW1, "county", "overdue"),
]


def test_handlers_hear_of_what_their_level_holds():
    assert [a.case_no for a in for_handler(ALERTS, "township", None, TW1)] == ["a"]
    assert [a.case_no for a in for_handler(ALERTS, "township", None, TW2)] == ["c"]
    assert [a.case_no for a in for_handler(ALERTS, "department", "MZ", None)] == ["b"]
    assert for_handler(ALERTS, "admin", None, None) == []


def test_heads_hear_of_every_overdue_case_they_answer_for():
    # The civil-affairs head answers for the whole limit of its items, the township's part too.
    assert [a.case_no for a in for_head(ALERTS, "department", "MZ", None, ["MZ-001", "NY-002"])] == ["a"]
    assert [a.case_no for a in for_head(ALERTS, "township", None, TW1, ["MZ-001", "NY-002"])] == ["a"]
    assert [a.case_no for a in for_head(ALERTS, "township", None, TW2, ["MZ-001", "NY-002"])] == ["c"]


def test_the_county_counts_per_department_and_township():
    counts = county_counts(ALERTS)
    assert counts["department"] == {
        "MZ": {"due_soon": 1, "overdue": 1},
        "NY": {"due_soon": 0, "overdue": 1},
        "RS": {"due_soon": 0, "overdue": 1},
    }
    assert counts["township"] == {TW1: {"due_soon": 1, "overdue": 2}, TW2: {"due_soon": 0, "overdue": 1}}
