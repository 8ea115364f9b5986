"""Catalogue deltas (事项清单动态调整): a version as a few edits to the one before it, and what changed, in words.

A catalogue version travels as its JSON form (the ``body``: msgspec JSON of :class:`~sync.catalog.Catalog`,
what both sides store). A small change need not re-send the whole body (34 kB for the 31-item sample,
far more for a county's 1,462 items): :func:`make_edits` says the new version as edits to the old
body, :func:`apply_edits` replays them. Both sides replay the same edits on the same bytes and
encode the result the same way, so the hub's stored body and the station's are byte for byte the
same, which :func:`body_digest` lets the station check.

The edits work on the JSON form, not on the Structs, so entries that did not change keep their
bytes exactly, fields this release does not know survive, and a field added to the Structs in a
later release never makes an unchanged entry look changed.
"""

from __future__ import annotations

import difflib
import hashlib
from typing import Any, Literal

import msgspec

from sync.catalog import Bundle, Catalog, Material, ServiceItem
from sync.errors import CatalogError

__all__ = (
    "CatalogChange",
    "CatalogEdit",
    "apply_edits",
    "body_digest",
    "canonical_body",
    "change_counts",
    "changes",
    "legacy_body",
    "make_edits",
)

_PARTS = ("items", "bundles")
_MISSING = object()


class CatalogEdit(msgspec.Struct, frozen=True, array_like=True, omit_defaults=True):
    """One edit to a list of a catalogue's JSON form, applied in order after the ones before it.

    ``part``: 0 the items, 1 the bundles. ``at``: a position in that list as the edits before this
    one left it (so, in the new version's order). Either the ``drop`` entries from ``at`` are
    replaced by ``put`` (whole entries, each JSON), or, when ``fields`` is given (a JSON object),
    the entry at ``at`` takes these top-level fields and keeps the others.
    """

    part: int
    at: int
    drop: int = 0
    put: list[bytes] = []
    fields: bytes = b""


def canonical_body(body: bytes | str) -> bytes:
    """A catalogue body as both sides compare it: decoded and encoded again by msgspec (its own
    output is unchanged by this)."""
    return msgspec.json.encode(msgspec.json.decode(body))


def body_digest(body: bytes | str) -> bytes:
    """SHA-256 of the canonical body: what a patch says its base and its result must be."""
    return hashlib.sha256(canonical_body(body)).digest()


def _fail(en: str, zh: str) -> CatalogError:
    return CatalogError(zh=f"目录增量无法应用：{zh}", en=f"catalogue patch cannot be applied: {en}", field="edits")


def _decode_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict):
        raise _fail(f"{what} is not a JSON object", f"{what} 不是 JSON 对象")
    return value


def apply_edits(base_body: bytes | str, edits: list[CatalogEdit], version: int) -> bytes:
    """The body of ``version``: ``edits`` replayed on ``base_body``, encoded as the hub encodes it.

    Raises:
        CatalogError: an edit points outside its list, or an entry is not a JSON object.
    """
    data = _decode_object(base_body if isinstance(base_body, bytes) else base_body.encode(), "the base")
    lists: dict[str, list[Any]] = {}
    for name in _PARTS:
        value = data.get(name) or []
        if not isinstance(value, list):
            raise _fail(f"the base's {name} is not a list", f"基础版本的 {name} 不是列表")
        lists[name] = list(value)
    for number, edit in enumerate(edits):
        if not 0 <= edit.part < len(_PARTS):
            raise _fail(f"edit {number} names part {edit.part}", f"第 {number} 项编辑指向未知部分 {edit.part}")
        entries = lists[_PARTS[edit.part]]
        if edit.fields:
            if edit.drop or edit.put or not 0 <= edit.at < len(entries) or not isinstance(entries[edit.at], dict):
                raise _fail(f"edit {number} changes no entry", f"第 {number} 项编辑没有可修改的条目")
            entries[edit.at] = {**entries[edit.at], **_decode_object(edit.fields, f"edit {number}")}
            continue
        if edit.drop < 0 or not 0 <= edit.at <= len(entries) - edit.drop:
            raise _fail(f"edit {number} points outside the list", f"第 {number} 项编辑超出列表范围")
        entries[edit.at : edit.at + edit.drop] = [_decode_object(e, f"edit {number}") for e in edit.put]
    for name in _PARTS:
        if name in data or lists[name]:
            data[name] = lists[name]
    data["version"] = version
    return msgspec.json.encode(data)


def _typed(entry: Any, type_: type) -> Any:
    try:
        return msgspec.convert(entry, type_)
    except msgspec.ValidationError:
        return None  # an entry this release cannot read is never "unchanged"


