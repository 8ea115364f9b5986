"""Tests for division codes and the division tree (sync.divisions)."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.divisions import (
    DivisionCode,
    DivisionTree,
    Township,
    Village,
    load_divisions,
    parse_division_code,
    sample_divisions,
)
from sync.errors import DivisionCodeError
from sync.samples import sample_divisions_json

# ---- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "level"),
    [("349921000000", "county"), ("349921101000", "township"), ("349921101201", "village"), ("340000000000", None)],
)
def test_parse_levels(code: str, level: str | None) -> None:
    if level is None:
        with pytest.raises(DivisionCodeError):
            parse_division_code(code)
        return
    assert parse_division_code(code).level == level


def test_parse_parts_and_properties() -> None:
    parsed = parse_division_code("349921101201")
    assert parsed == DivisionCode("349921101201", "34", "99", "21", "101", "201", "village")
    assert parsed.county_code == "349921"
    assert parsed.township_code12 == "349921101000"
    assert parse_division_code("349921101000").township_code12 == "349921101000"
    assert parse_division_code("349921000000").county_code == "349921"


def test_parse_strips_whitespace_and_full_width_digits() -> None:
    assert parse_division_code(" 349921 101 201\n").code == "349921101201"
    full_width = "".join(chr(0xFF10 + int(c)) for c in "349921101201")
    assert parse_division_code(full_width).code == "349921101201"


@pytest.mark.parametrize(
    "code",
    [
        "349921599000",  # last township-level slot (farms and similar units)
        "349921001001",  # street with a community
        "522632210500",  # real data: a villagers' committee numbered 500
        "410423203000",
    ],
)
def test_parse_accepts_real_shapes(code: str) -> None:
    assert parse_division_code(code).code == code


@pytest.mark.parametrize(
    ("code", "error_code", "hint"),
    [
        ("", "division_code.empty", "empty"),
        ("   ", "division_code.empty", "empty"),
        ("349921101", "division_code.length", "9"),
        ("3499211012010", "division_code.length", "13"),
        ("34992110120A", "division_code.chars", "12"),
        ("3499-1101201", "division_code.chars", "5"),
        ("999921101201", "division_code.province", "province"),
        ("099921101201", "division_code.province", "province"),
        ("349900101201", "division_code.county", "00"),
        ("340000000000", "division_code.county", "00"),
        ("349921600000", "division_code.township", "599"),
        ("349921999201", "division_code.township", "599"),
        ("349921000201", "division_code.village", "000"),
    ],
)
def test_parse_errors(code: str, error_code: str, hint: str) -> None:
    with pytest.raises(DivisionCodeError) as info:
        parse_division_code(code)
    error = info.value
    assert error.code == error_code
    assert error.field == "division_code"
    assert hint in error.en
    assert error.zh.strip() and any("\u4e00" <= c <= "\u9fff" for c in error.zh)


@given(
    st.sampled_from(["11", "34", "65", "83"]),
    st.integers(1, 99),
    st.integers(1, 599),
    st.integers(0, 999),
)
def test_parse_roundtrip(province: str, county: int, township: int, village: int) -> None:
    code = f"{province}01{county:02d}{township:03d}{village:03d}"
    parsed = parse_division_code(code)
    assert parsed.province + parsed.prefecture + parsed.county + parsed.township + parsed.village == code
    assert parsed.level == ("township" if village == 0 else "village")


# ---- the sample tree ---------------------------------------------------------------------------


def test_sample_tree_counts() -> None:
    tree = sample_divisions()
    assert tree.county_code == "349921000000"
    assert tree.county_name_zh == "示例县"
    assert len(tree.townships) == 28
    assert len(list(tree.villages())) == 395
    assert Counter(v.kind for v in tree.villages()) == {"residents_committee": 38, "villagers_committee": 357}
    assert Counter(t.kind for t in tree.townships) == {"street": 2, "town": 18, "xiang": 8}


def test_sample_tree_is_loaded_once() -> None:
    assert sample_divisions() is sample_divisions()


def test_villages_in_published_order() -> None:
    tree = sample_divisions()
    raw = sample_divisions_json()
    assert [v.code for v in tree.villages()] == [v["code"] for t in raw["townships"] for v in t["villages"]]


def test_lookups() -> None:
    tree = sample_divisions()
    village = tree.village("349921001001")
    assert village == Village("349921001001", "店庄社区", "residents_committee", "349921001000", "永兴街道")
    township = tree.township("349921001000")
    assert township.name_zh == "永兴街道"
    assert township.kind == "street"
    assert village in township.villages
    assert tree.township_of("349921001001") is township
    assert tree.village(" 349921 001 001 ") == village


def test_every_village_finds_its_township() -> None:
    tree = sample_divisions()
    for village in tree.villages():
        assert tree.village(village.code) is village
        assert tree.township_of(village.code).code == village.township_code


@pytest.mark.parametrize(
    ("lookup", "code"),
    [
        ("village", "349921001099"),
        ("township", "349921599000"),
        ("township_of", "349921001099"),
        ("village", "349921001000"),
    ],
)
def test_unknown_codes(lookup: str, code: str) -> None:
    tree = sample_divisions()
    with pytest.raises(DivisionCodeError) as info:
        getattr(tree, lookup)(code)
    assert info.value.code == "division_code.unknown"
    assert code in info.value.en and code in info.value.zh


def test_lookup_of_malformed_code_reports_the_shape() -> None:
    with pytest.raises(DivisionCodeError) as info:
        sample_divisions().village("3499")
    assert info.value.code == "division_code.length"


def test_tree_encodes_without_its_index() -> None:
    tree = sample_divisions()
    tree.village("349921001001")  # builds the cached index
    decoded = msgspec.json.decode(msgspec.json.encode(tree), type=DivisionTree)
    assert decoded == tree
    assert decoded.village("349921001001") == tree.village("349921001001")


def test_tree_built_directly() -> None:
    village = Village("349921101201", "甲村", "villagers_committee", "349921101000", "甲镇")
    tree = DivisionTree("349921000000", "示例县", (Township("349921101000", "甲镇", "town", (village,)),))
    assert tree.township_of("349921101201").name_zh == "甲镇"


# ---- malformed trees ---------------------------------------------------------------------------


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _duplicate_village(data: dict[str, Any]) -> None:
    data["townships"][3]["villages"][7]["code"] = data["townships"][3]["villages"][2]["code"]


V7 = ["townships", 3, "villages", 7]
MALFORMED = [
    (_set([*V7, "code"], "34992110220A"), "townships[3].villages[7].code", "division_code.chars"),
    (_set([*V7, "code"], "349921105201"), "townships[3].villages[7].code", "division_code.parent"),
    (_set([*V7, "code"], "349921104000"), "townships[3].villages[7].code", "division_code.level"),
    (_set([*V7, "code"], 349921102207), "townships[3].villages[7].code", "division_code.tree"),
    (_duplicate_village, "townships[3].villages[7].code", "division_code.duplicate"),
    (_set([*V7, "name_zh"], " "), "townships[3].villages[7].name_zh", "division_code.name"),
    (_delete([*V7, "kind"]), "townships[3].villages[7].kind", "division_code.tree"),
    (_set(V7, "not an object"), "townships[3].villages[7]", "division_code.tree"),
    (_set(["townships", 5, "code"], "349922105000"), "townships[5].code", "division_code.parent"),
    (_set(["townships", 5, "code"], "349921102000"), "townships[5].code", "division_code.duplicate"),
    (_set(["townships", 5, "code"], "349921700000"), "townships[5].code", "division_code.township"),
    (_set(["townships", 5, "name_zh"], ""), "townships[5].name_zh", "division_code.name"),
    (_set(["townships", 5, "villages"], {}), "townships[5].villages", "division_code.tree"),
    (_set(["county", "code"], "349921101000"), "county.code", "division_code.level"),
    (_set(["county", "name_zh"], None), "county.name_zh", "division_code.name"),
    (_delete(["county"]), "county", "division_code.tree"),
    (_set(["townships"], []), "townships", "division_code.tree"),
]


@pytest.mark.parametrize(("mutate", "path", "code"), MALFORMED)
def test_malformed_tree_names_the_path(mutate: Callable[[dict[str, Any]], None], path: str, code: str) -> None:
    data = copy.deepcopy(sample_divisions_json())
    mutate(data)
    with pytest.raises(DivisionCodeError) as info:
        load_divisions(data)
    error = info.value
    assert error.code == code
    assert error.field == path
    assert error.en.startswith(path + ":")
    assert error.zh.startswith(path + "：")


def test_duplicate_names_both_places() -> None:
    data = copy.deepcopy(sample_divisions_json())
    _duplicate_village(data)
    with pytest.raises(DivisionCodeError) as info:
        load_divisions(data)
    assert "townships[3].villages[2].code" in info.value.en


def test_top_level_not_an_object() -> None:
    with pytest.raises(DivisionCodeError) as info:
        load_divisions([])  # type: ignore[arg-type]
    assert info.value.code == "division_code.tree"
    assert "top level" in info.value.en


def test_load_does_not_modify_its_input() -> None:
    data = sample_divisions_json()
    before = copy.deepcopy(data)
    load_divisions(data)
    assert data == before
