"""Resolving a fork end to end, with `hub serve` on loopback, the `hub forks` commands and a real station folder.

The scenario is the fleet's restored backup (docs/fleet.md, profile ``restored``): the agent copies the
station's data folder by hand, the PC works and syncs on, the copy is put back by hand (not with
``station restore``) and the PC works on from it: the hub quarantines its next set, a fork. The county
resolves it keeping either branch, and nothing is lost: afterwards every case is held exactly once on
both sides, the station syncs as any other and new intakes go up.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.decisions import decide
from hub.enroll import issue_code
from hub.store import HubStore
from station import cases as ops
from station.enrolment import enroll
from station.identity import load_keypair
from station.link import SyncReport, sync_once
from station.store import Station
from station.syncstate import refused_cases
from sync.timeutil import utc_now
from tests.integration.county import PASSPHRASE, V1, pension_enrolment
from tests.integration.processes import HubProcess, run

pytestmark = pytest.mark.timeout(240)


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
        self.days_ahead = 0
        """The station's clock, in days past today: the restored copy works on a later day, as in the fleet."""

    def now(self) -> dt.datetime:
        return utc_now() + dt.timedelta(days=self.days_ahead)

    def open(self) -> Station:
        return Station.open(self.station_dir, now=self.now)

    def intake(self, count: int = 1) -> list[str]:
        numbers = []
        with self.open() as station:
            for _ in range(count):
                self.serial += 1
                numbers.append(ops.new_intake(station, pension_enrolment(f"申请人{self.serial}", self.serial)).number)
        return numbers

    def note(self, case_no: str, text: str) -> None:
        with self.open() as station:
            ops.add_note(station, case_no, text)

    def sync(self) -> SyncReport:
        with self.open() as station:
            return sync_once(station, hub_url=self.hub.url, keys=self.keys, timeout=10.0, sleep=lambda _: None)

    def hub_cases(self) -> list[str]:
        with HubStore.open_existing(self.hub_dir) as store:
            return sorted(c["case_no"] for c in store.list_cases(limit=10_000))

    def station_cases(self) -> list[str]:
        with self.open() as station:
            return sorted(n for (n,) in station.db.execute("SELECT case_no FROM cases"))

    def notes(self, case_no: str) -> tuple[list[str], list[str]]:
        with HubStore.open_existing(self.hub_dir) as store:
            at_hub = sorted(r["text"] for r in store.village_rows("case_notes", V1) if r["case_no"] == case_no)
        with self.open() as station:
            here = sorted(t for (t,) in station.db.execute("SELECT text FROM case_notes WHERE case_no = ?", [case_no]))
        return at_hub, here

    def statuses(self) -> tuple[dict[str, str], dict[str, str]]:
        with HubStore.open_existing(self.hub_dir) as store:
            at_hub = {c["case_no"]: c["status"] for c in store.list_cases(limit=10_000)}
        with self.open() as station:
            here = dict(station.db.execute("SELECT case_no, status FROM cases").fetchall())
        return at_hub, here

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("hub", "--data-dir", str(self.hub_dir), "--lang", "en", *args, check=check)


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


def forked(village: Village, tmp_path: Path) -> dict[str, list[str]]:
    """Play the restored backup: returns the cases of each part of the story."""
    common = village.intake(2)
    in_step(village.sync())
    copy = tmp_path / "copied-by-hand"
    shutil.copytree(village.station_dir, copy)  # the agent's "backup": the folder, copied

    hub_only = village.intake(2)  # the PC works on and syncs: the hub holds these, the copy does not
    village.note(common[0], "原电脑补记：申请人来电")
    in_step(village.sync())
    with HubStore.open_existing(village.hub_dir) as store:
        decide(store, common[1], "accept")
    in_step(village.sync())

    shutil.rmtree(village.station_dir)  # the disk dies; the copy is put back by hand, not with station restore
    shutil.copytree(copy, village.station_dir)
    village.days_ahead = 1  # and the PC works on from it the next day
    station_only = village.intake(2)
    village.note(common[0], "恢复后补记：材料已补齐")
    report = village.sync()
    assert [e.code for e in report.errors] == ["fork"] and report.fatal
    return {"common": common, "hub_only": hub_only, "station_only": station_only}


def the_fork(village: Village) -> int:
    listed = json.loads(village.cli("forks", "list", "--json").stdout)
    assert [f["station_id"] for f in listed] == [village.station_id]
    assert json.loads(village.cli("forks", "--json").stdout) == listed  # `hub forks` alone lists them too
    return int(listed[0]["id"])