def make_edits(base_body: bytes | str, new: Catalog) -> tuple[list[CatalogEdit], bytes]:
    """The edits that turn ``base_body`` into ``new``, and the body they give (``apply_edits``'s, exactly).

    Entries are matched by code in order (a diff of the code sequences): an entry equal as a Struct
    to its match keeps its bytes; one that differs gets only its changed top-level fields; added,
    removed and moved entries are put whole.
    """
    base = _decode_object(base_body if isinstance(base_body, bytes) else base_body.encode(), "the base")
    wanted = msgspec.json.decode(msgspec.json.encode(new))
    edits: list[CatalogEdit] = []
    for part, (name, type_) in enumerate((("items", ServiceItem), ("bundles", Bundle))):
        old_list = [e for e in base.get(name) or [] if isinstance(e, dict)]
        new_list = wanted[name]
        new_typed = list(getattr(new, name))
        matcher = difflib.SequenceMatcher(
            a=[e.get("code") for e in old_list], b=[e.code for e in new_typed], autojunk=False
        )
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                put = [msgspec.json.encode(e) for e in new_list[j1:j2]]
                edits.append(CatalogEdit(part=part, at=j1, drop=i2 - i1, put=put))
                continue
            for k in range(i2 - i1):
                old, fresh = old_list[i1 + k], new_list[j1 + k]
                if _typed(old, type_) == new_typed[j1 + k]:
                    continue
                fields = {key: value for key, value in fresh.items() if old.get(key, _MISSING) != value}
                edits.append(CatalogEdit(part=part, at=j1 + k, fields=msgspec.json.encode(fields)))
    body = apply_edits(base_body, edits, new.version)
    if msgspec.json.decode(body, type=Catalog) != new:  # pragma: no cover - the edits are made to give it
        raise CatalogError(zh="目录增量计算有误", en="the catalogue edits do not give the new version", field="edits")
    return edits, body


def legacy_body(body: bytes | str) -> bytes:
    """The body for a station whose software does not know ``withdrawn`` (older than this release):
    withdrawn items and bundles left out, and references to a left-out bundle, so such a station cannot
    choose them either (its cases of them keep the version they were received under)."""
    data = _decode_object(body if isinstance(body, bytes) else body.encode(), "the body")
    bundles = [b for b in data.get("bundles") or [] if not b.get("withdrawn")]
    kept_bundles = {b.get("code") for b in bundles}
    items = []
    for item in data.get("items") or []:
        if item.get("withdrawn"):
            continue
        if any(code not in kept_bundles for code in item.get("bundles") or ()):
            item = {**item, "bundles": [code for code in item["bundles"] if code in kept_bundles]}
        items.append(item)
    return msgspec.json.encode({**data, "items": items, "bundles": bundles})


# -- what changed, in words -------------------------------------------------------------------------

ChangeKind = Literal[
    "item_added",
    "item_removed",
    "item_withdrawn",
    "item_reinstated",
    "item_renamed",
    "material_added",
    "material_removed",
    "material_optional",
    "material_required",
    "promised_days",
    "item_other",
    "bundle_added",
    "bundle_removed",
    "bundle_withdrawn",
    "bundle_reinstated",
    "bundle_other",
]


def _days(raw: str, lang: str) -> str:
    value = int(raw) if raw else None
    if value is None:
        return "无滚动时限" if lang == "zh" else "no rolling limit"
    if value == 0:
        return "即办" if lang == "zh" else "on the spot"
    return f"{value} 个工作日" if lang == "zh" else f"{value} working day(s)"


def _raw(days: int | None) -> str:
    return "" if days is None else str(days)


class CatalogChange(msgspec.Struct, frozen=True, kw_only=True):
    """One change between two catalogue versions, as ``hub catalog publish`` prints it and the TUI sums it up."""

    kind: ChangeKind
    code: str
    name_zh: str
    name_en: str = ""
    material: str = ""
    old: str = ""
    """The name before (renamed), the promised working days before ("" for no rolling limit)."""
    new: str = ""
    """The name after, the promised days after, or "required"/"optional" for an added material."""
    fields: tuple[str, ...] = ()

    def text(self, lang: str = "zh") -> str:
        """One line in ``lang``: ``RS-002 承诺时限：10 个工作日 → 7 个工作日``."""
        zh = lang != "en"
        who = f"{self.code} {self.name_zh}" if zh else f"{self.code} {self.name_en or self.name_zh}"
        texts = {
            "item_added": ("新增事项", "item added"),
            "item_removed": ("删除事项（已受理的办件按原版本办理）", "item removed (its cases keep their version)"),
            "item_withdrawn": (
                "停办（不再受理新件，已受理的照常办理）",
                "withdrawn (no new cases; open ones carry on)",
            ),
            "item_reinstated": ("恢复受理", "reinstated"),
            "bundle_added": ("新增一件事", "bundle added"),
            "bundle_removed": ("删除一件事", "bundle removed"),
            "bundle_withdrawn": ("一件事停办", "bundle withdrawn"),
            "bundle_reinstated": ("一件事恢复受理", "bundle reinstated"),
        }
        if self.kind in texts:
            label = texts[self.kind][0 if zh else 1]
            return f"{label}：{who}" if zh else f"{label}: {who}"
        if self.kind == "item_renamed":
            return (
                f"{self.code} 更名：{self.old} → {self.new}" if zh else f"{self.code} renamed: {self.old} → {self.new}"
            )
        if self.kind == "material_added":
            if zh:
                return f"{who} 新增材料：{self.material}（{'必需' if self.new == 'required' else '非必需'}）"
            return f"{who}: material added: {self.material} ({self.new})"
        if self.kind == "material_removed":
            return f"{who} 不再要求材料：{self.material}" if zh else f"{who}: material no longer asked: {self.material}"
        if self.kind == "material_optional":
            return f"{who} 材料改为非必需：{self.material}" if zh else f"{who}: material made optional: {self.material}"
        if self.kind == "material_required":
            return f"{who} 材料改为必需：{self.material}" if zh else f"{who}: material made required: {self.material}"
        if self.kind == "promised_days":
            lang = "zh" if zh else "en"
            old, new = _days(self.old, lang), _days(self.new, lang)
            return f"{who} 承诺时限：{old} → {new}" if zh else f"{who}: promised time {old} → {new}"
        fields = ", ".join(self.fields)
        return f"{who} 其他变更：{fields}" if zh else f"{who}: also changed: {fields}"


