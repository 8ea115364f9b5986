"""Intake rules: which materials an item or bundle needs, what may be deferred (容缺), what blocks."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence

import msgspec

from sync.catalog import Bundle, Catalog, Material, ServiceItem
from sync.errors import IntakeError
from sync.text import printable

__all__ = (
    "IntakePlan",
    "MaterialRule",
    "MaterialState",
    "PlannedCase",
    "PlannedMaterial",
    "material_rules",
    "plan_intake",
)


class MaterialState(enum.StrEnum):
    """How a material stands for an intake."""

    PRESENTED = "presented"
    """Seen by the agent at intake."""
    DEFERRED = "deferred"
    """Missing under 容缺, with an open commitment to supply it."""
    SUPPLIED = "supplied"
    """Deferred at intake, supplied later (the commitment is fulfilled)."""
    EXEMPT = "exempt"
    """Not needed: the county fetches it by data sharing (免提交)."""
    NOT_PROVIDED = "not_provided"
    """Optional and not handed in."""


class MaterialRule(msgspec.Struct, frozen=True, kw_only=True):
    """What an intake asks of one material, merged over every item the intake files."""

    name_zh: str
    name_en: str
    required: bool
    """Some item of the intake requires it and cannot fetch it by data sharing."""
    allow_deferred: bool
    """Every item that requires it allows 容缺 for it."""
    exempt: bool
    """Every item that lists it as required fetches it by data sharing instead."""


class PlannedMaterial(msgspec.Struct, frozen=True, kw_only=True):
    name_zh: str
    state: MaterialState


class PlannedCase(msgspec.Struct, frozen=True, kw_only=True):
    item_code: str
    stage: int
    """0-based stage in the bundle's order (0 for a single item)."""


class IntakePlan(msgspec.Struct, frozen=True, kw_only=True):
    """What one intake will create: member cases in order, and the state of each material (recorded once)."""

    bundle_code: str | None
    cases: tuple[PlannedCase, ...]
    materials: tuple[PlannedMaterial, ...]

    @property
    def deferred(self) -> list[str]:
        return [m.name_zh for m in self.materials if m.state is MaterialState.DEFERRED]


def _merge(items: Sequence[ServiceItem], bundle: Bundle | None = None) -> list[MaterialRule]:
    by_name: dict[str, list[Material]] = {}
    for item in items:
        for material in item.materials:
            # A member's material that a bundle's shared one satisfies is asked for once, under that name.
            name = material.name_zh if bundle is None else bundle.recorded_as(item.code, material.name_zh)
            by_name.setdefault(name, []).append(material)
    rules = []
    for name, materials in by_name.items():
        requiring = [m for m in materials if m.required]
        needed = [m for m in requiring if not m.exempt_if_data_shared]
        rules.append(
            MaterialRule(
                name_zh=name,
                name_en=next((m.name_en for m in materials if m.name_en and m.name_zh == name), "")
                or next((m.name_en for m in materials if m.name_en), ""),
                required=bool(needed),
                # The strictest member wins: deferral only if every item needing it allows it.
                # An optional material may be deferred too when the catalogue allows it (the
                # applicant promises to bring supporting evidence later).
                allow_deferred=all(m.allow_deferred for m in (needed or materials)),
                exempt=bool(requiring) and not needed,
            )
        )
    return rules


def material_rules(catalog: Catalog, *, item: str | None = None, bundle: str | None = None) -> list[MaterialRule]:
    """The merged material rules for an item or a bundle, in catalogue order."""
    if (item is None) == (bundle is None):
        raise ValueError("give exactly one of item or bundle")
    if item is not None:
        return _merge([catalog.item(item)])
    found = catalog.bundle(bundle)  # type: ignore[arg-type]
    return _merge([catalog.item(code) for code in found.members_in_order()], found)


def _aliases(catalog: Catalog, bundle: str | None, rules: Mapping[str, MaterialRule]) -> dict[str, str]:
    """A member's own name for a material the bundle's shared one satisfies → that shared name.

    Lets ``--material 居民身份证`` (as a script for the single item would say it) count as the shared
    document; a name mapped two different ways is left alone (it is then reported as unknown).
    """
    if bundle is None:
        return {}
    found: dict[str, set[str]] = {}
    for key, shared in catalog.bundle(bundle).satisfied_by.items():
        name = key.partition("/")[2]
        if name not in rules:
            found.setdefault(name, set()).add(shared)
    return {name: next(iter(shared)) for name, shared in found.items() if len(shared) == 1}


