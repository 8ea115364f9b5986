"""Working-day calendar: hub-signed year tables of holidays and make-up days, and deadline arithmetic."""

from __future__ import annotations

import bisect
import datetime as dt
import functools
from collections.abc import Iterable, Sequence

import chinese_calendar
import msgspec
from chinese_calendar import constants as _cc

from sync.errors import CalendarError
from sync.holidays import STATUTORY_FIRST_YEAR, STATUTORY_LAST_YEAR, statutory_days_off

__all__ = (
    "MAX_WORKING_DAYS",
    "DueDate",
    "WorkCalendar",
    "YearTable",
    "default_calendar",
    "seed_year_tables",
    "validate_year_table",
)

MAX_WORKING_DAYS = 3650
"""Largest ``n`` :meth:`WorkCalendar.add_working_days` accepts; no legal limit comes near it."""

# Even a table declaring a whole year off cannot make the scan longer than this many
# unpaused calendar days, so a hostile or broken table cannot hang a station.
_MAX_SCAN_DAYS = 50 * 366

_ONE_DAY = dt.timedelta(days=1)
# Spelled out because strftime("%A") follows the process locale.
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class YearTable(msgspec.Struct, frozen=True, kw_only=True):
    """One year's official schedule, as the county hub signs and sends it down.

    Dates are ISO strings (``YYYY-MM-DD``) rather than ``date`` objects so the wire form is
    the same in msgpack and JSON.

    Attributes:
        year: The calendar year the table covers.
        holidays: Every statutory day off inside a holiday period (weekends included), sorted.
        workdays: Make-up working days (调休上班), each a Saturday or Sunday, sorted.
        source: Where the table came from, e.g. ``"chinese-calendar 1.11.0"`` or ``"hub"``.
        version: Revision of this year's table; a higher or equal version replaces a lower one.
    """

    year: int
    holidays: tuple[str, ...]
    workdays: tuple[str, ...]
    source: str
    version: int = 1


class DueDate(msgspec.Struct, frozen=True):
    """A computed deadline.

    Attributes:
        date: The due date.
        provisional: True when some day whose working status decided the result lies in a year
            without a table; the provisional rule (statutory holidays and weekends off, no
            make-up days) was used there, so the date must be recomputed once that year's table
            arrives.
    """

    date: dt.date
    provisional: bool


def _table_error(t: YearTable, field: str, *, zh: str, en: str) -> CalendarError:
    return CalendarError(
        zh=f"{t.year} 年工作日历表：{field} {zh}",
        en=f"calendar table for {t.year}: {field} {en}",
        field=field,
    )


