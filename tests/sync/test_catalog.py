"""Tests for the service catalogue (sync.catalog): the sample, lookups, search, bundles and malformed input."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from sync.catalog import Bundle, Catalog, ServiceItem, load_catalog, material_identity, sample_catalog
from sync.errors import CatalogError, NotFoundError
from sync.intake import material_rules
from sync.samples import sample_catalog_json

# ---- the sample ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return sample_catalog()


def test_sample_loads_with_31_items_3_bundles_version_1(catalog: Catalog) -> None:
    assert catalog.version == 1
    assert len(catalog.items) == 31
    assert len(catalog.bundles) == 3
    assert {b.code for b in catalog.bundles} == {"BND-NEWBORN", "BND-DISABILITY", "BND-AFTER-DEATH"}
    codes = [item.code for item in catalog.items]
    assert len(set(codes)) == 31
    # Items keep the order of the JSON file.
    assert codes == [raw["code"] for raw in sample_catalog_json()["items"]]


def test_sample_without_version_takes_the_keyword_version() -> None:
    data = sample_catalog_json()
    assert "version" not in data
    assert load_catalog(data, version=7).version == 7
    assert load_catalog(data).version == 1


def test_version_in_data_wins_over_keyword() -> None:
    data = sample_catalog_json()
    data["version"] = 3
    assert load_catalog(data, version=9).version == 3


def test_unknown_json_keys_are_ignored() -> None:
    # The sample carries "provenance", "sources" etc. that are not struct fields.
    data = sample_catalog_json()
    assert "provenance" in data["bundles"][0]
    assert load_catalog(data).bundle("BND-NEWBORN").promised_days == 5


# ---- lookups ---------------------------------------------------------------------------------


def test_item_lookup(catalog: Catalog) -> None:
    item = catalog.item("RS-002")
    assert isinstance(item, ServiceItem)
    assert item.name_zh == "城乡居民基本养老保险待遇领取"
    assert item.promised_days == 10
    material = item.material("社会保障卡或本人银行账户")
    assert material is not None
    assert material.required and material.allow_deferred
    assert item.material("不存在的材料") is None


def test_item_fields_from_sample(catalog: Catalog) -> None:
    assert catalog.item("MZ-001").legal_days == 30
    assert catalog.item("WJ-002").promised_days is None
    assert catalog.item("RS-005").promised_days == 0
    assert catalog.item("RS-004").bundles == ("BND-AFTER-DEATH",)
    household = catalog.item("RS-001").material("居民户口簿")
    assert household is not None and household.exempt_if_data_shared


def test_unknown_item_raises_not_found_with_code(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError) as info:
        catalog.item("XX-999")
    exc = info.value
    assert exc.code == "intake.unknown_item"
    assert exc.field == "item"
    assert "XX-999" in exc.message("en")
    assert "XX-999" in exc.message("zh")
    assert "version 1" in exc.message("en")


def test_bundle_lookup(catalog: Catalog) -> None:
    bundle = catalog.bundle("BND-NEWBORN")
    assert isinstance(bundle, Bundle)
    assert bundle.members == ("WJ-001", "GA-001", "YB-001", "RS-006")
    assert bundle.promised_days == 5


def test_unknown_bundle_raises_not_found_with_code(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError) as info:
        catalog.bundle("BND-NOPE")
    exc = info.value
    assert exc.code == "intake.unknown_bundle"
    assert exc.field == "bundle"
    assert "BND-NOPE" in exc.message("en")
    assert "BND-NOPE" in exc.message("zh")


def test_item_code_is_not_a_bundle_code(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError):
        catalog.bundle("RS-001")
    with pytest.raises(NotFoundError):
        catalog.item("BND-NEWBORN")


# ---- search ----------------------------------------------------------------------------------


def _codes(found: Any) -> list[str]:
    return [item.code for item in found]


def test_search_by_chinese_name(catalog: Catalog) -> None:
    # Best first, as the TUI's picker ranks them: 城乡居民养老保险… has 养老 earlier than …基本养老保险….
    assert _codes(catalog.search("养老")) == ["RS-005", "RS-001", "RS-002", "RS-003", "RS-004"]


def test_search_by_pinyin_initials_finds_items_only(catalog: Catalog) -> None:
    # The same matcher as the picker and `station catalog list` (sync.catalog_search); bundles are
    # not items, so Catalog.search never yields one.
    assert _codes(catalog.search("ylbx"))[:5] == ["RS-005", "RS-001", "RS-002", "RS-003", "RS-004"]
    assert _codes(catalog.search("xsecs")) == []  # 新生儿出生一件事 is a bundle


def test_search_by_code_is_case_insensitive_and_stripped(catalog: Catalog) -> None:
    assert _codes(catalog.search(" ga-00 ")) == ["GA-001", "GA-002"]
    assert _codes(catalog.search("YB-003")) == ["YB-003"]


def test_search_by_english_name_is_case_insensitive(catalog: Catalog) -> None:
    assert _codes(catalog.search("NEWBORN")) == ["GA-001"]
    assert _codes(catalog.search("disability certificate")) == ["CL-001", "CL-002"]


def test_search_empty_text_lists_everything(catalog: Catalog) -> None:
    assert _codes(catalog.search("")) == [item.code for item in catalog.items]
    assert len(_codes(catalog.search("   "))) == 31


def test_search_without_match(catalog: Catalog) -> None:
    assert _codes(catalog.search("zzz-no-such-thing")) == []


# ---- bundles ---------------------------------------------------------------------------------


def test_members_in_order_follows_stages(catalog: Catalog) -> None:
    assert catalog.bundle("BND-NEWBORN").members_in_order() == ["WJ-001", "GA-001", "YB-001", "RS-006"]
    assert catalog.bundle("BND-DISABILITY").members_in_order() == ["CL-001", "MZ-005", "MZ-006", "CL-003"]
    assert catalog.bundle("BND-AFTER-DEATH").members_in_order() == ["GA-002", "RS-004", "MZ-008"]


def test_members_in_order_uses_ordering_not_members() -> None:
    bundle = Bundle(code="B", name_zh="测试", members=("A", "B", "C"), ordering=(("C",), ("B", "A")))
    assert bundle.members_in_order() == ["C", "B", "A"]


def test_stage_of(catalog: Catalog) -> None:
    newborn = catalog.bundle("BND-NEWBORN")
    assert [newborn.stage_of(code) for code in ("WJ-001", "GA-001", "YB-001", "RS-006")] == [0, 1, 2, 2]
    disability = catalog.bundle("BND-DISABILITY")
    assert disability.stage_of("CL-001") == 0
    assert disability.stage_of("CL-003") == 1


def test_stage_of_non_member_raises(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError) as info:
        catalog.bundle("BND-NEWBORN").stage_of("RS-001")
    exc = info.value
    assert exc.field == "item_code"
    assert "RS-001" in exc.message("en") and "BND-NEWBORN" in exc.message("en")
    assert "RS-001" in exc.message("zh") and "BND-NEWBORN" in exc.message("zh")


def test_every_sample_member_lists_its_bundle(catalog: Catalog) -> None:
    for bundle in catalog.bundles:
        for code in bundle.members:
            assert bundle.code in catalog.item(code).bundles


# ---- malformed catalogues --------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _index(data: dict[str, Any], code: str) -> int:
    return next(i for i, raw in enumerate(data["items"]) if raw["code"] == code)


def _broken(mutate: Mutation) -> CatalogError:
    data = copy.deepcopy(sample_catalog_json())
    mutate(data)
    with pytest.raises(CatalogError) as info:
        load_catalog(data, version=1)
    return info.value


def _assert_names(exc: CatalogError, field: str, *words: str) -> None:
    """The error's field is ``field`` and both messages contain it and every word."""
    assert exc.code == "catalog"
    assert exc.field == field
    for lang in ("zh", "en"):
        text = exc.message(lang)
        assert field in text, (lang, text)
        for word in words:
            assert word in text, (lang, word, text)
    assert exc.message("zh") != exc.message("en")
    assert exc.message("zh").startswith("目录格式错误")
    assert exc.message("en").startswith("malformed catalogue")


