"""``hub status`` at 80 and 120 columns: no cell cut to "…", the stations needing attention first (issue 12)."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from rich.cells import cell_len
from rich.console import Console

from hub._cli_common import Context, json_text
from hub.cli_status import HubAnswerError, _print_table, fetch_status, problems_first
from hub.dashboard import Thresholds, status_report
from hub.store import Contact
from sync.timeutil import iso_utc
from tests.hub.builders import enrol

LIMITS = Thresholds(warn_days=3, danger_days=7)
FAR_VILLAGE = "349921002001"  # another township: after the others in village order


def contact(store, station, clock, **fields):
    with store.transaction():
        store.record_contact(
            station.station_id,
            Contact(at=iso_utc(clock()), kind=fields.pop("kind", "pull"), ok=fields.pop("ok", True), **fields),
        )


@pytest.fixture
def report(store, identity, clock, station, station_b, other_station):
    """Four stations: one silent 8 days whose last contact failed (danger), one with its clock two
    hours fast (warning), one never seen, one fine; and 391 villages without a station."""
    silent = enrol(store, identity, clock, village=FAR_VILLAGE)
    contact(store, silent, clock, ok=False, code="a-rather-long-error-code-from-the-station")
    clock.advance(days=8)
    contact(store, station, clock, clock_offset_ms=7_200_000)
    contact(store, station_b, clock, clock_offset_ms=1_000)
    made = status_report(store, now=clock(), limits=LIMITS)
    # As `hub status` gets it: the API's JSON.
    return json.loads(json_text(made)), {
        "danger": silent.station_id,
        "warning": station.station_id,
        "never": other_station.station_id,
        "ok": station_b.station_id,
    }


def printed(report: dict, width: int, lang: str, capsys) -> list[str]:
    obj = Context(data_dir=None, lang=lang)  # type: ignore[arg-type]  # hub status reads no data folder
    out = io.StringIO()
    obj.out = Console(file=out, width=width, highlight=False, color_system=None)
    _print_table(obj, report)
    return out.getvalue().splitlines() + capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("width", [80, 120])
def test_nothing_is_cut_and_problems_come_first(report, width, lang, capsys):
    made, ids = report
    lines = printed(made, width, lang, capsys)
    text = "\n".join(lines)
    assert "…" not in text and "..." not in text
    table = lines[: next(i for i, line in enumerate(lines) if "395" in line)]  # before the summary line
    assert max(cell_len(line) for line in table) <= width
    # Every station id whole on one line, worst first; then the fine one; then the villages without one.
    where = {state: next(i for i, line in enumerate(lines) if sid in line) for state, sid in ids.items()}
    assert where["danger"] < where["warning"] < where["never"] < where["ok"]
    first_unenrolled = next(i for i, line in enumerate(lines) if "349921001003" in line)
    assert where["ok"] < first_unenrolled
    # One status each, and why, in the language asked for, with durations in human units.
    warning_line = lines[where["warning"]]
    if lang == "zh":
        assert warning_line.startswith("警告") and "时钟偏差 快 2 小时" in text
        assert lines[where["never"]].count("从未联系") == 1  # the status, not repeated as a reason
        assert "上次出错" in text and "a-rather-long-error-code-from-the-station" in "".join(text.split())
        assert "7200s" not in text and "+7" not in text
    else:
        assert warning_line.startswith("warning") and "clock 2 h fast" in text
    # The village names fit beside the station ids even at 80 columns.
    assert "店庄社区" in lines[where["ok"]].split()[1:3]


def test_the_narrow_layout_has_fewer_columns(report, capsys):
    made, _ = report
    narrow, wide = printed(made, 80, "zh", capsys), printed(made, 120, "zh", capsys)
    assert narrow[0].split() == ["状态", "村", "代办点", "最近联系", "问题"]
    assert wide[0].split()[:6] == ["状态", "乡镇", "村", "代办点", "最近联系(UTC+8)", "问题"]
    assert any("8 天前" in line for line in narrow)  # how long ago, not a timestamp, when narrow
    assert any("刚刚" in line for line in narrow)
    assert any("2026-" in line for line in wide)


def test_problems_first_keeps_the_hub_order_within_a_status():
    rows = [
        {"station_id": "a", "state": "ok", "attention": []},
        {"station_id": "b", "state": "warning", "attention": ["clock"]},
        {"station_id": "c", "state": "danger", "attention": ["fork"]},
        {"station_id": "d", "state": "warning", "attention": ["error"]},
        {"station_id": "e", "state": "not_enrolled", "attention": []},
    ]
    assert [r["station_id"] for r in problems_first(rows)] == ["c", "b", "d", "a", "e"]


def test_a_refusal_is_explained_in_chinese_too():
    refusing = httpx.MockTransport(lambda request: httpx.Response(401, json={"detail": "no"}))
    with pytest.raises(HubAnswerError) as info:
        fetch_status("http://hub.test", "t", params={}, transport=refusing)
    assert "令牌" in info.value.zh and "hub token create" in info.value.zh
    assert info.value.message == "the hub refused the token (unknown, revoked or expired)"
