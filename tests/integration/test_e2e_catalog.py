"""Catalogue publication end to end: ``hub catalog publish`` beside a live hub, real stations taking it by sync and by USB.

A dry run publishes nothing; a bad file is refused whole; what ``show --json`` prints, edited
(RS-004 promised in 7 working days instead of 10, MZ-004 withdrawn), is published back. A station
syncs and gets it as a patch: new intakes use the new version; an open case keeps its old checklist
and due date; the withdrawn item is refused for new cases while its open case is still worked on
and synced. The dashboard then shows the version the station holds. Another PC of the village,
offline, gets it on a USB stick.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.accounts import add_user, create_token, hasher_for
from hub.cli import main as hub_main
from hub.dashboard import Thresholds, station_rows
from hub.keys import load_identity
from hub.settings import Settings
from hub.store import HubStore
from hub.transfer import export_file as hub_export
from station import cases as ops
from station.cases import NewIntake
from station.queries import get_case
from station.transfer import import_file
from sync.catalog_patch import body_digest
from sync.errors import IntakeError
from sync.timeutil import utc_now
from tests.integration.county import V1, County, make_id
from tui.cli import main as station_main

pytestmark = pytest.mark.timeout(180)


def hub(county: County, *args: str, input_text: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        hub_main,
        ["--data-dir", str(county.hub_dir), "--lang", "en", *args],
        env={"LANG": "", "LC_ALL": ""},
        input=input_text,
    )
    return result.exit_code, result.stdout, result.stderr


def station_cli(data_dir: Path, *args: str) -> str:
    env = {"STATION_DATA_DIR": str(data_dir), "LANG": "", "LC_ALL": ""}
    result = CliRunner().invoke(station_main, ["--lang", "en", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def funeral_grant(serial: int) -> NewIntake:
    """RS-004 (10 working days under version 1), the claimant's bank account deferred under 容缺."""
    return NewIntake(
        item="RS-004",
        applicant_name="赵六",
        id_number=make_id(serial),
        phone=f"139{serial:08d}",
        materials=["死亡证明或户籍注销证明", "参保人居民身份证", "领取人居民身份证", "领取人与参保人关系证明"],
        deferred=["领取人银行账户"],
    )


def old_age_allowance(serial: int) -> NewIntake:
    """MZ-004 (高龄津贴申请), the bank account deferred under 容缺."""
    return NewIntake(
        item="MZ-004",
        applicant_name="钱七",
        id_number=make_id(serial, year=1940),
        phone=f"137{serial:08d}",
        materials=["居民身份证", "居民户口簿"],
        deferred=["社会保障卡或本人银行账户"],
    )