def settled(village: Village, cases: dict[str, list[str]]) -> None:
    """Every case once on both sides, the same statuses and notes; new intakes go up as usual."""
    everything = sorted(cases["common"] + cases["hub_only"] + cases["station_only"])
    assert village.hub_cases() == everything
    assert village.station_cases() == everything
    at_hub, here = village.statuses()
    assert at_hub == here and here[cases["common"][1]] == "ACCEPTED"
    notes_hub, notes_here = village.notes(cases["common"][0])
    assert notes_hub == notes_here == sorted(["原电脑补记：申请人来电", "恢复后补记：材料已补齐"])
    newest = village.intake(1)
    in_step(village.sync())
    assert village.hub_cases() == village.station_cases() == sorted(everything + newest)
    with HubStore.open_existing(village.hub_dir) as store:
        assert not store.forks()
        held = [
            seq
            for (seq,) in store.db.execute(
                "SELECT seq FROM sets_in WHERE origin = ? ORDER BY seq", [village.station_id]
            )
        ]
        assert held == list(range(1, len(held) + 1))  # one chain again


def test_keep_hub_records_the_stations_branch_again_on_top_of_the_hubs_chain(village: Village, tmp_path: Path) -> None:
    cases = forked(village, tmp_path)
    fork_id = the_fork(village)
    with HubStore.open_existing(village.hub_dir) as store:
        hub_head = store.station(village.station_id).applied_seq  # type: ignore[union-attr]
    # The county rotated its keys meanwhile: the hub's sets of the station were sealed to its old box key.
    village.cli("key", "rotate")

    done = village.cli("forks", "resolve", str(fork_id), "--keep", "hub", "--by", "王科长")
    assert "resolved" in done.stdout and "王科长" in done.stdout
    assert village.cli("forks", "list").stdout.strip() == "No forks."

    old_key = village.keys.key_id
    report = village.sync()
    in_step(report)
    # The copied folder held the station's key: it changed before the branch was recorded again.
    village.keys = load_keypair(village.station_dir, PASSPHRASE)
    assert village.keys.key_id != old_key and village.keys.pending is None
    settled(village, cases)
    with HubStore.open_existing(village.hub_dir) as store:
        row = store.station(village.station_id)
        assert row is not None and row.applied_seq > hub_head  # the branch went on top of the hub's
        assert row.key_id == village.keys.key_id
        old = next(k for k in store.station_keys(village.station_id) if k.key_id == old_key)
        assert old.replaced_after is not None and hub_head < old.replaced_after < row.applied_seq
        # Every set after the one carrying the change (the branch recorded again among them): the new key's.
        for seq in range(old.replaced_after + 1, row.applied_seq + 1):
            assert store.station_key_for_seq(village.station_id, seq).key_id == village.keys.key_id  # type: ignore[union-attr]
        resolved = store.fork(fork_id)
        assert resolved is not None and resolved.resolution == "hub" and resolved.resolved_by == "王科长"
        audit = store.audit_entries(user_name="王科长")
        assert [(a["action"], a["fields"]) for a in audit] == [("fork_resolved", f"{fork_id};hub;{village.station_id}")]
    with village.open() as station:
        aside = station.db.execute("SELECT COUNT(*) FROM forked_sets WHERE fork_id = ?", [fork_id]).fetchone()[0]
        again = [
            seq
            for (seq,) in station.db.execute(
                "SELECT o.set_seq FROM forked_outbox f JOIN outbox o ON o.id = f.rerecorded_as WHERE f.fork_id = ?",
                [fork_id],
            )
        ]
    assert aside >= 1  # the sets of the branch not kept are kept at the station, not deleted
    assert again and all(seq > old.replaced_after for seq in again)  # recorded again under the new key only

    # The copy put back by hand still holds the old key: refused, and nothing of it reaches the county.
    copy_dir = tmp_path / "copied-by-hand"
    before = village.hub_cases()
    with Station.open(copy_dir, passphrase=PASSPHRASE, now=village.now) as copy:
        ops.new_intake(copy, pension_enrolment("复制件申请人", 99))
        refused = sync_once(
            copy, hub_url=village.hub.url, keys=load_keypair(copy_dir, PASSPHRASE), timeout=10.0, sleep=lambda _: None
        )
    assert [e.code for e in refused.errors] == ["retired_key"]
    assert village.hub_cases() == before

    again = village.cli("forks", "resolve", str(fork_id), "--keep", "hub", check=False)
    assert again.returncode == 2 and "already resolved" in again.stderr
    unknown = village.cli("forks", "resolve", "999", "--keep", "station", check=False)
    assert unknown.returncode == 2 and "no fork 999" in unknown.stderr


