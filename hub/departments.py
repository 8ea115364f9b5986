"""County departments, derived from the catalogue: one stable key per item-code prefix (RS, YB, MZ …)."""

from __future__ import annotations

from collections import Counter

import msgspec

from sync.catalog import Catalog
from sync.errors import InputError

__all__ = ("Department", "department_key", "departments", "find_department")


class Department(msgspec.Struct, frozen=True, kw_only=True):
    """A department as desks and figures name it: its key, a display name and every name the catalogue uses."""

    key: str
    name_zh: str
    name_en: str
    names_zh: tuple[str, ...]
    """Every distinct ``department_zh`` of the key's items (MZ has two, NY has two)."""
    items: tuple[str, ...]


def department_key(item_code: str) -> str:
    """The department key of an item: its code up to the first hyphen (``RS-001`` → ``RS``).

    Mirrors ``hub.store.schema.DEPARTMENT_SQL``: the hub groups cases by this in SQL, so the two must agree.
    """
    head, sep, _ = item_code.partition("-")
    return head if sep else ""


def departments(catalog: Catalog) -> list[Department]:
    """The departments of a catalogue version, in catalogue order of their first item.

    The key is the item-code prefix, which stays stable when a department's long name changes.
    The display name is the ``department_zh`` most of the key's items carry; on a tie a county body
    (a name starting with 县) wins, since the hub's desks are county departments, then catalogue order.
    """
    grouped: dict[str, list[tuple[str, str, str]]] = {}
    for item in catalog.items:
        grouped.setdefault(department_key(item.code), []).append((item.code, item.department_zh, item.department_en))
    result = []
    for key, entries in grouped.items():
        counts = Counter(zh for _, zh, _ in entries)
        order = {zh: i for i, (_, zh, _) in reversed(list(enumerate(entries)))}
        name_zh = min(counts, key=lambda zh: (-counts[zh], not zh.startswith("县"), order[zh]))
        name_en = next(en for _, zh, en in entries if zh == name_zh)
        result.append(
            Department(
                key=key,
                name_zh=name_zh,
                name_en=name_en,
                names_zh=tuple(dict.fromkeys(zh for _, zh, _ in entries)),
                items=tuple(code for code, _, _ in entries),
            )
        )
    return [d for d in result if d.key]


def find_department(catalog: Catalog, key: str) -> Department:
    """The department with this key (any case).

    Raises:
        InputError: no such key; the message lists the keys.
    """
    wanted = key.strip().upper()
    known = departments(catalog)
    for department in known:
        if department.key == wanted:
            return department
    keys = ", ".join(d.key for d in known)
    raise InputError(
        zh=f"没有部门 {key!r}；可用：{keys}（见“hub department list”）",
        en=f"no department {key!r}; use one of: {keys} (see 'hub department list')",
        field="department",
    )