def test_publish_sync_and_usb_new_cases_use_it_open_ones_keep_theirs(live_county: County, tmp_path: Path) -> None:
    a, b = live_county.enrol(V1), live_county.enrol(V1)
    for handle in (a, b, b):  # B's second sync acknowledges what its first brought (the hub hears it then)
        assert handle.sync().in_step
    with a.open() as station:
        old = ops.new_intake(station, funeral_grant(1)).number
        elderly = ops.new_intake(station, old_age_allowance(2)).number
        before = get_case(station, old)
    assert a.sync().in_step
    assert json.loads(station_cli(a.data_dir, "catalog", "list", "--json"))["version"] == 1

    code, shown, err = hub(live_county, "catalog", "show", "--json")
    assert code == 0, err
    data = json.loads(shown)
    items = {item["code"]: item for item in data["items"]}
    items["RS-004"]["promised_days"] = 7
    items["MZ-004"]["withdrawn"] = True
    edited = json.dumps(data, ensure_ascii=False)

    # A dry run says what would change and publishes nothing.
    code, out, err = hub(live_county, "catalog", "publish", "-", "--dry-run", input_text=edited)
    assert code == 0, err
    assert "Dry run: nothing published. It would be version 2, queued to 2 station(s)." in out
    assert "withdrawn (no new cases; open ones carry on): MZ-004" in out
    # A bad file: exit 2, every problem listed, nothing published.
    bad = json.loads(edited)
    bad["items"][0]["promised_days"] = -3
    bad["items"][5]["materials"] = []
    code, out, err = hub(live_county, "catalog", "publish", "-", input_text=json.dumps(bad))
    assert code == 2
    assert "the catalogue file has 2 problem(s); nothing was published" in err
    assert "items[0] (RS-001).promised_days: -3 is not between 0 and 250" in err
    assert "items[5] (RS-006).materials: must be a non-empty list of materials" in err
    with live_county.store() as store:
        assert store.catalog_version() == 1
        assert store.pending_count(a.station_id) == 0

    code, out, err = hub(
        live_county, "catalog", "publish", "-", "--note", "RS-004 提速；MZ-004 停办", input_text=edited
    )
    assert code == 0, err
    assert "Published catalogue version 2; queued to 2 station(s) (2 as a patch, 0 whole;" in out

    # Station A syncs: the patch rebuilds the hub's catalogue byte for byte.
    assert a.sync().in_step
    assert json.loads(station_cli(a.data_dir, "catalog", "list", "--json"))["version"] == 2
    with live_county.store() as store:
        _, hub_body = store.catalog_body(2)
        assert {d.station_id: d.form for d in store.catalog_deliveries(2)} == {
            a.station_id: "patch",
            b.station_id: "patch",
        }
    with a.open() as station:
        (held,) = station.db.execute("SELECT body FROM catalogs WHERE version = 2").fetchone()
        assert body_digest(held) == body_digest(hub_body)
        # New intakes use version 2; the open case keeps version 1: its checklist and due date.
        new = ops.new_intake(station, funeral_grant(3)).number
        fresh, kept = get_case(station, new), get_case(station, old)
        assert (fresh.catalog_version, kept.catalog_version) == (2, 1)
        (received,) = station.db.execute("SELECT received_date FROM cases WHERE case_no = ?", [new]).fetchone()
        due = station.calendar.add_working_days(dt.date.fromisoformat(received), 7)
        assert fresh.summary.due_date == due.date.isoformat()
        assert kept.summary.due_date == before.summary.due_date
        assert [m.name_zh for m in kept.materials] == [m.name_zh for m in before.materials]
        # The withdrawn item takes no new case; its open case is still worked on.
        with pytest.raises(IntakeError) as refused:
            ops.new_intake(station, old_age_allowance(4))
        assert refused.value.code == "intake.withdrawn_item"
        ops.supply_material(station, elderly, ["社会保障卡或本人银行账户"])
    assert a.sync().in_step
    live_county.decide(elderly, "ACCEPTED")
    assert a.sync().in_step
    assert a.case(elderly).summary.status == "ACCEPTED"
    with live_county.store() as store:
        hub_new = store.row("cases", new)
        assert hub_new is not None and hub_new["catalog_version"] == 2
        assert store.row("cases", old)["catalog_version"] == 1
        assert store.row("commitments", f"{elderly}/社会保障卡或本人银行账户")["status"] == "fulfilled"
        rows = {r["station_id"]: r for r in station_rows(store, now=utc_now(), limits=Thresholds())}
    assert rows[a.station_id]["catalog_version"] == 2
    assert rows[b.station_id]["catalog_version"] == 1  # B has not synced since

    # B, offline, gets it on a USB stick.
    stick = tmp_path / "stick"
    stick.mkdir()
    identity = load_identity(live_county.hub_dir)
    with HubStore.open_existing(live_county.hub_dir) as store:
        hub_export(store, identity, b.station_id, stick / "down.bin")
    with b.open() as station:
        assert import_file(station, stick / "down.bin", keys=b.keys).applied >= 1
        assert station.catalog.version == 2
        (held,) = station.db.execute("SELECT body FROM catalogs WHERE version = 2").fetchone()
        assert body_digest(held) == body_digest(hub_body)

    # What show --json prints now goes straight back in: nothing new.
    code, shown, err = hub(live_county, "catalog", "show", "--json")
    code, out, err = hub(live_county, "catalog", "publish", "-", input_text=shown)
    assert code == 0 and "nothing published" in out, err
    code, history, _ = hub(live_county, "catalog", "history")
    assert "RS-004 提速；MZ-004 停办" in history
    live_county.assert_converged()


