"""Catalogue deltas (sync.catalog_patch): edits that rebuild the hub's body exactly, changes in words, withdrawn items."""

from __future__ import annotations

import copy

import msgspec
import pytest

from sync.catalog import Catalog, ServiceItem, load_catalog, sample_catalog
from sync.catalog_patch import (
    CatalogEdit,
    apply_edits,
    body_digest,
    canonical_body,
    change_counts,
    changes,
    legacy_body,
    make_edits,
)
from sync.catalog_search import find
from sync.errors import CatalogError, IntakeError
from sync.intake import plan_intake
from sync.protocol import CatalogPatch, DownItem


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return sample_catalog()


def _with(catalog: Catalog, version: int, **items: ServiceItem) -> Catalog:
    """``catalog`` as ``version`` with some items replaced (by code, underscores for hyphens)."""
    replaced = tuple(items.get(i.code.replace("-", "_"), i) for i in catalog.items)
    return msgspec.structs.replace(catalog, version=version, items=replaced)


def test_a_changed_time_limit_is_one_edit_of_one_field_and_rebuilds_the_new_body(catalog: Catalog) -> None:
    base = msgspec.json.encode(catalog)
    new = _with(catalog, 2, RS_004=msgspec.structs.replace(catalog.item("RS-004"), promised_days=7))
    edits, body = make_edits(base, new)
    assert edits == [CatalogEdit(part=0, at=3, fields=b'{"promised_days":7}')]
    assert apply_edits(base, edits, 2) == body
    assert msgspec.json.decode(body, type=Catalog) == new
    # Unchanged entries keep their bytes: the body is the base with one number changed ("10" to "7").
    before, after = msgspec.json.decode(base)["items"], msgspec.json.decode(body)["items"]
    assert [i for i, (a, b) in enumerate(zip(before, after)) if a != b] == [3]
    assert len(body) == len(base) - 1
    assert len(msgspec.msgpack.encode(edits)) < 40


def test_added_removed_and_moved_entries_go_whole(catalog: Catalog) -> None:
    base = msgspec.json.encode(catalog)
    items = list(catalog.items)
    new_item = msgspec.structs.replace(items[0], code="RS-099", name_zh="城乡居民养老保险待遇暂停", bundles=())
    items.insert(2, new_item)
    items.remove(catalog.item("YB-004"))
    items.append(items.pop(0))  # RS-001 moved to the end
    new = msgspec.structs.replace(catalog, version=2, items=tuple(items))
    edits, body = make_edits(base, new)
    assert msgspec.json.decode(body, type=Catalog) == new
    assert apply_edits(base, edits, 2) == body
    put = [msgspec.json.decode(e, type=ServiceItem).code for edit in edits for e in edit.put]
    assert sorted(put) == ["RS-001", "RS-099"]
    assert sum(edit.drop for edit in edits) == 2  # RS-001 from its old place, YB-004


def test_an_entry_written_by_an_older_release_keeps_its_bytes_when_unchanged(catalog: Catalog) -> None:
    # A body stored before `withdrawn` existed: no entry says it. Withdrawing one item changes that
    # entry only; the 30 others are not rewritten to add the field.
    data = msgspec.json.decode(msgspec.json.encode(catalog))
    for entry in [*data["items"], *data["bundles"]]:
        del entry["withdrawn"]
    base = msgspec.json.encode(data)
    new = _with(catalog, 2, MZ_004=msgspec.structs.replace(catalog.item("MZ-004"), withdrawn=True))
    edits, body = make_edits(base, new)
    assert [(e.at, e.fields) for e in edits] == [(15, b'{"withdrawn":true}')]
    assert body.count(b'"withdrawn"') == 1
    assert msgspec.json.decode(body, type=Catalog) == new


def test_digests_compare_canonical_bodies(catalog: Catalog) -> None:
    body = msgspec.json.encode(catalog)
    spaced = msgspec.json.format(body, indent=2)
    assert canonical_body(spaced) == body
    assert body_digest(spaced) == body_digest(body) != body_digest(body.replace(b"RS-001", b"RS-00X"))


@pytest.mark.parametrize(
    "edit",
    [
        CatalogEdit(part=2, at=0),
        CatalogEdit(part=0, at=40, drop=1),
        CatalogEdit(part=0, at=30, drop=2),
        CatalogEdit(part=0, at=31, fields=b'{"promised_days":1}'),
        CatalogEdit(part=0, at=0, fields=b"[1]"),
        CatalogEdit(part=0, at=0, put=[b"not json"]),
    ],
)
def test_an_edit_outside_its_list_or_not_an_object_is_refused(catalog: Catalog, edit: CatalogEdit) -> None:
    with pytest.raises(CatalogError):
        apply_edits(msgspec.json.encode(catalog), [edit], 2)


