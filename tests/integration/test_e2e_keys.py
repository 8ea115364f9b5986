"""Key rotation end to end, over real HTTP with a live hub and real station folders (docs/protocol.md,
"Key rotation"): a station changes its key and the old one is refused; the hub rotates its keys while
serving and its stations follow; a PC replacing one with the same device letter numbers after it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
import pytest

from hub.decisions import decide as decide_case
from hub.enroll import issue_code
from hub.keys import load_identity
from hub.store import HubStore
from hub.transfer import export_file as hub_export
from hub.transfer import import_file as hub_import
from station import cases as ops
from station.enrolment import enroll
from station.errors import FeedError
from station.feed import apply_feed_set
from station.identity import load_keypair, require_pins
from station.link import sync_once
from station.sealing import seal_pending
from station.store import Station
from station.transfer import export_file as station_export
from station.transfer import import_file as station_import
from sync.crypto import CryptoError, open_box
from sync.errors import InputError
from sync.protocol import (
    CTX_DOWN,
    FEATURE_KEY_ROTATION,
    STATION_FEATURES,
    TransferFile,
    decode_envelope,
    seal_set,
    sign_transfer,
)
from sync.protocol.sets import SignedSet2
from tests.integration.county import PASSPHRASE, V1, V2, County, pension_enrolment
from tests.integration.county import TestStationHandle as Handle
from tests.integration.processes import HubProcess, run

pytestmark = pytest.mark.timeout(180)

ENV = {"STATION_PASSPHRASE": PASSPHRASE}


def station_cli(handle: Handle, *args: str, check: bool = True):
    return run("station", "--data-dir", str(handle.data_dir), "--lang", "en", *args, env=ENV, check=check)


def hub_cli(county: County, *args: str, check: bool = True):
    return run("hub", "--data-dir", str(county.hub_dir), "--lang", "en", *args, check=check)


@pytest.fixture(autouse=True)
def passphrase_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATION_PASSPHRASE", PASSPHRASE)


def test_a_station_changes_its_key_and_the_old_one_is_refused(live_county: County, tmp_path: Path) -> None:
    a = live_county.enrol(V1)
    first = a.new_case("王小明", 1)
    assert a.sync().in_step
    # Someone holds a copy of this PC as it is now: its folder, the old key in it, and the passphrase.
    copy_dir = tmp_path / "copy"
    shutil.copytree(a.data_dir, copy_dir)
    old_key = a.keys.key_id

    made = station_cli(a, "rekey")
    assert "New station key" in made.stdout
    a.keys = load_keypair(a.data_dir, PASSPHRASE)
    assert a.keys.key_id == old_key and a.keys.pending is not None  # on its way, not yet acknowledged
    new_key = a.keys.pending.key_id
    second = a.new_case("李四", 2)  # sealed after the key change: under the new key
    assert a.sync().in_step

    with live_county.store() as store:
        row = store.station(a.station_id)
        assert row is not None and row.key_id == new_key
        old = next(k for k in store.station_keys(a.station_id) if k.key_id == old_key)
        assert old.replaced_at is not None and old.replaced_after == 2  # set 2 carried the change
        assert store.station_key_for_seq(a.station_id, 3).key_id == new_key  # type: ignore[union-attr]
    assert set(live_county.hub_cases()) == {first, second}
    settled = load_keypair(a.data_dir, PASSPHRASE)
    assert settled.key_id == new_key and settled.pending is None
    assert settled.older_box_public == (a.keys.box_public,)  # the old box key stays, the old signing key went
    with a.open() as station:
        assert station.meta.rekey is None and station.meta.key_changed_at

    # The copy signs with the old key: refused, whatever it sends; nothing of it reaches the county.
    copy = Handle(copy_dir, load_keypair(copy_dir, PASSPHRASE), a.station_id, V1, live_county)
    copy.new_case("赵六", 3)
    refused = copy.sync()
    assert [issue.code for issue in refused.errors] == ["retired_key"]
    assert set(live_county.hub_cases()) == {first, second}
    with live_county.store() as store:
        assert store.contacts(a.station_id)[0].code == "retired_key"  # what the dashboard shows

    # The station goes on under its new key; a second change works the same way.
    a.keys = settled
    third = a.new_case("钱七", 4)
    assert a.sync().in_step
    station_cli(a, "rekey")
    a.keys = load_keypair(a.data_dir, PASSPHRASE)
    assert a.sync().in_step
    assert set(live_county.hub_cases()) == {first, second, third}
    listed = hub_cli(live_county, "station", "list", "--json").stdout
    assert load_keypair(a.data_dir, PASSPHRASE).key_id in listed


def test_rekey_is_refused_while_a_change_is_on_its_way(live_county: County) -> None:
    a = live_county.enrol(V1)
    assert a.sync().in_step
    station_cli(a, "rekey")
    again = station_cli(a, "rekey", check=False)
    assert again.returncode == 2 and "has not been acknowledged by the hub yet: sync first" in again.stderr
    a.keys = load_keypair(a.data_dir, PASSPHRASE)
    assert a.sync().in_step
    assert station_cli(a, "rekey").returncode == 0


def test_a_sync_with_keys_unlocked_before_the_change_says_so(live_county: County) -> None:
    a = live_county.enrol(V1)
    assert a.sync().in_step
    station_cli(a, "rekey")
    with pytest.raises(Exception) as caught:
        a.sync()  # a.keys were unlocked before the change
    assert getattr(caught.value, "code", "") == "stale_keys"
    with Station.open(a.data_dir) as station:
        assert station.meta.rekey is not None  # nothing lost: the change waits for the next sync
    assert load_identity(live_county.hub_dir).gen == 1


def sealed_to(envelope: bytes, hub_box_private: bytes, station_box_public: bytes) -> bool:
    """Whether a station's set opens with this hub box key (so it was sealed to it)."""
    signed = msgspec.msgpack.decode(bytes(decode_envelope(envelope).payload), type=SignedSet2)
    try:
        open_box(
            hub_box_private, signed.body, f"{signed.origin}/{signed.seq}".encode(), sender_public=station_box_public
        )
    except CryptoError:
        return False
    return True


