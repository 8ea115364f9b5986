"""Catalogue publication (事项清单动态调整): a catalogue file checked whole, its changes in words, the next version.

The file is the catalogue's JSON form, ``{"version": N, "items": [...], "bundles": [...]}`` with the
fields of :class:`sync.catalog.ServiceItem` and :class:`sync.catalog.Bundle` (``withdrawn: true``
for an item no longer taken, 停办). ``hub catalog show --json`` prints exactly this, so an operator
edits it and publishes it back; ``version`` says which version it was edited from (left out, as in
the bundled sample, it means the version in force).

Publishing stores the next version (its body built as edits to the one before, sync.catalog_patch)
and queues it to every active station (hub.feed.queue_catalog), in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import msgspec

from hub.departments import department_key
from hub.feed import queue_catalog
from hub.store import CatalogVersionRow, HubStoreProtocol
from sync.catalog import (
    Bundle,
    Catalog,
    Material,
    ServiceItem,
    load_catalog,
    material_identity,
    satisfied_by_problems,
)
from sync.catalog_patch import CatalogChange, change_counts, changes, make_edits
from sync.errors import InputError, NotFoundError, Problem, ProblemsError, ProxyAppError
from sync.text import printable
from sync.timeutil import iso_utc

__all__ = (
    "MAX_DAYS",
    "CatalogFileError",
    "CatalogView",
    "HistoryRow",
    "Problem",
    "Published",
    "ReadCatalog",
    "catalog_history",
    "catalog_json",
    "catalog_view",
    "publish_catalog",
    "read_catalog",
)

MAX_DAYS = 250
"""The most working days a promised or legal time limit may say: a working year. More is a typo."""
MAX_CODE_CHARS = 40
MAX_NOTE_CHARS = 200
_TOP = ("version", "items", "bundles")
_LISTED: dict[type, str] = {ServiceItem: "items[]", Material: "items[].materials[]", Bundle: "bundles[]"}


class CatalogFileError(ProblemsError):
    """A catalogue file with problems: all of them, listed at once (一次性告知); nothing was published."""

    code = "catalog.file"
    file_zh = "事项目录文件"
    file_en = "catalogue file"


class ReadCatalog(msgspec.Struct, frozen=True, kw_only=True):
    """A catalogue file that passed every check, and what it is worth saying anyway (fields ignored, new departments)."""

    catalog: Catalog
    """Numbered as the next version."""
    warnings: list[Problem]


def _shown(value: Any) -> str:
    return printable(json.dumps(value, ensure_ascii=False))[:40]


class _Reader:
    """Collects every problem of one file instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.ignored: Counter[str] = Counter()
        self.unreadable: set[str] = set()
        """Codes of items that failed their checks: not "missing" where bundles name them."""

    def problem(self, where: str, zh: str, en: str) -> None:
        self.problems.append(Problem(where, zh, en))

    def entry(self, raw: Any, type_: type, where: str) -> Any:
        """``raw`` as a ``type_`` Struct, every field checked on its own (so every bad field is named); None if any is bad."""
        if not isinstance(raw, dict):
            self.problem(
                where, f"应为 JSON 对象，实为 {type(raw).__name__}", f"must be a JSON object, not {type(raw).__name__}"
            )
            return None
        fields = {f.name: f for f in msgspec.structs.fields(type_)}
        for key in raw:
            if key not in fields:
                self.ignored[f"{_LISTED[type_]}.{printable(key)[:40]}"] += 1
        ok = True
        known: dict[str, Any] = {}
        for name, info in fields.items():
            if name not in raw:
                if info.required:
                    self.problem(f"{where}.{name}", "缺少此字段", "is missing")
                    ok = False
                continue
            value = raw[name]
            if name == "materials" and type_ is ServiceItem:
                value = self._materials(value, f"{where}.materials")
                if value is None:
                    ok = False
                    continue
            else:
                try:
                    msgspec.convert(value, info.type)
                except msgspec.ValidationError as exc:
                    message = str(exc).partition(" - at `$")[0]
                    self.problem(
                        f"{where}.{name}",
                        f"取值无效：{_shown(value)}（{message}）",
                        f"invalid value {_shown(value)} ({message})",
                    )
                    ok = False
                    continue
            known[name] = value
        return msgspec.convert(known, type_) if ok else None

    def _materials(self, value: Any, where: str) -> list[Material] | None:
        if not isinstance(value, list) or not value:
            self.problem(where, "应为非空的材料列表", "must be a non-empty list of materials")
            return None
        found = [self.entry(raw, Material, f"{where}[{i}]") for i, raw in enumerate(value)]
        return None if any(m is None for m in found) else found


