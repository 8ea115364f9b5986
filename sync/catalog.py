"""The service catalogue: items, their materials and time limits, bundles (一件事), and its loader."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import msgspec

from sync.errors import CatalogError, IntakeError, NotFoundError

__all__ = (
    "Bundle",
    "Catalog",
    "Material",
    "ServiceItem",
    "load_catalog",
    "material_identity",
    "sample_catalog",
    "satisfied_by_problems",
)

ApproverLevel = Literal["county", "township", "township_or_county"]

_QUALIFIER = re.compile(r"\([^()]*\)$")
"""A bracketed qualifier at the end of a name (after NFKC, full-width brackets are ASCII ones)."""


_SAME_PEOPLE = {"夫妻双方": "父母双方"}
"""Holders that are the same people wherever both words meet in one bundle (a couple's newborn)."""


def material_identity(name_zh: str) -> str:
    """Which document a material name means, for finding the same document named twice.

    NFKC-folded (full-width brackets and letters as their plain forms), without spaces, without a
    bracketed qualifier at the end, and with the couple (夫妻双方) as the parents (父母双方):
    "出生医学证明（生育后补登时）" and "出生医学证明 " are both 出生医学证明, and "夫妻双方居民身份证"
    is "父母双方居民身份证". Names themselves are never rewritten (stations and the hub record materials by
    their exact name): a bundle whose members name one document two ways is a catalogue error,
    which :meth:`Catalog.near_duplicate_materials` finds.
    """
    folded = "".join(unicodedata.normalize("NFKC", name_zh).split())
    for word, same in _SAME_PEOPLE.items():
        folded = folded.replace(word, same)
    return _QUALIFIER.sub("", folded) or folded


class Material(msgspec.Struct, frozen=True, kw_only=True):
    """One document an item asks for (申请材料)."""

    name_zh: str
    """The material's Chinese name: how agents, scripts (``--material``) and receipts name it."""
    name_en: str = ""
    required: bool
    """The applicant must supply it (unless it is exempt by data sharing)."""
    allow_deferred: bool = False
    """May be missing at intake under 容缺受理, with a signed commitment to supply it by a date."""
    exempt_if_data_shared: bool = False
    """免提交: the county fetches it itself by data sharing, so its absence blocks nothing."""
    note: str | None = None


class ServiceItem(msgspec.Struct, frozen=True, kw_only=True):
    """One catalogued service (政务服务事项) a station may file on a resident's behalf."""

    code: str
    name_zh: str
    name_en: str = ""
    department_zh: str
    department_en: str = ""
    item_type: str = ""
    approver_level: ApproverLevel = "county"
    promised_days: int | None
    """承诺时限 in working days; 0 = on the spot (即办件); None = no rolling limit (annual batch)."""
    legal_days: int | None = None
    """法定时限 in working days, where the law states one."""
    materials: tuple[Material, ...]
    max_one_trip: bool = True
    fee_yuan: float = 0
    bundles: tuple[str, ...] = ()
    schedule: str | None = None
    """For items without a rolling limit: when they are handled ("annual", "annual_batch")."""
    withdrawn: bool = False
    """停办: no longer chosen for new cases (``hub catalog publish``); kept so that the cases received
    under it, and their names in lists, keep working."""

    def material(self, name_zh: str) -> Material | None:
        """The material called ``name_zh``, or None."""
        for material in self.materials:
            if material.name_zh == name_zh:
                return material
        return None


class Bundle(msgspec.Struct, frozen=True, kw_only=True):
    """A bundle (一件事): several items filed as one intake, in stages of dependency order."""

    code: str
    name_zh: str
    name_en: str = ""
    members: tuple[str, ...]
    ordering: tuple[tuple[str, ...], ...]
    """Stages: every member of stage k waits for the members of the stages before it."""
    shared_materials: tuple[str, ...] = ()
    satisfied_by: dict[str, str] = msgspec.field(default_factory=dict)
    """"MEMBER_CODE/material name" → the material of another member that meets it in this bundle (the
    newborn has no ID card: the household register and the parents' cards serve). The combined
    checklist lists only that one; the member's material shows its state (names are never rewritten)."""
    promised_days: int | None = None
    prerequisite_zh: str | None = None
    prerequisite_en: str | None = None
    withdrawn: bool = False
    """停办: no longer chosen for new intakes; its open cases keep working."""

    def stage_of(self, item_code: str) -> int:
        """The 0-based stage of a member item."""
        for index, stage in enumerate(self.ordering):
            if item_code in stage:
                return index
        raise NotFoundError(
            zh=f"事项 {item_code} 不属于一件事 {self.code}",
            en=f"item {item_code} is not a member of bundle {self.code}",
            field="item_code",
        )

    def recorded_as(self, item_code: str, name_zh: str) -> str:
        """The name a member's material is recorded under in this bundle's intake (itself unless satisfied_by)."""
        return self.satisfied_by.get(f"{item_code}/{name_zh}", name_zh)

    def members_in_order(self) -> list[str]:
        """Member item codes in the order their cases are created."""
        return [code for stage in self.ordering for code in stage]


class Catalog(msgspec.Struct, frozen=True, kw_only=True):
    """A versioned catalogue as the hub publishes it. Cases keep the version they were received under."""

    version: int
    items: tuple[ServiceItem, ...]
    bundles: tuple[Bundle, ...] = ()

    def item(self, code: str) -> ServiceItem:
        """The item with ``code``; NotFoundError (naming the code) when there is none."""
        for item in self.items:
            if item.code == code:
                return item
        raise NotFoundError(
            zh=f"目录（版本 {self.version}）中没有编码为 {code!r} 的事项；可用“station catalog list”查看事项",
            en=f"no service item with code {code!r} in catalogue version {self.version}; "
            "list the items with 'station catalog list'",
            field="item",
            code="intake.unknown_item",
        )

    def bundle(self, code: str) -> Bundle:
        """The bundle with ``code``; NotFoundError when there is none."""
        for bundle in self.bundles:
            if bundle.code == code:
                return bundle
        raise NotFoundError(
            zh=f"目录（版本 {self.version}）中没有编码为 {code!r} 的一件事；可用“station catalog list”查看",
            en=f"no bundle with code {code!r} in catalogue version {self.version}; "
            "list the bundles with 'station catalog list'",
            field="bundle",
            code="intake.unknown_bundle",
        )

    def item_for_intake(self, code: str) -> ServiceItem:
        """The item with ``code`` for a new case: NotFoundError when there is none, IntakeError when it is withdrawn."""
        item = self.item(code)
        if item.withdrawn:
            raise IntakeError(
                zh=f"事项 {code}（{item.name_zh}）已于目录版本 {self.version} 停办，不能受理新件；已受理的办件照常办理",
                en=f"item {code} ({item.name_en or item.name_zh}) is withdrawn in catalogue version {self.version}: "
                "no new cases; the cases already received carry on",
                field="item",
                code="intake.withdrawn_item",
            )
        return item

    def bundle_for_intake(self, code: str) -> Bundle:
        """The bundle with ``code`` for a new intake: NotFoundError when there is none, IntakeError when withdrawn."""
        bundle = self.bundle(code)
        withdrawn = [member for member in bundle.members if self.item(member).withdrawn]
        if bundle.withdrawn or withdrawn:
            raise IntakeError(
                zh=f"一件事 {code}（{bundle.name_zh}）已于目录版本 {self.version} 停办，不能受理新件",
                en=f"bundle {code} ({bundle.name_en or bundle.name_zh}) is withdrawn in catalogue version "
                f"{self.version}: no new intakes",
                field="bundle",
                code="intake.withdrawn_bundle",
            )
        return bundle

    def near_duplicate_materials(self, bundle_code: str) -> list[tuple[str, ...]]:
        """Names of one document (same :func:`material_identity`) that a bundle's members spell differently.

        A bundle's combined checklist lists each material name once; two spellings of one document
        would ask the applicant for it twice. Empty for a well-made bundle.
        """
        names: dict[str, list[str]] = {}
        bundle = self.bundle(bundle_code)
        for code in bundle.members_in_order():
            for material in self.item(code).materials:
                name = bundle.recorded_as(code, material.name_zh)
                spelled = names.setdefault(material_identity(name), [])
                if name not in spelled:
                    spelled.append(name)
        return [tuple(spelled) for spelled in names.values() if len(spelled) > 1]

    def search(self, text: str) -> Iterator[ServiceItem]:
        """Items matching ``text`` by code, Chinese or English name, or pinyin, best first (all when empty).

        The same matcher as the TUI's item picker and ``station catalog list`` (sync.catalog_search).
        """
        from sync.catalog_search import find  # that module builds on this one

        yield from find(self, text)[0]


def _fail(where: str, *, problem_zh: str, problem_en: str) -> CatalogError:
    return CatalogError(
        zh=f"目录格式错误，位置 {where}：{problem_zh}",
        en=f"malformed catalogue at {where}: {problem_en}",
        field=where,
    )


def _convert(raw: Any, type_: type, where: str) -> Any:
    try:
        return msgspec.convert(raw, type_)
    except msgspec.ValidationError as exc:
        # msgspec says "... - at `$.materials[0].required`"; re-anchor the path at our location.
        text = str(exc)
        message, _, path = text.partition(" - at `$")
        field = where + path.rstrip("`")
        raise _fail(field, problem_zh=f"取值无效（{message}）", problem_en=message) from None


def _check_item(item: ServiceItem, where: str) -> None:
    if not item.code.strip():
        raise _fail(f"{where}.code", problem_zh="事项编码为空", problem_en="the item code is empty")
    if not item.name_zh.strip():
        raise _fail(f"{where}.name_zh", problem_zh="事项中文名称为空", problem_en="the Chinese name is empty")
    for field in ("promised_days", "legal_days"):
        value = getattr(item, field)
        if value is not None and value < 0:
            raise _fail(
                f"{where}.{field}",
                problem_zh=f"工作日数不能为负数（{value}）",
                problem_en=f"must be 0 or more working days, got {value}",
            )
    if item.promised_days is not None and item.legal_days is not None and item.promised_days > item.legal_days:
        raise _fail(
            f"{where}.promised_days",
            problem_zh=f"承诺时限 {item.promised_days} 个工作日超过法定时限 {item.legal_days} 个工作日",
            problem_en=f"promised {item.promised_days} working days exceeds the legal limit of {item.legal_days}",
        )
    if not item.materials:
        raise _fail(
            f"{where}.materials", problem_zh="事项至少需要一项材料", problem_en="an item needs at least one material"
        )
    seen: set[str] = set()
    for index, material in enumerate(item.materials):
        mwhere = f"{where}.materials[{index}]"
        if not material.name_zh.strip():
            raise _fail(f"{mwhere}.name_zh", problem_zh="材料名称为空", problem_en="the material name is empty")
        if material.name_zh in seen:
            raise _fail(
                f"{mwhere}.name_zh",
                problem_zh=f"材料“{material.name_zh}”重复",
                problem_en=f"material {material.name_zh!r} is listed twice",
            )
        seen.add(material.name_zh)


def satisfied_by_problems(bundle: Bundle, items: Mapping[str, ServiceItem]) -> list[tuple[str, str]]:
    """What is wrong with a bundle's ``satisfied_by``, as (zh, en) pairs: both names must exist.

    A key is "MEMBER_CODE/material name" of a member's material; its value a material of another
    member that is not itself mapped (so the combined checklist keeps it).
    """
    problems: list[tuple[str, str]] = []
    kept = {
        m.name_zh
        for code in bundle.members
        if code in items
        for m in items[code].materials
        if f"{code}/{m.name_zh}" not in bundle.satisfied_by
    }
    for key, shared in bundle.satisfied_by.items():
        code, _, name = key.partition("/")
        if code not in bundle.members or code not in items or items[code].material(name) is None:
            problems.append(
                (
                    f"“{key}”不是成员事项的材料（应为“成员事项编码/材料名称”）",
                    f"{key!r} is not a member's material (expected 'MEMBER_CODE/material name')",
                )
            )
        if shared not in kept:
            problems.append(
                (
                    f"“{key}”由“{shared}”满足，但“{shared}”不是其他成员事项保留在清单中的材料",
                    f"{key!r} is satisfied by {shared!r}, which is not a kept material of another member",
                )
            )
    return problems


def _check_bundle(bundle: Bundle, where: str, items: Mapping[str, ServiceItem], labels: Mapping[str, str]) -> None:
    if not bundle.members:
        raise _fail(f"{where}.members", problem_zh="一件事至少需要一个事项", problem_en="a bundle needs member items")
    for code in bundle.members:
        if code not in items:
            raise _fail(
                f"{where}.members",
                problem_zh=f"成员事项 {code!r} 不在目录中",
                problem_en=f"member {code!r} is not an item of this catalogue",
            )
        if items[code].withdrawn and not bundle.withdrawn:
            raise _fail(
                f"{where}.members",
                problem_zh=f"成员事项 {code} 已停办，一件事 {bundle.code} 也须停办（withdrawn）或去掉该成员",
                problem_en=f"member {code} is withdrawn: withdraw bundle {bundle.code} too, or drop the member",
            )
        if bundle.code not in items[code].bundles:
            raise _fail(
                f"{labels[code]}.bundles",
                problem_zh=f"事项 {code} 属于一件事 {bundle.code}，但其 bundles 字段未列出",
                problem_en=f"item {code} is a member of bundle {bundle.code} but does not list it",
            )
    ordered = [code for stage in bundle.ordering for code in stage]
    if sorted(ordered) != sorted(bundle.members) or len(set(ordered)) != len(ordered):
        raise _fail(
            f"{where}.ordering",
            problem_zh="办理顺序必须恰好列出每个成员事项一次",
            problem_en="the stages must list every member exactly once",
        )


def load_catalog(data: Mapping[str, Any], *, version: int | None = None) -> Catalog:
    """Build and check a catalogue from its JSON form (the shape of ``catalog-sample.json``).

    Args:
        data: parsed JSON with ``items`` and optionally ``bundles`` and ``version``.
        version: the catalogue version to use when ``data`` has none (the sample has none).

    Raises:
        CatalogError: naming the item and field at fault, e.g. ``items[3] (RS-004).materials[1].required``.
    """
    if not isinstance(data, Mapping):
        raise _fail("$", problem_zh="应为 JSON 对象", problem_en="expected a JSON object")
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise _fail("items", problem_zh="应为非空的事项列表", problem_en="expected a non-empty list of items")
    items: dict[str, ServiceItem] = {}
    labels: dict[str, str] = {}
    for index, raw in enumerate(raw_items):
        label = raw.get("code") if isinstance(raw, Mapping) else None
        where = f"items[{index}]" + (f" ({label})" if isinstance(label, str) else "")
        if isinstance(raw, Mapping):
            raw = {key: value for key, value in raw.items() if key in ServiceItem.__struct_fields__}
        item = _convert(raw, ServiceItem, where)
        _check_item(item, where)
        if item.code in items:
            raise _fail(
                f"{where}.code",
                problem_zh=f"事项编码 {item.code!r} 重复",
                problem_en=f"item code {item.code!r} is used twice",
            )
        items[item.code] = item
        labels[item.code] = f"items[{index}] ({item.code})"
    bundles: list[Bundle] = []
    wheres: dict[str, str] = {}
    for index, raw in enumerate(data.get("bundles") or []):
        label = raw.get("code") if isinstance(raw, Mapping) else None
        where = f"bundles[{index}]" + (f" ({label})" if isinstance(label, str) else "")
        if isinstance(raw, Mapping):
            raw = {key: value for key, value in raw.items() if key in Bundle.__struct_fields__}
        bundle = _convert(raw, Bundle, where)
        _check_bundle(bundle, where, items, labels)
        bundles.append(bundle)
        wheres[bundle.code] = where
    by_code = {bundle.code: bundle for bundle in bundles}
    for item in items.values():
        for code in item.bundles:
            if code not in by_code:
                raise _fail(
                    f"{labels[item.code]}.bundles",
                    problem_zh=f"未知的一件事 {code!r}",
                    problem_en=f"unknown bundle {code!r}",
                )
            if item.code not in by_code[code].members:
                raise _fail(
                    f"{labels[item.code]}.bundles",
                    problem_zh=f"事项 {item.code} 的 bundles 列出了一件事 {code}，但不是其成员",
                    problem_en=f"item {item.code} lists bundle {code} but is not one of its members",
                )
    # After the membership checks: a member dropped from a bundle is reported as that, not as a bad mapping.
    for bundle in bundles:
        for zh, en in satisfied_by_problems(bundle, items):
            raise _fail(f"{wheres[bundle.code]}.satisfied_by", problem_zh=zh, problem_en=en)
    raw_version = data.get("version", version if version is not None else 1)
    if not isinstance(raw_version, int) or isinstance(raw_version, bool) or raw_version < 1:
        raise _fail(
            "version", problem_zh="版本号应为正整数", problem_en=f"expected a positive integer, got {raw_version!r}"
        )
    return Catalog(version=raw_version, items=tuple(items.values()), bundles=tuple(bundles))


def sample_catalog() -> Catalog:
    """The shipped sample catalogue (31 items, 3 bundles), as version 1."""
    from sync.samples import sample_catalog_json

    return load_catalog(sample_catalog_json(), version=1)
