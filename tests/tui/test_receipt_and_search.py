"""The item search index (pinyin initials) and the receipt files, without the UI."""

from __future__ import annotations

import datetime as dt

from station import cases as ops
from sync.catalog import sample_catalog
from tests.station.conftest import NEWBORN_MATERIALS, pension_benefit_deferred
from tests.tui.conftest import SIZE, make_app, open_station, run
from tui.pinyin import index_for
from tui.receipt import receipt_for, receipt_text, write_receipt


def codes(query: str) -> list[str]:
    return [entry.code for entry in index_for(sample_catalog()).search(query)]


def test_search_by_name_code_initials_and_full_pinyin():
    assert codes("ylbx")[:5] == ["RS-005", "RS-001", "RS-002", "RS-003", "RS-004"]  # earliest match first
    assert codes("养老")[:2] == ["RS-005", "RS-001"]
    assert codes("rs002") == ["RS-002"] and codes("RS-002") == ["RS-002"]
    assert codes("zdcjr") == ["MZ-006"]  # 重度残疾人, read zhong
    assert "MZ-006" in codes("cdcjr")  # and found when read chong (heteronyms count)
    assert codes("yanglao")[0] == "RS-005"
    assert codes("xsecs") == ["BND-NEWBORN"]  # bundles are searchable too
    assert len(codes("")) == len(sample_catalog().items) + len(sample_catalog().bundles)


def test_index_is_built_once_per_catalogue():
    catalog = sample_catalog()
    assert index_for(catalog) is index_for(catalog)


def test_browsing_the_whole_catalogue_with_down_in_the_empty_search(station_dir, clock):
    app = make_app(station_dir, clock)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3", "down")
            await pilot.pause()
            assert len(app.screen.query_one("#picker").results) == 34  # 31 items and 3 bundles

    run(scenario)


def test_bundle_receipt_lists_members_and_a_provisional_date(station_dir, clock):
    clock.set_china_date(dt.date(2026, 12, 28))
    with open_station(station_dir, clock) as station:
        result = ops.new_intake(
            station,
            ops.NewIntake(
                bundle="BND-NEWBORN",
                applicant_name="赵丽",
                id_number="34992119950612128X",
                phone="0551-6543210",
                materials=NEWBORN_MATERIALS,
                deferred=["近期1寸免冠彩色照片"],
            ),
        )
        text = receipt_text(receipt_for(station, result.number))
        assert f"回执编号：{result.number}" in text and "新生儿出生一件事" in text
        assert all(case.case_no in text for case in result.cases)
        assert "（预计，以县平台为准）" in text  # 10 working days run into 2027: no calendar yet
        assert "永兴街道店庄社区" in text and "承诺人签字" in text
        assert "34992119950612128X" not in text and "349921********128X" in text
        txt, pdf = write_receipt(station, result.number)
        first = pdf.read_bytes()
        write_receipt(station, result.number)
        assert first.startswith(b"%PDF") and pdf.read_bytes() == first  # a reprint is the same document
        assert txt.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: old Notepad reads it as UTF-8


def test_single_case_receipt(station_dir, clock):
    with open_station(station_dir, clock) as station:
        number = ops.new_intake(station, pension_benefit_deferred()).number
        text = receipt_text(receipt_for(station, number))
    assert "承诺办结日期：2026-10-16" in text
    assert "社会保障卡或本人银行账户：承诺人 张桂英 承诺于 2026-10-10 前补交" in text
    assert "收件时间：2026-09-28 10:00" in text  # local time (the tests run at UTC+8)
