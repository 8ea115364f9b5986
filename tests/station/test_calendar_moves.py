"""A published calendar year at the station: every open due date through the year moves, with a history line."""

from __future__ import annotations

import datetime as dt

from station import cases as ops
from station.feed import apply_feed_set
from station.queries import get_case
from station.render import case_text
from sync.protocol import CalendarItem
from sync.workdays import YearTable
from tests.station.conftest import pension_benefit_deferred

# The days off of a 2027 arrangement around the Spring Festival (除夕 Fri 5 Feb): 5–13 Feb, with
# Sun 14 Feb a make-up working day in version 1 and a day off after the correction (version 2).
_OFF = ("2027-01-01", "2027-01-02", "2027-01-03", *(f"2027-02-{d:02d}" for d in range(5, 14)))
V1 = YearTable(year=2027, holidays=_OFF, workdays=("2027-02-14", "2027-02-20"), source="hub", version=1)
V2 = YearTable(year=2027, holidays=_OFF, workdays=("2027-02-20",), source="hub", version=2)


def due(station, number: str) -> tuple[str, bool, str, bool]:
    detail = get_case(station, number)
    (commitment,) = detail.commitments
    return detail.summary.due_date, detail.summary.due_provisional, commitment.due_date, commitment.due_provisional


def test_each_version_of_the_year_moves_the_open_case_and_its_commitment(station, hub, keys, clock):
    clock.set_china_date(dt.date(2027, 1, 27))  # Wednesday; 2027 has no table here yet
    number = ops.new_intake(station, pension_benefit_deferred(defer_days=8)).number  # RS-002: 10 days
    # Provisional: only the 4 statutory Spring Festival days (5–8 Feb) off.
    assert due(station, number) == ("2027-02-12", True, "2027-02-10", True)

    clock.advance(days=14)  # offline for two weeks; the table arrives with the next feed set
    apply_feed_set(station, hub.feed_set(CalendarItem(V1)), keys)
    assert due(station, number) == ("2027-02-17", False, "2027-02-15", False)
    # The correction moves dates that are no longer provisional.
    apply_feed_set(station, hub.feed_set(CalendarItem(V2)), keys)
    assert due(station, number) == ("2027-02-18", False, "2027-02-16", False)
    # A replayed older version changes nothing.
    apply_feed_set(station, hub.feed_set(CalendarItem(V1)), keys)
    assert due(station, number) == ("2027-02-18", False, "2027-02-16", False)

    moves = get_case(station, number).due_moves
    assert [(m.old_due, m.new_due, m.version, m.material) for m in moves] == [
        ("2027-02-12", "2027-02-17", 1, None),
        ("2027-02-10", "2027-02-15", 1, "社会保障卡或本人银行账户"),
        ("2027-02-17", "2027-02-18", 2, None),
        ("2027-02-15", "2027-02-16", 2, "社会保障卡或本人银行账户"),
    ]
    english = "\n".join(case_text(get_case(station, number), "en"))
    assert "due date moved from 2027-02-12 to 2027-02-17: 2027 calendar published" in english
    assert "due date moved from 2027-02-17 to 2027-02-18: 2027 calendar published (version 2)" in english
    assert (
        "容缺 commitment (社会保障卡或本人银行账户): due date moved from 2027-02-10 to 2027-02-15: "
        "2027 calendar published" in english
    )
    chinese = "\n".join(case_text(get_case(station, number), "zh"))
    assert "应办结日期由 2027-02-12 改为 2027-02-17：2027 年工作日历已发布" in chinese
    assert "应办结日期由 2027-02-17 改为 2027-02-18：2027 年工作日历已发布（第 2 版）" in chinese


def test_a_corrected_table_moves_a_date_that_was_never_provisional(station, hub, keys, clock):
    # Accepted-by-receipt Mon 2026-09-28, 10 working days on the 2026 table: 29, 30 Sep, 8–10 Oct
    # (Sat 10 Oct a make-up day), 12–16 Oct -> Fri 16 Oct, a final date.
    number = ops.new_intake(station, pension_benefit_deferred()).number
    closed = ops.new_intake(station, pension_benefit_deferred(phone="13912345679")).number
    ops.withdraw(station, closed, reason="申请人撤回")
    assert get_case(station, number).summary.due_date == "2026-10-16"
    assert get_case(station, number).summary.due_provisional is False
    seeded = station.calendar.table(2026)
    assert seeded is not None
    # A correction: Fri 16 Oct given off as well.
    table = YearTable(
        year=2026,
        holidays=tuple(sorted((*seeded.holidays, "2026-10-16"))),
        workdays=seeded.workdays,
        source="hub",
        version=seeded.version + 1,
    )
    apply_feed_set(station, hub.feed_set(CalendarItem(table)), keys)
    detail = get_case(station, number)
    assert detail.summary.due_date == "2026-10-19"
    assert [(m.old_due, m.new_due, m.year, m.version) for m in detail.due_moves if m.material is None] == [
        ("2026-10-16", "2026-10-19", 2026, 2)
    ]
    # A closed case keeps its date, and its history gets no line.
    assert get_case(station, closed).summary.due_date == "2026-10-16"
    assert get_case(station, closed).due_moves == []
