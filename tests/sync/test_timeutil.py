"""Tests for time conventions (sync.timeutil): UTC storage strings, China business dates, local display."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.timeutil import CHINA_TZ, business_date, format_local, iso_utc, parse_iso, utc_now

UTC = dt.UTC


def test_china_tz_is_utc_plus_8() -> None:
    assert CHINA_TZ.utcoffset(None) == dt.timedelta(hours=8)


def test_utc_now_is_aware_utc() -> None:
    now = utc_now()
    assert now.tzinfo is not None
    assert now.utcoffset() == dt.timedelta(0)


def test_iso_utc_refuses_naive() -> None:
    with pytest.raises(ValueError, match="naive"):
        iso_utc(dt.datetime(2026, 11, 25, 9, 30))


def test_iso_utc_format() -> None:
    moment = dt.datetime(2026, 11, 25, 9, 30, 0, 123456, tzinfo=UTC)
    assert iso_utc(moment) == "2026-11-25T09:30:00.123Z"
    assert iso_utc(dt.datetime(2026, 11, 25, 9, 30, tzinfo=UTC)) == "2026-11-25T09:30:00.000Z"


def test_iso_utc_converts_other_offsets_to_utc() -> None:
    moment = dt.datetime(2026, 11, 26, 1, 0, tzinfo=CHINA_TZ)
    assert iso_utc(moment) == "2026-11-25T17:00:00.000Z"


def test_parse_iso_of_stored_text() -> None:
    parsed = parse_iso("2026-11-25T17:00:00.000Z")
    assert parsed == dt.datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
    assert parsed.utcoffset() == dt.timedelta(0)


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_iso_round_trip_to_the_millisecond(moment: dt.datetime) -> None:
    text = iso_utc(moment)
    assert text.endswith("Z")
    assert parse_iso(text) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def test_business_date_across_midnight_in_china() -> None:
    # 17:00 UTC is 01:00 the next day in China.
    assert business_date(dt.datetime(2026, 11, 25, 17, 0, tzinfo=UTC)) == dt.date(2026, 11, 26)
    assert business_date(parse_iso("2026-11-25T17:00:00.000Z")) == dt.date(2026, 11, 26)


@pytest.mark.parametrize(
    ("utc_text", "china_date"),
    [
        ("2026-11-25T15:59:59.999Z", "2026-11-25"),
        ("2026-11-25T16:00:00.000Z", "2026-11-26"),
        ("2026-11-25T00:00:00.000Z", "2026-11-25"),
        ("2026-12-31T16:00:00.000Z", "2027-01-01"),
    ],
)
def test_business_date_boundary(utc_text: str, china_date: str) -> None:
    assert business_date(parse_iso(utc_text)) == dt.date.fromisoformat(china_date)


def test_business_date_of_a_china_time_is_its_own_date() -> None:
    assert business_date(dt.datetime(2026, 11, 26, 0, 30, tzinfo=CHINA_TZ)) == dt.date(2026, 11, 26)


@pytest.fixture
def china_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run with the process's local time zone set to UTC+8 (POSIX TZ string, no tz database needed)."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX-only")
    monkeypatch.setenv("TZ", "CST-8")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("china_local_time")
def test_format_local_in_china_time() -> None:
    assert format_local("2026-11-25T17:05:09.000Z") == "2026-11-26 01:05"
    assert format_local("2026-11-25T17:05:09.000Z", seconds=True) == "2026-11-26 01:05:09"


@pytest.mark.parametrize("empty", [None, ""])
def test_format_local_of_nothing(empty: str | None) -> None:
    assert format_local(empty) == ""
