"""Tests for intake planning (sync.intake): required, exempt and deferred (容缺) materials, one notice, bundles."""

from __future__ import annotations

from typing import Any

import pytest

from sync.catalog import Catalog, load_catalog, sample_catalog
from sync.errors import IntakeError, NotFoundError
from sync.intake import IntakePlan, MaterialState, PlannedCase, material_rules, plan_intake

ID_CARD = "居民身份证"
HOUSEHOLD = "居民户口簿"
PENSION_FORM = "城乡居民基本养老保险参保登记表"
ACCOUNT = "社会保障卡或本人银行账户"
NOTICE_FORM = "待遇领取通知表（本人签字或按指纹）"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return sample_catalog()


def _states(plan: IntakePlan) -> dict[str, MaterialState]:
    return {m.name_zh: m.state for m in plan.materials}


def _refusal(catalog: Catalog, **kwargs: Any) -> IntakeError:
    with pytest.raises(IntakeError) as info:
        plan_intake(catalog, **kwargs)
    exc = info.value
    assert exc.code == "intake.materials"
    assert exc.field == "materials"
    return exc


# ---- single items ----------------------------------------------------------------------------


def test_rs001_everything_presented(catalog: Catalog) -> None:
    plan = plan_intake(catalog, item="RS-001", presented=[ID_CARD, HOUSEHOLD, PENSION_FORM])
    assert plan.bundle_code is None
    assert plan.cases == (PlannedCase(item_code="RS-001", stage=0),)
    assert _states(plan) == {
        ID_CARD: MaterialState.PRESENTED,
        HOUSEHOLD: MaterialState.PRESENTED,
        PENSION_FORM: MaterialState.PRESENTED,
    }
    assert plan.deferred == []


def test_rs001_household_register_exempt_by_data_sharing(catalog: Catalog) -> None:
    plan = plan_intake(catalog, item="RS-001", presented=[ID_CARD, PENSION_FORM])
    assert [m.name_zh for m in plan.materials] == [ID_CARD, HOUSEHOLD, PENSION_FORM]  # catalogue order
    assert _states(plan)[HOUSEHOLD] is MaterialState.EXEMPT
    assert _states(plan)[ID_CARD] is MaterialState.PRESENTED


def test_names_are_stripped(catalog: Catalog) -> None:
    plan = plan_intake(catalog, item="RS-001", presented=[f" {ID_CARD} ", PENSION_FORM, "  "])
    assert _states(plan)[ID_CARD] is MaterialState.PRESENTED


def test_rs002_account_deferred(catalog: Catalog) -> None:
    plan = plan_intake(catalog, item="RS-002", presented=[ID_CARD, NOTICE_FORM], deferred=[ACCOUNT])
    states = _states(plan)
    assert states[ACCOUNT] is MaterialState.DEFERRED
    assert states[HOUSEHOLD] is MaterialState.EXEMPT
    assert states[ID_CARD] is MaterialState.PRESENTED
    assert plan.deferred == [ACCOUNT]


def test_optional_material_not_provided(catalog: Catalog) -> None:
    plan = plan_intake(catalog, item="RS-006", presented=[ID_CARD, "近期1寸免冠彩色照片"])
    assert _states(plan)["监护人身份证及关系证明（未成年人）"] is MaterialState.NOT_PROVIDED


def test_deferring_a_non_deferrable_material_is_refused(catalog: Catalog) -> None:
    exc = _refusal(catalog, item="RS-002", presented=[ACCOUNT, NOTICE_FORM], deferred=[ID_CARD])
    assert ID_CARD in exc.message("en")
    assert "may not be deferred" in exc.message("en")
    assert f"以下材料不允许容缺：{ID_CARD}" in exc.message("zh")


def test_deferring_an_exempt_material_is_refused(catalog: Catalog) -> None:
    # 居民户口簿 is fetched by data sharing but not flagged allow_deferred.
    exc = _refusal(catalog, item="RS-001", presented=[ID_CARD, PENSION_FORM], deferred=[HOUSEHOLD])
    assert HOUSEHOLD in exc.message("zh")


def test_unknown_material_names_refused_listing_valid_names(catalog: Catalog) -> None:
    exc = _refusal(catalog, item="RS-001", presented=[ID_CARD, PENSION_FORM, "结婚证"])
    for lang in ("zh", "en"):
        text = exc.message(lang)
        assert "结婚证" in text
        for valid in (ID_CARD, HOUSEHOLD, PENSION_FORM):
            assert valid in text
    assert "not a material of this intake: 结婚证" in exc.message("en")
    assert "以下不是本事项的材料：结婚证" in exc.message("zh")


def test_unknown_deferred_name_refused(catalog: Catalog) -> None:
    exc = _refusal(catalog, item="RS-001", presented=[ID_CARD, PENSION_FORM], deferred=["照片"])
    assert "照片" in exc.message("en")


