"""County → province with per-set body keys (FEATURE_BOX_KEY, layout 0x03): the province reads exactly the forwarded
sets; an older station's sets (layout 0x02) still go up with the pair's key once; a station's fork inside a county's
set is quarantined at the province, the county's other stations forwarding on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import msgspec
import pytest

from hub.accounts import add_user, create_token, hasher_for
from hub.keys import load_identity
from hub.province_view import province_report
from hub.settings import Settings
from hub.store import HubStore
from hub.upstream import disclosed_key
from station.sealing import HUB_FEATURES_META
from station.store.db import write_txn
from station.store.meta import set_meta
from sync.crypto import box_layout
from sync.protocol import (
    CTX_DOWN,
    CTX_UP,
    FEATURE_BOX_KEY,
    GENESIS,
    HUB_FEATURES,
    SignedSet2,
    decode_envelope,
    make_receipt,
    seal_set,
)
from sync.protocol.envelope import ProtocolError
from sync.protocol.upstream import ForwardedSet, open_forwarded
from sync.timeutil import utc_now
from tests.integration.county import V1, V2, County
from tests.integration.test_e2e_province import (  # noqa: F401 (province, province_template: fixtures)
    COUNTY,
    assert_province_holds_county,
    enrol_county,
    forward,
    province,
    province_template,
    serving,
)

if TYPE_CHECKING:
    from tests.integration.county import TestStationHandle

pytestmark = pytest.mark.timeout(240)


def _body(envelope: bytes) -> bytes:
    return msgspec.msgpack.decode(bytes(decode_envelope(envelope).payload), type=SignedSet2).body


def _held(province_dir: Path, station_id: str) -> list[tuple[int, bytes, bytes]]:
    with HubStore.open_existing(province_dir) as store:
        rows = store.db.execute(
            "SELECT seq, envelope, body_key FROM province_sets WHERE station_id = ? ORDER BY seq", [station_id]
        ).fetchall()
    return [(int(r[0]), bytes(r[1]), bytes(r[2])) for r in rows]


def _open(county: County, station_id: str, envelope: bytes, key: bytes, context: bytes = CTX_UP) -> None:
    with county.store() as store:
        signer = store.station_key(station_id)
    assert signer is not None
    open_forwarded(envelope, sign_public=signer.sign_public, key_id=signer.key_id, key=key, context=context)


def test_each_forwarded_set_has_its_own_key_which_opens_it_alone(
    live_county: County,
    province: Path,  # noqa: F811 (the fixture of test_e2e_province)
) -> None:
    a = live_county.enrol(V1)
    with serving(province) as url:
        enrol_county(live_county, province, url)
        for serial in (1, 2, 3):
            a.new_case(f"张{serial}", serial)
            a.sync()
        forward(live_county)
    held = _held(province, a.station_id)
    assert [seq for seq, _, _ in held] == [1, 2, 3]
    assert {box_layout(_body(envelope)) for _, envelope, _ in held} == {3}  # the hub said it reads them
    keys = [key for _, _, key in held]
    assert len(set(keys)) == 3 and {len(k) for k in keys} == {32}
    # a set's key opens that set and no other of the station's
    with pytest.raises(ProtocolError) as other:
        _open(live_county, a.station_id, held[1][1], keys[0])
    assert other.value.code == "bad_key"
    # nor the county's feed sets to the station, which never leave the county (sealed per set too)
    with live_county.store() as store:
        feed = [
            bytes(r[0]) for r in store.db.execute("SELECT envelope FROM feed_sets WHERE station_id = ?", [a.station_id])
        ]
        hub_public = load_identity(live_county.hub_dir).keys.sign_public
    assert feed and {box_layout(_body(envelope)) for envelope in feed} == {3}
    for envelope in feed:
        for key in keys:
            with pytest.raises(ProtocolError):
                open_forwarded(envelope, sign_public=hub_public, key_id="", key=key, context=CTX_DOWN)
    assert_province_holds_county(live_county, province)


def _as_if_older_hub(a: TestStationHandle) -> None:
    """The station last heard a hub that does not say FEATURE_BOX_KEY (0.6): it seals with the pair's key."""
    with a.open() as station, write_txn(station.db):
        set_meta(station.db, {HUB_FEATURES_META: HUB_FEATURES & ~FEATURE_BOX_KEY})


