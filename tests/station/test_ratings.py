"""Ratings (好差评), query codes, the ID-card search and the monthly ledger at the station."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from station.cases import NewIntake, deliver, new_intake
from station.cli import main
from station.ledger import ledger_rows, write_ledger
from station.progress import local_answer
from station.ratings import ensure_query_code, own_query_key, query_code_of, rate, ratings_of
from station.sealing import held_tables
from station.store import Station
from sync.errors import InputError, IntakeError, NotFoundError
from sync.lifecycle import Status
from sync.ratings import CODE_ALPHABET, CODE_LENGTH, FEATURE_RATINGS, QUERY_KEY_BYTES, normalize_code, query_code
from tests.station.conftest import NEWBORN_MATERIALS, PASSPHRASE, VILLAGE, WANG, ZHANG, ZHAO
from tests.support.decisions import County, decide

MATERIALS = ["居民身份证", "城乡居民基本养老保险参保登记表"]


def _delivered(station: Station, id_number: str = WANG) -> str:
    result = new_intake(
        station,
        NewIntake(
            item="RS-001",
            applicant_name="王建国",
            id_number=id_number,
            phone="13800138000",
            materials=MATERIALS,
        ),
    )
    case_no = result.number
    decide(station, case_no, Status.ACCEPTED)
    decide(station, case_no, Status.COMPLETED, outcome="approved")
    deliver(station, case_no)
    return case_no


def test_an_intake_gets_a_query_code_derived_from_the_pcs_key(station: Station) -> None:
    first = new_intake(
        station,
        NewIntake(item="RS-001", applicant_name="王建国", id_number=WANG, phone="13800138000", materials=MATERIALS),
    )
    second = new_intake(
        station,
        NewIntake(item="RS-001", applicant_name="张丽", id_number=ZHANG, phone="13800138001", materials=MATERIALS),
    )
    a, b = query_code_of(station, first.number), query_code_of(station, second.number)
    assert a and b and a != b
    assert len(a) == CODE_LENGTH and set(a) <= set(CODE_ALPHABET)
    # Derived, never stored: HMAC of the intake's number under this PC's one random key.
    key = own_query_key(station)
    assert len(key) == QUERY_KEY_BYTES and a == query_code(key, first.number)
    assert query_code(bytes(QUERY_KEY_BYTES), first.number) != a
    # Nothing per intake goes on the wire (the key goes once, when the station is enrolled).
    assert station.db.execute("SELECT COUNT(*) FROM outbox WHERE entity = 'query_keys'").fetchone() == (0,)
    # What a resident types: lower case, a dash, O for 0 all find it.
    typed = (a[:4] + "-" + a[4:]).lower().replace("0", "o")
    assert normalize_code(typed) == a
    answer = local_answer(station, first.number, typed)
    assert answer is not None and answer.case_no == first.number and answer.status == Status.RECEIVED.value
    assert local_answer(station, first.number, b) is None  # another intake's code
    assert "王" not in json.dumps(answer.__struct_fields__)  # the answer has no field for a name


def test_an_enrolled_pc_sends_its_query_key_once(station: Station) -> None:
    station.meta.update({"hub_id": "hub-test"})  # enrolled: its station id is the hub's
    numbers = [
        new_intake(
            station,
            NewIntake(item="RS-001", applicant_name="王建国", id_number=who, phone="13800138000", materials=MATERIALS),
        ).number
        for who in (WANG, ZHANG)
    ]
    sent = station.db.execute("SELECT entity_id FROM outbox WHERE entity = 'query_keys'").fetchall()
    assert sent == [(station.station_id,)]
    (held,) = station.db.execute("SELECT query_key FROM query_keys WHERE key_id = ?", [station.station_id]).fetchone()
    assert [query_code_of(station, n) for n in numbers] == [query_code(bytes.fromhex(held), n) for n in numbers]
    assert ensure_query_code(station, numbers[0]) == query_code_of(station, numbers[0])


def test_another_pcs_intake_takes_its_code_from_that_pcs_key(station: Station) -> None:
    number = new_intake(
        station,
        NewIntake(item="RS-001", applicant_name="王建国", id_number=WANG, phone="13800138000", materials=MATERIALS),
    ).number
    mine = query_code_of(station, number)
    # As if another PC (a revoked one, whose history came down) had recorded it.
    other = f"{station.village_code}-{station.device}-OLDPC001"
    station.db.execute(
        "UPDATE intakes SET versions = replace(versions, json_quote(?), json_quote(?)) WHERE intake_id = ?",
        [station.station_id, other, number],
    )
    assert query_code_of(station, number) is None  # that PC's key has not come down yet
    with pytest.raises(NotFoundError):
        ensure_query_code(station, number)
    old_key = bytes(range(QUERY_KEY_BYTES))
    station.db.execute(
        "INSERT INTO query_keys (key_id, query_key, created_at) VALUES (?, ?, ?)",
        [other, old_key.hex(), "2026-11-26T02:00:00.000Z"],
    )
    assert query_code_of(station, number) == query_code(old_key, number) != mine


def test_a_rating_needs_the_delivery_and_is_recorded_once(station: Station) -> None:
    number = new_intake(
        station,
        NewIntake(item="RS-001", applicant_name="王建国", id_number=WANG, phone="13800138000", materials=MATERIALS),
    ).number
    with pytest.raises(IntakeError) as refused:
        rate(station, number, level=5)
    assert refused.value.code == "rate.not_delivered"

    case_no = _delivered(station, ZHANG)
    view = rate(station, case_no, level=2, comment="等了很久", channel="phone")
    assert view.bad and view.rating_id == f"{case_no}/{case_no}"
    assert [r.level for r in ratings_of(station, case_no, case_no)] == [2]
    assert station.db.execute(
        "SELECT COUNT(*) FROM outbox WHERE entity = 'ratings' AND entity_id = ?", [view.rating_id]
    ).fetchone() == (1,)
    with pytest.raises(InputError) as again:
        rate(station, case_no, level=5)
    assert again.value.code == "rate.already"
    with pytest.raises(InputError):
        rate(station, case_no, level=6)
    with pytest.raises(InputError):
        rate(station, case_no, level=4, channel="fax")


def test_ratings_wait_unsealed_until_the_hub_says_it_reads_them(station: Station) -> None:
    case_no = _delivered(station)
    rate(station, case_no, level=4)
    county = County()
    assert "ratings" in held_tables(0) and "query_keys" in held_tables(0)
    assert not {"ratings", "query_keys"} & set(held_tables(FEATURE_RATINGS))
    # A hub that has said nothing about ratings: every other change is sealed, the rating waits.
    station.meta.update({"hub_features": "0"})
    county.seal(station)
    waiting = station.db.execute("SELECT entity FROM outbox WHERE set_seq IS NULL ORDER BY id").fetchall()
    assert {entity for (entity,) in waiting} == {"ratings"}
    station.meta.update({"hub_features": str(FEATURE_RATINGS)})
    county.seal(station)
    assert station.db.execute("SELECT COUNT(*) FROM outbox WHERE set_seq IS NULL").fetchone() == (0,)
    # Sealed after the changes sealed before them, in order, each once.
    assert station.db.execute("SELECT MAX(set_seq) FROM outbox WHERE entity = 'ratings'").fetchone()[0] > 1


def test_cli_rate_show_find_and_query(station_dir: Path, station: Station) -> None:
    case_no = _delivered(station)
    code = query_code_of(station, case_no)
    station.close()
    runner = CliRunner()
    base = ["--data-dir", str(station_dir), "--lang", "en"]
    shown = runner.invoke(main, [*base, "case", "show", case_no, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["query_code"] == code
    rated = runner.invoke(main, [*base, "case", "rate", case_no, "--level", "1", "--comment", "太慢"])
    assert rated.exit_code == 0, rated.output
    assert "bad rating" in rated.output
    assert (
        json.loads(runner.invoke(main, [*base, "case", "show", case_no, "--json"]).output)["ratings"][0]["level"] == 1
    )
    bad_level = runner.invoke(main, [*base, "case", "rate", case_no, "--level", "9"])
    assert bad_level.exit_code == 2
    found = runner.invoke(main, [*base, "case", "find", "--id-number", WANG, "--json"])
    assert found.exit_code == 0, found.output
    assert [row["case_no"] for row in json.loads(found.output)] == [case_no]
    assert WANG not in found.output  # masked
    assert runner.invoke(main, [*base, "case", "find", "--id-number", "123"]).exit_code == 2
    asked = runner.invoke(main, [*base, "case", "query", case_no, "--code", code or "", "--json"])
    assert asked.exit_code == 0, asked.output
    data = json.loads(asked.output)
    assert data["source"] == "station" and data["holder"] == "closed" and data["status"] == "DELIVERED"
    assert "王建国" not in asked.output and WANG not in asked.output


def test_ledger_rows_and_workbook(tmp_path: Path, station: Station) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    delivered = _delivered(station)
    rate(station, delivered, level=5)
    waiting = new_intake(
        station,
        NewIntake(item="RS-001", applicant_name="张丽", id_number=ZHANG, phone="13800138001", materials=MATERIALS),
    ).number
    rows = ledger_rows(station, "2026-09")
    assert [r.case_no for r in rows] == [delivered, waiting]
    assert rows[0].rating == 5 and rows[0].delivered_date == "2026-09-28" and rows[1].rating is None
    assert rows[0].applicant == "王**" and rows[0].id_number == "349921********0234"
    assert ledger_rows(station, "2026-10") == []
    assert ledger_rows(station, "2026-09", full=True)[0].id_number == WANG
    path = tmp_path / "ledger.xlsx"
    assert write_ledger(station, "2026-09", path) == 2
    sheet = openpyxl.load_workbook(path).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[2][:4] == ["序号", "办件编号", "申请人", "身份证号"]
    assert values[3][1] == delivered and values[3][2] == "王**" and values[3][10].startswith("5 ")
    assert values[4][1] == waiting
    assert WANG not in json.dumps(values, ensure_ascii=False, default=str)
    assert VILLAGE in values[0][0] or "台账" in values[0][0]


def test_a_bundle_is_rated_per_stage_and_overall_once_every_member_is_done(station: Station) -> None:
    result = new_intake(
        station,
        NewIntake(
            bundle="BND-NEWBORN",
            applicant_name="赵丽",
            id_number=ZHAO,
            phone="13800138002",
            materials=[*NEWBORN_MATERIALS, "近期1寸免冠彩色照片"],
        ),
    )
    members = [c.case_no for c in result.cases]
    first = members[0]
    decide(station, first, Status.ACCEPTED)
    decide(station, first, Status.COMPLETED, outcome="approved")
    deliver(station, first)
    stage = rate(station, first, level=4)  # a stage is rated as soon as it is delivered
    assert stage.rating_id == f"{result.number}/{first}"
    with pytest.raises(IntakeError):
        rate(station, result.number, level=5)  # the bundle as a whole: not before every member is done
    for case_no in members[1:]:
        decide(station, case_no, Status.ACCEPTED)
        decide(station, case_no, Status.COMPLETED, outcome="approved")
        deliver(station, case_no)
    overall = rate(station, result.number, level=5, channel="card")
    assert overall.rating_id == f"{result.number}/overall" and overall.case_no is None
    assert {r.rating_id for r in ratings_of(station, result.number)} == {stage.rating_id, overall.rating_id}
    with pytest.raises(InputError):
        rate(station, members[1], level=5, overall=True)  # once
    with pytest.raises(InputError) as single:
        rate(station, _delivered(station), level=5, overall=True)
    assert single.value.code == "rate.not_bundle"


def test_cli_ledger_masks_unless_full_and_full_needs_the_right_passphrase(
    station_dir: Path, station: Station, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    _delivered(station)
    station.close()
    runner = CliRunner()
    base = ["--data-dir", str(station_dir), "--lang", "en"]
    masked, full = tmp_path / "masked.xlsx", tmp_path / "full.xlsx"
    done = runner.invoke(main, [*base, "ledger", "--month", "2026-09", str(masked)])
    assert done.exit_code == 0 and "1 cases" in done.output, done.output
    assert WANG not in str(list(openpyxl.load_workbook(masked).active.iter_rows(values_only=True)))
    assert runner.invoke(main, [*base, "ledger", "--month", "09-2026", str(masked)]).exit_code == 2
    assert runner.invoke(main, [*base, "ledger", "--month", "2026-09", "--full", str(full)]).exit_code == 0
    assert WANG in str(list(openpyxl.load_workbook(full).active.iter_rows(values_only=True)))
    # The data opened by the OS keyring (station unlock --remember), no passphrase given: the masked ledger is
    # written, --full is refused until the passphrase is.
    from station.store import datakey

    key = datakey.open_data_key(station_dir, PASSPHRASE)
    monkeypatch.setattr(datakey, "keyring_key", lambda data_dir: key)
    monkeypatch.delenv("STATION_PASSPHRASE")
    datakey.forget()
    assert runner.invoke(main, [*base, "ledger", "--month", "2026-09", str(tmp_path / "m2.xlsx")]).exit_code == 0
    refused = runner.invoke(main, [*base, "ledger", "--month", "2026-09", "--full", str(tmp_path / "x.xlsx")])
    assert refused.exit_code == 2 and "passphrase" in refused.output and not (tmp_path / "x.xlsx").exists()