def _item_change(kind: ChangeKind, item: ServiceItem | Bundle, **extra: Any) -> CatalogChange:
    return CatalogChange(kind=kind, code=item.code, name_zh=item.name_zh, name_en=item.name_en, **extra)


def _other_fields(old: msgspec.Struct, new: msgspec.Struct, skip: set[str]) -> tuple[str, ...]:
    return tuple(f for f in new.__struct_fields__ if f not in skip and getattr(old, f, None) != getattr(new, f, None))


def _material_changes(old: ServiceItem, new: ServiceItem) -> tuple[list[CatalogChange], bool]:
    """The material changes worth naming, and whether anything else about the materials changed."""
    found: list[CatalogChange] = []
    before = {m.name_zh: m for m in old.materials}
    after = {m.name_zh: m for m in new.materials}
    for name, material in after.items():
        if name not in before:
            found.append(
                _item_change("material_added", new, material=name, new="required" if material.required else "optional")
            )
        elif before[name].required and not material.required:
            found.append(_item_change("material_optional", new, material=name))
        elif material.required and not before[name].required:
            found.append(_item_change("material_required", new, material=name))
    for name in before:
        if name not in after:
            found.append(_item_change("material_removed", new, material=name))
    rest = [name for name in after if name in before and _strip_required(before[name]) != _strip_required(after[name])]
    return found, bool(rest) or list(before) != [n for n in after if n in before]


def _strip_required(material: Material) -> Material:
    return msgspec.structs.replace(material, required=True)


def changes(old: Catalog, new: Catalog) -> list[CatalogChange]:
    """What ``new`` changes from ``old``, items in the new version's order, then removed ones, then bundles."""
    found: list[CatalogChange] = []
    before = {item.code: item for item in old.items}
    for item in new.items:
        was = before.get(item.code)
        if was is None:
            found.append(_item_change("item_withdrawn" if item.withdrawn else "item_added", item))
            continue
        if item.withdrawn != was.withdrawn:
            found.append(_item_change("item_withdrawn" if item.withdrawn else "item_reinstated", item))
        if item.name_zh != was.name_zh:
            found.append(_item_change("item_renamed", item, old=was.name_zh, new=item.name_zh))
        if item.promised_days != was.promised_days:
            found.append(_item_change("promised_days", item, old=_raw(was.promised_days), new=_raw(item.promised_days)))
        materials, materials_other = _material_changes(was, item)
        found.extend(materials)
        other = _other_fields(was, item, {"withdrawn", "name_zh", "promised_days", "materials"})
        if materials_other:
            other = (*other, "materials")
        if other:
            found.append(_item_change("item_other", item, fields=other))
    kept = {item.code for item in new.items}
    found.extend(_item_change("item_removed", item) for item in old.items if item.code not in kept)
    bundles_before = {bundle.code: bundle for bundle in old.bundles}
    for bundle in new.bundles:
        was_bundle = bundles_before.get(bundle.code)
        if was_bundle is None:
            found.append(_item_change("bundle_added", bundle))
        elif bundle.withdrawn != was_bundle.withdrawn:
            found.append(_item_change("bundle_withdrawn" if bundle.withdrawn else "bundle_reinstated", bundle))
        elif bundle != was_bundle:
            found.append(_item_change("bundle_other", bundle, fields=_other_fields(was_bundle, bundle, set())))
    kept = {bundle.code for bundle in new.bundles}
    found.extend(_item_change("bundle_removed", bundle) for bundle in old.bundles if bundle.code not in kept)
    return found


def change_counts(found: list[CatalogChange]) -> dict[str, int]:
    """How many items were added, withdrawn or removed, and changed otherwise (each item counted once)."""
    added = {c.code for c in found if c.kind in ("item_added", "bundle_added")}
    gone = {c.code for c in found if c.kind in ("item_withdrawn", "item_removed", "bundle_withdrawn", "bundle_removed")}
    changed = {c.code for c in found} - added - gone
    return {"added": len(added), "withdrawn": len(gone), "changed": len(changed)}
