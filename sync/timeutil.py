"""Time conventions: stored in UTC (ISO 8601 with Z), business dates in China time, shown in local time."""

from __future__ import annotations

import datetime as dt

__all__ = ("CHINA_TZ", "business_date", "format_local", "iso_utc", "parse_iso", "utc_now")

CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "CST")
"""China Standard Time has no daylight saving, so a fixed offset needs no tz database (Windows)."""


def utc_now() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def iso_utc(moment: dt.datetime) -> str:
    """``2026-11-25T09:30:00.123Z``: how every timestamp is stored. Naive datetimes are refused."""
    if moment.tzinfo is None:
        raise ValueError("refusing a naive datetime: pass an aware one (UTC)")
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> dt.datetime:
    """The aware datetime of a stored timestamp."""
    return dt.datetime.fromisoformat(text)  # Python 3.11 reads the "Z"


def business_date(moment: dt.datetime) -> dt.date:
    """The date in China of a moment: the date that counts for case numbers and working days."""
    return moment.astimezone(CHINA_TZ).date()


def format_local(text: str | None, *, seconds: bool = False) -> str:
    """A stored UTC timestamp in the machine's local time zone, for people to read."""
    if not text:
        return ""
    local = parse_iso(text).astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
