"""Due dates from acceptance, with paused spans skipped, from moves stamped by clocks that disagree."""

from __future__ import annotations

import datetime as dt

from sync.deadlines import case_due, paused_spans
from sync.workdays import default_calendar


def test_pause_spans_from_entering_to_leaving():
    events = [
        ("RECEIVED", "2026-03-02T01:00:00.000Z"),
        ("AWAITING_CORRECTION", "2026-03-04T02:00:00.000Z"),
        ("RECEIVED", "2026-03-09T01:30:00.000Z"),
    ]
    assert paused_spans(events, dt.date(2026, 3, 20)) == [(dt.date(2026, 3, 4), dt.date(2026, 3, 9))]


def test_an_open_pause_runs_until_today():
    events = [("AWAITING_CORRECTION", "2026-03-04T02:00:00.000Z")]
    assert paused_spans(events, dt.date(2026, 3, 6)) == [(dt.date(2026, 3, 4), dt.date(2026, 3, 6))]


def test_paused_days_push_the_due_date():
    calm = case_due(
        default_calendar(),
        5,
        received_date="2026-03-02",
        accepted_date=None,
        events=[("RECEIVED", "2026-03-02T01:00:00.000Z")],
        today=dt.date(2026, 3, 2),
    )
    paused = case_due(
        default_calendar(),
        5,
        received_date="2026-03-02",
        accepted_date=None,
        events=[
            ("RECEIVED", "2026-03-02T01:00:00.000Z"),
            ("SUSPENDED", "2026-03-03T01:00:00.000Z"),
            ("IN_PROGRESS", "2026-03-05T01:00:00.000Z"),
        ],
        today=dt.date(2026, 3, 6),
    )
    assert calm.date == dt.date(2026, 3, 9)
    assert paused.date == dt.date(2026, 3, 12)  # 3, 4, 5 March paused


def test_a_correction_from_a_station_whose_clock_is_behind_has_a_due_date():
    # Found by the fleet: the move ending a pause was stamped before the one starting it (the
    # station's clock two days behind the hub's), the span ended before it began, and the due-date
    # arithmetic raised, so the agent could not hand the correction in.
    events = [
        ("RECEIVED", "2026-03-02T01:00:00.000Z"),
        ("AWAITING_CORRECTION", "2026-03-04T02:00:00.000Z"),
        ("RECEIVED", "2026-03-03T01:30:00.000Z"),
    ]
    due = case_due(
        default_calendar(), 10, received_date="2026-03-02", accepted_date=None, events=events, today=dt.date(2026, 3, 3)
    )
    assert due is not None and due.date > dt.date(2026, 3, 2)


def test_items_without_a_rolling_limit_have_no_due_date():
    assert (
        case_due(
            default_calendar(),
            None,
            received_date="2026-03-02",
            accepted_date=None,
            events=[],
            today=dt.date(2026, 3, 2),
        )
        is None
    )
