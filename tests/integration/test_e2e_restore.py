"""Backups and restores end to end, with `hub serve` on loopback and real station folders.

A restored hub is behind its stations: they still hold the sets it lost, and the protocol brings it
up to date from them (docs/protocol.md, "A hub restored from a backup"). A restored station is
behind the hub: it asks the hub to confirm its chain before it writes anything, and gets back what
it did after its backup instead of forking (docs/protocol.md, "A station restored from a backup").
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.decisions import decide as hub_decide
from hub.enroll import issue_code
from hub.store import HubStore
from station import cases as ops
from station.enrolment import enroll
from station.identity import load_keypair
from station.link import SyncReport, sync_once
from station.store import Station
from tests.integration.county import PASSPHRASE, V1, pension_enrolment
from tests.integration.processes import HubProcess, run

pytestmark = pytest.mark.timeout(180)


class Village:
    """A hub served by `hub serve` in a child process and one station folder enrolled with it."""

    def __init__(self, root: Path, template: Path) -> None:
        self.root = root
        self.hub_dir = root / "hub"
        shutil.copytree(template, self.hub_dir)
        self.hub = HubProcess(self.hub_dir).start()
        with HubStore.open_existing(self.hub_dir) as store:
            code = issue_code(store, V1).code
        self.station_dir = root / "station"
        self.station_id = enroll(
            self.station_dir, hub_url=self.hub.url, code=code, passphrase=PASSPHRASE, key_work=2**10
        ).station_id
        self.keys = load_keypair(self.station_dir, PASSPHRASE)
        self.serial = 0

    def intake(self, count: int = 1) -> list[str]:
        numbers = []
        with Station.open(self.station_dir) as station:
            for _ in range(count):
                self.serial += 1
                numbers.append(ops.new_intake(station, pension_enrolment(f"申请人{self.serial}", self.serial)).number)
        return numbers

    def sync(self) -> SyncReport:
        return sync_once(self.station_dir, hub_url=self.hub.url, keys=self.keys, timeout=10.0, sleep=lambda _: None)

    def hub_cases(self) -> list[str]:
        with HubStore.open_existing(self.hub_dir) as store:
            return sorted(c["case_no"] for c in store.list_cases(limit=10_000))

    def station_cases(self) -> list[str]:
        with Station.open(self.station_dir) as station:
            return sorted(n for (n,) in station.db.execute("SELECT case_no FROM cases"))


@pytest.fixture
def village(tmp_path: Path, hub_template) -> Iterator[Village]:
    made = Village(tmp_path, hub_template[0])
    try:
        yield made
    finally:
        made.hub.stop()


def in_step(report: SyncReport) -> None:
    assert not report.errors, report.errors
    assert report.in_step and report.unacknowledged == 0 and report.unsealed == 0


def decide(village: Village, case_no: str, status: str, **kwargs: str) -> None:
    with HubStore.open_existing(village.hub_dir) as store:
        hub_decide(store, case_no, status, **kwargs)


def statuses(village: Village) -> tuple[dict[str, str], dict[str, str]]:
    with HubStore.open_existing(village.hub_dir) as store:
        at_hub = {c["case_no"]: c["status"] for c in store.list_cases(limit=10_000)}
    with Station.open(village.station_dir) as station:
        here = dict(station.db.execute("SELECT case_no, status FROM cases").fetchall())
    return at_hub, here


def test_a_restored_hub_is_brought_up_to_date_by_its_station(village: Village, tmp_path: Path) -> None:
    first = village.intake(2)
    in_step(village.sync())
    backup = tmp_path / "hub-backup.tar.zst"
    run("hub", "--data-dir", str(village.hub_dir), "backup", str(backup))  # while it serves
    later = village.intake(2)
    decide(village, first[0], "accept")  # the station gets it down its feed: a feed set the backup lacks
    in_step(village.sync())
    assert village.hub_cases() == sorted(first + later)
    with Station.open(village.station_dir) as station:
        position = station.meta.feed_seq

    refused = run("hub", "--data-dir", str(village.hub_dir), "restore", "--force", str(backup), check=False)
    assert refused.returncode == 1 and "running" in refused.stderr  # never under a serving hub
    village.hub.stop()
    run("hub", "--data-dir", str(village.hub_dir), "restore", "--force", str(backup))
    assert village.hub_cases() == sorted(first)  # the restored hub lost the later sets
    village.hub.start()

    # No new work at the station: the hub's answer says which seq it needs, and the station,
    # which keeps every set it sealed, sends again what the hub lost.
    in_step(village.sync())
    assert village.hub_cases() == sorted(first + later)
    newest = village.intake(1)
    in_step(village.sync())
    everything = sorted(first + later + newest)
    assert village.hub_cases() == everything and village.station_cases() == everything  # nothing doubled
    with HubStore.open_existing(village.hub_dir) as store:
        assert not store.forks()
        station = store.station(village.station_id)
        assert station is not None and station.applied_seq == 3

    # The county makes again what the backup lost, and decides more: the feed goes on after the
    # station's position (the hub lost the sets up to it), never at a seq the station already holds.
    decide(village, first[0], "accept")
    decide(village, later[0], "refuse", reason="材料不全")
    report = village.sync()
    in_step(report)
    at_hub, here = statuses(village)
    assert at_hub == here and here[first[0]] == "ACCEPTED" and here[later[0]] == "NOT_ACCEPTED"
    assert any("restored from a backup" in note for note in report.notes)
    with Station.open(village.station_dir) as station:
        assert station.meta.feed_seq == position + 1  # one restart set, after the position it held


def test_a_restored_station_gets_back_what_it_did_after_its_backup_instead_of_forking(
    village: Village, tmp_path: Path
) -> None:
    first = village.intake(2)
    in_step(village.sync())
    first += village.intake(1)  # recorded, not yet sealed, when the backup is taken
    usb = tmp_path / "usb"
    usb.mkdir()
    env = {"STATION_PASSPHRASE": PASSPHRASE}
    station_cli = ("station", "--data-dir", str(village.station_dir), "--lang", "en")
    run(*station_cli, "backup", str(usb / "station.pxb"), env=env)

    later = village.intake(2)
    with Station.open(village.station_dir) as station:
        ops.add_note(station, later[0], "申请人下午补交材料")
    in_step(village.sync())
    decide(village, first[0], "accept")  # a decision it got down its feed after the backup
    in_step(village.sync())
    with HubStore.open_existing(village.hub_dir) as store:
        held = store.station(village.station_id).applied_seq  # type: ignore[union-attr]

    # The PC's disk dies; the agent restores the stick's backup. The restore knows it is one: it asks the
    # hub before anything is written, and gets back the cases, the note and the chain's head.
    restored = run(*station_cli, "restore", "--force", str(usb / "station.pxb"), env=env)
    assert "confirmed" in restored.stdout, restored.stdout + restored.stderr
    with Station.open(village.station_dir) as station:
        assert station.meta.restored is None
        head = station.db.execute("SELECT MAX(seq) FROM sets_out").fetchone()[0]
        notes = [t for (t,) in station.db.execute("SELECT text FROM case_notes WHERE case_no = ?", [later[0]])]
    assert head == held and notes == ["申请人下午补交材料"]
    everything = sorted(first + later)
    assert village.station_cases() == everything == village.hub_cases()

    newest = village.intake(1)  # numbered after every case the county holds from this PC
    assert newest[0] not in everything
    report = village.sync()
    in_step(report)
    at_hub, here = statuses(village)
    assert at_hub == here and sorted(here) == sorted(everything + newest) and here[first[0]] == "ACCEPTED"
    with HubStore.open_existing(village.hub_dir) as store:
        assert not store.forks()  # no set sealed over one the hub holds
        assert store.station(village.station_id).applied_seq == held + 1  # type: ignore[union-attr]
        assert store.db.execute("SELECT COUNT(*) FROM conflicts").fetchone()[0] == 0  # nothing sent twice


def test_a_restored_station_writes_nothing_before_the_hub_confirms(village: Village, tmp_path: Path) -> None:
    village.intake(1)
    in_step(village.sync())
    env = {"STATION_PASSPHRASE": PASSPHRASE}
    station_cli = ("station", "--data-dir", str(village.station_dir), "--lang", "en")
    run(*station_cli, "backup", str(tmp_path / "station.pxb"), env=env)
    village.intake(1)
    in_step(village.sync())
    village.hub.stop()  # the hub cannot be reached when the agent restores
    offline = run(*station_cli, "restore", "--force", str(tmp_path / "station.pxb"), env=env, check=False)
    assert offline.returncode == 3 and "has not confirmed" in offline.stdout
    refused = run(
        *station_cli,
        "case",
        "new",
        "--item",
        "RS-001",
        "--name",
        "王五",
        "--id-number",
        "11010519491231002X",
        "--phone",
        "13800000001",
        "--material",
        "居民身份证",
        "--material",
        "城乡居民基本养老保险参保登记表",
        env=env,
        check=False,
    )
    assert refused.returncode == 1 and "restored from a backup" in refused.stderr
    village.hub.start()
    report = village.sync()
    in_step(report)
    assert any("confirmed" in note for note in report.notes)
    assert village.station_cases() == village.hub_cases()
    village.intake(1)
    in_step(village.sync())
    with HubStore.open_existing(village.hub_dir) as store:
        assert not store.forks()


def test_a_station_restored_from_a_backup_taken_before_its_key_change_went_up_loses_nothing(
    village: Village, tmp_path: Path
) -> None:
    first = village.intake(2)
    in_step(village.sync())
    usb = tmp_path / "usb"
    usb.mkdir()
    env = {"STATION_PASSPHRASE": PASSPHRASE}
    station_cli = ("station", "--data-dir", str(village.station_dir), "--lang", "en")
    run(*station_cli, "rekey", env=env)  # the new key waits in station.key beside the old one
    first += village.intake(1)  # sealed with the key change, under the old key
    run(*station_cli, "backup", str(usb / "station.pxb"), env=env)

    village.keys = load_keypair(village.station_dir, PASSPHRASE)
    in_step(village.sync())  # the key change goes up and the hub takes the new key
    village.keys = load_keypair(village.station_dir, PASSPHRASE)
    later = village.intake(2)  # under the new key
    in_step(village.sync())
    with HubStore.open_existing(village.hub_dir) as store:
        held = store.station(village.station_id).applied_seq  # type: ignore[union-attr]
        keys = store.station_keys(village.station_id)
    assert len(keys) == 2 and keys[0].replaced_after is not None and keys[0].replaced_after < held

    restored = run(*station_cli, "restore", "--force", str(usb / "station.pxb"), env=env)
    assert "confirmed" in restored.stdout, restored.stdout + restored.stderr
    everything = sorted(first + later)
    assert village.station_cases() == everything == village.hub_cases()
    village.keys = load_keypair(village.station_dir, PASSPHRASE)
    newest = village.intake(1)
    in_step(village.sync())
    assert village.station_cases() == sorted(everything + newest) == village.hub_cases()
    with HubStore.open_existing(village.hub_dir) as store:
        assert not store.forks()
        assert store.station(village.station_id).key_id == village.keys.key_id  # type: ignore[union-attr]