def _days(reader: _Reader, where: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= MAX_DAYS:
        reader.problem(
            where, f"{value} 不在 0 到 {MAX_DAYS} 个工作日之间", f"{value} is not between 0 and {MAX_DAYS} working days"
        )


def _check_text(reader: _Reader, where: str, value: str, what_zh: str, what_en: str) -> None:
    if not value.strip():
        reader.problem(where, f"{what_zh}为空", f"the {what_en} is empty")
    elif printable(value) != value:
        reader.problem(where, f"{what_zh}含有控制字符", f"the {what_en} holds control characters")


def _check_item(reader: _Reader, item: ServiceItem, where: str) -> None:
    if (
        not item.code.strip()
        or item.code != item.code.strip()
        or len(item.code) > MAX_CODE_CHARS
        or printable(item.code) != item.code
    ):
        reader.problem(
            f"{where}.code", f"事项编码 {_shown(item.code)} 无效", f"item code {_shown(item.code)} is not valid"
        )
    elif not department_key(item.code):
        reader.problem(
            f"{where}.code",
            f"事项编码 {item.code} 没有部门前缀（如 RS-001 中的 RS）：部门由前缀确定",
            f"item code {item.code} has no department prefix (RS in RS-001): the prefix names the department",
        )
    _check_text(reader, f"{where}.name_zh", item.name_zh, "事项中文名称", "Chinese name")
    _check_text(reader, f"{where}.department_zh", item.department_zh, "部门名称", "department name")
    _days(reader, f"{where}.promised_days", item.promised_days)
    _days(reader, f"{where}.legal_days", item.legal_days)
    if item.promised_days is not None and item.legal_days is not None and item.promised_days > item.legal_days:
        reader.problem(
            f"{where}.promised_days",
            f"承诺时限 {item.promised_days} 个工作日超过法定时限 {item.legal_days} 个工作日",
            f"promised {item.promised_days} working days exceeds the legal limit of {item.legal_days}",
        )
    if item.promised_days is None and not item.schedule:
        reader.problem(
            f"{where}.promised_days",
            "没有承诺时限的事项须写明办理安排（schedule，如 annual_batch）",
            "an item without a promised time limit needs its schedule (e.g. annual_batch)",
        )
    seen: dict[str, int] = {}
    for index, material in enumerate(item.materials):
        mwhere = f"{where}.materials[{index}].name_zh"
        _check_text(reader, mwhere, material.name_zh, "材料名称", "material name")
        if material.name_zh in seen:
            reader.problem(
                mwhere,
                f"材料“{material.name_zh}”与 materials[{seen[material.name_zh]}] 重复",
                f"material {material.name_zh!r} repeats materials[{seen[material.name_zh]}]",
            )
        seen.setdefault(material.name_zh, index)


def _check_bundle(reader: _Reader, bundle: Bundle, where: str, items: dict[str, ServiceItem]) -> None:
    _check_text(reader, f"{where}.name_zh", bundle.name_zh, "一件事名称", "bundle name")
    _days(reader, f"{where}.promised_days", bundle.promised_days)
    if bundle.code in items:
        reader.problem(
            f"{where}.code", f"编码 {bundle.code} 已是一个事项的编码", f"code {bundle.code} is an item's code"
        )
    if not bundle.members:
        reader.problem(f"{where}.members", "一件事至少需要一个成员事项", "a bundle needs member items")
    for code in bundle.members:
        member = items.get(code)
        if member is None and code in reader.unreadable:
            continue
        if member is None:
            reader.problem(
                f"{where}.members", f"成员事项 {code} 不在目录中", f"member {code} is not an item of this catalogue"
            )
            continue
        if bundle.code not in member.bundles:
            reader.problem(
                f"{where}.members",
                f"事项 {code} 是成员，但其 bundles 未列出 {bundle.code}",
                f"item {code} is a member but its bundles do not list {bundle.code}",
            )
        if member.withdrawn and not bundle.withdrawn:
            reader.problem(
                f"{where}.members",
                f"成员事项 {code} 已停办：一件事也须停办（withdrawn）或去掉该成员",
                f"member {code} is withdrawn: withdraw the bundle too, or drop the member",
            )
    ordered = [code for stage in bundle.ordering for code in stage]
    if sorted(ordered) != sorted(bundle.members) or len(set(ordered)) != len(ordered):
        reader.problem(
            f"{where}.ordering", "办理顺序须恰好列出每个成员事项一次", "the stages must list every member exactly once"
        )
    if all(code in items for code in bundle.members):  # else a member's own problem is the one to fix first
        for zh, en in satisfied_by_problems(bundle, items):
            reader.problem(f"{where}.satisfied_by", zh, en)
    members = [items[code] for code in bundle.members if code in items]
    spelled: dict[str, list[str]] = {}
    for item in members:
        for material in item.materials:
            name = bundle.recorded_as(item.code, material.name_zh)  # asked for once, under the shared name
            names_of = spelled.setdefault(material_identity(name), [])
            if name not in names_of:
                names_of.append(name)
    for names_of in spelled.values():
        if len(names_of) > 1:
            reader.problem(
                f"{where}.members",
                f"成员事项把同一份材料写成了不同名称：{'、'.join(names_of)}（申请人会被要求提交两次）",
                f"members name one document differently: {', '.join(names_of)} (the applicant would be asked twice)",
            )


def _file(raw: bytes | str) -> Any:
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
        return json.loads(text)
    except UnicodeDecodeError:
        raise CatalogFileError([Problem("file", "不是 UTF-8 编码的文本", "is not UTF-8 text")]) from None
    except json.JSONDecodeError as exc:
        raise CatalogFileError(
            [
                Problem(
                    "file",
                    f"不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}）",
                    f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                )
            ]
        ) from None


def read_catalog(raw: bytes | str, *, current: Catalog) -> ReadCatalog:
    """Parse and check a catalogue file against the version in force; every problem at once.

    Checked: the JSON and each field's type; item codes unique, with a department prefix; names and
    departments given; promised and legal days from 0 to :data:`MAX_DAYS`, promised within legal;
    materials named once per item; bundles' members present and listing the bundle, their stages
    complete, one document named one way across their members; a
    withdrawn member only in a withdrawn bundle; ``version`` the one in force (or the next).

    Raises:
        CatalogFileError: listing every problem found.
    """
    data = _file(raw)
    reader = _Reader()
    if not isinstance(data, dict):
        raise CatalogFileError([Problem("file", "应为 JSON 对象（{…}）", "must be a JSON object ({…})")])
    for key in data:
        if key not in _TOP:
            reader.ignored[printable(key)[:40]] += 1
    version = data.get("version", current.version)
    if (
        isinstance(version, bool)
        or not isinstance(version, int)
        or version not in (current.version, current.version + 1)
    ):
        reader.problem(
            "version",
            f"文件基于第 {_shown(version)} 版，现行为第 {current.version} 版：请从“hub catalog show --json”重新开始",
            f"the file was edited from version {_shown(version)} but version {current.version} is in force; "
            "start again from 'hub catalog show --json'",
        )
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        reader.problem("items", "应为非空的事项列表", "must be a non-empty list of items")
        raw_items = []
    raw_bundles = data.get("bundles", [])
    if not isinstance(raw_bundles, list):
        reader.problem("bundles", "应为一件事的列表（可为空）", "must be a list of bundles (may be empty)")
        raw_bundles = []
    items: dict[str, ServiceItem] = {}
    labels: dict[str, str] = {}
    for index, raw_item in enumerate(raw_items):
        code = raw_item.get("code") if isinstance(raw_item, dict) else None
        where = f"items[{index}]" + (f" ({printable(code)})" if isinstance(code, str) else "")
        item = reader.entry(raw_item, ServiceItem, where)
        if item is None:
            if isinstance(code, str):
                reader.unreadable.add(code)
            continue
        _check_item(reader, item, where)
        if item.code in items:
            reader.problem(
                f"{where}.code",
                f"事项编码 {item.code} 与 {labels[item.code]} 重复",
                f"item code {item.code} repeats {labels[item.code]}",
            )
            continue
        items[item.code] = item
        labels[item.code] = where
    bundles: dict[str, Bundle] = {}
    for index, raw_bundle in enumerate(raw_bundles):
        code = raw_bundle.get("code") if isinstance(raw_bundle, dict) else None
        where = f"bundles[{index}]" + (f" ({printable(code)})" if isinstance(code, str) else "")
        bundle = reader.entry(raw_bundle, Bundle, where)
        if bundle is None:
            continue
        if bundle.code in bundles:
            reader.problem(f"{where}.code", f"一件事编码 {bundle.code} 重复", f"bundle code {bundle.code} repeats")
            continue
        _check_bundle(reader, bundle, where, items)
        bundles[bundle.code] = bundle
    for code, item in items.items():
        for named in item.bundles:
            if named not in bundles:
                reader.problem(f"{labels[code]}.bundles", f"未知的一件事 {named}", f"unknown bundle {named}")
            elif code not in bundles[named].members:
                reader.problem(
                    f"{labels[code]}.bundles",
                    f"列出了一件事 {named}，但不是其成员",
                    f"lists bundle {named} but is not one of its members",
                )
    if reader.problems:
        raise CatalogFileError(reader.problems)
    catalog = Catalog(version=current.version + 1, items=tuple(items.values()), bundles=tuple(bundles.values()))
    try:  # the checks stations make when they install it: passed by now, but never publish what they refuse
        load_catalog(msgspec.json.decode(msgspec.json.encode(catalog)))
    except ProxyAppError as exc:
        raise CatalogFileError([Problem(exc.field or "file", exc.zh, exc.en)]) from None
    return ReadCatalog(catalog=catalog, warnings=_warnings(reader, catalog, current))


def _warnings(reader: _Reader, catalog: Catalog, current: Catalog) -> list[Problem]:
    warnings = [
        Problem(
            key,
            f"不是目录字段，已忽略（{count} 处）",
            f"is not a catalogue field and was ignored ({count} place(s))",
        )
        for key, count in sorted(reader.ignored.items())
    ]
    known = {department_key(item.code) for item in current.items}
    for key in sorted({department_key(item.code) for item in catalog.items} - known):
        warnings.append(
            Problem(
                "items",
                f"新部门 {key}：其账号用“hub user add 名称 --role department --department {key}”创建",
                f"new department {key}: create its accounts with 'hub user add NAME --role department --department {key}'",
            )
        )
    return warnings


def catalog_json(catalog: Catalog) -> str:
    """The catalogue in the file format (what ``publish`` reads), indented, Chinese kept readable."""
    return json.dumps(msgspec.to_builtins(catalog), ensure_ascii=False, indent=2)


class Published(msgspec.Struct, frozen=True, kw_only=True):
    """What ``publish`` did (or, for a dry run, would do)."""

    version: int
    """The new version; the one in force when ``unchanged``."""
    unchanged: bool
    dry_run: bool = False
    changes: list[CatalogChange] = []
    stations: int = 0
    """Active stations it was (or would be) queued to."""
    forms: dict[str, int] = {}
    """Stations per form: patch, full, legacy (none for a dry run)."""


def publish_catalog(
    store: HubStoreProtocol, read: ReadCatalog, *, note: str | None = None, now: dt.datetime, dry_run: bool = False
) -> Published:
    """Publish a checked catalogue as the next version and queue it to every active station, in one transaction.

    A file equal to the version in force publishes nothing (``unchanged``), so running the same
    command twice is harmless. With ``dry_run`` nothing is written.
    """
    if note is not None and (len(note) > MAX_NOTE_CHARS or printable(note) != note):
        raise InputError(
            zh=f"说明（--note）须为不超过 {MAX_NOTE_CHARS} 个可见字符",
            en=f"--note must be at most {MAX_NOTE_CHARS} printable characters",
            field="note",
        )
    with store.transaction():
        number = store.catalog_version()
        assert number is not None  # hub init publishes version 1
        current = store.catalog(number)
        new = msgspec.structs.replace(read.catalog, version=number + 1)
        stations = [s.station_id for s in store.stations(enrolled_only=True)]
        if msgspec.structs.replace(current, version=new.version) == new:
            return Published(version=number, unchanged=True, dry_run=dry_run)
        found = changes(current, new)
        if dry_run:
            return Published(version=new.version, unchanged=False, dry_run=True, changes=found, stations=len(stations))
        _, base = store.catalog_body(number)
        _, body = make_edits(base, new)
        store.put_catalog_version(
            new.version, body, note=note or None, changes=msgspec.json.encode(found).decode(), now=now
        )
        forms = queue_catalog(store, stations, version=new.version, at=iso_utc(now))
    return Published(version=new.version, unchanged=False, changes=found, stations=len(stations), forms=forms)


class CatalogView(msgspec.Struct, frozen=True, kw_only=True):
    """A catalogue version as ``hub catalog show`` prints it."""

    catalog: Catalog
    published_at: str
    note: str | None
    current: bool


def catalog_view(store: HubStoreProtocol, version: int | None = None) -> CatalogView:
    """The version in force, or an earlier ``version``.

    Raises:
        NotFoundError: no such version.
    """
    rows = {row.version: row for row in store.catalog_versions()}
    newest = max(rows)
    wanted = newest if version is None else version
    if wanted not in rows:
        raise NotFoundError(
            zh=f"事项目录没有第 {wanted} 版（现行第 {newest} 版）",
            en=f"the catalogue has no version {wanted} (version {newest} is in force)",
            field="version",
        )
    row = rows[wanted]
    return CatalogView(
        catalog=store.catalog(wanted), published_at=row.published_at, note=row.note, current=wanted == newest
    )


class HistoryRow(msgspec.Struct, frozen=True, kw_only=True):
    """One line of ``hub catalog history``."""

    version: int
    published_at: str
    note: str | None
    counts: dict[str, int] | None
    """Items added, withdrawn or removed, changed (None for a version seeded by ``hub init``)."""
    holding: int


def catalog_history(store: HubStoreProtocol) -> list[HistoryRow]:
    """Every version, oldest first: when, the note, what it changed, the stations holding it now."""
    return [_history_row(row) for row in store.catalog_versions()]


def _history_row(row: CatalogVersionRow) -> HistoryRow:
    counts = None
    if row.changes is not None:
        counts = change_counts(msgspec.json.decode(row.changes, type=list[CatalogChange]))
    return HistoryRow(
        version=row.version, published_at=row.published_at, note=row.note, counts=counts, holding=row.holding
    )