def test_everything_missing_reported_at_once(catalog: Catalog) -> None:
    exc = _refusal(catalog, item="RS-001")
    for lang in ("zh", "en"):
        text = exc.message(lang)
        assert ID_CARD in text
        assert PENSION_FORM in text
    assert f"required materials missing: {ID_CARD}, {PENSION_FORM}" in exc.message("en")
    assert f"缺少必需材料：{ID_CARD}、{PENSION_FORM}" in exc.message("zh")
    # The exempt household register is not reported missing.
    assert "missing: 居民户口簿" not in exc.message("en")


def test_all_problems_in_one_error(catalog: Catalog) -> None:
    exc = _refusal(catalog, item="RS-002", presented=["户口本"], deferred=[ID_CARD])
    en = exc.message("en")
    assert "not a material of this intake: 户口本" in en
    assert f"may not be deferred (容缺 not allowed): {ID_CARD}" in en
    assert f"required materials missing: {ACCOUNT}, {NOTICE_FORM}" in en
    # The missing account may be deferred: the notice says so.
    assert f"(--defer): {ACCOUNT}" in en
    assert f"其中可容缺受理（--defer）：{ACCOUNT}" in exc.message("zh")


def test_both_presented_and_deferred_refused(catalog: Catalog) -> None:
    exc = _refusal(catalog, item="RS-002", presented=[ID_CARD, NOTICE_FORM, ACCOUNT], deferred=[ACCOUNT])
    assert f"both presented and deferred: {ACCOUNT}" in exc.message("en")
    assert f"既已提交又申请容缺：{ACCOUNT}" in exc.message("zh")


@pytest.mark.parametrize("kwargs", [{}, {"item": "RS-001", "bundle": "BND-NEWBORN"}])
def test_item_or_bundle_both_or_neither_refused(catalog: Catalog, kwargs: dict[str, str]) -> None:
    with pytest.raises(IntakeError) as info:
        plan_intake(catalog, **kwargs)
    assert info.value.code == "intake.item_or_bundle"
    assert "--item" in info.value.message("en") and "--bundle" in info.value.message("en")
    assert "--item" in info.value.message("zh")


