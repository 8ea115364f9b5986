"""Tests for the provisional rule: the regulation's statutory holidays, checked against the published tables."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.holidays import (
    STATUTORY_FIRST_YEAR,
    STATUTORY_LAST_YEAR,
    lunar_to_solar,
    qingming,
    statutory_days_off,
    statutory_holidays,
)
from sync.workdays import DueDate, WorkCalendar, YearTable, default_calendar, seed_year_tables

D = dt.date


def _span(first: str, last: str) -> list[D]:
    a, b = D.fromisoformat(first), D.fromisoformat(last)
    return [a + dt.timedelta(days=i) for i in range((b - a).days + 1)]


# What 全国年节及纪念日放假办法 (2024 revision) itself gives, worked out by hand from the lunar
# calendar: (festival, first day off, last day off).
STATUTORY = {
    2025: [
        ("元旦", "2025-01-01", "2025-01-01"),
        ("春节", "2025-01-28", "2025-01-31"),  # 除夕 28 Jan (腊月廿九: the 12th month has 29 days)
        ("清明节", "2025-04-04", "2025-04-04"),
        ("劳动节", "2025-05-01", "2025-05-02"),
        ("端午节", "2025-05-31", "2025-05-31"),
        ("国庆节", "2025-10-01", "2025-10-03"),
        ("中秋节", "2025-10-06", "2025-10-06"),
    ],
    2026: [
        ("元旦", "2026-01-01", "2026-01-01"),
        ("春节", "2026-02-16", "2026-02-19"),  # 除夕 16 Feb (腊月廿九 again)
        ("清明节", "2026-04-05", "2026-04-05"),
        ("劳动节", "2026-05-01", "2026-05-02"),
        ("端午节", "2026-06-19", "2026-06-19"),
        ("中秋节", "2026-09-25", "2026-09-25"),
        ("国庆节", "2026-10-01", "2026-10-03"),
    ],
}

# The State Council's notices (of 2024-11-12 for 2025, of 2025-11-04 for 2026): every holiday
# period, and the make-up working days.
PUBLISHED_OFF = {
    2025: _span("2025-01-01", "2025-01-01")
    + _span("2025-01-28", "2025-02-04")
    + _span("2025-04-04", "2025-04-06")
    + _span("2025-05-01", "2025-05-05")
    + _span("2025-05-31", "2025-06-02")
    + _span("2025-10-01", "2025-10-08"),
    2026: _span("2026-01-01", "2026-01-03")
    + _span("2026-02-15", "2026-02-23")
    + _span("2026-04-04", "2026-04-06")
    + _span("2026-05-01", "2026-05-05")
    + _span("2026-06-19", "2026-06-21")
    + _span("2026-09-25", "2026-09-27")
    + _span("2026-10-01", "2026-10-07"),
}
MAKEUP = {
    2025: ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"],
    2026: ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"],
}
# Weekdays the notices give off beyond the regulation: bridges and days in lieu of a festival on
# a weekend. The provisional rule cannot know them.
ARRANGED = {
    2025: ["2025-02-03", "2025-02-04", "2025-05-05", "2025-06-02", "2025-10-07", "2025-10-08"],
    2026: ["2026-01-02", "2026-02-20", "2026-02-23", "2026-04-06", "2026-05-04", "2026-05-05"]
    + ["2026-10-05", "2026-10-06", "2026-10-07"],
}
YEARS = sorted(STATUTORY)


def _published(year: int) -> YearTable:
    return next(t for t in seed_year_tables() if t.year == year)


def _provisional(year: int) -> WorkCalendar:
    """The seeded calendar as it would be before ``year``'s table was published."""
    return WorkCalendar(t for t in seed_year_tables() if t.year != year)


def _year_days(year: int) -> list[D]:
    return _span(f"{year}-01-01", f"{year}-12-31")