def test_a_station_that_cannot_install_a_patch_tells_the_hub_which_sends_the_version_whole(
    live_county: County,
) -> None:
    """Feature 4096: the station's copy of version 1 is not the hub's (its base differs), so the patch to
    version 2 cannot be installed. The station says so in its next request; the hub records it (dashboard,
    `hub status`, `hub catalog show`), sends version 2 whole, and clears the record once the station has it."""
    a = live_county.enrol(V1)
    assert a.sync().in_step and a.sync().in_step
    with a.open() as station:  # the base the patch builds on, altered here (a disk fault, a hand edit)
        station.db.execute("UPDATE catalogs SET body = replace(body, '居民身份证', '居民身分证') WHERE version = 1")
        station.db.commit()
    code, shown, err = hub(live_county, "catalog", "show", "--json")
    data = json.loads(shown)
    data["items"][0]["promised_days"] = (data["items"][0]["promised_days"] or 5) - 1
    code, out, err = hub(live_county, "catalog", "publish", "-", input_text=json.dumps(data, ensure_ascii=False))
    assert code == 0 and "1 as a patch" in out, out + err

    assert a.sync().in_step  # the patch comes down and is not installed: the station keeps version 1
    with a.open() as station:
        assert station.meta.catalog_failed == 2 and station.meta.catalog_failure["code"] == "base_differs"
    assert a.sync().in_step  # its request says so; the hub records it and queues version 2 whole
    with live_county.store() as store:
        failed = store.catalog_failure(a.station_id)
        assert failed is not None and (failed["version"], failed["code"], failed["resent_version"]) == (
            2,
            "base_differs",
            2,
        )
        resent = store.last_catalog_delivery(a.station_id)
        assert resent is not None and (resent.version, resent.form) == (2, "full")
        (row,) = [r for r in station_rows(store, now=utc_now(), limits=Thresholds()) if r["station_id"] == a.station_id]
        assert "catalog_old" in row["attention"] and row["catalog_failure"] == "base_differs"
    with live_county.store() as store:
        add_user(
            store,
            "admin13",
            "admin",
            "admin13-password",
            hasher=hasher_for(Settings(data_dir=live_county.hub_dir, argon2_time_cost=1, argon2_memory_kib=1024)),
            now=utc_now(),
        )
        token = create_token(store, "admin13", expires_days=1, now=utc_now()).token
    code, status, err = hub(live_county, "status", "--url", live_county.url, "--token", token, "--json")
    (listed,) = [r for r in json.loads(status)["stations"] if r["station_id"] == a.station_id]
    assert listed["catalog_failure"] == "base_differs" and "catalog_old" in listed["attention"], (status, err)
    code, status, err = hub(live_county, "status", "--url", live_county.url, "--token", token)
    assert "old catalogue" in status, (code, status, err)
    code, shown, _ = hub(live_county, "catalog", "show")
    assert f"{a.station_id} could not install version 2" in shown and "version 2 sent to it whole" in shown

    assert a.sync().in_step  # the whole version comes down and installs; the next request says nothing more
    assert json.loads(station_cli(a.data_dir, "catalog", "list", "--json"))["version"] == 2
    assert a.sync().in_step
    with live_county.store() as store:
        assert store.catalog_failure(a.station_id) is None
        (row,) = [r for r in station_rows(store, now=utc_now(), limits=Thresholds()) if r["station_id"] == a.station_id]
        assert "catalog_old" not in row["attention"]
