"""Calendar publication: the State Council's yearly notice as a file, checked whole, published as the year's next table.

The file is JSON in the shape of the notice, fixed so operators can script it::

    {"year": 2027,
     "holidays": [{"name": "元旦", "from": "2027-01-01", "to": "2027-01-01"}, ...],
     "workdays": ["2027-02-06", ...]}

Spans are inclusive; ``workdays`` are the make-up working weekend days (调休上班). ``hub calendar
show --json`` prints exactly this format, so an operator edits it and publishes it back.
Publishing queues the table to every active station's feed and moves the hub's own due dates
(:func:`hub.deadlines.recompute_year`), in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import msgspec
from chinese_calendar import constants as _cc

from hub.deadlines import Recomputed, recompute_year
from hub.feed import queue
from hub.store import CalendarVersionRow, HubStoreProtocol
from sync.errors import NotFoundError, Problem, ProblemsError
from sync.holidays import STATUTORY_FIRST_YEAR, STATUTORY_LAST_YEAR, statutory_holidays
from sync.protocol import CalendarItem
from sync.text import printable
from sync.timeutil import iso_utc
from sync.workdays import YearTable, validate_year_table

__all__ = (
    "SOURCE",
    "CalendarView",
    "HolidaySpan",
    "Notice",
    "NoticeError",
    "Problem",
    "Published",
    "calendar_view",
    "notice_from_table",
    "notice_json",
    "notice_warnings",
    "publish_calendar",
    "read_notice",
)

SOURCE = "hub"
"""The ``source`` of a published table (a seeded one says ``chinese-calendar X.Y``)."""

MAX_NAME_CHARS = 40
MAX_SPAN_DAYS = 31
"""The longest holiday span accepted: the longest ever arranged is 9 days; a longer one is a typo."""

_FIELDS = ("year", "holidays", "workdays")
_SPAN_FIELDS = ("name", "from", "to")
_WEEKDAYS_ZH = "一二三四五六日"
_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# chinese-calendar's festival names (its English ones) as the State Council's notice spells them.
_NOTICE_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
}
_CC_CHINESE = {holiday.value: getattr(holiday, "chinese", "") for holiday in _cc.Holiday}  # set in its __new__
_ONE_DAY = dt.timedelta(days=1)


class HolidaySpan(msgspec.Struct, frozen=True, kw_only=True):
    """One festival's days off as the notice gives them (``first`` to ``last``, inclusive)."""

    name: str
    first: dt.date
    last: dt.date

    def days(self) -> list[dt.date]:
        """Every day of the span, in order."""
        return [self.first + i * _ONE_DAY for i in range((self.last - self.first).days + 1)]


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    """A year's arrangement: holiday spans in date order, make-up working days in date order."""

    year: int
    holidays: tuple[HolidaySpan, ...]
    workdays: tuple[dt.date, ...]

    def to_data(self) -> dict[str, Any]:
        """The file format (what ``publish`` reads and ``show --json`` prints)."""
        return {
            "year": self.year,
            "holidays": [
                {"name": s.name, "from": s.first.isoformat(), "to": s.last.isoformat()} for s in self.holidays
            ],
            "workdays": [d.isoformat() for d in self.workdays],
        }

    def table(self, version: int, source: str = SOURCE) -> YearTable:
        """The year table stations get: every day off, every make-up day."""
        days = sorted({d for span in self.holidays for d in span.days()})
        return YearTable(
            year=self.year,
            holidays=tuple(d.isoformat() for d in days),
            workdays=tuple(d.isoformat() for d in self.workdays),
            source=source,
            version=version,
        )


class NoticeError(ProblemsError):
    """A calendar file with problems: all of them, listed at once (一次性告知); nothing was published."""

    code = "calendar.notice"
    file_zh = "工作日历文件"
    file_en = "calendar file"


def _weekday(day: dt.date) -> tuple[str, str]:
    return f"周{_WEEKDAYS_ZH[day.weekday()]}", _WEEKDAYS_EN[day.weekday()]