@pytest.mark.parametrize("kwargs", [{}, {"item": "RS-001", "bundle": "BND-NEWBORN"}])
def test_material_rules_both_or_neither_refused(catalog: Catalog, kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        material_rules(catalog, **kwargs)


def test_unknown_item_and_bundle(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError) as info:
        plan_intake(catalog, item="XX-001")
    assert info.value.code == "intake.unknown_item"
    with pytest.raises(NotFoundError) as info:
        plan_intake(catalog, bundle="BND-NONE")
    assert info.value.code == "intake.unknown_bundle"


# ---- bundles ---------------------------------------------------------------------------------

NEWBORN_REQUIRED = [
    "出生医学证明",
    "父母双方居民身份证",
    "随迁方居民户口簿",
    "有效身份证件（身份证、户口簿等）",
    "城乡居民基本医疗保险参保登记表",
    ID_CARD,
    "近期1寸免冠彩色照片",
]


def test_newborn_bundle_cases_in_stage_order(catalog: Catalog) -> None:
    plan = plan_intake(catalog, bundle="BND-NEWBORN", presented=NEWBORN_REQUIRED)
    assert plan.bundle_code == "BND-NEWBORN"
    assert [(c.item_code, c.stage) for c in plan.cases] == [
        ("WJ-001", 0),
        ("GA-001", 1),
        ("YB-001", 2),
        ("RS-006", 2),
    ]


def test_newborn_bundle_materials_merged_once_by_name(catalog: Catalog) -> None:
    plan = plan_intake(catalog, bundle="BND-NEWBORN", presented=NEWBORN_REQUIRED)
    names = [m.name_zh for m in plan.materials]
    assert len(names) == len(set(names))
    # 结婚证 is listed by both WJ-001 and GA-001 (exempt by data sharing in both).
    assert names.count("结婚证") == 1
    # Members' identity documents that the shared ones meet (Bundle.satisfied_by) are asked for once.
    bundle = catalog.bundle("BND-NEWBORN")
    every = {bundle.recorded_as(code, m.name_zh) for code in bundle.members for m in catalog.item(code).materials}
    assert set(names) == every
    assert len(names) == 6
    states = _states(plan)
    assert states["结婚证"] is MaterialState.EXEMPT
    # A member's own name for a shared document counts as that document (随迁方居民户口簿 → 居民户口簿).
    assert states["居民户口簿"] is MaterialState.PRESENTED
    assert all(
        states[bundle.recorded_as(c, n)] is MaterialState.PRESENTED
        for c in bundle.members
        for n in NEWBORN_REQUIRED
        if catalog.item(c).material(n)
    )


def test_newborn_bundle_defers_photo(catalog: Catalog) -> None:
    presented = [name for name in NEWBORN_REQUIRED if name != "近期1寸免冠彩色照片"]
    plan = plan_intake(catalog, bundle="BND-NEWBORN", presented=presented, deferred=["近期1寸免冠彩色照片"])
    assert plan.deferred == ["近期1寸免冠彩色照片"]


def test_newborn_bundle_missing_across_members_in_one_notice(catalog: Catalog) -> None:
    exc = _refusal(catalog, bundle="BND-NEWBORN", presented=NEWBORN_REQUIRED[2:])
    en = exc.message("en")
    assert "父母双方居民身份证" in en  # from WJ-001 and GA-001
    assert "出生医学证明" in en  # from GA-001


def test_bundle_material_rules_follow_member_order(catalog: Catalog) -> None:
    rules = material_rules(catalog, bundle="BND-NEWBORN")
    assert [r.name_zh for r in rules][:2] == ["父母双方居民身份证", "结婚证"]
    assert rules[-1].name_zh == "近期1寸免冠彩色照片"  # RS-006's last own line (its guardian proof is shared)
    marriage = next(r for r in rules if r.name_zh == "结婚证")
    assert (marriage.required, marriage.exempt) == (False, True)


# ---- merged rules: the strictest member wins -------------------------------------------------


def _tiny_catalog(first: dict[str, Any], second: dict[str, Any]) -> Catalog:
    """Two items in a bundle, each listing material "M" with the given flags, plus a form each."""

    def item(code: str, flags: dict[str, Any]) -> dict[str, Any]:
        return {
            "code": code,
            "name_zh": f"事项{code}",
            "department_zh": "县直部门",
            "promised_days": 5,
            "bundles": ["BND-T"],
            "materials": [{"name_zh": f"{code}表", "required": True}, {"name_zh": "M", **flags}],
        }

    return load_catalog(
        {
            "version": 2,
            "items": [item("A", first), item("B", second)],
            "bundles": [{"code": "BND-T", "name_zh": "测试一件事", "members": ["A", "B"], "ordering": [["A"], ["B"]]}],
        }
    )


def _rule(catalog: Catalog, **kwargs: str) -> Any:
    return next(r for r in material_rules(catalog, **kwargs) if r.name_zh == "M")


def test_strictest_member_refuses_deferral() -> None:
    tiny = _tiny_catalog({"required": True, "allow_deferred": True}, {"required": True, "allow_deferred": False})
    assert _rule(tiny, item="A").allow_deferred is True
    assert _rule(tiny, item="B").allow_deferred is False
    merged = _rule(tiny, bundle="BND-T")
    assert (merged.required, merged.allow_deferred, merged.exempt) == (True, False, False)
    # Deferring it alone is fine for A, refused for the bundle.
    plan = plan_intake(tiny, item="A", presented=["A表"], deferred=["M"])
    assert plan.deferred == ["M"]
    with pytest.raises(IntakeError) as info:
        plan_intake(tiny, bundle="BND-T", presented=["A表", "B表"], deferred=["M"])
    assert "may not be deferred (容缺 not allowed): M" in info.value.message("en")


def test_deferral_allowed_when_every_requiring_member_allows() -> None:
    tiny = _tiny_catalog({"required": True, "allow_deferred": True}, {"required": True, "allow_deferred": True})
    assert _rule(tiny, bundle="BND-T").allow_deferred is True
    plan = plan_intake(tiny, bundle="BND-T", presented=["A表", "B表"], deferred=["M"])
    assert plan.deferred == ["M"]


def test_optional_listing_does_not_block_deferral() -> None:
    # Only the items that require a material decide whether it may be deferred.
    tiny = _tiny_catalog({"required": True, "allow_deferred": True}, {"required": False, "allow_deferred": False})
    merged = _rule(tiny, bundle="BND-T")
    assert (merged.required, merged.allow_deferred) == (True, True)


def test_exempt_only_if_every_requiring_member_fetches_it() -> None:
    tiny = _tiny_catalog(
        {"required": True, "exempt_if_data_shared": True}, {"required": True, "exempt_if_data_shared": False}
    )
    merged = _rule(tiny, bundle="BND-T")
    assert (merged.required, merged.exempt) == (True, False)
    with pytest.raises(IntakeError) as info:
        plan_intake(tiny, bundle="BND-T", presented=["A表", "B表"])
    assert "required materials missing: M" in info.value.message("en")
    # Alone, A does not need it presented.
    assert _states(plan_intake(tiny, item="A", presented=["A表"]))["M"] is MaterialState.EXEMPT


def test_exempt_everywhere_is_exempt() -> None:
    tiny = _tiny_catalog({"required": True, "exempt_if_data_shared": True}, {"required": False})
    merged = _rule(tiny, bundle="BND-T")
    assert (merged.required, merged.exempt) == (False, True)
    assert _states(plan_intake(tiny, bundle="BND-T", presented=["A表", "B表"]))["M"] is MaterialState.EXEMPT


def test_merged_name_en_is_first_non_empty() -> None:
    tiny = _tiny_catalog({"required": True}, {"required": True, "name_en": "Thing"})
    assert _rule(tiny, bundle="BND-T").name_en == "Thing"
