"""Due-soon cases beside the overdue ones in the county figures: counts per department and township, no personal data."""

from __future__ import annotations

import re

from hub.decisions import decide
from hub.figures import county_figures
from hub.figures_export import write_figures
from sync.timeutil import business_date
from tests.hub.builders import bearer, enrol, log_in
from tests.hub.test_app import do_sync
from tests.hub.test_dashboard import TOWNSHIP_1, VILLAGE_T2, push
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS


def test_due_soon_is_counted_beside_overdue_by_department_and_township(store, identity, station, clock, tmp_path):
    other = enrol(store, identity, clock, village=VILLAGE_T2)
    numbers = []
    for item in ("RS-001", "RS-001", "YB-001"):
        case_no, changes = station.new_case(item)
        push(store, identity, station, changes)
        numbers.append(case_no)
    far, changes = other.new_case("RS-001")
    push(store, identity, other, changes)
    decide(store, numbers[0], "accept", now=clock)  # Thu 26 Nov: due in 3 working days, Tue 1 Dec
    decide(store, far, "accept", now=clock)  # the same, in another township
    clock.advance(days=4)  # Mon 30 Nov: Tue 1 Dec is the next working day
    decide(store, numbers[1], "accept", now=clock)  # accepted today: due Thu 3 Dec, not soon
    figures = county_figures(store, today=business_date(clock()))
    total = figures["total"]
    # Due soon: the two accepted on Thursday; overdue: the YB-001 case (on the spot: due the day received).
    assert (total["due_soon"], total["overdue"]) == (2, 1)
    rs = next(line for line in figures["by_department"] if line["department"] == "RS")
    yb = next(line for line in figures["by_department"] if line["department"] == "YB")
    assert (rs["due_soon"], rs["overdue"], yb["due_soon"], yb["overdue"]) == (2, 0, 0, 1)
    towns = {line["township_code"]: line for line in figures["by_township"]}
    assert (towns[TOWNSHIP_1]["due_soon"], towns[TOWNSHIP_1]["overdue"]) == (1, 1)
    assert (towns["349921002000"]["due_soon"], towns["349921002000"]["overdue"]) == (1, 0)
    clock.advance(days=1)  # Tue 1 Dec: due today is due soon, not yet overdue; Thu 3 Dec is two working days off
    assert county_figures(store, today=business_date(clock()))["total"]["due_soon"] == 2
    clock.advance(days=1)  # Wed 2 Dec: Tuesday's two are overdue now, Thursday's is due soon
    total = county_figures(store, today=business_date(clock()))["total"]
    assert (total["due_soon"], total["overdue"]) == (1, 3)
    assert "王小明" not in repr(figures)
    # The workbook (hub figures export) carries the same due-soon column beside overdue.
    from openpyxl import load_workbook

    path = tmp_path / "figures.xlsx"
    write_figures(store, path, today=business_date(clock()), lang="en")
    rows = list(load_workbook(path)["By department"].iter_rows(values_only=True))
    heads = list(rows[1])
    soon, late = heads.index("Due soon"), heads.index("Overdue")
    assert late == soon + 1
    by_department = {str(r[0]).split()[0]: (r[soon], r[late]) for r in rows[2:]}
    assert (by_department["RS"], by_department["YB"]) == ((1, 2), (0, 1))


def test_the_figures_page_and_api_show_due_soon_beside_overdue(client, store, station, users, admin_token, clock):
    number, changes = station.new_case("YB-001")  # on the spot: due the day it is received, today
    assert do_sync(client, station, [station.seal(changes)]).status_code == 200
    api = client.get("/api/v1/figures", headers=bearer(admin_token)).json()
    assert (api["total"]["due_soon"], api["total"]["overdue"]) == (1, 0)
    yb = next(line for line in api["by_department"] if line["department"] == "YB")
    assert yb["due_soon"] == 1
    log_in(client, "admin")
    page = client.get("/dashboard/figures").text
    assert '<th class="num">即将到期</th><th class="num">逾期</th>' in page
    (total,) = re.findall(r'<table id="total">.*?</table>', page, re.DOTALL)
    assert '<td class="num due-soon">1</td>' in total
    assert number not in page  # counts only: no case numbers, no names
