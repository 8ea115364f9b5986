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

from hub.cli import main as hub_main
from hub.dashboard import Thresholds, station_rows
from hub.keys import load_identity
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