def test_sample_item_indexes_used_below() -> None:
    data = sample_catalog_json()
    assert _index(data, "RS-004") == 3
    assert _index(data, "MZ-001") == 12
    assert _index(data, "WJ-001") == 23
    assert data["items"][3]["materials"][1]["required"] is True


def test_wrong_type_of_material_required() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["items"][3]["materials"][1]["required"] = "yes"

    exc = _broken(mutate)
    _assert_names(exc, "items[3] (RS-004).materials[1].required", "bool")


def test_missing_item_name_zh() -> None:
    def mutate(data: dict[str, Any]) -> None:
        del data["items"][3]["name_zh"]

    exc = _broken(mutate)
    _assert_names(exc, "items[3] (RS-004)", "name_zh")


def test_missing_material_name_zh() -> None:
    def mutate(data: dict[str, Any]) -> None:
        del data["items"][3]["materials"][1]["name_zh"]

    exc = _broken(mutate)
    _assert_names(exc, "items[3] (RS-004).materials[1]", "name_zh")


def test_blank_item_name_zh() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["items"][3]["name_zh"] = "  "

    exc = _broken(mutate)
    _assert_names(exc, "items[3] (RS-004).name_zh")


def test_duplicate_item_code() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["items"][4]["code"] = "RS-004"

    exc = _broken(mutate)
    # The second occurrence is at fault.
    _assert_names(exc, "items[4] (RS-004).code", "'RS-004'")
    assert "twice" in exc.message("en")
    assert "重复" in exc.message("zh")