def _parse_list(t: YearTable, name: str, values: Sequence[object]) -> list[dt.date]:
    dates: list[dt.date] = []
    for i, raw in enumerate(values):
        field = f"{name}[{i}]"
        try:
            day = dt.date.fromisoformat(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            day = None
        # fromisoformat also takes "20260101" and week dates; only the canonical form is
        # accepted so that equal tables always have equal bytes (they are signed).
        if day is None or day.isoformat() != raw:
            en, zh = f"{raw!r} is not a date in the form YYYY-MM-DD", f"「{raw}」不是 YYYY-MM-DD 格式的日期"
            raise _table_error(t, field, zh=zh, en=en)
        if day.year != t.year:
            raise _table_error(t, field, zh=f"{raw} 不在 {t.year} 年内", en=f"{raw} is not in year {t.year}")
        if dates and day == dates[-1]:
            raise _table_error(t, field, zh=f"{raw} 重复列出", en=f"{raw} is listed twice")
        if dates and day < dates[-1]:
            en, zh = f"{raw} is out of order (the list must be sorted)", f"{raw} 顺序错误（须按日期排序）"
            raise _table_error(t, field, zh=zh, en=en)
        dates.append(day)
    return dates


def validate_year_table(t: YearTable) -> YearTable:
    """Check a year table before it is used for any deadline.

    Args:
        t: The table, typically just decoded from a hub message.

    Returns:
        The same table, unchanged.

    Raises:
        CalendarError: A date is malformed, outside ``t.year``, duplicated or out of order; a
            make-up day is not a Saturday or Sunday; a date is in both lists; or the year or
            version is out of range. ``field`` names the offending entry, e.g. ``holidays[3]``.
    """
    if not isinstance(t.year, int) or not 1 <= t.year <= 9999:
        raise _table_error(t, "year", zh="必须在 1 到 9999 之间", en="must be between 1 and 9999")
    if not isinstance(t.version, int) or t.version < 1:
        raise _table_error(t, "version", zh=f"{t.version!r} 不是正整数", en=f"{t.version!r} is not a positive integer")
    holidays = _parse_list(t, "holidays", t.holidays)
    workdays = _parse_list(t, "workdays", t.workdays)
    holiday_index = {day: i for i, day in enumerate(holidays)}
    for i, day in enumerate(workdays):
        field = f"workdays[{i}]"
        if day.weekday() < 5:
            en = f"{day} is a {_WEEKDAY_NAMES[day.weekday()]}; a make-up working day must be a Saturday or Sunday"
            raise _table_error(t, field, zh=f"{day} 不是周六或周日，调休上班日只能是周末", en=en)
        if day in holiday_index:
            other = f"holidays[{holiday_index[day]}]"
            raise _table_error(t, field, zh=f"{day} 同时列在 {other} 中", en=f"{day} is also listed as {other}")
    return t


def seed_year_tables() -> tuple[YearTable, ...]:
    """One table per year covered by the installed ``chinese_calendar`` data, oldest first.

    The year range is taken from the data, the way ``chinese_calendar`` itself decides what
    it supports, so a newer release extends the seed without a code change.
    """
    years = [day.year for day in _cc.holidays]
    source = f"chinese-calendar {chinese_calendar.__version__}"
    tables: list[YearTable] = []
    for year in range(min(years), max(years) + 1):
        tables.append(
            YearTable(
                year=year,
                holidays=tuple(sorted(d.isoformat() for d in _cc.holidays if d.year == year)),
                workdays=tuple(sorted(d.isoformat() for d in _cc.workdays if d.year == year)),
                source=source,
            )
        )
    return tuple(validate_year_table(t) for t in tables)


def _weekdays_through(ordinal: int) -> int:
    # Ordinal 1 (0001-01-01) is a Monday, so each block of 7 ordinals starts with Mon–Fri.
    weeks, rest = divmod(ordinal, 7)
    return weeks * 5 + min(rest, 5)


def _check_date(name: str, value: object) -> None:
    # A datetime compares unequal to the table's dates and would silently skip every holiday.
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime.date, not {type(value).__name__}")


def _merge_paused(paused: Sequence[tuple[dt.date, dt.date]]) -> list[tuple[dt.date, dt.date]]:
    spans: list[tuple[dt.date, dt.date]] = []
    for i, span in enumerate(paused):
        first, last = span
        _check_date(f"paused[{i}][0]", first)
        _check_date(f"paused[{i}][1]", last)
        if last < first:
            raise CalendarError(
                zh=f"paused[{i}] 的结束日期（{last}）早于开始日期（{first}）",
                en=f"paused[{i}] ends ({last}) before it starts ({first})",
                field=f"paused[{i}]",
            )
        spans.append((first, last))
    spans.sort()
    merged: list[tuple[dt.date, dt.date]] = []
    for first, last in spans:
        if merged and first.toordinal() <= merged[-1][1].toordinal() + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


_DUE_MEMO_SIZE = 4096
"""Due dates a calendar remembers (start and working days; a few years of acceptance days by a dozen limits)."""


class WorkCalendar:
    """An immutable set of year tables answering working-day questions.

    A working day is a make-up day, or a Monday–Friday that is not a holiday (brief §7.3).
    A year without a table takes the provisional rule: the statutory holidays of the national
    regulation (:mod:`sync.holidays`) and weekends are off and no make-up day is known; results
    that depended on such a year are flagged provisional.
    """

    __slots__ = ("_due_memo", "_holidays", "_makeup", "_makeup_ords", "_tables", "_weekday_holiday_ords")
    # The slots' types, for the type checker (set once in __init__ through object.__setattr__).
    _tables: dict[int, YearTable]
    _holidays: frozenset[dt.date]
    _makeup: frozenset[dt.date]
    _weekday_holiday_ords: list[int]
    _makeup_ords: list[int]
    _due_memo: dict[tuple[dt.date, int], DueDate]

    def __init__(self, tables: Iterable[YearTable] = ()) -> None:
        """Build a calendar.

        Args:
            tables: Year tables, each validated; for a repeated year a later table with a
                higher or equal version replaces the earlier one, a lower version is ignored.

        Raises:
            CalendarError: A table is invalid.
        """
        by_year: dict[int, YearTable] = {}
        for t in tables:
            validate_year_table(t)
            current = by_year.get(t.year)
            if current is None or t.version >= current.version:
                by_year[t.year] = t
        holidays = {dt.date.fromisoformat(s) for t in by_year.values() for s in t.holidays}
        makeup = {dt.date.fromisoformat(s) for t in by_year.values() for s in t.workdays}
        set_ = object.__setattr__
        set_(self, "_tables", dict(sorted(by_year.items())))
        set_(self, "_holidays", frozenset(holidays))
        set_(self, "_makeup", frozenset(makeup))
        # Sorted ordinals let working_days_between count by arithmetic instead of by walking days.
        set_(self, "_weekday_holiday_ords", sorted(d.toordinal() for d in holidays if d.weekday() < 5))
        set_(self, "_makeup_ords", sorted(d.toordinal() for d in makeup))
        # add_working_days without pauses, by (start, n): a backlog's cases accepted on one day with one
        # item's limit walk the same days (the calendar never changes, so neither does the answer).
        set_(self, "_due_memo", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        years = sorted(self._tables)
        span = f"{years[0]}–{years[-1]}" if years else "none"
        return f"WorkCalendar(years={span}, tables={len(years)})"

    @property
    def years(self) -> frozenset[int]:
        """The years that have a table."""
        return frozenset(self._tables)

    @property
    def tables(self) -> tuple[YearTable, ...]:
        """The tables in use, one per year, oldest first."""
        return tuple(self._tables.values())

    def has_year(self, year: int) -> bool:
        """Whether ``year`` has a table (otherwise the provisional rule applies)."""
        return year in self._tables

    def table(self, year: int) -> YearTable | None:
        """The table in use for ``year``, or None."""
        return self._tables.get(year)

    def with_table(self, t: YearTable) -> WorkCalendar:
        """A new calendar with ``t`` added or replacing its year's table.

        The rule is the constructor's: a table with a lower version than the one in use is
        ignored (a replayed old hub message must not undo a correction).

        Raises:
            CalendarError: ``t`` is invalid.
        """
        return WorkCalendar([*self._tables.values(), t])

    def is_workday(self, d: dt.date) -> bool:
        """Whether ``d`` is a working day: make-up day, else not a holiday and Mon–Fri.

        In a year without a table the holidays are the regulation's statutory days.
        """
        if d in self._makeup:
            return True
        if d.weekday() >= 5 or d in self._holidays:
            return False
        return d.year in self._tables or d not in statutory_days_off(d.year)

    def add_working_days(self, start: dt.date, n: int, *, paused: Sequence[tuple[dt.date, dt.date]] = ()) -> DueDate:
        """The due date ``n`` working days after ``start``.

        ``start`` (the acceptance day) is never counted (Civil Code art. 201); the due date is
        the n-th working day after it, and ``n == 0`` means ``start`` itself (same-day items).
        Days inside a paused span are not counted.

        Weekend or holiday acceptance (brief §11 question 3, open with the county): the first
        counted day is simply the first working day after ``start``. Accepted Sat 2026-03-07
        with 3 days gives Wed 2026-03-11, not ``chinese_calendar.find_workday``'s 03-12 (which
        treats Monday as day 0). Both agree whenever ``start`` is a working day.

        Args:
            start: The acceptance day.
            n: Promised working days, 0 to :data:`MAX_WORKING_DAYS`.
            paused: Inclusive ``(first, last)`` date spans that do not count: corrections
                (补正), suspensions, hearings, expert reviews. They may overlap and may cover
                ``start``.

        Returns:
            The due date; provisional when a counted or skipped non-paused day lies in a year
            without a table (the provisional rule decided it). Paused days never make it provisional: they are skipped whatever
            the table says.

        Raises:
            CalendarError: ``n`` is negative or too large, a paused span ends before it
                starts, or the count runs off the calendar.
        """
        if not paused:
            known = self._due_memo.get((start, n))
            if known is not None:
                return known
        _check_date("start", start)
        if not 0 <= n <= MAX_WORKING_DAYS:
            raise CalendarError(
                zh=f"工作日数必须在 0 到 {MAX_WORKING_DAYS} 之间，实际为 {n}",
                en=f"working days must be between 0 and {MAX_WORKING_DAYS}, got {n}",
                field="n",
            )
        due = self._walk(start, n, paused)
        if not paused:
            if len(self._due_memo) >= _DUE_MEMO_SIZE:
                self._due_memo.clear()
            self._due_memo[(start, n)] = due
        return due

    def _walk(self, start: dt.date, n: int, paused: Sequence[tuple[dt.date, dt.date]]) -> DueDate:
        """add_working_days's count, day by day from ``start``."""
        spans = _merge_paused(paused)
        firsts = [first for first, _ in spans]
        day, counted, scanned, provisional = start, 0, 0, False
        try:
            while counted < n:
                day += _ONE_DAY
                i = bisect.bisect_right(firsts, day) - 1
                if i >= 0 and day <= spans[i][1]:
                    day = spans[i][1]  # jump: a long suspension costs one step
                    continue
                scanned += 1
                if scanned > _MAX_SCAN_DAYS:
                    raise OverflowError
                if day.year not in self._tables:
                    provisional = True
                if self.is_workday(day):
                    counted += 1
        except OverflowError:
            raise CalendarError(
                zh=f"无法在日历中找到 {start} 之后第 {n} 个工作日",
                en=f"{n} working days after {start} cannot be found in the calendar",
                field="n",
            ) from None
        return DueDate(day, provisional)

    def _count(self, first: int, last: int) -> int:
        # Working days with ordinal in [first, last], tables and provisional rule combined.
        if last < first:
            return 0
        weekdays = _weekdays_through(last) - _weekdays_through(first - 1)
        off_ords, extra_ords = self._weekday_holiday_ords, self._makeup_ords
        off = bisect.bisect_right(off_ords, last) - bisect.bisect_left(off_ords, first)
        extra = bisect.bisect_right(extra_ords, last) - bisect.bisect_left(extra_ords, first)
        # Years without a table lose their statutory weekdays; the rule's years are bounded, so
        # even a range over millennia looks at no more than a few dozen years here.
        lo_year = max(dt.date.fromordinal(first).year, STATUTORY_FIRST_YEAR)
        hi_year = min(dt.date.fromordinal(last).year, STATUTORY_LAST_YEAR)
        for year in range(lo_year, hi_year + 1):
            if year not in self._tables:
                ords = _statutory_weekday_ords(year)
                off += bisect.bisect_right(ords, last) - bisect.bisect_left(ords, first)
        return weekdays - off + extra

    def working_days_between(
        self, start: dt.date, end: dt.date, *, paused: Sequence[tuple[dt.date, dt.date]] = ()
    ) -> int:
        """Number of working days ``d`` with ``start < d <= end`` outside every paused span.

        0 when ``end <= start``. For ``n >= 0``,
        ``working_days_between(s, add_working_days(s, n, paused=p).date, paused=p) == n``.
        Counted arithmetically, so any range is cheap.

        Raises:
            CalendarError: A paused span ends before it starts.
        """
        _check_date("start", start)
        _check_date("end", end)
        spans = _merge_paused(paused)
        lo, hi = start.toordinal() + 1, end.toordinal()
        total = self._count(lo, hi)
        for first, last in spans:  # merged, so no working day is subtracted twice
            total -= self._count(max(first.toordinal(), lo), min(last.toordinal(), hi))
        return total

    def remaining_working_days(self, today: dt.date, due: dt.date) -> int:
        """Working days left until ``due``, seen from ``today``; negative when overdue.

        Precisely:

        * ``today == due``: 0 (due today).
        * ``today < due``: ``working_days_between(today, due)``, but at least 1. Tuesday
          before a Wednesday deadline gives 1; Friday before a Wednesday deadline gives 3.
        * ``today > due``: minus ``working_days_between(due, today)``, but at most -1.
          Monday after a Friday deadline gives -1, Tuesday -2, and Saturday right after the
          Friday deadline also -1: the deadline has passed even though no working day has.

        The sign therefore always matches the calendar order of the two dates. Pauses are
        already inside ``due``; recompute ``due`` when a pause starts or ends.
        """
        if today == due:
            return 0
        if today < due:
            return max(1, self.working_days_between(today, due))
        return -max(1, self.working_days_between(due, today))


@functools.cache
def _statutory_weekday_ords(year: int) -> tuple[int, ...]:
    # The statutory days that fall Monday–Friday (weekends are off anyway), as sorted ordinals.
    return tuple(sorted(d.toordinal() for d in statutory_days_off(year) if d.weekday() < 5))


@functools.lru_cache(maxsize=1)
def default_calendar() -> WorkCalendar:
    """The calendar seeded from ``chinese_calendar`` (before any hub table arrives)."""
    return WorkCalendar(seed_year_tables())
