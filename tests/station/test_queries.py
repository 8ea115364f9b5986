"""Reading the case book: masking, filters, exact ID lookup, sorting, bundles."""

from __future__ import annotations

import datetime as dt

import pytest

from station import cases as ops
from station.queries import CaseFilter, get_case, is_bundle_number, list_cases
from sync.lifecycle import Status
from tests.station.conftest import NEWBORN_MATERIALS, WANG, ZHANG, ZHAO, pension_benefit_deferred, pension_enrolment
from tests.support.decisions import decide


@pytest.fixture
def book(station, clock):
    """Three intakes over two days: 王小明 (RS-001), 张桂英 (RS-002, 容缺), 赵丽 (newborn bundle)."""
    wang = ops.new_intake(station, pension_enrolment()).number
    zhang = ops.new_intake(station, pension_benefit_deferred()).number
    clock.advance(days=1)
    zhao = ops.new_intake(
        station,
        pension_enrolment(
            item=None,
            bundle="BND-NEWBORN",
            applicant_name="赵丽",
            id_number=ZHAO,
            phone="0551-6543210",
            materials=NEWBORN_MATERIALS,
            deferred=["近期1寸免冠彩色照片"],
        ),
    ).number
    return {"wang": wang, "zhang": zhang, "zhao": zhao}


def numbers(rows):
    return [r.case_no for r in rows]


def test_list_masks_id_and_phone(station, book):
    rows = list_cases(station)
    wang = next(r for r in rows if r.case_no == book["wang"])
    assert wang.id_number_masked == "349921********0234"
    assert wang.phone_masked == "138****8000"
    for row in rows:
        assert WANG not in repr(row) and ZHANG not in repr(row) and ZHAO not in repr(row)
        assert "13800138000" not in repr(row)


def test_newest_first_by_default_and_limit(station, book):
    rows = list_cases(station)
    assert len(rows) == 6  # two single cases + four bundle members
    assert rows[-1].case_no == book["wang"]
    assert len(list_cases(station, CaseFilter(limit=2))) == 2
    assert numbers(list_cases(station, CaseFilter(limit=2, offset=5))) == [book["wang"]]


def test_exact_id_lookup_uses_keyed_hash(station, book):
    assert numbers(list_cases(station, CaseFilter(text=WANG))) == [book["wang"]]
    assert numbers(list_cases(station, CaseFilter(text=" " + ZHANG.lower() + " "))) == [book["zhang"]]
    # A fragment of an ID number is not searched: lists never match on plain ID values.
    assert list_cases(station, CaseFilter(text=WANG[:10])) == []


def test_search_by_name_and_case_number_fragment(station, book):
    assert numbers(list_cases(station, CaseFilter(text="小明"))) == [book["wang"]]
    assert len(list_cases(station, CaseFilter(text="赵"))) == 4
    assert numbers(list_cases(station, CaseFilter(text=book["zhang"][-9:]))) == [book["zhang"]]
    # A bundle number finds its member cases.
    assert len(list_cases(station, CaseFilter(text=book["zhao"]))) == 4


def test_filter_by_status_and_item(station, book):
    decide(station, book["wang"], Status.ACCEPTED)
    assert numbers(list_cases(station, CaseFilter(statuses=["ACCEPTED"]))) == [book["wang"]]
    assert numbers(list_cases(station, CaseFilter(item="RS-002"))) == [book["zhang"]]


def test_overdue_and_due_soon(station, book, clock):
    # RS-001 received Mon 28 Sep is due Thu 8 Oct; on Wed 7 Oct... a holiday; check on 8 and 9 Oct.
    clock.set_china_date(dt.date(2026, 10, 8))
    soon = list_cases(station, CaseFilter(due_within=0))
    assert book["wang"] in numbers(soon)
    assert next(r for r in soon if r.case_no == book["wang"]).days_left == 0
    clock.set_china_date(dt.date(2026, 10, 9))
    overdue = list_cases(station, CaseFilter(overdue=True))
    assert book["wang"] in numbers(overdue)
    row = next(r for r in overdue if r.case_no == book["wang"])
    assert row.overdue and row.days_left == -1
    # A completed case is no longer overdue: its clock stopped.
    decide(station, book["wang"], Status.ACCEPTED)
    decide(station, book["wang"], Status.COMPLETED, outcome="approved")
    assert book["wang"] not in numbers(list_cases(station, CaseFilter(overdue=True)))


def test_sort_by_due_date_puts_undated_last(station, book):
    rows = list_cases(station, CaseFilter(sort="due"))
    dues = [r.due_date for r in rows if r.due_date]
    assert dues == sorted(dues)


def test_case_detail_has_full_data_and_sync_state(station, book):
    detail = get_case(station, book["zhang"])
    assert detail.id_number == ZHANG and detail.phone == "13912345678"
    assert detail.sync_state == "saved"
    assert [c.material for c in detail.commitments] == ["社会保障卡或本人银行账户"]


def test_bundle_number_is_recognised(station, book):
    assert is_bundle_number(station, book["zhao"])
    assert not is_bundle_number(station, book["wang"])


def test_a_newborn_intake_of_the_shared_documents_completes_every_members_checklist(station) -> None:
    """Issue 12 item 13: the checklist asks once for the identity documents the members share
    (Bundle.satisfied_by); each member case still shows its own identity documents, as received."""
    shared = [
        "父母双方居民身份证",
        "居民户口簿",
        "出生医学证明",
        "城乡居民基本医疗保险参保登记表",
        "近期1寸免冠彩色照片",
    ]
    result = ops.new_intake(
        station,
        pension_enrolment(item=None, bundle="BND-NEWBORN", applicant_name="赵丽", id_number=ZHAO, materials=shared),
    )
    catalog = station.catalog
    for case in result.cases:
        detail = get_case(station, case.case_no)
        item = catalog.item(case.item_code)
        states = {m.name_zh: m.state for m in detail.materials}
        assert list(states) == [m.name_zh for m in item.materials], case.item_code
        for material in item.materials:
            if material.required and not material.exempt_if_data_shared:
                assert states[material.name_zh] == "presented", (case.item_code, material.name_zh)
    rs006 = next(c for c in result.cases if c.item_code == "RS-006")
    states = {m.name_zh: m.state for m in get_case(station, rs006.case_no).materials}
    assert states["居民身份证"] == "presented" and states["监护人身份证及关系证明（未成年人）"] == "presented"