@pytest.mark.parametrize("year", YEARS)
def test_the_rule_gives_exactly_the_regulations_days(year: int) -> None:
    got = [(h.name, h.first.isoformat(), h.last.isoformat()) for h in statutory_holidays(year)]
    assert got == STATUTORY[year]
    expected = {day for _, first, last in STATUTORY[year] for day in _span(first, last)}
    assert statutory_days_off(year) == expected and len(expected) == 13


@pytest.mark.parametrize("year", YEARS)
def test_the_published_tables_are_the_notices(year: int) -> None:
    table = _published(year)
    assert table.holidays == tuple(d.isoformat() for d in sorted(PUBLISHED_OFF[year]))
    assert table.workdays == tuple(MAKEUP[year])


@pytest.mark.parametrize("year", YEARS)
def test_every_statutory_day_is_off_in_the_published_table(year: int) -> None:
    published = default_calendar()
    holidays = set(_published(year).holidays)
    for _, first, last in STATUTORY[year]:
        for day in _span(first, last):
            assert day.isoformat() in holidays and not published.is_workday(day), day
    for day in statutory_days_off(year):  # and the other way: what the rule computes, the notice gave
        assert day.isoformat() in holidays, day


@pytest.mark.parametrize("year", YEARS)
def test_the_provisional_year_differs_from_the_notice_only_by_what_it_cannot_know(year: int) -> None:
    published, provisional = default_calendar(), _provisional(year)
    assert not provisional.has_year(year)
    days = _year_days(year)
    # Every day the rule gives off is off in the notice, except the make-up working days.
    off_only_provisionally = [d.isoformat() for d in days if published.is_workday(d) and not provisional.is_workday(d)]
    assert off_only_provisionally == MAKEUP[year]
    # Every day the notice gives off beyond the rule is a weekday it added by arrangement.
    off_only_published = [d.isoformat() for d in days if provisional.is_workday(d) and not published.is_workday(d)]
    assert off_only_published == ARRANGED[year]


@pytest.mark.parametrize("year", YEARS)
def test_statutory_weekdays_are_not_working_days_in_a_provisional_year(year: int) -> None:
    # The fault the rule fixes: Monday–Friday alone counted these as working days.
    provisional = _provisional(year)
    weekdays = [d for d in statutory_days_off(year) if d.weekday() < 5]
    assert len(weekdays) >= 8
    assert not any(provisional.is_workday(d) for d in weekdays)


def test_new_years_day_2027_is_not_the_next_working_day_after_2026() -> None:
    cal = default_calendar()
    assert not cal.has_year(2027)
    due = cal.add_working_days(D(2026, 12, 31), 1)
    assert due.date != D(2027, 1, 1)
    assert due == DueDate(D(2027, 1, 4), True)  # Fri 1 Jan off, then the weekend
    assert cal.working_days_between(D(2026, 12, 31), D(2027, 1, 4)) == 1


def test_spring_festival_2027() -> None:
    (festival,) = [h for h in statutory_holidays(2027) if h.name == "春节"]
    assert (festival.first, festival.last) == (D(2027, 2, 5), D(2027, 2, 8))  # 除夕 Fri 5 Feb to 初三 Mon 8 Feb
    assert lunar_to_solar(2027, 1, 1) == D(2027, 2, 6)
    assert lunar_to_solar(2026, 12, 29) == D(2027, 2, 5)  # 腊月 has 29 days: 除夕 is the 29th
    cal = default_calendar()
    assert [cal.is_workday(d) for d in _span("2027-02-04", "2027-02-09")] == [True, False, False, False, False, True]
    assert cal.add_working_days(D(2027, 2, 4), 1) == DueDate(D(2027, 2, 9), True)


def test_a_published_table_overrides_the_rule() -> None:
    # The hub's table is the authority: a day the rule gives off is a working day when the
    # table (here a deliberately odd one) does not list it.
    table = YearTable(year=2027, holidays=("2027-01-02",), workdays=(), source="hub")
    cal = default_calendar().with_table(table)
    assert cal.is_workday(D(2027, 1, 1)) and cal.is_workday(D(2027, 2, 5))
    assert cal.add_working_days(D(2026, 12, 31), 1) == DueDate(D(2027, 1, 1), False)