def test_duplicate_material() -> None:
    def mutate(data: dict[str, Any]) -> None:
        materials = data["items"][3]["materials"]
        materials.append(dict(materials[0]))

    exc = _broken(mutate)
    _assert_names(exc, "items[3] (RS-004).materials[5].name_zh", "死亡证明或户籍注销证明")
    assert "twice" in exc.message("en")
    assert "重复" in exc.message("zh")


def test_negative_promised_days() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["items"][3]["promised_days"] = -1

    exc = _broken(mutate)
    _assert_names(exc, "items[3] (RS-004).promised_days", "-1")


def test_negative_legal_days() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["items"][12]["legal_days"] = -5

    exc = _broken(mutate)
    _assert_names(exc, "items[12] (MZ-001).legal_days", "-5")


def test_promised_days_over_legal_days() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["items"][12]["promised_days"] = 31  # legal limit 30

    exc = _broken(mutate)
    _assert_names(exc, "items[12] (MZ-001).promised_days", "31", "30")


def test_promised_equal_to_legal_is_fine() -> None:
    data = copy.deepcopy(sample_catalog_json())
    data["items"][12]["promised_days"] = 30
    assert load_catalog(data).item("MZ-001").promised_days == 30


def test_item_without_materials() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["items"][3]["materials"] = []

    exc = _broken(mutate)
    _assert_names(exc, "items[3] (RS-004).materials")


def test_bundle_member_not_in_catalogue() -> None:
    def mutate(data: dict[str, Any]) -> None:
        bundle = data["bundles"][0]
        bundle["members"][0] = "WJ-999"
        bundle["ordering"][0] = ["WJ-999"]

    exc = _broken(mutate)
    _assert_names(exc, "bundles[0] (BND-NEWBORN).members", "WJ-999")


def test_bundle_member_item_removed() -> None:
    def mutate(data: dict[str, Any]) -> None:
        del data["items"][23]  # WJ-001, first member of BND-NEWBORN

    exc = _broken(mutate)
    _assert_names(exc, "bundles[0] (BND-NEWBORN).members", "WJ-001")


def test_ordering_not_covering_members() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["bundles"][0]["ordering"] = [["WJ-001"], ["GA-001"], ["YB-001"]]  # RS-006 left out

    exc = _broken(mutate)
    _assert_names(exc, "bundles[0] (BND-NEWBORN).ordering")


def test_ordering_listing_a_member_twice() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["bundles"][0]["ordering"] = [["WJ-001"], ["GA-001", "WJ-001"], ["YB-001", "RS-006"]]

    exc = _broken(mutate)
    _assert_names(exc, "bundles[0] (BND-NEWBORN).ordering")


