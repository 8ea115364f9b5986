"""Statutory holidays of the national regulation, the days off of a year the State Council has not yet arranged."""

from __future__ import annotations

import datetime as dt
import functools

import msgspec

__all__ = (
    "STATUTORY_FIRST_YEAR",
    "STATUTORY_LAST_YEAR",
    "StatutoryHoliday",
    "lunar_to_solar",
    "qingming",
    "statutory_days_off",
    "statutory_holidays",
)

STATUTORY_FIRST_YEAR = 2025
"""First year of the regulation as revised in 2024 (in force from 2025-01-01); earlier years had other holidays."""

STATUTORY_LAST_YEAR = 2099
"""Last year the rule is applied; past it a year without a table falls back to Monday–Friday.

Through it the library's Qingming agrees with chinese-calendar's solar-term table (tested). That
table ends in 2100, the one year they disagree: the term falls at 00:44 on 5 April Beijing time,
and chinese-calendar's approximate formula puts it on the 4th. No real deadline reaches that far.
"""

_ONE_DAY = dt.timedelta(days=1)


class StatutoryHoliday(msgspec.Struct, frozen=True, kw_only=True):
    """One festival's statutory days off (inclusive span), in the shape of the State Council's notice.

    Attributes:
        name: The festival's name in Chinese, as the notice spells it (e.g. ``"春节"``).
        name_en: Its English name.
        first: The first day off.
        last: The last day off (equal to ``first`` for a one-day festival).
    """

    name: str
    name_en: str
    first: dt.date
    last: dt.date

    def days(self) -> tuple[dt.date, ...]:
        """Every day of the span, in order."""
        return tuple(self.first + i * _ONE_DAY for i in range((self.last - self.first).days + 1))


def lunar_to_solar(year: int, month: int, day: int) -> dt.date:
    """The Gregorian date of ``day`` of (non-leap) lunar ``month`` of lunar ``year``."""
    # Imported here: the library costs ~0.1 s to import, and only a year without a table needs it.
    from tyme4py.lunar import LunarDay

    solar = LunarDay.from_ymd(year, month, day).get_solar_day()
    return dt.date(solar.get_year(), solar.get_month(), solar.get_day())


def qingming(year: int) -> dt.date:
    """The day of the solar term 清明 in ``year`` (4 or 5 April)."""
    from tyme4py.solar import SolarTerm

    # The solar term's day is reckoned in Beijing time (UTC+8), as the notices use it.
    solar = SolarTerm.from_name(year, "清明").get_solar_day()
    return dt.date(solar.get_year(), solar.get_month(), solar.get_day())


@functools.cache
def statutory_holidays(year: int) -> tuple[StatutoryHoliday, ...]:
    """The holidays that 全国年节及纪念日放假办法 (2024 revision, art. 2) fixes for ``year``, in date order.

    New Year's Day 1 day (1 Jan); Spring Festival 4 days, New Year's Eve (除夕, the last day of
    the twelfth lunar month, the 29th or the 30th) to the third day of the first month; Qingming
    1 day (the solar term 清明); Labour Day 2 days (1–2 May); Dragon Boat 1 day (5th of the 5th
    lunar month); Mid-Autumn 1 day (15th of the 8th lunar month); National Day 3 days (1–3 Oct).

    These are the days the regulation itself gives. What the State Council adds each year by
    arrangement (weekends moved next to a festival, make-up working days) is not in it; see
    docs/domain.md. Every span lies inside ``year`` (除夕 is never before 20 January).

    Raises:
        ValueError: ``year`` is outside ``STATUTORY_FIRST_YEAR``..``STATUTORY_LAST_YEAR``.
    """
    if not STATUTORY_FIRST_YEAR <= year <= STATUTORY_LAST_YEAR:
        raise ValueError(f"the statutory rule covers {STATUTORY_FIRST_YEAR}–{STATUTORY_LAST_YEAR}, not {year}")
    new_year = lunar_to_solar(year, 1, 1)  # 正月初一; the 12th month before it may have 29 days
    tomb, dragon, moon = qingming(year), lunar_to_solar(year, 5, 5), lunar_to_solar(year, 8, 15)
    spans = [
        ("元旦", "New Year's Day", dt.date(year, 1, 1), dt.date(year, 1, 1)),
        ("春节", "Spring Festival", new_year - _ONE_DAY, new_year + 2 * _ONE_DAY),
        ("清明节", "Qingming Festival", tomb, tomb),
        ("劳动节", "Labour Day", dt.date(year, 5, 1), dt.date(year, 5, 2)),
        ("端午节", "Dragon Boat Festival", dragon, dragon),
        ("中秋节", "Mid-Autumn Festival", moon, moon),  # may fall inside National Day (2028: 3 Oct)
        ("国庆节", "National Day", dt.date(year, 10, 1), dt.date(year, 10, 3)),
    ]
    holidays = [StatutoryHoliday(name=zh, name_en=en, first=a, last=b) for zh, en, a, b in spans]
    return tuple(sorted(holidays, key=lambda h: h.first))


@functools.cache
def statutory_days_off(year: int) -> frozenset[dt.date]:
    """Every day of :func:`statutory_holidays` for ``year``; empty outside the rule's years."""
    if not STATUTORY_FIRST_YEAR <= year <= STATUTORY_LAST_YEAR:
        return frozenset()
    return frozenset(day for holiday in statutory_holidays(year) for day in holiday.days())