class _Reader:
    """Collects every problem of one file instead of stopping at the first."""

    def __init__(self, year: int | None) -> None:
        self.year = year
        self.problems: list[Problem] = []

    def problem(self, where: str, zh: str, en: str) -> None:
        self.problems.append(Problem(where, zh, en))

    def object(self, where: str, value: Any, fields: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            kind = type(value).__name__
            self.problem(where, f"应为 JSON 对象（{{…}}），实为 {kind}", f"must be a JSON object ({{…}}), not {kind}")
            return None
        for name in fields:
            if name not in value:
                self.problem(f"{where}.{name}" if where != "file" else name, "缺少此字段", "is missing")
        for name in value:
            if name not in fields:
                shown = printable(name)[:40]
                self.problem(
                    where,
                    f"有未知字段「{shown}」（只允许 {'、'.join(fields)}）",
                    f"has an unknown field {shown!r} (only {', '.join(fields)})",
                )
        return value

    def date(self, where: str, value: Any, year: int | None) -> dt.date | None:
        day = None
        if isinstance(value, str) and len(value) == 10:
            try:
                day = dt.date.fromisoformat(value)
            except ValueError:
                day = None
        if day is None:
            shown = printable(json.dumps(value, ensure_ascii=False))[:40]
            self.problem(where, f"{shown} 不是 YYYY-MM-DD 格式的日期", f"{shown} is not a date in the form YYYY-MM-DD")
            return None
        if year is not None and day.year != year:
            self.problem(where, f"{day} 不在 {year} 年内", f"{day} is not in {year}")
            return None  # nothing more to say about a date of another year
        return day

    def read(self, data: Any) -> Notice | None:
        top = self.object("file", data, _FIELDS)
        if top is None:
            return None
        year = self._year(top.get("year"), "year" in top)
        spans = self._spans(top.get("holidays"), year) if "holidays" in top else []
        workdays = self._workdays(top.get("workdays"), year, spans) if "workdays" in top else []
        if self.problems or year is None:
            return None
        return Notice(year=year, holidays=tuple(spans), workdays=tuple(workdays))

    def _year(self, value: Any, present: bool) -> int | None:
        if not present:
            return self.year
        if isinstance(value, bool) or not isinstance(value, int) or not 2000 <= value <= 2099:
            shown = printable(json.dumps(value, ensure_ascii=False))[:40]
            self.problem("year", f"{shown} 不是 2000 到 2099 之间的年份", f"{shown} is not a year from 2000 to 2099")
            return self.year
        if self.year is not None and value != self.year:
            self.problem(
                "year",
                f"文件是 {value} 年的，命令指定的是 --year {self.year}；请核对文件",
                f"the file is for {value} but the command says --year {self.year}; check the file",
            )
        return value  # the dates are checked against the file's own year: one problem, not one per date

    def _spans(self, value: Any, year: int | None) -> list[HolidaySpan]:
        if not isinstance(value, list):
            self.problem("holidays", "应为列表（[…]）", "must be a list ([…])")
            return []
        if not value:
            self.problem(
                "holidays",
                "为空：一年总有法定节假日（文件不完整？）",
                "is empty: a year has holidays (a file cut short?)",
            )
        spans: list[tuple[int, HolidaySpan]] = []
        for i, entry in enumerate(value):
            where = f"holidays[{i}]"
            item = self.object(where, entry, _SPAN_FIELDS)
            if item is None:
                continue
            name = item.get("name")
            if "name" in item and (
                not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS or printable(name) != name
            ):
                self.problem(
                    f"{where}.name",
                    f"应为节日名称（1 到 {MAX_NAME_CHARS} 个可见字符），如「春节」",
                    f"must be the festival's name (1 to {MAX_NAME_CHARS} printable characters), e.g. 春节",
                )
                name = None
            first = self.date(f"{where}.from", item.get("from"), year) if "from" in item else None
            last = self.date(f"{where}.to", item.get("to"), year) if "to" in item else None
            if first is None or last is None or not isinstance(name, str):
                continue
            if last < first:
                self.problem(where, f"结束日 {last} 早于开始日 {first}", f"ends ({last}) before it starts ({first})")
                continue
            if (last - first).days + 1 > MAX_SPAN_DAYS:
                self.problem(
                    where,
                    f"{first} 至 {last} 超过 {MAX_SPAN_DAYS} 天；请核对日期",
                    f"{first} to {last} is longer than {MAX_SPAN_DAYS} days; check the dates",
                )
                continue
            spans.append((i, HolidaySpan(name=name.strip(), first=first, last=last)))
        ordered = sorted(spans, key=lambda pair: (pair[1].first, pair[0]))
        # Every pair, not only neighbours: a long span may overlap several (a handful of spans a year).
        for n, (i, a) in enumerate(ordered):
            for j, b in ordered[n + 1 :]:
                if b.first > a.last:
                    break
                self.problem(
                    f"holidays[{j}]",
                    f"{b.name} {b.first} 至 {b.last} 与 holidays[{i}]（{a.name} {a.first} 至 {a.last}）重叠",
                    f"{b.name} {b.first} to {b.last} overlaps holidays[{i}] ({a.name} {a.first} to {a.last})",
                )
        return [span for _, span in ordered]

    def _workdays(self, value: Any, year: int | None, spans: list[HolidaySpan]) -> list[dt.date]:
        if not isinstance(value, list):
            self.problem("workdays", "应为日期列表（[…]，可为空）", "must be a list of dates ([…], may be empty)")
            return []
        seen: dict[dt.date, int] = {}
        for i, entry in enumerate(value):
            where = f"workdays[{i}]"
            day = self.date(where, entry, year)
            if day is None:
                continue
            if day in seen:
                self.problem(where, f"{day} 与 workdays[{seen[day]}] 重复", f"{day} repeats workdays[{seen[day]}]")
                continue
            seen[day] = i
            if day.weekday() < 5:
                zh, en = _weekday(day)
                self.problem(
                    where,
                    f"{day} 是{zh}；调休上班日只能是周六或周日",
                    f"{day} is a {en}; a make-up working day must be a Saturday or Sunday",
                )
            for k, span in enumerate(spans):
                if span.first <= day <= span.last:
                    self.problem(
                        where,
                        f"{day} 在{span.name}假期（{span.first} 至 {span.last}）之内，不能同时是调休上班日",
                        f"{day} is inside the {span.name} holiday ({span.first} to {span.last}); "
                        "it cannot also be a make-up working day",
                    )
        return sorted(seen)


def read_notice(raw: bytes | str, *, year: int | None = None) -> Notice:
    """Parse and check a calendar file; every problem at once.

    Args:
        raw: The file's bytes (UTF-8) or text.
        year: The year the operator means (``--year``); the file must say the same.

    Raises:
        NoticeError: listing every problem found: unreadable JSON, a missing or unknown field, a
            date malformed or outside the year, a span ending before it starts or overlapping
            another, a make-up day that is a weekday, repeated or inside a holiday span.
    """
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
        data = json.loads(text)
    except UnicodeDecodeError:
        raise NoticeError([Problem("file", "不是 UTF-8 编码的文本", "is not UTF-8 text")]) from None
    except json.JSONDecodeError as exc:
        raise NoticeError(
            [
                Problem(
                    "file",
                    f"不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}）",
                    f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                )
            ]
        ) from None
    reader = _Reader(year)
    notice = reader.read(data)
    if reader.problems or notice is None:
        raise NoticeError(reader.problems or [Problem("year", "缺少此字段", "is missing")])
    return notice


def notice_warnings(notice: Notice) -> list[Problem]:
    """Statutory days (全国年节及纪念日放假办法, 2024) the notice leaves as working days: allowed (the
    regulation may change again), but most likely a typo, so ``publish`` says so."""
    if not STATUTORY_FIRST_YEAR <= notice.year <= STATUTORY_LAST_YEAR:
        return []
    off = {d for span in notice.holidays for d in span.days()}
    warnings = []
    for holiday in statutory_holidays(notice.year):
        for day in holiday.days():
            if day not in off:
                warnings.append(
                    Problem(
                        "holidays",
                        f"法定节假日 {holiday.name} {day} 不在任何假期内",
                        f"the statutory holiday {holiday.name_en} {day} is not inside any holiday span",
                    )
                )
    return warnings


def notice_json(notice: Notice) -> str:
    """The notice in the file format, one holiday span a line as the notice lists them, Chinese kept readable."""
    data = notice.to_data()
    spans = ",\n".join(f"    {json.dumps(span, ensure_ascii=False)}" for span in data["holidays"])
    return (
        "{\n"
        f'  "year": {data["year"]},\n'
        f'  "holidays": [\n{spans}\n  ],\n'
        f'  "workdays": {json.dumps(data["workdays"])}\n'
        "}"
    )


def notice_from_table(table: YearTable) -> Notice:
    """A notice for a table that came without one (seeded by ``hub init``): runs of consecutive days
    off become spans, named as the notice names the festival (from chinese-calendar's data, else
    the statutory holiday inside the run)."""
    days = [dt.date.fromisoformat(d) for d in table.holidays]
    runs: list[list[dt.date]] = []
    for day in days:
        if runs and day - runs[-1][-1] == _ONE_DAY:
            runs[-1].append(day)
        else:
            runs.append([day])
    statutory = statutory_holidays(table.year) if STATUTORY_FIRST_YEAR <= table.year <= STATUTORY_LAST_YEAR else ()
    spans = []
    for run in runs:
        names: list[str] = []
        for day in run:
            english = _cc.holidays.get(day)
            name = _NOTICE_NAMES.get(english) or _CC_CHINESE.get(english) if english else None
            name = name or next((h.name for h in statutory if h.first <= day <= h.last), None)
            if name and name not in names:
                names.append(name)
        spans.append(HolidaySpan(name="、".join(names) or "假日", first=run[0], last=run[-1]))
    return Notice(
        year=table.year, holidays=tuple(spans), workdays=tuple(dt.date.fromisoformat(d) for d in table.workdays)
    )


class Published(msgspec.Struct, frozen=True, kw_only=True):
    """What ``publish`` did."""

    year: int
    version: int
    """The version in force afterwards (the new one, or the current one when ``unchanged``)."""
    unchanged: bool
    """The file gave the same days as the version in force: nothing was published."""
    stations: int = 0
    """Active stations the table was queued to."""
    recomputed: Recomputed | None = None


def publish_calendar(store: HubStoreProtocol, notice: Notice, *, now: dt.datetime) -> Published:
    """Publish ``notice`` as the next version of its year's table, in one transaction.

    The table goes into every active station's feed (signed when sealed, like every feed item), and
    the hub moves the due dates of its open cases and 容缺 commitments whose count runs through the
    year, each move written to the case's history. A file giving the same days as the version in
    force publishes nothing (``unchanged``), so running the same command twice is harmless.
    """
    # The due dates it moves are on case rows a station's set may be writing at the same moment: PostgreSQL
    # may roll one of the two back (a deadlock), and then this runs again from what the hub holds then
    # (hub.store.locks); a publication that went through meanwhile makes it ``unchanged``.
    return store.retrying(lambda: _publish(store, notice, now=now))


def _publish(store: HubStoreProtocol, notice: Notice, *, now: dt.datetime) -> Published:
    with store.locked():
        current = store.calendar_year(notice.year)
        if current is not None:
            same = notice.table(current.table.version, current.table.source)
            if (same.holidays, same.workdays) == (current.table.holidays, current.table.workdays):
                return Published(year=notice.year, version=current.table.version, unchanged=True)
        version = current.table.version + 1 if current is not None else 1
        table = validate_year_table(notice.table(version))
        before = store.calendar()
        store.put_calendar_version(table, json.dumps(notice.to_data(), ensure_ascii=False), now)
        stations = [s.station_id for s in store.stations(enrolled_only=True)]
        queue(store, stations, CalendarItem(table), at=iso_utc(now))
        recomputed = recompute_year(store, table, before, now=now)
    return Published(year=notice.year, version=version, unchanged=False, stations=len(stations), recomputed=recomputed)


class CalendarView(msgspec.Struct, frozen=True, kw_only=True):
    """A year's table in force, as ``hub calendar show`` prints it."""

    year: int
    version: int
    source: str
    published_at: str
    notice: Notice
    versions: list[CalendarVersionRow]
    """Every version published with ``hub calendar publish``, oldest first (none for a seeded year)."""


def calendar_view(store: HubStoreProtocol, year: int, version: int | None = None) -> CalendarView:
    """The year's table in force (or an earlier published ``version``) with its notice.

    Raises:
        NotFoundError: The hub has no table for ``year``, or no such version.
    """
    current = store.calendar_year(year)
    versions = store.calendar_versions(year)
    if current is None:
        raise NotFoundError(
            zh=f"县平台没有 {year} 年的工作日历；用“hub calendar publish --year {year} 文件”发布",
            en=f"the hub has no calendar for {year}; publish one with 'hub calendar publish --year {year} FILE'",
            field="year",
        )
    wanted = current.table.version if version is None else version
    row = next((v for v in versions if v.version == wanted), None)
    if row is not None:
        notice = read_notice(row.notice, year=year)
        return CalendarView(
            year=year,
            version=row.version,
            source=row.source,
            published_at=row.published_at,
            notice=notice,
            versions=versions,
        )
    if wanted != current.table.version:
        raise NotFoundError(
            zh=f"{year} 年工作日历没有第 {wanted} 版（现行第 {current.table.version} 版）",
            en=f"the {year} calendar has no version {wanted} (version {current.table.version} is in force)",
            field="version",
        )
    return CalendarView(
        year=year,
        version=current.table.version,
        source=current.table.source,
        published_at=current.published_at,
        notice=notice_from_table(current.table),
        versions=versions,
    )
