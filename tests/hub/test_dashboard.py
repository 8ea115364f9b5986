"""The station table and county figures, read straight from the store: states, gaps, roll-up, aggregates."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.dashboard import (
    STATES,
    Thresholds,
    filter_rows,
    rollup,
    sort_rows,
    station_detail,
    station_rows,
    status_report,
    summary,
    to_csv,
    worst_first,
)
from hub.decisions import decide
from hub.departments import department_key, departments, find_department
from hub.enroll import revoke_station
from hub.figures import county_figures
from hub.ingest import ingest_sets
from hub.store import Contact
from hub.store.schema import DEPARTMENT_SQL, TOWNSHIP_SQL
from hub.views import clock_offset_text, duration_text
from sync.errors import InputError
from sync.timeutil import business_date, iso_utc
from tests.hub.builders import VILLAGE, enrol
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # the store's behaviour on SQLite and on PostgreSQL (docs/postgresql.md)

LIMITS = Thresholds(warn_days=3, danger_days=7)
TOWNSHIP_1 = "349921001000"
VILLAGE_T2 = "349921002001"


def push(store, identity, station, changes):
    return ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=station.clock)


def contact(store, station, clock, **fields):
    """A contact as a signed request records it (kind pull unless told)."""
    with store.transaction():
        store.record_contact(
            station.station_id,
            Contact(at=iso_utc(clock()), kind=fields.pop("kind", "pull"), ok=fields.pop("ok", True), **fields),
        )


def row_of(rows, station_id):
    (row,) = [r for r in rows if r["station_id"] == station_id]
    return row


def test_every_village_has_a_row_and_two_pcs_show_under_their_village(store, station, station_b, clock):
    rows = station_rows(store, now=clock(), limits=LIMITS)
    assert len({r["village_code"] for r in rows}) == 395 and len(rows) == 396
    mine = [r for r in rows if r["village_code"] == VILLAGE]
    assert [r["station_id"] for r in mine] == [station.station_id, station_b.station_id]
    assert summary(rows)["not_enrolled"] == 394 and summary(rows)["villages_enrolled"] == 1
    blank = next(r for r in rows if r["state"] == "not_enrolled")
    assert blank["station_id"] is None and blank["village_name"] and blank["township_name"]


@pytest.mark.parametrize(
    ("days", "state"), [(0, "ok"), (2.9, "ok"), (3.1, "warning"), (6.9, "warning"), (7.1, "danger"), (30, "danger")]
)
def test_days_since_the_last_contact_colour_the_row(store, station, clock, days, state):
    contact(store, station, clock)
    clock.advance(days=days)
    row = row_of(station_rows(store, now=clock(), limits=LIMITS), station.station_id)
    assert row["state"] == state and row["contact_age_s"] == int(days * 86400)
    assert ("stale" in row["attention"]) == (state != "ok")


def test_thresholds_can_be_changed(store, station, clock, settings):
    contact(store, station, clock)
    clock.advance(days=2)
    assert (
        row_of(station_rows(store, now=clock(), limits=Thresholds(warn_days=1, danger_days=1.5)), station.station_id)[
            "state"
        ]
        == "danger"
    )
    assert Thresholds.from_settings(settings) == Thresholds(warn_days=3.0, danger_days=7.0)
    assert Thresholds.from_settings(settings, 1, None).warn_days == 1


def test_a_station_never_seen_and_a_revoked_one(store, station, station_b, clock):
    revoke_station(store, station_b.station_id, now=clock)
    rows = station_rows(store, now=clock(), limits=LIMITS)
    assert row_of(rows, station.station_id)["state"] == "never"
    assert row_of(rows, station.station_id)["attention"] == ["never"]
    assert row_of(rows, station.station_id)["contact_state"] == "never"
    revoked = row_of(rows, station_b.station_id)
    assert (revoked["state"], revoked["revoked_keys"], revoked["attention"]) == ("revoked", 1, [])


def test_the_gap_and_the_oldest_waiting_set(store, identity, station, clock):
    push(store, identity, station, station.new_case()[1])
    contact(store, station, clock, kind="push", head_seq=1, outbox_length=0)
    row = row_of(station_rows(store, now=clock(), limits=LIMITS), station.station_id)
    assert (row["gap"], row["sets_waiting"], row["waiting_since"]) == (0, 0, None)
    # The station seals sets 2 and 3 but its pushes fail (a bad link); its pulls report head seq 3.
    clock.advance(hours=1)
    first_seen = iso_utc(clock())
    contact(store, station, clock, head_seq=3, outbox_length=4)
    clock.advance(days=4)
    contact(store, station, clock, head_seq=3, outbox_length=6)
    row = row_of(station_rows(store, now=clock(), limits=LIMITS), station.station_id)
    assert (row["head_seq"], row["applied_seq"], row["gap"], row["sets_waiting"], row["changes_waiting"]) == (
        3,
        1,
        2,
        2,
        6,
    )
    assert row["waiting_since"] == first_seen and row["waiting_age_s"] == 4 * 86400
    # Seen today, but a set waits longer than the warning threshold: one status, a warning, not "ok".
    assert "waiting" in row["attention"] and (row["state"], row["contact_state"]) == ("warning", "ok")
    # Set 2 arrives: set 3 was also held since the same contact, so the age stays.
    push(store, identity, station, station.new_case()[1])
    row = row_of(station_rows(store, now=clock(), limits=LIMITS), station.station_id)
    assert (row["gap"], row["waiting_since"]) == (1, first_seen)


def test_a_station_behind_the_hub_and_clock_and_error_flags(store, identity, station, clock):
    push(store, identity, station, station.new_case()[1])
    contact(store, station, clock, head_seq=0, clock_offset_ms=-3_600_000)
    contact(store, station, clock, ok=False, code="replay")
    row = row_of(station_rows(store, now=clock(), limits=LIMITS), station.station_id)
    assert row["gap"] == -1 and row["sets_waiting"] == 0
    assert row["clock_skewed"] and row["last_error"] == "replay"
    assert row["attention"] == ["clock", "error", "behind"]
    assert (row["state"], row["contact_state"]) == ("danger", "ok")  # behind the hub: sets lost, the worst


@pytest.mark.parametrize(
    ("flags", "state"),
    [
        ({"clock_offset_ms": 7_200_000}, "warning"),  # two hours fast
        ({"clock_offset_ms": -299_000}, "ok"),  # within the five-minute limit
        ({"ok": False, "code": "replay"}, "warning"),
    ],
)
def test_one_status_accounts_for_every_flag(store, station, clock, flags, state):
    """A station seen a minute ago with a clock two hours off is a warning: never green "ok" beside a flag."""
    contact(store, station, clock, **flags)
    clock.advance(minutes=1)
    rows = station_rows(store, now=clock(), limits=LIMITS)
    row = row_of(rows, station.station_id)
    assert (row["state"], row["contact_state"]) == (state, "ok")
    assert bool(row["attention"]) == (state != "ok")
    # Every view counts it the same way: the summary, the township roll-up, the state filter.
    assert summary(rows)[state] == 1 and summary(rows)["attention"] == (state != "ok")
    assert (
        next(line for line in rollup(rows, store.divisions()) if line["township_code"] == TOWNSHIP_1)["worst"] == state
    )
    assert [r["station_id"] for r in filter_rows(rows, state=state)] == [station.station_id]


def test_the_worst_flag_decides_and_stations_needing_attention_come_worst_first(store, station, station_b, clock):
    other = station_b
    contact(store, station, clock, clock_offset_ms=600_000)  # a warning
    clock.advance(days=8)
    contact(store, other, clock)
    rows = station_rows(store, now=clock(), limits=LIMITS)
    # The first station's clock is off, and it has now not been seen for 8 days: danger wins.
    first = row_of(rows, station.station_id)
    assert (first["state"], first["attention"]) == ("danger", ["stale", "clock"])
    assert row_of(rows, other.station_id)["state"] == "ok"
    clock.advance(days=3.5)  # the other: 3.5 days, a warning; the first still danger
    rows = station_rows(store, now=clock(), limits=LIMITS)
    assert [(r["station_id"], r["state"]) for r in worst_first(reversed(rows))] == [
        (station.station_id, "danger"),
        (other.station_id, "warning"),
    ]


def test_durations_read_in_human_units():
    assert [duration_text(s) for s in (0, 45, 180, 7200, 7260, 86400 + 4 * 3600 + 59)] == [
        "0 秒",
        "45 秒",
        "3 分钟",
        "2 小时",
        "2 小时 1 分钟",
        "1 天 4 小时",
    ]
    assert [duration_text(s, "en") for s in (180, 7200, 3 * 86400)] == ["3 min", "2 h", "3 d"]
    assert duration_text(None) == ""
    assert [clock_offset_text(ms) for ms in (7_200_000, -180_000, -300, 0, None)] == [
        "快 2 小时",
        "慢 3 分钟",
        "相差不到 1 秒",  # never "-0s"
        "相差不到 1 秒",
        "",
    ]
    assert [clock_offset_text(ms, "en") for ms in (7_200_000, -180_000)] == ["2 h fast", "3 min slow"]


def test_forks_and_rejected_changes_are_counted(store, identity, station, clock):
    case_no, changes = station.new_case()
    push(store, identity, station, changes)
    bad = station.move(case_no, "RECEIVED", "ACCEPTED")  # a station may not accept
    push(store, identity, station, [bad])
    ingest_sets(
        store,
        identity,
        [station.seal([station.move(case_no, "RECEIVED", "WITHDRAWN")], seq=1)],
        station_id=station.station_id,
        now=clock,
    )
    detail = station_detail(store, station.station_id, now=clock(), limits=LIMITS)
    assert (detail["forks"], detail["rejected"]) == (1, 1) and "fork" in detail["attention"]
    assert detail["rejected_by_code"] == {"illegal_transition": 1} and len(detail["open_forks"]) == 1
    assert "reason_en" not in detail["rejected_recent"][0]  # codes and counts, not the reasons' text
    assert station_detail(store, "nope", now=clock(), limits=LIMITS) is None


def test_filters_sorting_and_the_township_rollup(store, identity, station, clock):
    other = enrol(store, identity, clock, village=VILLAGE_T2)
    contact(store, station, clock)
    clock.advance(days=8)
    contact(store, other, clock)
    rows = station_rows(store, now=clock(), limits=LIMITS)
    township = filter_rows(rows, township=TOWNSHIP_1)
    assert {r["township_code"] for r in township} == {TOWNSHIP_1} and len(township) == 6
    assert [r["station_id"] for r in filter_rows(rows, state="danger")] == [station.station_id]
    assert [r["station_id"] for r in filter_rows(rows, state="problems")] == [station.station_id]
    by_contact = sort_rows(rows, "last_contact")
    assert [r["station_id"] for r in by_contact[:2]] == [station.station_id, other.station_id]
    assert by_contact[-1]["last_contact"] is None  # missing values last either way
    assert sort_rows(rows, "last_contact", descending=True)[0]["station_id"] == other.station_id
    assert sort_rows(rows, "state")[0]["state"] == "danger"
    assert [r["village_code"] for r in sort_rows(rows, "bogus")] == [r["village_code"] for r in rows]
    lines = {line["township_code"]: line for line in rollup(rows, store.divisions())}
    assert len(lines) == 28 and sum(line["villages"] for line in lines.values()) == 395
    first = lines[TOWNSHIP_1]
    assert (
        first["villages"],
        first["villages_enrolled"],
        first["stations"],
        first["danger"],
        first["not_enrolled"],
        first["worst"],
    ) == (6, 1, 1, 1, 5, "danger")
    report = status_report(store, now=clock(), limits=LIMITS, state="problems")
    assert [r["station_id"] for r in report["stations"]] == [station.station_id]
    assert report["summary"]["danger"] == 1 and set(STATES) <= set(report["summary"])


def test_csv_has_a_bom_a_header_and_china_times(store, station, clock):
    contact(store, station, clock)
    text = to_csv(station_rows(store, now=clock(), limits=LIMITS))
    lines = text.splitlines()
    assert text.startswith("\ufeff乡镇,") and len(lines) == 396
    assert "2026-11-26T10:00:00+08:00" in lines[1]
    assert to_csv([], "en").startswith("\ufefftownship,")


def test_departments_come_from_item_code_prefixes(store):
    found = departments(store.catalog())
    assert [d.key for d in found] == ["RS", "YB", "MZ", "CL", "WJ", "GA", "NY", "TY", "ZJ"]
    by_key = {d.key: d for d in found}
    assert by_key["MZ"].name_zh == "县民政局" and len(by_key["MZ"].names_zh) == 2
    assert by_key["NY"].name_zh == "县农业农村局"  # a tie: the county body wins
    assert find_department(store.catalog(), "rs").key == "RS"
    with pytest.raises(InputError, match="RS, YB"):
        find_department(store.catalog(), "XX")
    assert department_key("RS-001") == "RS" and department_key("odd") == ""
    row = store.db.execute(
        f"SELECT {DEPARTMENT_SQL}, {TOWNSHIP_SQL} FROM (SELECT 'MZ-007' AS item_code, '{VILLAGE}' AS village_code)"
    ).fetchone()
    assert row == ("MZ", TOWNSHIP_1)


# -- county figures --------------------------------------------------------------------------------


def commitment(station, intake_id, material):
    return station.insert(
        "commitments",
        f"{intake_id}/{material}",
        {
            "commitment_id": f"{intake_id}/{material}",
            "intake_id": intake_id,
            "material": material,
            "signer_name": "王小明",
            "signed_at": iso_utc(station.clock()),
            "due_days": 2,
            "status": "open",
        },
    )


def test_county_figures(store, identity, station, clock):
    other = enrol(store, identity, clock, village=VILLAGE_T2)
    numbers = []
    for item in ("RS-001", "RS-001", "RS-001", "YB-001"):
        case_no, changes = station.new_case(item)
        push(store, identity, station, changes)
        numbers.append(case_no)
    refused, changes = other.new_case("RS-001")
    push(store, identity, other, [*changes, commitment(other, refused, "居民户口簿")])
    decide(store, numbers[0], "accept", now=clock)  # Thu 26 Nov
    decide(store, numbers[1], "accept", now=clock)
    decide(store, refused, "refuse", reason="不符合条件", now=clock)
    clock.advance(days=5)  # Tue 1 Dec
    decide(store, numbers[0], "complete", outcome="approved", now=clock)
    clock.advance(days=5)  # Sun 6 Dec: number 1 (due Tue 1 Dec) is overdue
    figures = county_figures(store, today=business_date(clock()))
    total = figures["total"]
    assert (total["received"], total["accepted"], total["completed"], total["not_accepted"], total["open"]) == (
        5,
        2,
        1,
        1,
        3,
    )
    assert total["completion_rate"] == 0.5 and total["avg_working_days"] == 3.0
    # Overdue: the accepted RS case (due Tue 1 Dec), the received one (its receipt date stands in), and the
    # YB-001 case (an on-the-spot item: due the day it was received).
    assert total["overdue"] == 3
    rs = next(line for line in figures["by_department"] if line["department"] == "RS")
    yb = next(line for line in figures["by_department"] if line["department"] == "YB")
    assert (rs["received"], rs["accepted"], rs["overdue"], rs["name_zh"]) == (
        4,
        2,
        2,
        "县人力资源和社会保障局（社保中心）",
    )
    assert (yb["received"], yb["overdue"]) == (1, 1)
    towns = {line["township_code"]: line for line in figures["by_township"]}
    assert towns[TOWNSHIP_1]["received"] == 4 and towns["349921002000"]["not_accepted"] == 1
    assert figures["commitments"] == {"open": 1, "overdue": 1}
    assert "王小明" not in repr(figures)


def test_the_aggregate_matches_a_recount_after_every_kind_of_write(store, identity, station, station_b, clock):
    case_no, changes = station.new_case("MZ-001")
    push(store, identity, station, changes)
    decide(store, case_no, "accept", now=clock)
    decide(store, case_no, "complete", outcome="denied", now=clock)
    push(store, identity, station, [station.move(case_no, "COMPLETED", "DELIVERED")])
    second, changes = station_b.new_case("RS-002")
    push(store, identity, station_b, changes)
    push(store, identity, station_b, [station_b.update("cases", second, {"item_code": "YB-002"})])
    recount = store._dicts(
        f"SELECT {DEPARTMENT_SQL} AS department, {TOWNSHIP_SQL} AS township, status, COUNT(*) AS n, "
        "COUNT(accepted_date) AS accepted_n, COUNT(decision_days) AS days_n, COALESCE(SUM(decision_days), 0) "
        "AS days_sum FROM cases GROUP BY 1, 2, 3"
    )
    assert sorted(store.case_counts(), key=repr) == sorted(recount, key=repr)
    assert {r["department"] for r in store.case_counts()} == {"MZ", "YB"}
    assert store.row("cases", case_no)["decision_days"] == 0  # accepted and completed the same day


def test_figures_on_an_empty_hub(store, clock):
    figures = county_figures(store, today=dt.date(2026, 11, 26))
    assert figures["total"]["received"] == 0 and figures["total"]["completion_rate"] is None
    assert len(figures["by_township"]) == 28 and len(figures["by_department"]) == 9
