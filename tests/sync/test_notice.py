"""The correction notice: the hub writes its materials in one form, the station reads them back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sync.notice import correction_notice, notice_materials


def test_the_notice_reads_as_before_and_its_materials_come_back_in_order():
    text = correction_notice(["居民户口簿", "照片"], "照片不符合要求")
    assert text == "一次性告知，请补正以下材料：1. 居民户口簿；2. 照片。照片不符合要求"
    assert notice_materials(text) == ["居民户口簿", "照片"]
    assert notice_materials(correction_notice(["待遇领取通知表（本人签字或按指纹）"])) == [
        "待遇领取通知表（本人签字或按指纹）"
    ]


def test_a_free_text_reason_asks_for_no_listed_material():
    assert notice_materials("参保登记表缺少本人签字") == []
    assert notice_materials(None) == []
    assert notice_materials("一次性告知，请补正以下材料：") == []


def test_a_material_named_twice_is_listed_once():
    assert notice_materials(correction_notice(["照片", "照片", "居民户口簿"])) == ["照片", "居民户口簿"]


_NAME = st.text(st.characters(codec="utf-8", exclude_characters="。；\n"), min_size=1, max_size=20).map(str.strip)


@given(st.lists(_NAME.filter(bool), min_size=1, max_size=8, unique=True), st.none() | st.text(max_size=40))
def test_any_list_of_names_without_the_separators_round_trips(names, reason):
    assert notice_materials(correction_notice(names, reason)) == names
