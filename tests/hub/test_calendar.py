"""Calendar publication at the hub: the notice file checked whole, versions, the feed, due dates moved with history."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from hub.accounts import create_token
from hub.calendar import NoticeError, calendar_view, notice_json, publish_calendar, read_notice
from hub.cli import main
from hub.enroll import revoke_station
from hub.ingest import ingest_sets
from sync.protocol import CalendarItem, DownItem
from sync.workdays import default_calendar
from tests.hub.builders import bearer

DOCS = Path(__file__).resolve().parents[2] / "docs"
EXAMPLE = DOCS / "examples" / "calendar-2026.json"
ENV = {"LANG": "", "LC_ALL": ""}

# A 2027 arrangement in the notice's shape (the real one is published in November 2026), the documented
# example: the Spring Festival 9 days off from 除夕, Sun 14 and Sat 20 Feb make-up working days.
NOTICE_2027 = json.loads((DOCS / "examples" / "calendar-2027.json").read_text(encoding="utf-8"))
# The correction: 14 Feb was a typo, it is a day off after all.
CORRECTED_2027 = {**NOTICE_2027, "workdays": ["2027-02-20", "2027-10-09"]}
_DOWN = msgspec.msgpack.Decoder(DownItem)


def cli(hub_dir: Path, *args: str, input_text: str | None = None):
    return CliRunner().invoke(main, ["--data-dir", str(hub_dir), "--lang", "en", *args], env=ENV, input=input_text)


def queued_calendars(store, station_id: str) -> list[tuple[int, int]]:
    items = [_DOWN.decode(body) for _, kind, body in store.pending_items(station_id) if kind == "calendar"]
    return [(i.table.year, i.table.version) for i in items if isinstance(i, CalendarItem) and i.table.year == 2027]


def test_the_documented_2026_example_is_the_2026_notice_and_what_show_prints(hub_dir):
    text = EXAMPLE.read_text(encoding="utf-8")
    # docs/hub.md shows the very file.
    assert f"```json\n{text}```" in (DOCS / "hub.md").read_text(encoding="utf-8")
    notice = read_notice(text, year=2026)
    seeded = default_calendar().table(2026)  # chinese-calendar's 2026 data follows the State Council's notice
    assert seeded is not None
    table = notice.table(1)
    assert (table.holidays, table.workdays) == (seeded.holidays, seeded.workdays)
    # A year hub init seeded shows as that notice: show --json prints the example byte for byte.
    shown = cli(hub_dir, "calendar", "show", "--year", "2026", "--json")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == text
    plain = cli(hub_dir, "calendar", "show", "--year", "2026")
    assert "2026 calendar, version 1 (source chinese-calendar" in plain.stdout
    assert "春节  2026-02-15 to 2026-02-23 (9 day(s))" in plain.stdout and "2026-02-14 (Sat)" in plain.stdout


BAD = """{
  "year": 2027,
  "holidays": [
    {"name": "元旦", "from": "2027-01-01", "to": "2027-01-03"},
    {"name": "春节", "from": "2027-02-05", "to": "2027-02-13"},
    {"name": "元宵", "from": "2027-02-12", "to": "2027-02-14"},
    {"name": "清明节", "from": "2027-04-05", "to": "2028-04-05"},
    {"name": "劳动节", "from": "2027-05-01"}
  ],
  "workdays": ["2027-02-08", "2027-02-09", "2027-02-20", "2027-02-20", "27-10-09"],
  "note": "draft"
}"""


def test_a_bad_file_exits_2_listing_every_problem_and_publishes_nothing(hub_dir, store, station):
    path = hub_dir.parent / "bad.json"
    path.write_text(BAD, encoding="utf-8")
    before = store.pending_count(station.station_id)
    result = cli(hub_dir, "calendar", "publish", "--year", "2027", str(path))
    assert result.exit_code == 2
    lines = [line.strip() for line in result.stderr.splitlines()]
    assert lines == [
        "Error: the calendar file has 10 problem(s); nothing was published:",
        "file: has an unknown field 'note' (only year, holidays, workdays)",
        "holidays[3].to: 2028-04-05 is not in 2027",
        "holidays[4].to: is missing",
        "holidays[2]: 元宵 2027-02-12 to 2027-02-14 overlaps holidays[1] (春节 2027-02-05 to 2027-02-13)",
        "workdays[0]: 2027-02-08 is a Monday; a make-up working day must be a Saturday or Sunday",
        "workdays[0]: 2027-02-08 is inside the 春节 holiday (2027-02-05 to 2027-02-13); "
        "it cannot also be a make-up working day",
        "workdays[1]: 2027-02-09 is a Tuesday; a make-up working day must be a Saturday or Sunday",
        "workdays[1]: 2027-02-09 is inside the 春节 holiday (2027-02-05 to 2027-02-13); "
        "it cannot also be a make-up working day",
        "workdays[3]: 2027-02-20 repeats workdays[2]",
        'workdays[4]: "27-10-09" is not a date in the form YYYY-MM-DD',
    ]
    assert store.calendar_year(2027) is None and store.calendar_versions(2027) == []
    assert store.pending_count(station.station_id) == before
    # In Chinese too, every problem on its own line.
    zh = CliRunner().invoke(main, ["--data-dir", str(hub_dir), "calendar", "publish", "--year", "2027", str(path)])
    assert zh.exit_code == 2 and zh.stderr.startswith("错误：工作日历文件有 10 处问题，未发布任何内容：")
    assert "workdays[0]: 2027-02-08 是周一；调休上班日只能是周六或周日" in zh.stderr


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"year": 2027, "holidays": [', "file: is not valid JSON (line 1, column 29"),
        ("[2027]", "file: must be a JSON object"),
        ('{"holidays": [], "workdays": []}', "year: is missing"),
        (json.dumps({**NOTICE_2027, "year": 2028}), "year: the file is for 2028 but the command says --year 2027"),
        (json.dumps({**NOTICE_2027, "workdays": "2027-02-20"}), "workdays: must be a list"),
    ],
)
def test_unreadable_or_incomplete_files_exit_2(hub_dir, text, problem):
    result = cli(hub_dir, "calendar", "publish", "--year", "2027", "-", input_text=text)
    assert result.exit_code == 2 and problem in result.stderr, result.stderr


def test_every_problem_is_listed_not_only_the_first():
    with pytest.raises(NoticeError) as info:
        read_notice(BAD, year=2027)
    wheres = [p.where for p in info.value.problems]
    assert wheres.count("workdays[0]") == 2 and "holidays[2]" in wheres and "workdays[4]" in wheres
    assert len(info.value.problems) == len(info.value.en.splitlines()) - 1


def test_show_json_round_trips_into_publish_and_a_correction_is_the_next_version(hub_dir, store, station):
    path = hub_dir.parent / "calendar-2027.json"
    path.write_text(json.dumps(NOTICE_2027, ensure_ascii=False), encoding="utf-8")
    published = cli(hub_dir, "calendar", "publish", "--year", "2027", str(path))
    assert published.exit_code == 0, published.output
    assert "Published the 2027 calendar, version 1; queued to 1 station(s)" in published.stdout
    shown = cli(hub_dir, "calendar", "show", "--year", "2027", "--json")
    assert json.loads(shown.stdout) == NOTICE_2027
    # What show printed goes straight back in: the same days, nothing new published.
    path.write_text(shown.stdout, encoding="utf-8")
    again = cli(hub_dir, "calendar", "publish", "--year", "2027", str(path))
    assert again.exit_code == 0 and "nothing published" in again.stdout
    assert [v.version for v in store.calendar_versions(2027)] == [1]
    # Edited (the 14 Feb make-up day dropped) and published back: version 2, both kept.
    edited = json.loads(shown.stdout)
    edited["workdays"].remove("2027-02-14")
    path.write_text(json.dumps(edited), encoding="utf-8")
    corrected = cli(hub_dir, "calendar", "publish", "--year", "2027", str(path))
    assert "version 2" in corrected.stdout, corrected.output
    text = cli(hub_dir, "calendar", "show", "--year", "2027").stdout
    assert text.startswith("2027 calendar, version 2 (source hub,")
    assert re.search(r"version 1  \d{4}-\d\d-\d\d \d\d:\d\d\n  version 2  .* \(in force\)", text)
    old = cli(hub_dir, "calendar", "show", "--year", "2027", "--version", "1", "--json")
    assert json.loads(old.stdout) == NOTICE_2027
    assert json.loads(cli(hub_dir, "calendar", "show", "--year", "2027", "--json").stdout) == CORRECTED_2027
    assert queued_calendars(store, station.station_id) == [(2027, 1), (2027, 2)]
    missing = cli(hub_dir, "calendar", "show", "--year", "2031")
    assert missing.exit_code == 2 and "no calendar for 2031" in missing.stderr


def test_publishing_moves_every_open_due_date_through_the_year_with_a_history_line(
    store, identity, station, other_station, clock, client, users
):
    clock.advance(days=62)  # Wednesday 2027-01-27 in China: 2027 is provisional at the hub
    number, changes = station.new_case("RS-002")  # 10 working days
    done, withdrawn_changes = station.new_case("RS-002")
    commitment = station.insert(
        "commitments",
        f"{number}/c1",
        {
            "commitment_id": f"{number}/c1",
            "intake_id": number,
            "material": "社会保障卡或本人银行账户",
            "signer_name": "王小明",
            "signed_at": "2027-01-27T02:00:00Z",
            "due_days": 8,
            "status": "open",
            "closed_at": None,
        },
    )
    sets = [station.seal([*changes, commitment, *withdrawn_changes, station.move(done, "RECEIVED", "WITHDRAWN")])]
    ingest_sets(store, identity, sets, station_id=station.station_id, now=clock)
    case = store.row("cases", number)
    assert (case["due_date"], case["due_provisional"]) == ("2027-02-12", 1)  # 4 Spring Festival days off
    assert store.row("commitments", f"{number}/c1")["due_date"] == "2027-02-10"
    with store.transaction():
        revoke_station(store, other_station.station_id, reason="test")

    result = publish_calendar(store, read_notice(json.dumps(NOTICE_2027), year=2027), now=clock())
    assert (result.version, result.stations) == (1, 1)  # the revoked station gets nothing
    assert queued_calendars(store, station.station_id) == [(2027, 1)]
    assert queued_calendars(store, other_station.station_id) == []
    case = store.row("cases", number)
    assert (case["due_date"], case["due_provisional"]) == ("2027-02-17", 0)
    assert store.row("commitments", f"{number}/c1")["due_date"] == "2027-02-15"
    # The withdrawn case's date is firmed up, without a line in a closed case's history.
    assert store.row("cases", done)["due_provisional"] == 0 and store.due_moves(done) == []

    # A correction moves a date that is no longer provisional.
    result = publish_calendar(store, read_notice(json.dumps(CORRECTED_2027), year=2027), now=clock())
    assert result.version == 2 and result.recomputed is not None and result.recomputed.cases_moved == 1
    assert store.row("cases", number)["due_date"] == "2027-02-18"
    assert store.row("commitments", f"{number}/c1")["due_date"] == "2027-02-16"

    token = create_token(store, "rs", expires_days=30, now=clock()).token
    detail = client.get(f"/api/v1/cases/{number}", headers=bearer(token)).json()
    assert [m["text_en"] for m in detail["due_moves"]] == [
        "due date moved from 2027-02-12 to 2027-02-17: 2027 calendar published",
        "容缺 commitment (社会保障卡或本人银行账户): due date moved from 2027-02-10 to 2027-02-15: 2027 calendar published",
        "due date moved from 2027-02-17 to 2027-02-18: 2027 calendar published (version 2)",
        "容缺 commitment (社会保障卡或本人银行账户): due date moved from 2027-02-15 to 2027-02-16: "
        "2027 calendar published (version 2)",
    ]
    assert detail["due_moves"][0]["text_zh"] == "应办结日期由 2027-02-12 改为 2027-02-17：2027 年工作日历已发布"
    assert "王小明" not in json.dumps(detail["due_moves"], ensure_ascii=False)  # the signer is not named


def test_the_desk_page_shows_the_move_in_the_case_history(store, identity, station, clock, client, users):
    from tests.hub.builders import log_in

    clock.advance(days=62)
    number, changes = station.new_case("RS-002")
    ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=clock)
    publish_calendar(store, read_notice(json.dumps(NOTICE_2027), year=2027), now=clock())
    log_in(client, "rs")
    page = client.get(f"/desk/cases/{number}").text
    assert "应办结日期由 2027-02-12 改为 2027-02-17：2027 年工作日历已发布" in page
    english = client.get(f"/desk/cases/{number}?lang=en").text
    assert "due date moved from 2027-02-12 to 2027-02-17: 2027 calendar published" in english


def test_notice_json_is_the_file_format():
    notice = read_notice(json.dumps(NOTICE_2027), year=2027)
    assert json.loads(notice_json(notice)) == NOTICE_2027
    assert read_notice(notice_json(notice), year=2027) == notice


def test_show_of_a_year_never_published_says_how_to_publish_it(store):
    with pytest.raises(Exception, match="hub calendar publish --year 2040"):
        calendar_view(store, 2040)