def test_item_listing_an_unknown_bundle_names_the_code() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["items"][3]["bundles"].append("BND-NOPE")

    exc = _broken(mutate)
    assert exc.field is not None and exc.field.endswith(".bundles")
    for lang in ("zh", "en"):
        assert "RS-004" in exc.message(lang)
        assert "BND-NOPE" in exc.message(lang)


def test_item_listing_an_unknown_bundle_names_index_and_code() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["items"][3]["bundles"].append("BND-NOPE")

    exc = _broken(mutate)
    _assert_names(exc, "items[3] (RS-004).bundles", "BND-NOPE")


def test_member_not_listing_its_bundle_names_the_code() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["items"][23]["bundles"] = []  # WJ-001 forgets BND-NEWBORN

    exc = _broken(mutate)
    assert exc.field is not None and exc.field.endswith(".bundles")
    for lang in ("zh", "en"):
        assert "WJ-001" in exc.message(lang)
        assert "BND-NEWBORN" in exc.message(lang)


def test_member_not_listing_its_bundle_names_index_and_code() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["items"][23]["bundles"] = []

    exc = _broken(mutate)
    _assert_names(exc, "items[23] (WJ-001).bundles", "BND-NEWBORN")


def test_item_listing_a_bundle_that_does_not_include_it() -> None:
    def mutate(data: dict[str, Any]) -> None:
        bundle = data["bundles"][0]
        bundle["members"].remove("RS-006")
        bundle["ordering"][2].remove("RS-006")
        # data["items"][5] (RS-006) still lists BND-NEWBORN

    exc = _broken(mutate)
    assert exc.field is not None and "RS-006" in exc.field
    for lang in ("zh", "en"):
        assert "BND-NEWBORN" in exc.message(lang)


@pytest.mark.parametrize("bad", [0, -1, "2", 1.5, True, None])
def test_bad_version(bad: Any) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["version"] = bad

    exc = _broken(mutate)
    _assert_names(exc, "version")
    assert repr(bad) in exc.message("en")
    assert "版本号" in exc.message("zh")


def test_bad_keyword_version() -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog(sample_catalog_json(), version=0)
    assert info.value.field == "version"


@pytest.mark.parametrize("data", [[], "catalogue", None])
def test_not_an_object(data: Any) -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog(data)
    assert info.value.field == "$"


@pytest.mark.parametrize("items", [None, [], {"RS-001": {}}])
def test_items_missing_or_empty(items: Any) -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog({"items": items})
    assert info.value.field == "items"
    assert "items" in info.value.message("zh")


# ---- one document, one name in a bundle --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "identity"),
    [
        ("出生医学证明（生育后补登时）", "出生医学证明"),
        ("出生医学证明 (生育后补登时)", "出生医学证明"),
        (" 出生医学证明", "出生医学证明"),
        ("夫妻双方居民身份证", "父母双方居民身份证"),
        ("残疾人证（第二代）", "残疾人证"),
        ("居民身份证", "居民身份证"),
        ("监护人身份证及关系证明（未成年人）", "监护人身份证及关系证明"),
    ],
)
def test_material_identity(name: str, identity: str) -> None:
    assert material_identity(name) == identity


def test_the_newborn_checklist_names_each_document_once(catalog: Catalog) -> None:
    """Issue 12: the newborn bundle asked for the parents' ID cards as 夫妻双方… and 父母双方…, and for
    the birth certificate as 出生医学证明 and 出生医学证明（生育后补登时）."""
    names = [rule.name_zh for rule in material_rules(catalog, bundle="BND-NEWBORN")]
    identities = [material_identity(name) for name in names]
    assert len(identities) == len(set(identities))
    assert identities.count("出生医学证明") == 1 and identities.count("父母双方居民身份证") == 1
    assert not any("夫妻双方" in name or "生育后补登" in name for name in names)
    # What the bundle says its members share is each one line of the checklist.
    assert set(catalog.bundle("BND-NEWBORN").shared_materials) <= set(names)


def test_no_sample_bundle_names_a_document_two_ways(catalog: Catalog) -> None:
    assert {bundle.code: catalog.near_duplicate_materials(bundle.code) for bundle in catalog.bundles} == {
        bundle.code: [] for bundle in catalog.bundles
    }