def test_the_hub_rotates_its_keys_while_serving_and_its_stations_follow(
    live_county: County, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = live_county.enrol(V1), live_county.enrol(V2)
    first = a.new_case("王小明", 1)
    live_county.sync_all()
    old = load_identity(live_county.hub_dir)
    # A set sealed to the hub's current box key, still at the station when the key rotates: in flight.
    in_flight = a.new_case("李四", 2)
    with a.open() as station:
        (seq,) = seal_pending(station, a.keys)
        envelope = bytes(station.db.execute("SELECT envelope FROM sets_out WHERE seq = ?", [seq]).fetchone()[0])
    assert sealed_to(envelope, old.keys.box_private, a.keys.box_public)

    # Station b runs a release that cannot read the handover (0.5): it says features without the bit.
    import station.link.exchange as exchange_module

    monkeypatch.setattr(exchange_module, "STATION_FEATURES", STATION_FEATURES & ~FEATURE_KEY_ROTATION)
    assert b.sync().in_step
    rotated = hub_cli(live_county, "key", "rotate")  # while the hub serves
    assert "generation 2" in rotated.stdout and "1 station(s) told" in rotated.stdout
    new = load_identity(live_county.hub_dir)
    assert new.gen == 2 and new.keys_of(1) == old.keys

    monkeypatch.setattr(exchange_module, "STATION_FEATURES", STATION_FEATURES)
    report = a.sync()
    assert report.in_step, report.errors
    assert any("the hub changed its key: generation 2" in note for note in report.notes)
    assert set(live_county.hub_cases(V1)) == {first, in_flight}  # the in-flight set opened under the old box key
    with a.open() as station:
        pins = require_pins(station.db)
        assert (pins.sign_public, pins.box_public, station.meta.hub_key_gen) == (
            new.keys.sign_public,
            new.keys.box_public,
            2,
        )
    # From now on a's sets are sealed to the new box key, and its feed comes signed by the new key.
    after = a.new_case("赵六", 3)
    with a.open() as station:
        (seq,) = seal_pending(station, a.keys)
        envelope = bytes(station.db.execute("SELECT envelope FROM sets_out WHERE seq = ?", [seq]).fetchone()[0])
    assert sealed_to(envelope, new.keys.box_private, a.keys.box_public)
    assert not sealed_to(envelope, old.keys.box_private, a.keys.box_public)
    assert a.sync().in_step
    live_county.decide(after, "ACCEPTED")
    assert a.sync().in_step
    assert a.case(after).summary.status == "ACCEPTED"

    # The station no longer takes a feed set signed by the old key.
    with a.open() as station:
        position = station.meta.feed_seq
        prev = bytes(station.db.execute("SELECT hash FROM feed_in WHERE seq = ?", [position]).fetchone()[0])
        forged, _ = seal_set(
            origin=f"hub>{a.station_id}",
            seq=position + 1,
            prev=prev,
            records=[],
            sign_private=old.keys.sign_private,
            recipient_box_public=a.keys.box_public,
            sender_box_private=old.keys.box_private,
            context=CTX_DOWN,
        )
        with pytest.raises(FeedError) as caught:
            apply_feed_set(station, forged, a.keys)
        assert caught.value.code in ("bad_signature", "bad_box")

    # b, of the older release, is still served under the keys it pinned, then follows once upgraded.
    b_case = b.new_case("孙八", 4)
    monkeypatch.setattr(exchange_module, "STATION_FEATURES", STATION_FEATURES & ~FEATURE_KEY_ROTATION)
    assert b.sync().in_step
    with b.open() as station:
        assert require_pins(station.db).sign_public == old.keys.sign_public
    monkeypatch.setattr(exchange_module, "STATION_FEATURES", STATION_FEATURES)
    live_county.decide(b_case, "ACCEPTED")
    assert b.sync().in_step
    assert b.case(b_case).summary.status == "ACCEPTED"
    with b.open() as station:
        assert require_pins(station.db).sign_public == new.keys.sign_public

    # A station enrolled now pins the new generation at once; the CLI lists both generations.
    c = live_county.enrol(V1)
    assert c.sync().in_step
    with c.open() as station:
        assert require_pins(station.db).sign_public == new.keys.sign_public
    listed = json.loads(hub_cli(live_county, "key", "list", "--json").stdout)
    assert [(g["gen"], g["key_id"]) for g in listed] == [(1, old.hub_id), (2, new.hub_id)]
    live_county.sync_all()
    live_county.assert_converged()


def test_a_replacement_pc_with_the_same_letter_numbers_after_its_predecessor(live_county: County) -> None:
    old_pc = live_county.enrol(V1)
    numbers = [old_pc.new_case(f"申请人{i}", i) for i in range(3)]
    assert old_pc.sync().in_step
    live_county.revoke(old_pc.station_id)  # the PC died (or was stolen): its letter goes to the new one
    with live_county.store() as store:
        code = issue_code(store, V1, device=old_pc.station_id.split("-")[1]).code
    data_dir = live_county.root / "replacement"
    enrolled = enroll(data_dir, hub_url=live_county.url, code=code, passphrase=PASSPHRASE, key_work=2**10)
    new_pc = Handle(data_dir, load_keypair(data_dir, PASSPHRASE), enrolled.station_id, V1, live_county)
    live_county.stations.append(new_pc)
    assert enrolled.device == old_pc.station_id.split("-")[1]

    # Its first case, before its first sync has brought the village's book: after the old PC's numbers.
    first_here = new_pc.new_case("新电脑", 10)
    assert first_here not in numbers
    assert int(first_here[-3:]) == max(int(n[-3:]) for n in numbers) + 1
    report = new_pc.sync()
    assert report.in_step and not report.refused, report.errors
    # It inherited the village's cases (as before) and none of its own collided with them.
    assert set(new_pc.cases()) == {*numbers, first_here} == set(live_county.hub_cases(V1))
    second_here = new_pc.new_case("新电脑二", 11)
    assert new_pc.sync().in_step
    assert int(second_here[-3:]) == int(first_here[-3:]) + 1
    assert new_pc.cases() == live_county.hub_cases(V1)


def test_a_hub_restored_from_before_a_rotation_keeps_its_keys_and_relearns_the_handover(
    tmp_path: Path, hub_template
) -> None:
    hub_dir = tmp_path / "hub"
    shutil.copytree(hub_template[0], hub_dir)
    hub = HubProcess(hub_dir).start()
    try:
        with HubStore.open_existing(hub_dir) as store:
            code = issue_code(store, V1).code
        station_dir = tmp_path / "station"
        enroll(station_dir, hub_url=hub.url, code=code, passphrase=PASSPHRASE, key_work=2**10)
        keys = load_keypair(station_dir, PASSPHRASE)

        def sync():
            report = sync_once(station_dir, hub_url=hub.url, keys=keys, timeout=10.0, sleep=lambda _: None)
            assert report.in_step, report.errors
            return report

        def intake(serial: int) -> str:
            with Station.open(station_dir) as station:
                return ops.new_intake(station, pension_enrolment(f"申请人{serial}", serial)).number

        first = intake(1)
        sync()
        backup = tmp_path / "hub-before-rotation.tar.zst"
        run("hub", "--data-dir", str(hub_dir), "backup", str(backup))
        run("hub", "--data-dir", str(hub_dir), "key", "rotate")
        sync()  # the station takes generation 2
        with Station.open(station_dir) as station:
            assert station.meta.hub_key_gen == 2

        hub.stop()
        run("hub", "--data-dir", str(hub_dir), "restore", "--force", str(backup))
        assert load_identity(hub_dir).gen == 2  # the folder's hub.key (same hub, newer) stays
        hub.start()
        later = intake(2)
        sync()  # its MAC names generation 2: the restored hub signs its feed and receipts with it
        with HubStore.open_existing(hub_dir) as store:
            decide_case(store, later, "accept")
        sync()
        with Station.open(station_dir) as station:
            status = station.db.execute("SELECT status FROM cases WHERE case_no = ?", [later]).fetchone()[0]
        assert status == "ACCEPTED"
        with HubStore.open_existing(hub_dir) as store:
            assert {c["case_no"] for c in store.list_cases(limit=10)} == {first, later}
    finally:
        hub.stop()


def test_both_key_changes_travel_by_usb_stick(live_county: County, tmp_path: Path) -> None:
    a = live_county.enrol(V1)
    assert a.sync().in_step  # enrolled over the network; from now on only a stick goes back and forth
    stick = tmp_path / "stick"
    stick.mkdir()

    def up() -> None:
        with a.open() as station:
            station_export(station, stick / "up.bin", a.keys)
        with live_county.store() as store:
            hub_import(store, load_identity(live_county.hub_dir), stick / "up.bin")

    def down() -> list[str]:
        with live_county.store() as store:
            hub_export(store, load_identity(live_county.hub_dir), a.station_id, stick / "down.bin")
        with a.open() as station:
            return station_import(station, stick / "down.bin", a.keys).notes

    # The hub rotates: the handover and a decision under the new key come in one file.
    first = a.new_case("王小明", 1)
    up()
    hub_cli(live_county, "key", "rotate")
    live_county.decide(first, "ACCEPTED")
    notes = down()
    assert any("generation 2" in note for note in notes)
    assert a.case(first).summary.status == "ACCEPTED"

    # The station changes its key: the change goes up on the stick, the receipt comes back on it.
    station_cli(a, "rekey")
    a.keys = load_keypair(a.data_dir, PASSPHRASE)
    old = a.keys
    second = a.new_case("李四", 2)
    up()
    down()
    a.keys = load_keypair(a.data_dir, PASSPHRASE)
    assert a.keys.key_id == old.pending.key_id  # type: ignore[union-attr]
    third = a.new_case("赵六", 3)
    up()  # signed by the new key
    assert {first, second, third} <= set(live_county.hub_cases(V1))
    # A file its old key signs (a copy of the PC, or an old stick written again) is refused whole.
    forged = sign_transfer(
        TransferFile(direction="up", station_id=a.station_id, created_ms=0, sets=[]),
        sign_private=old.sign_private,
        sign_public=old.sign_public,
    )
    (stick / "old.bin").write_bytes(msgspec.msgpack.encode(forged))
    with live_county.store() as store, pytest.raises(InputError) as refused:
        hub_import(store, load_identity(live_county.hub_dir), stick / "old.bin")
    assert refused.value.code == "retired_key"