def plan_intake(
    catalog: Catalog,
    *,
    item: str | None = None,
    bundle: str | None = None,
    presented: Sequence[str] = (),
    deferred: Sequence[str] = (),
) -> IntakePlan:
    """Check an intake against the catalogue and say what it will create.

    Every problem of the materials is reported at once (一次性告知: the applicant must hear
    everything missing in one notice), in one IntakeError.

    Raises:
        NotFoundError: unknown item or bundle.
        IntakeError: a withdrawn item or bundle (``intake.withdrawn_item``, ``intake.withdrawn_bundle``); unknown material names, a material both presented and deferred, a deferral the
            item does not allow, or required materials missing that may not be deferred.
    """
    if (item is None) == (bundle is None):
        raise IntakeError(
            zh="请指定一个事项（--item）或一件事（--bundle）",
            en="give either an item (--item) or a bundle (--bundle)",
            field="item",
            code="intake.item_or_bundle",
        )
    cases: tuple[PlannedCase, ...]
    if item is not None:
        # A withdrawn (停办) item or bundle takes no new cases; its cases already received carry on.
        cases = (PlannedCase(item_code=catalog.item_for_intake(item).code, stage=0),)
    else:
        found = catalog.bundle_for_intake(bundle)  # type: ignore[arg-type]
        cases = tuple(
            PlannedCase(item_code=code, stage=stage) for stage, codes in enumerate(found.ordering) for code in codes
        )
    rules = material_rules(catalog, item=item, bundle=bundle)
    by_name = {rule.name_zh: rule for rule in rules}
    aliases = _aliases(catalog, bundle, by_name)
    presented_set = {aliases.get(name.strip(), name.strip()) for name in presented if name.strip()}
    deferred_set = {aliases.get(name.strip(), name.strip()) for name in deferred if name.strip()}

    problems_en: list[str] = []
    problems_zh: list[str] = []
    # Echoed in the message as plain text: what was typed may hold an escape sequence (sync.text).
    unknown = sorted(printable(name) for name in (presented_set | deferred_set) - by_name.keys())
    if unknown:
        problems_en.append(f"not a material of this intake: {', '.join(unknown)}")
        problems_zh.append(f"以下不是本事项的材料：{'、'.join(unknown)}")
    both = sorted(presented_set & deferred_set)
    if both:
        problems_en.append(f"both presented and deferred: {', '.join(both)}")
        problems_zh.append(f"既已提交又申请容缺：{'、'.join(both)}")
    not_deferrable = sorted(n for n in deferred_set - presented_set if n in by_name and not by_name[n].allow_deferred)
    if not_deferrable:
        problems_en.append(f"may not be deferred (容缺 not allowed): {', '.join(not_deferrable)}")
        problems_zh.append(f"以下材料不允许容缺：{'、'.join(not_deferrable)}")
    missing = [
        rule.name_zh
        for rule in rules
        if rule.required and rule.name_zh not in presented_set and rule.name_zh not in deferred_set
    ]
    if missing:
        problems_en.append(f"required materials missing: {', '.join(missing)}")
        problems_zh.append(f"缺少必需材料：{'、'.join(missing)}")
        deferrable = [name for name in missing if by_name[name].allow_deferred]
        if deferrable:
            problems_en.append(f"these may be deferred under 容缺 (--defer): {', '.join(deferrable)}")
            problems_zh.append(f"其中可容缺受理（--defer）：{'、'.join(deferrable)}")
    if problems_en:
        valid = "、".join(rule.name_zh for rule in rules)
        raise IntakeError(
            zh="；".join(problems_zh) + f"。本事项的材料为：{valid}",
            en="; ".join(problems_en) + f". The materials of this intake are: {valid}",
            field="materials",
            code="intake.materials",
        )

    planned = []
    for rule in rules:
        if rule.name_zh in presented_set:
            state = MaterialState.PRESENTED
        elif rule.name_zh in deferred_set:
            state = MaterialState.DEFERRED
        elif rule.exempt:
            state = MaterialState.EXEMPT
        else:
            state = MaterialState.NOT_PROVIDED
        planned.append(PlannedMaterial(name_zh=rule.name_zh, state=state))
    return IntakePlan(bundle_code=bundle, cases=cases, materials=tuple(planned))