def test_two_spellings_of_one_document_are_found() -> None:
    data = sample_catalog_json()
    wj = next(item for item in data["items"] if item["code"] == "WJ-001")
    wj["materials"][0]["name_zh"] = "夫妻双方居民身份证"  # as the sample had it before issue 12
    wj["materials"][3]["name_zh"] = "出生医学证明（生育后补登时）"
    catalog = load_catalog(data, version=1)
    assert catalog.near_duplicate_materials("BND-NEWBORN") == [
        ("夫妻双方居民身份证", "父母双方居民身份证"),
        ("出生医学证明（生育后补登时）", "出生医学证明"),
    ]


# ---- identity documents one bundle member's shared document meets (Bundle.satisfied_by) ----------

_IDENTITY_WORDS = ("身份证", "户口簿")
"""Identity documents: in a newborn's bundle, two such lines ask the family for the same papers twice."""


def _identity_lines(catalog: Catalog, bundle_code: str) -> list[str]:
    return [
        rule.name_zh
        for rule in material_rules(catalog, bundle=bundle_code)
        if any(word in rule.name_zh for word in _IDENTITY_WORDS)
    ]


def test_the_newborn_checklist_lists_only_the_shared_identity_documents(catalog: Catalog) -> None:
    """Issue 12 item 13: 有效身份证件（身份证、户口簿等）, 居民身份证, 监护人身份证及关系证明 and
    随迁方居民户口簿 are met by the shared 父母双方居民身份证 and 居民户口簿 (the newborn has no ID card)."""
    bundle = catalog.bundle("BND-NEWBORN")
    assert sorted(_identity_lines(catalog, "BND-NEWBORN")) == ["居民户口簿", "父母双方居民身份证"]
    # Every identity document a member asks for is either a shared one or mapped to one.
    for code in bundle.members:
        for material in catalog.item(code).materials:
            if any(word in material.name_zh for word in _IDENTITY_WORDS):
                assert bundle.recorded_as(code, material.name_zh) in bundle.shared_materials, (code, material)


def test_an_unmapped_identity_document_counts_as_a_duplicate() -> None:
    """Without the mapping the newborn checklist asks for four more identity documents."""
    data = copy.deepcopy(sample_catalog_json())
    data["bundles"][0]["satisfied_by"] = {}
    assert len(_identity_lines(load_catalog(data, version=1), "BND-NEWBORN")) == 6


def test_a_mapped_material_merges_its_rule_into_the_shared_one() -> None:
    data = copy.deepcopy(sample_catalog_json())
    ga = next(item for item in data["items"] if item["code"] == "GA-001")
    next(m for m in ga["materials"] if m["name_zh"] == "随迁方居民户口簿")["allow_deferred"] = False
    wj = next(item for item in data["items"] if item["code"] == "WJ-001")
    next(m for m in wj["materials"] if m["name_zh"] == "居民户口簿")["allow_deferred"] = True
    rules = {rule.name_zh: rule for rule in material_rules(load_catalog(data, version=1), bundle="BND-NEWBORN")}
    assert rules["居民户口簿"].required and not rules["居民户口簿"].allow_deferred  # the strictest member wins


def test_satisfied_by_names_a_member_material_that_does_not_exist() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["bundles"][0]["satisfied_by"]["YB-001/护照"] = "居民户口簿"

    _assert_names(_broken(mutate), "bundles[0] (BND-NEWBORN).satisfied_by", "YB-001/护照")


def test_satisfied_by_names_a_member_outside_the_bundle() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["bundles"][0]["satisfied_by"]["CL-001/居民身份证"] = "居民户口簿"

    _assert_names(_broken(mutate), "bundles[0] (BND-NEWBORN).satisfied_by", "CL-001/居民身份证")


def test_satisfied_by_names_a_shared_material_that_does_not_exist() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["bundles"][0]["satisfied_by"]["RS-006/居民身份证"] = "新生儿身份证"

    _assert_names(_broken(mutate), "bundles[0] (BND-NEWBORN).satisfied_by", "新生儿身份证")