def test_the_patch_travels_as_a_down_item(catalog: Catalog) -> None:
    base = msgspec.json.encode(catalog)
    new = _with(catalog, 2, RS_004=msgspec.structs.replace(catalog.item("RS-004"), promised_days=7))
    edits, body = make_edits(base, new)
    patch = CatalogPatch(
        base_version=1, version=2, base_digest=body_digest(base), digest=body_digest(body), edits=edits
    )
    wire = msgspec.msgpack.encode(patch)
    assert msgspec.msgpack.decode(wire, type=DownItem) == patch
    assert len(wire) < 200


def test_changes_in_words(catalog: Catalog) -> None:
    items = {i.code: i for i in catalog.items}
    rs001 = items["RS-001"]
    materials = list(rs001.materials)
    materials[0] = msgspec.structs.replace(materials[0], required=False)
    materials.append(msgspec.structs.replace(materials[1], name_zh="户籍证明", required=True))
    new = _with(
        catalog,
        2,
        RS_001=msgspec.structs.replace(rs001, materials=tuple(materials)),
        RS_002=msgspec.structs.replace(items["RS-002"], name_zh="养老金领取"),
        RS_004=msgspec.structs.replace(items["RS-004"], promised_days=7, legal_days=15),
        MZ_004=msgspec.structs.replace(items["MZ-004"], withdrawn=True),
    )
    found = changes(catalog, new)
    assert [(c.kind, c.code) for c in found] == [
        ("material_optional", "RS-001"),
        ("material_added", "RS-001"),
        ("item_renamed", "RS-002"),
        ("promised_days", "RS-004"),
        ("item_other", "RS-004"),
        ("item_withdrawn", "MZ-004"),
    ]
    texts = [c.text("zh") for c in found]
    assert texts[1] == "RS-001 城乡居民基本养老保险参保登记 新增材料：户籍证明（必需）"
    assert texts[3] == "RS-004 城乡居民基本养老保险注销登记及丧葬补助金申领 承诺时限：10 个工作日 → 7 个工作日"
    assert found[4].fields == ("legal_days",)
    assert found[2].text("en") == "RS-002 renamed: 城乡居民基本养老保险待遇领取 → 养老金领取"
    assert change_counts(found) == {"added": 0, "withdrawn": 1, "changed": 3}
    assert changes(catalog, msgspec.structs.replace(catalog, version=2)) == []


def _withdrawn(catalog: Catalog, code: str) -> Catalog:
    data = msgspec.json.decode(msgspec.json.encode(catalog))
    for item in data["items"]:
        if item["code"] == code:
            item["withdrawn"] = True
    return load_catalog(data)


def test_a_withdrawn_item_is_not_offered_or_taken_for_a_new_case_but_keeps_its_name(catalog: Catalog) -> None:
    withdrawn = _withdrawn(catalog, "MZ-004")
    assert "MZ-004" not in [i.code for i in find(withdrawn, "")[0]]
    assert find(withdrawn, "高龄")[0] == []
    assert [i.code for i in find(catalog, "高龄")[0]] == ["MZ-004"]
    with pytest.raises(IntakeError) as caught:
        plan_intake(withdrawn, item="MZ-004", presented=["居民身份证"])
    assert caught.value.code == "intake.withdrawn_item"
    assert "停办" in caught.value.zh
    assert withdrawn.item("MZ-004").name_zh == catalog.item("MZ-004").name_zh  # old cases still show it


def test_a_bundle_in_force_may_not_keep_a_withdrawn_member(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="withdrawn"):
        _withdrawn(catalog, "RS-006")  # a member of the newborn bundle
    data = msgspec.json.decode(msgspec.json.encode(catalog))
    for entry in data["items"]:
        entry["withdrawn"] = entry["withdrawn"] or entry["code"] == "RS-006"
    for bundle in data["bundles"]:
        bundle["withdrawn"] = bundle["code"] == "BND-NEWBORN"
    both = load_catalog(data)
    with pytest.raises(IntakeError) as caught:
        plan_intake(both, bundle="BND-NEWBORN")
    assert caught.value.code == "intake.withdrawn_bundle"


def test_the_legacy_body_leaves_withdrawn_entries_and_their_references_out(catalog: Catalog) -> None:
    data = msgspec.json.decode(msgspec.json.encode(catalog))
    for entry in data["items"]:
        entry["withdrawn"] = entry["code"] in ("RS-006", "MZ-004")
    for bundle in data["bundles"]:
        bundle["withdrawn"] = bundle["code"] == "BND-NEWBORN"
    data["version"] = 3
    body = msgspec.json.encode(load_catalog(copy.deepcopy(data)))
    # What a station of an older release does with it: its own struct, which knows no `withdrawn`.
    old = load_catalog(msgspec.json.decode(legacy_body(body)))
    assert old.version == 3
    assert {"RS-006", "MZ-004"} & {i.code for i in old.items} == set()
    assert "BND-NEWBORN" not in {b.code for b in old.bundles}
    assert all("BND-NEWBORN" not in i.bundles for i in old.items)
    assert len(old.items) == 29