def test_keep_station_sends_the_hubs_branch_down_and_takes_the_stations_chain(village: Village, tmp_path: Path) -> None:
    cases = forked(village, tmp_path)
    fork_id = the_fork(village)

    done = village.cli("forks", "resolve", str(fork_id), "--keep", "station", "--by", "王科长")
    assert "station's branch stands" in done.stdout

    old_key = village.keys.key_id
    report = village.sync()
    in_step(report)
    # The copied folder held the station's key: once its branch is up it changes it, as with --keep hub.
    village.keys = load_keypair(village.station_dir, PASSPHRASE)
    assert village.keys.key_id != old_key and village.keys.pending is None
    settled(village, cases)
    with HubStore.open_existing(village.hub_dir) as store:
        resolved = store.fork(fork_id)
        assert resolved is not None and resolved.resolution == "station"
        assert store.superseded_sets(village.station_id)  # the hub's own sets of the branch, kept as evidence
        assert store.station(village.station_id).key_id == village.keys.key_id  # type: ignore[union-attr]

    # The other copy of the folder (the one taken by hand) still holds the old key: refused.
    copy_dir = tmp_path / "copied-by-hand"
    with Station.open(copy_dir, passphrase=PASSPHRASE, now=village.now) as copy:
        ops.new_intake(copy, pension_enrolment("复制件申请人", 99))
        refused = sync_once(
            copy, hub_url=village.hub.url, keys=load_keypair(copy_dir, PASSPHRASE), timeout=10.0, sleep=lambda _: None
        )
    assert "retired_key" in [e.code for e in refused.errors]

    again = village.cli("forks", "resolve", str(fork_id), "--keep", "station", check=False)
    assert again.returncode == 2 and "already resolved" in again.stderr


def test_a_number_both_branches_gave_out_the_same_day_is_reported_and_neither_record_is_lost(
    village: Village, tmp_path: Path
) -> None:
    """The copy goes back the same day the PC numbered cases after the copy was made: both branches give out
    the same numbers to different applicants. Renumbering is not done (the number is on the applicant's
    receipt): the resolution names the numbers, the branch not kept has its record refused, and each
    applicant's record stays whole (docs/protocol.md, "Forks")."""
    common = village.intake(1)
    in_step(village.sync())
    copy = tmp_path / "copied-by-hand"
    shutil.copytree(village.station_dir, copy)
    hub_only = village.intake(2)  # 申请人2, 申请人3
    in_step(village.sync())
    shutil.rmtree(village.station_dir)
    shutil.copytree(copy, village.station_dir)
    station_only = village.intake(2)  # the same day: 申请人4, 申请人5 under the same numbers
    assert station_only == hub_only
    assert [e.code for e in village.sync().errors] == ["fork"]

    done = json.loads(village.cli("forks", "resolve", str(the_fork(village)), "--keep", "hub", "--json").stdout)
    assert done["collisions"] == sorted(hub_only)
    in_step(village.sync())
    village.keys = load_keypair(village.station_dir, PASSPHRASE)
    village.sync()

    with HubStore.open_existing(village.hub_dir) as store:
        at_hub = {r["case_no"]: r["applicant_name"] for r in store.village_rows("cases", V1)}
        refused = {r["entity_id"] for r in store.rejected(village.station_id) if r["code"] == "duplicate_row"}
    with village.open() as station:
        here = dict(station.db.execute("SELECT case_no, applicant_name FROM cases").fetchall())
        flagged = set(refused_cases(station))
    # The hub's branch stands: its applicants hold the numbers at the county.
    assert [at_hub[n] for n in hub_only] == ["申请人2", "申请人3"] and at_hub[common[0]] == "申请人1"
    # The station's applicants are not overwritten by the hub's (they were, before): kept, flagged refused.
    assert [here[n] for n in hub_only] == ["申请人4", "申请人5"] and set(hub_only) <= flagged
    assert set(hub_only) <= refused  # and the county keeps their records whole, refused as numbered twice


def test_what_the_station_added_to_its_refused_twice_numbered_case_stays_off_the_hub_s_record(
    village: Village, tmp_path: Path
) -> None:
    """The station's own applicant under a number both branches gave out is refused ``duplicate_row``; the
    note and the scanned page the station added to that case are the station's applicant's too, so the hub
    refuses them with it (``parent_refused``) instead of hanging them on its own applicant's record."""
    from station.scans.store import attach_pages
    from tests.station.scans.pages import page

    village.intake(1)
    in_step(village.sync())
    copy = tmp_path / "copied-by-hand"
    shutil.copytree(village.station_dir, copy)
    hub_only = village.intake(1)
    in_step(village.sync())
    shutil.rmtree(village.station_dir)
    shutil.copytree(copy, village.station_dir)
    station_only = village.intake(1)
    assert station_only == hub_only
    (number,) = station_only
    village.note(number, "申请人本人的补充说明")
    with village.open() as station:
        (attached,) = attach_pages(station, number, "居民身份证", [page(1)])
    assert [e.code for e in village.sync().errors] == ["fork"]
    village.cli("forks", "resolve", str(the_fork(village)), "--keep", "hub")
    village.sync()
    village.keys = load_keypair(village.station_dir, PASSPHRASE)
    village.sync()
    village.sync()

    with HubStore.open_existing(village.hub_dir) as store:
        assert store.case_attachments(number) == []  # the hub's applicant's case names no page of the other's
        refused = {(r["entity"], r["entity_id"]): r["code"] for r in store.rejected(village.station_id)}
    at_hub, here = village.notes(number)
    assert at_hub == [] and here == ["申请人本人的补充说明"]  # kept at the station, not on the hub's record
    assert refused[("cases", number)] == "duplicate_row"
    assert refused[("attachments", attached.attachment_id)] == "parent_refused"
    assert any(entity == "case_notes" and code == "parent_refused" for (entity, _), code in refused.items())