def test_the_rule_covers_only_its_years() -> None:
    cal = WorkCalendar()
    # Before the 2024 revision the holidays differed, and such years have tables anyway.
    assert statutory_days_off(STATUTORY_FIRST_YEAR - 1) == frozenset()
    assert cal.is_workday(D(2024, 10, 1))
    assert not cal.is_workday(D(STATUTORY_FIRST_YEAR, 1, 1))
    assert not cal.is_workday(D(2099, 10, 1))  # a Thursday
    assert cal.is_workday(D(2100, 10, 1))  # a Friday: past the checked range, Monday–Friday
    with pytest.raises(ValueError):
        statutory_holidays(STATUTORY_LAST_YEAR + 1)
    # Counting over millennia stays cheap and agrees with the per-year rule.
    assert cal.working_days_between(D(1, 1, 1), D(9999, 12, 31)) == cal.working_days_between(
        D(1, 1, 1), D(2024, 12, 31)
    ) + cal.working_days_between(D(2024, 12, 31), D(9999, 12, 31))


@pytest.mark.parametrize("year", range(STATUTORY_FIRST_YEAR, STATUTORY_LAST_YEAR + 1))
def test_every_years_holidays_are_well_formed(year: int) -> None:
    holidays = statutory_holidays(year)
    assert holidays[0].name == "元旦" and [h.first for h in holidays] == sorted(h.first for h in holidays)
    assert all(h.first.year == h.last.year == year for h in holidays)
    spring = next(h for h in holidays if h.name == "春节")
    assert D(year, 1, 20) <= spring.first <= D(year, 2, 19) and (spring.last - spring.first).days == 3
    # 除夕 is the last day of the 12th month: the day after it is 初一, the day before is not.
    assert lunar_to_solar(year, 1, 1) == spring.first + dt.timedelta(days=1)
    # Qingming agrees with chinese-calendar's solar-term table, a second source.
    assert chinese_calendar.get_solar_terms(D(year, 4, 1), D(year, 4, 10)) == [(qingming(year), "清明")]


@pytest.mark.parametrize("year", range(2008, 2025))
def test_lunar_festivals_agree_with_every_published_table_since_2008(year: int) -> None:
    # The lunar computation, checked on the tables published under the earlier regulation:
    # 初一 and 初二, 清明, 端午 and 中秋 were statutory days off in each of these years. (Days
    # off, not listed holidays: chinese-calendar leaves out Sat 2012-06-23, the Dragon Boat day.)
    published = default_calendar()
    new_year = lunar_to_solar(year, 1, 1)
    days = [new_year, new_year + dt.timedelta(days=1), qingming(year)]
    days += [lunar_to_solar(year, 5, 5), lunar_to_solar(year, 8, 15)]
    assert not any(published.is_workday(d) for d in days)


dates = st.dates(min_value=D(2024, 6, 1), max_value=D(2031, 12, 31))
spans = st.tuples(st.integers(-10, 90), st.integers(0, 20))


@given(a=dates, days=st.integers(0, 500), raw=st.lists(spans, max_size=3))
def test_counting_in_provisional_years_matches_a_day_by_day_count(a: D, days: int, raw: list[tuple[int, int]]) -> None:
    cal = default_calendar()
    end = a + dt.timedelta(days=days)
    paused = [(a + dt.timedelta(days=x), a + dt.timedelta(days=x + y)) for x, y in raw]
    expected = sum(
        1
        for day in _span(a.isoformat(), end.isoformat())[1:]
        if cal.is_workday(day) and not any(first <= day <= last for first, last in paused)
    )
    assert cal.working_days_between(a, end, paused=paused) == expected


@given(start=dates, n=st.integers(1, 60))
def test_round_trip_through_provisional_years(start: D, n: int) -> None:
    cal = default_calendar()
    due = cal.add_working_days(start, n)
    assert cal.is_workday(due.date) and due.date not in statutory_days_off(due.date.year)
    assert cal.working_days_between(start, due.date) == n
    assert due.provisional == (due.date.year > 2026)
