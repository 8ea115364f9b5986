"""A catalogue version arriving in the feed: as a patch or whole, checked, installed; cases keep theirs; the notice."""

from __future__ import annotations

import msgspec
import pytest

from station import cases as ops
from station.catalog_notice import catalog_notice
from station.feed import apply_feed_set
from station.queries import get_case
from station.store import Station
from sync.catalog import Catalog, ServiceItem
from sync.catalog_patch import body_digest, make_edits
from sync.crypto import KeyPair
from sync.errors import IntakeError
from sync.protocol import CatalogItem, CatalogPatch
from tests.station.conftest import FakeClock, pension_benefit_deferred
from tests.station.hubdouble import HubDouble

# MZ-004 (高龄津贴申请), the bank account deferred under 容缺.
ELDERLY = pension_benefit_deferred(item="MZ-004", materials=["居民身份证", "居民户口簿"])


def _stored(station: Station, version: int) -> bytes:
    return station.db.execute("SELECT body FROM catalogs WHERE version = ?", [version]).fetchone()[0].encode()


def _version_2(catalog: Catalog) -> Catalog:
    """RS-002 promised in 7 working days instead of 10; MZ-004 withdrawn (停办); a new item."""
    items: list[ServiceItem] = []
    for item in catalog.items:
        if item.code == "RS-002":
            item = msgspec.structs.replace(item, promised_days=7)
        if item.code == "MZ-004":
            item = msgspec.structs.replace(item, withdrawn=True)
        items.append(item)
    items.append(
        msgspec.structs.replace(catalog.items[0], code="RS-099", name_zh="城乡居民养老保险待遇暂停", bundles=())
    )
    return msgspec.structs.replace(catalog, version=2, items=tuple(items))


def _patch(station: Station) -> tuple[CatalogPatch, bytes]:
    base = _stored(station, 1)
    edits, body = make_edits(base, _version_2(station.catalog))
    patch = CatalogPatch(
        base_version=1, version=2, base_digest=body_digest(base), digest=body_digest(body), edits=edits
    )
    return patch, body


def test_a_patch_installs_the_hubs_catalogue_and_new_cases_use_it_while_open_ones_keep_theirs(
    station: Station, hub: HubDouble, keys: KeyPair, clock: FakeClock
) -> None:
    old = ops.new_intake(station, pension_benefit_deferred()).number  # RS-002 under version 1
    elderly = ops.new_intake(
        station,
        ELDERLY,
    ).number
    before = get_case(station, old)
    patch, body = _patch(station)
    clock.advance(hours=1)
    outcome = apply_feed_set(station, hub.feed_set(patch), keys)
    assert outcome.applied and outcome.notes == []
    assert _stored(station, 2) == body  # the hub's bytes exactly: the next patch builds on them
    assert station.catalog.version == 2 and station.meta.catalog_failed is None

    new = ops.new_intake(station, pension_benefit_deferred(applicant_name="李四")).number
    fresh, kept = get_case(station, new), get_case(station, old)
    assert (fresh.catalog_version, kept.catalog_version) == (2, 1)
    # From Monday 28 Sep 2026 (the National Day week off): 7 working days, against the old case's 10.
    assert (kept.summary.due_date, fresh.summary.due_date) == (before.summary.due_date, "2026-10-13")
    assert [m.name_zh for m in kept.materials] == [m.name_zh for m in before.materials]

    with pytest.raises(IntakeError) as refused:
        ops.new_intake(station, ELDERLY)
    assert refused.value.code == "intake.withdrawn_item"
    # The withdrawn item's open case carries on: the deferred material handed in, a note.
    assert ops.supply_material(station, elderly, ["社会保障卡或本人银行账户"]) == ["社会保障卡或本人银行账户"]
    ops.add_note(station, elderly, "申请人来电询问进度")
    assert get_case(station, elderly).summary.item_name == "高龄津贴申请"

    notice = catalog_notice(station)
    assert notice is not None and notice.version == 2 and notice.failed is None
    assert notice.counts == {"added": 1, "withdrawn": 1, "changed": 1}
    assert notice.open_on_older == 2  # the two cases received under version 1
    assert [c.code for c in notice.changes] == ["RS-002", "MZ-004", "RS-099"]
    clock.advance(days=15)
    assert catalog_notice(station) is None  # announced for two weeks


def test_a_patch_on_a_base_that_is_not_the_hubs_is_not_installed_and_a_whole_version_mends_it(
    station: Station, hub: HubDouble, keys: KeyPair
) -> None:
    patch, body = _patch(station)
    wrong = msgspec.structs.replace(patch, base_digest=b"\0" * 32)
    outcome = apply_feed_set(station, hub.feed_set(wrong), keys)
    assert outcome.applied  # the rest of the set stands; the catalogue waits
    assert outcome.notes == ["catalogue version 2 not installed: its base version 1 differs from the hub's"]
    assert station.catalog.version == 1 and station.meta.catalog_failed == 2
    notice = catalog_notice(station)
    assert notice is not None and (notice.failed, notice.version) == (2, 1)
    log = station.db.execute("SELECT detail FROM sync_log WHERE kind = 'feed'").fetchall()
    assert log == [("feed set 1: catalogue version 2 not installed: its base version 1 differs from the hub's",)]

    missing = msgspec.structs.replace(patch, base_version=7, version=8)
    assert apply_feed_set(station, hub.feed_set(missing), keys).notes == [
        "catalogue version 8 not installed: its base version 7 is missing"
    ]
    outcome = apply_feed_set(station, hub.feed_set(CatalogItem(8, body.replace(b'"version":2', b'"version":8'))), keys)
    assert outcome.notes == []
    assert station.catalog.version == 8 and station.meta.catalog_failed is None


def test_a_patch_whose_result_is_not_the_hubs_is_not_installed(station: Station, hub: HubDouble, keys: KeyPair) -> None:
    patch, _ = _patch(station)
    outcome = apply_feed_set(station, hub.feed_set(msgspec.structs.replace(patch, digest=b"\1" * 32)), keys)
    assert outcome.notes == [
        "catalogue version 2 not installed: the edits do not give the hub's catalogue (digest differs)"
    ]
    assert station.catalog.version == 1