def test_sets_sealed_for_an_older_hub_go_up_with_the_pairs_key_once(
    live_county: County,
    province: Path,  # noqa: F811 (the fixture of test_e2e_province)
) -> None:
    a = live_county.enrol(V1)
    for serial in (1, 2, 3):
        if serial < 3:
            _as_if_older_hub(a)  # each answer says the hub reads per-set keys again
        a.new_case(f"张{serial}", serial)
        a.sync()
    with live_county.store() as store:
        layouts = [box_layout(_body(envelope)) for _, envelope, _ in store.accepted_sets(a.station_id, 0, 10)]
    assert layouts == [2, 2, 3]
    with serving(province) as url:
        enrol_county(live_county, province, url)
        forward(live_county)
    with live_county.store() as store:
        items = [
            msgspec.msgpack.decode(bytes(r[0]), type=ForwardedSet)
            for r in store.db.execute("SELECT body FROM upstream_items WHERE kind = 'set' ORDER BY id")
        ]
    # the pair's key travels once for the station's 0x02 sets; a 0x03 set always carries its own
    assert [len(item.key) for item in items] == [32, 0, 32]
    held = _held(province, a.station_id)
    assert [seq for seq, _, _ in held] == [1, 2, 3]
    assert held[0][2] == held[1][2] != held[2][2]
    with pytest.raises(ProtocolError):  # the pair's key, disclosed for the old sets, does not open the new one
        _open(live_county, a.station_id, held[2][1], held[0][2])
    assert_province_holds_county(live_county, province)


def _forged(
    county: County, a: TestStationHandle, seq: int, prev: bytes, *, per_box: bool = True
) -> tuple[ForwardedSet, bytes]:
    """Another set ``seq`` signed by station ``a`` (a station folder restored from an old backup that sealed anew,
    accepted by a county restored too), with the county's receipt and its key; (item, its hash)."""
    identity = load_identity(county.hub_dir)
    envelope, set_hash = seal_set(
        origin=a.station_id,
        seq=seq,
        prev=prev,
        records=[msgspec.msgpack.encode({"type": "row", "table": "forged", "n": seq})],
        sign_private=a.keys.sign_private,
        recipient_box_public=identity.keys.box_public,
        sender_box_private=a.keys.box_private,
        context=CTX_UP,
        per_box=per_box,
    )
    receipt = make_receipt(
        origin=a.station_id,
        seq=seq,
        set_hash=set_hash,
        hub_ms=1,
        sign_private=identity.keys.sign_private,
        sign_public=identity.keys.sign_public,
    )
    key = disclosed_key(identity, envelope, a.keys.box_public)
    return ForwardedSet(station_id=a.station_id, seq=seq, envelope=envelope, receipt=receipt, key=key), set_hash


def _forged_first_set(county: County, a: TestStationHandle) -> ForwardedSet:
    return _forged(county, a, 1, GENESIS)[0]


def _queue(county: County, item: ForwardedSet) -> None:
    with county.store() as store:
        store.queue_upstream("set", msgspec.msgpack.encode(item), "2026-01-01T00:00:00.000Z")


