"""Scanned pages at the station: stored once by hash, attached as replicated records, never doubled."""

from __future__ import annotations

import pytest

from station import cases as ops
from station.scans.store import (
    attach_pages,
    backlog,
    drop_page,
    list_attachments,
    page_bytes,
    reorder_pages,
    retain,
)
from station.store import Station
from sync.errors import InputError, NotFoundError
from tests.station.conftest import pension_enrolment
from tests.station.scans.pages import page

ID_CARD = "居民身份证"


def _case(station: Station) -> str:
    return ops.new_intake(station, pension_enrolment()).number


def _outbox(station: Station) -> int:
    return station.db.execute("SELECT COUNT(*) FROM outbox WHERE entity = 'attachments'").fetchone()[0]


def test_pages_are_attached_in_order_and_recorded(station: Station):
    case_no = _case(station)
    rows = attach_pages(station, case_no, ID_CARD, [page(1), page(2)])
    assert [r.page for r in rows] == [1, 2]
    assert [r.sha256 for r in rows] == [r.sha256 for r in list_attachments(station, case_no)]
    assert _outbox(station) == 2  # one record per page, in the signed change set
    assert page_bytes(station, rows[0].sha256) == page(1).data


def test_the_same_page_again_doubles_nothing(station: Station):
    case_no = _case(station)
    attach_pages(station, case_no, ID_CARD, [page(1)])
    before = _outbox(station)
    rows = attach_pages(station, case_no, ID_CARD, [page(1)])
    assert len(rows) == 1 and _outbox(station) == before
    assert station.db.execute("SELECT COUNT(*) FROM scan_blobs").fetchone()[0] == 1


def test_a_page_shared_by_cases_is_stored_once(station: Station):
    cases = [_case(station) for _ in range(3)]
    for case_no in cases:
        attach_pages(station, case_no, ID_CARD, [page(7)])
    assert station.db.execute("SELECT COUNT(*) FROM scan_blobs").fetchone()[0] == 1
    assert station.db.execute("SELECT COUNT(*) FROM attachments").fetchone()[0] == 3
    assert backlog(station).pages == 1


def test_bad_input_stores_nothing(station: Station):
    case_no = _case(station)
    with pytest.raises(NotFoundError):
        attach_pages(station, "349921001001-20260928-A999", ID_CARD, [page(1)])
    with pytest.raises(InputError, match="material"):
        attach_pages(station, case_no, "户口本封面", [page(1)])
    with pytest.raises(InputError):
        attach_pages(station, case_no, ID_CARD, [])
    assert station.db.execute("SELECT COUNT(*) FROM scan_blobs").fetchone()[0] == 0
    assert _outbox(station) == 0


def test_reorder_and_drop(station: Station):
    case_no = _case(station)
    one, two, three = attach_pages(station, case_no, ID_CARD, [page(1), page(2), page(3)])
    rows = reorder_pages(station, case_no, ID_CARD, [three.sha256, one.sha256])
    assert [r.sha256 for r in rows] == [three.sha256, one.sha256, two.sha256]
    dropped = drop_page(station, case_no, two.sha256[:12])
    assert dropped.dropped
    assert [r.sha256 for r in list_attachments(station, case_no)] == [three.sha256, one.sha256]
    assert backlog(station).pages == 2  # a dropped page does not go up


def test_retention_keeps_hash_and_metadata(station: Station, clock):
    case_no = _case(station)
    (row,) = attach_pages(station, case_no, ID_CARD, [page(1)])
    station.db.execute("UPDATE scan_blobs SET acked_at = '2026-09-28T03:00:00Z', hub_held = size")
    assert retain(station, keep_days=0) == 0  # the case is open
    station.db.execute("UPDATE cases SET status = 'WITHDRAWN'")
    station.db.execute(
        "INSERT INTO case_events (event_id, case_no, from_status, to_status, actor, at, hlc) "
        "VALUES ('e', ?, 'RECEIVED', 'WITHDRAWN', 'station', '2026-09-28T02:00:00Z', 1)",
        [case_no],
    )
    assert retain(station, keep_days=10) == 0  # closed, but not for ten days yet
    clock.advance(days=11)
    assert retain(station, keep_days=10) == 1
    (kept,) = list_attachments(station, case_no)
    assert kept.sha256 == row.sha256 and not kept.stored and kept.acked
