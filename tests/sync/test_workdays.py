"""Tests for the working-day calendar: official tables, brief §7.3 examples, provisional years, pauses."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.errors import CalendarError
from sync.workdays import (
    MAX_WORKING_DAYS,
    DueDate,
    WorkCalendar,
    YearTable,
    default_calendar,
    seed_year_tables,
    validate_year_table,
)

D = dt.date

# State Council General Office notice of 2025-11-04 (brief F11): make-up working days of 2026.
MAKEUP_2026 = ("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10")


def _span(first: str, last: str) -> list[str]:
    a, b = D.fromisoformat(first), D.fromisoformat(last)
    return [(a + dt.timedelta(days=i)).isoformat() for i in range((b - a).days + 1)]


# Every holiday period of the notice; chinese_calendar 1.11.0 agrees with all of them.
HOLIDAYS_2026 = (
    _span("2026-01-01", "2026-01-03")  # New Year
    + _span("2026-02-15", "2026-02-23")  # Spring Festival (New Year's Eve included since 2025)
    + _span("2026-04-04", "2026-04-06")  # Qingming
    + _span("2026-05-01", "2026-05-05")  # Labour Day
    + _span("2026-06-19", "2026-06-21")  # Dragon Boat
    + _span("2026-09-25", "2026-09-27")  # Mid-Autumn
    + _span("2026-10-01", "2026-10-07")  # National Day
)


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return default_calendar()


def _table_2026() -> YearTable:
    return next(t for t in seed_year_tables() if t.year == 2026)


# --- seeded tables -----------------------------------------------------------------------------


def test_seed_2026_matches_the_state_council_notice() -> None:
    t = _table_2026()
    assert t.workdays == MAKEUP_2026
    assert t.holidays == tuple(HOLIDAYS_2026)
    assert t.source == f"chinese-calendar {chinese_calendar.__version__}"
    assert t.version == 1


def test_seed_covers_exactly_the_library_range() -> None:
    years = [t.year for t in seed_year_tables()]
    data_years = {d.year for d in chinese_calendar.constants.holidays}
    assert years == list(range(min(data_years), max(data_years) + 1))
    assert years[0] == 2004 and years[-1] == 2026  # chinese-calendar 1.11.0
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D(years[-1] + 1, 1, 4))


def test_is_workday_agrees_with_chinese_calendar_on_every_covered_day(cal: WorkCalendar) -> None:
    day, last = D(2004, 1, 1), D(2026, 12, 31)
    while day <= last:
        assert cal.is_workday(day) == chinese_calendar.is_workday(day), day
        day += dt.timedelta(days=1)


def test_default_calendar_is_cached() -> None:
    assert default_calendar() is default_calendar()
    assert default_calendar().years == frozenset(range(2004, 2027))


# --- brief §7.3 worked examples ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        (D(2026, 9, 28), 5, D(2026, 10, 10)),  # over National Day, ends on make-up Saturday
        (D(2026, 2, 13), 3, D(2026, 2, 25)),  # make-up Sat 14 Feb, then Spring Festival
        (D(2026, 3, 7), 3, D(2026, 3, 11)),  # Saturday acceptance: Monday is the first counted day
        (D(2026, 3, 7), 0, D(2026, 3, 7)),  # same-day item
        (D(2026, 10, 3), 1, D(2026, 10, 8)),  # acceptance on a holiday
    ],
)
def test_brief_examples(cal: WorkCalendar, start: dt.date, n: int, due: dt.date) -> None:
    assert cal.add_working_days(start, n) == DueDate(due, False)


def test_weekend_acceptance_differs_from_find_workday_only_off_working_days(cal: WorkCalendar) -> None:
    # The §11 Q3 decision: find_workday treats Saturday's Monday as day 0.
    assert chinese_calendar.find_workday(3, D(2026, 3, 7)) == D(2026, 3, 12)
    for start in (D(2026, 3, 9), D(2026, 9, 28), D(2026, 2, 14), D(2025, 12, 31)):
        assert cal.is_workday(start)
        for n in (1, 3, 5, 20):
            assert cal.add_working_days(start, n).date == chinese_calendar.find_workday(n, start)


# --- years without a table ---------------------------------------------------------------------


def test_year_without_table_is_provisional_until_its_table_arrives(cal: WorkCalendar) -> None:
    start = D(2026, 12, 30)
    guess = cal.add_working_days(start, 2)
    assert guess == DueDate(D(2027, 1, 4), True)  # Thu 31 Dec, Mon 4 Jan: 1 Jan is statutory
    assert not cal.has_year(2027)

    t2027 = YearTable(year=2027, holidays=("2027-01-01",), workdays=(), source="hub")
    firm = cal.with_table(t2027)
    assert firm.has_year(2027) and not cal.has_year(2027)  # the old calendar is untouched
    assert firm.add_working_days(start, 2) == DueDate(D(2027, 1, 4), False)
    # A make-up working day is what the provisional rule cannot know: the table moves the date.
    t2027_v2 = YearTable(year=2027, holidays=("2027-01-01",), workdays=("2027-01-03",), source="hub", version=2)
    assert cal.with_table(t2027_v2).add_working_days(start, 2) == DueDate(D(2027, 1, 3), False)


def test_a_remembered_due_date_is_the_one_walked_and_the_memory_stays_bounded() -> None:
    cal = WorkCalendar(seed_year_tables())
    fresh = WorkCalendar(seed_year_tables())
    starts = [D(2025, 1, 1) + dt.timedelta(days=i) for i in range(0, 730, 7)]
    for start in starts:
        for n in (0, 1, 5, 20, 60):
            first = cal.add_working_days(start, n)
            assert cal.add_working_days(start, n) is first  # the second answer is remembered
            assert fresh.add_working_days(start, n, paused=[(start, start)]) == first  # walked, never kept
    with pytest.raises(CalendarError):  # a refusal is never remembered as an answer
        cal.add_working_days(D(2026, 1, 1), MAX_WORKING_DAYS + 1)
    with pytest.raises(CalendarError):
        cal.add_working_days(D(2026, 1, 1), MAX_WORKING_DAYS + 1)
    for i in range(5000):
        cal.add_working_days(D(2020, 1, 1) + dt.timedelta(days=i % 2500), 1 + i // 2500)
    assert len(cal._due_memo) <= 4096


def test_table_only_matters_for_days_actually_examined(cal: WorkCalendar) -> None:
    # The due date stays in 2026 even though the deadline is late in December.
    assert cal.add_working_days(D(2026, 12, 28), 3) == DueDate(D(2026, 12, 31), False)
    # A pause spanning the new year is skipped whatever 2027's table will say.
    due = cal.add_working_days(D(2026, 12, 30), 2, paused=[(D(2027, 1, 1), D(2027, 1, 5))])
    assert due == DueDate(D(2027, 1, 6), True)  # 6 Jan itself is still a provisional-rule guess


def test_with_table_versions(cal: WorkCalendar) -> None:
    v2 = YearTable(year=2026, holidays=("2026-03-11",), workdays=(), source="hub", version=2)
    newer = cal.with_table(v2)
    assert newer.table(2026) == v2
    assert newer.add_working_days(D(2026, 3, 7), 3).date == D(2026, 3, 12)
    stale = newer.with_table(_table_2026())  # version 1 replayed: ignored
    assert stale.table(2026) == v2
    same = YearTable(year=2026, holidays=(), workdays=(), source="hub", version=2)
    assert newer.with_table(same).table(2026) == same  # equal version replaces


def test_constructor_keeps_the_highest_version_in_order() -> None:
    a = YearTable(year=2030, holidays=("2030-01-01",), workdays=(), source="hub", version=3)
    b = YearTable(year=2030, holidays=(), workdays=(), source="hub", version=2)
    assert WorkCalendar([a, b]).table(2030) == a
    assert WorkCalendar([b, a]).table(2030) == a
    assert WorkCalendar().years == frozenset()


def test_calendar_is_immutable(cal: WorkCalendar) -> None:
    with pytest.raises(AttributeError):
        cal._tables = {}  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cal.anything = 1  # type: ignore[attr-defined]


# --- paused spans ------------------------------------------------------------------------------


def test_pause_inside_window_pushes_by_the_working_days_it_covers(cal: WorkCalendar) -> None:
    start = D(2026, 3, 9)  # Monday
    assert cal.add_working_days(start, 5).date == D(2026, 3, 16)
    # Thu 12 – Sat 14 Mar covers two working days.
    due = cal.add_working_days(start, 5, paused=[(D(2026, 3, 12), D(2026, 3, 14))])
    assert due == DueDate(D(2026, 3, 18), False)
    assert cal.working_days_between(start, due.date, paused=[(D(2026, 3, 12), D(2026, 3, 14))]) == 5


def test_pause_covering_start_day(cal: WorkCalendar) -> None:
    # Accepted Mon 9 Mar, paused Mon–Wed for a correction: counting starts on Thursday.
    due = cal.add_working_days(D(2026, 3, 9), 2, paused=[(D(2026, 3, 2), D(2026, 3, 11))])
    assert due.date == D(2026, 3, 13)


def test_overlapping_and_adjacent_pauses_are_merged(cal: WorkCalendar) -> None:
    start = D(2026, 3, 9)
    paused = [(D(2026, 3, 10), D(2026, 3, 12)), (D(2026, 3, 11), D(2026, 3, 11)), (D(2026, 3, 13), D(2026, 3, 13))]
    assert cal.add_working_days(start, 1, paused=paused).date == D(2026, 3, 16)
    assert cal.working_days_between(start, D(2026, 3, 16), paused=paused) == 1


def test_long_pause_is_cheap(cal: WorkCalendar) -> None:
    due = cal.add_working_days(D(2026, 1, 5), 1, paused=[(D(2026, 1, 6), D(9000, 1, 1))])
    assert due.date == D(9000, 1, 2) and due.provisional


def test_bad_pause_names_its_index(cal: WorkCalendar) -> None:
    with pytest.raises(CalendarError) as info:
        cal.add_working_days(D(2026, 3, 9), 2, paused=[(D(2026, 3, 1), D(2026, 3, 2)), (D(2026, 3, 5), D(2026, 3, 4))])
    assert info.value.field == "paused[1]"
    assert "paused[1]" in info.value.en and "paused[1]" in info.value.zh


# --- argument checks ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [-1, MAX_WORKING_DAYS + 1])
def test_n_out_of_range(cal: WorkCalendar, n: int) -> None:
    with pytest.raises(CalendarError) as info:
        cal.add_working_days(D(2026, 3, 9), n)
    assert info.value.field == "n" and info.value.code == "calendar"


def test_running_off_the_calendar_is_a_calendar_error(cal: WorkCalendar) -> None:
    with pytest.raises(CalendarError):
        cal.add_working_days(D(9999, 12, 20), 10)


def test_datetime_is_refused(cal: WorkCalendar) -> None:
    with pytest.raises(TypeError):
        cal.add_working_days(dt.datetime(2026, 3, 9, 9, 0), 1)


# --- working_days_between / remaining_working_days --------------------------------------------


def test_working_days_between_basics(cal: WorkCalendar) -> None:
    assert cal.working_days_between(D(2026, 3, 9), D(2026, 3, 9)) == 0
    assert cal.working_days_between(D(2026, 3, 16), D(2026, 3, 9)) == 0
    assert cal.working_days_between(D(2026, 9, 28), D(2026, 10, 10)) == 5
    # Whole of 2026: 261 Mon–Fri, minus 19 holidays falling on Mon–Fri, plus 6 make-up days.
    assert cal.working_days_between(D(2025, 12, 31), D(2026, 12, 31)) == 261 - 19 + 6
    # Whole range in one step; no day-by-day walk.
    assert cal.working_days_between(D(1, 1, 1), D(9999, 12, 31)) > 2_000_000


@pytest.mark.parametrize(
    ("today", "due", "left"),
    [
        (D(2026, 3, 11), D(2026, 3, 11), 0),  # due today
        (D(2026, 3, 10), D(2026, 3, 11), 1),
        (D(2026, 3, 6), D(2026, 3, 11), 3),  # Fri → Wed
        (D(2026, 3, 7), D(2026, 3, 8), 1),  # a weekend due date is still ahead
        (D(2026, 3, 9), D(2026, 3, 6), -1),  # Fri deadline, Monday
        (D(2026, 3, 10), D(2026, 3, 6), -2),
        (D(2026, 3, 7), D(2026, 3, 6), -1),  # Saturday after a Friday deadline: already overdue
        (D(2026, 9, 30), D(2026, 10, 10), 3),  # 8 Oct, 9 Oct, Sat 10 Oct
    ],
)
def test_remaining_working_days(cal: WorkCalendar, today: dt.date, due: dt.date, left: int) -> None:
    assert cal.remaining_working_days(today, due) == left


# --- validation --------------------------------------------------------------------------------


def _table(**kw: object) -> YearTable:
    fields: dict[str, object] = {"year": 2026, "holidays": (), "workdays": (), "source": "hub"}
    fields.update(kw)
    return YearTable(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("table", "field", "word"),
    [
        (_table(workdays=("2026-01-04", "2026-01-07")), "workdays[1]", "Wednesday"),
        (_table(holidays=("2025-12-31",)), "holidays[0]", "2026"),
        (_table(holidays=("2026-01-01", "2026-01-01")), "holidays[1]", "twice"),
        (_table(holidays=("2026-01-02", "2026-01-01")), "holidays[1]", "sorted"),
        (_table(holidays=("2026-1-1",)), "holidays[0]", "YYYY-MM-DD"),
        (_table(holidays=("20260101",)), "holidays[0]", "YYYY-MM-DD"),
        (_table(holidays=("2026-02-30",)), "holidays[0]", "YYYY-MM-DD"),
        (_table(holidays=("2026-01-03",), workdays=("2026-01-03",)), "workdays[0]", "holidays[0]"),
        (_table(version=0), "version", "positive"),
        (_table(year=0), "year", "between"),
    ],
)
def test_validation_names_year_and_field(table: YearTable, field: str, word: str) -> None:
    with pytest.raises(CalendarError) as info:
        validate_year_table(table)
    err = info.value
    assert err.field == field
    assert err.code == "calendar"
    assert field in err.en and field in err.zh
    assert str(table.year) in err.en and str(table.year) in err.zh
    assert word in err.en


def test_invalid_table_is_refused_by_calendar(cal: WorkCalendar) -> None:
    with pytest.raises(CalendarError):
        cal.with_table(_table(workdays=("2026-01-07",)))
    with pytest.raises(CalendarError):
        WorkCalendar([_table(holidays=("2027-01-01",))])


def test_valid_table_is_returned_unchanged() -> None:
    t = _table_2026()
    assert validate_year_table(t) is t


# --- wire form ---------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", [msgspec.msgpack, msgspec.json])
def test_year_table_round_trip(codec: object) -> None:
    t = _table_2026()
    wire = codec.encode(t)  # type: ignore[attr-defined]
    assert codec.decode(wire, type=YearTable) == t  # type: ignore[attr-defined]
    assert validate_year_table(codec.decode(wire, type=YearTable)) == t  # type: ignore[attr-defined]


def test_year_table_json_shape() -> None:
    t = YearTable(year=2027, holidays=("2027-01-01",), workdays=(), source="hub", version=2)
    assert msgspec.json.decode(msgspec.json.encode(t)) == {
        "year": 2027,
        "holidays": ["2027-01-01"],
        "workdays": [],
        "source": "hub",
        "version": 2,
    }


def test_due_date_round_trip() -> None:
    due = DueDate(D(2027, 1, 1), True)
    for codec in (msgspec.msgpack, msgspec.json):
        assert codec.decode(codec.encode(due), type=DueDate) == due


# --- properties --------------------------------------------------------------------------------

dates = st.dates(min_value=D(2004, 1, 1), max_value=D(2027, 12, 31))
spans = st.tuples(st.integers(-10, 90), st.integers(0, 20))


def _paused(start: dt.date, raw: list[tuple[int, int]]) -> list[tuple[dt.date, dt.date]]:
    return [(start + dt.timedelta(days=a), start + dt.timedelta(days=a + b)) for a, b in raw]


@given(start=dates, n=st.integers(0, 60))
def test_round_trip(start: dt.date, n: int) -> None:
    cal = default_calendar()
    due = cal.add_working_days(start, n)
    assert cal.working_days_between(start, due.date) == n
    if n == 0:
        assert due == DueDate(start, False)
    else:
        assert cal.is_workday(due.date)
        assert due.date > start
        assert due.provisional == (due.date.year > 2026)
        assert cal.remaining_working_days(start, due.date) == n


@given(start=dates, n=st.integers(0, 60), raw=st.lists(spans, max_size=3))
def test_round_trip_with_pauses(start: dt.date, n: int, raw: list[tuple[int, int]]) -> None:
    cal = default_calendar()
    paused = _paused(start, raw)
    due = cal.add_working_days(start, n, paused=paused)
    assert cal.working_days_between(start, due.date, paused=paused) == n
    if n >= 1:
        assert cal.is_workday(due.date)
        assert not any(first <= due.date <= last for first, last in paused)
        # Pauses only ever push a deadline later.
        assert due.date >= cal.add_working_days(start, n).date


@given(a=dates, b=dates, raw=st.lists(spans, max_size=3))
def test_between_matches_a_day_by_day_count(a: dt.date, b: dt.date, raw: list[tuple[int, int]]) -> None:
    cal = default_calendar()
    paused = _paused(a, raw)
    end = min(b, a + dt.timedelta(days=400))
    expected, day = 0, a + dt.timedelta(days=1)
    while day <= end:
        if cal.is_workday(day) and not any(first <= day <= last for first, last in paused):
            expected += 1
        day += dt.timedelta(days=1)
    assert cal.working_days_between(a, end, paused=paused) == expected