def test_a_station_fork_inside_a_county_set_is_quarantined_at_the_province(
    live_county: County,
    province: Path,  # noqa: F811 (the fixture of test_e2e_province)
) -> None:
    a, b = live_county.enrol(V1), live_county.enrol(V2)
    with HubStore.open_existing(province) as store:
        add_user(
            store,
            "admin",
            "admin",
            "province-admin-pw-1",
            hasher=hasher_for(Settings(data_dir=province)),
            now=utc_now(),
        )
        token = create_token(store, "admin", expires_days=1, now=utc_now()).token
    with serving(province) as url:
        enrol_county(live_county, province, url)
        a.new_case("张三", 1)
        b.new_case("李四", 2)
        live_county.sync_all(1)
        forward(live_county)
        held_before = _held(province, a.station_id)
        forged = _forged_first_set(live_county, a)
        _queue(live_county, forged)
        b.new_case("王五", 3)  # the same county set carries b's next set: it is not held up
        b.sync()
        forward(live_county)  # taken: no refusal, no county fork
        _queue(live_county, forged)  # forwarded again (a county resending): quarantined once
        forward(live_county)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            page = client.get("/province")
            status = client.get("/api/v1/province", params={"county": COUNTY}).json()
    assert _held(province, a.station_id) == held_before  # nothing of the fork applied, nothing held deleted
    assert_province_holds_county(live_county, province)  # b's sets all there
    with HubStore.open_existing(province) as store:
        forks = store.province_station_forks(COUNTY)
        assert [(f["station_id"], f["seq"], f["reason"]) for f in forks] == [(a.station_id, 1, "differs")]
        kept = store.province_station_fork(int(forks[0]["id"]))
        assert kept is not None
        assert bytes(kept["envelope"]) == forged.envelope and bytes(kept["receipt"]) == forged.receipt
        assert bytes(kept["held_hash"]) == store.province_set(a.station_id, 1)[0]  # type: ignore[index]
        _open(live_county, a.station_id, bytes(kept["envelope"]), bytes(kept["body_key"]))  # the evidence opens
        report = province_report(store, now=utc_now())
        assert store.county_forks(COUNTY) == []  # the county's chain itself is fine
    assert report.counties[0].state == "fork" and report.counties[0].station_forks == 1
    assert report.totals["station_forks"] == 1
    assert page.status_code == 200 and 'id="station-forks"' in page.text and a.station_id in page.text
    assert "hub county station-forks resolve --county" in page.text  # the way out named on the page
    assert [f["station_id"] for f in status["station_forks"]] == [a.station_id]


def test_a_forked_branch_of_pair_keyed_sets_is_quarantined_set_by_set(
    live_county: County,
    province: Path,  # noqa: F811 (the fixture of test_e2e_province)
) -> None:
    """A branch of three sets sealed for an older hub (0x02: the pair's key sent with the first only): the first
    differs from the set held, the second does not follow the head, the third follows a quarantined set; each is
    kept with its key (the empty ones found from the set before it, held or quarantined)."""
    a, b = live_county.enrol(V1), live_county.enrol(V2)
    with serving(province) as url:
        enrol_county(live_county, province, url)
        a.new_case("张三", 1)
        live_county.sync_all(1)
        forward(live_county)
        prev = GENESIS
        for seq in (1, 2, 3):
            item, prev = _forged(live_county, a, seq, prev, per_box=False)
            _queue(live_county, item if seq == 1 else msgspec.structs.replace(item, key=b""))
        b.new_case("李四", 2)
        b.sync()
        forward(live_county)
    assert [seq for seq, _, _ in _held(province, a.station_id)] == [1]
    assert_province_holds_county(live_county, province)
    with HubStore.open_existing(province) as store:
        forks = store.province_station_forks(COUNTY)
        assert [(f["seq"], f["reason"]) for f in forks] == [(1, "differs"), (2, "prev"), (3, "after")]
        kept = [store.province_station_fork(int(fork["id"])) or {} for fork in forks]
        held_key = store.province_set(a.station_id, 1)[1]  # type: ignore[index]
    # the pair's key, sent with the first set and found for the other two (not the held set 1's own key)
    keys = {bytes(k["body_key"]) for k in kept}
    assert len(keys) == 1 and held_key not in keys
    for k in kept:  # each kept with the key that opens it
        _open(live_county, a.station_id, bytes(k["envelope"]), bytes(k["body_key"]))
