"""Parallel review's opinions go down the feed with the case's state: department, opinion, times; no names, no reasons."""

from __future__ import annotations

import datetime as dt

import msgspec

from hub.escalation import deem_consent
from sync.protocol import CaseState
from sync.timeutil import business_date
from tests.hub.builders import csrf_of
from tests.hub.test_escalation import NAME, clock_before_national_day, file_and_accept, heads  # noqa: F401
from tests.hub.test_township import login


def opinions_sent(store, station_id: str, case_no: str) -> list[list[tuple]]:
    """Each case state queued for the station about the case that carries opinions, in queue order."""
    found = []
    for _, kind, body in store.pending_items(station_id):
        if kind != "case_state":
            continue
        state = msgspec.msgpack.decode(body, type=CaseState)
        if state.case_no == case_no and state.opinions is not None:
            found.append([(o.department, o.opinion, o.due_date, o.answered_at is not None) for o in state.opinions])
    return found


def test_each_request_answer_and_deemed_consent_goes_down_to_the_village(
    client,
    station,
    store,
    clock_before_national_day,  # noqa: F811
    heads,  # noqa: F811
    users,
):
    clock = clock_before_national_day
    county = file_and_accept(client, station, "RS-001", "rs", "/desk")
    login(client, "rs")
    csrf = csrf_of(client.get(f"/desk/cases/{county}").text)
    for department in ("YB", "MZ"):
        asked = client.post(
            f"/desk/cases/{county}/joint",
            data={"csrf": csrf, "department": department, "days": "2"},
            follow_redirects=False,
        )
        assert asked.status_code == 303
    client.cookies.clear()
    login(client, "yb")
    csrf = csrf_of(client.get("/desk/joint").text)
    answered = client.post(f"/desk/joint/{county}", data={"csrf": csrf, "opinion": "consent"}, follow_redirects=False)
    assert answered.status_code == 303
    clock.moment = dt.datetime(2026, 10, 8, 2, 0, tzinfo=dt.UTC)  # MZ did not answer by 30 Sep
    assert [r["department"] for r in deem_consent(store, business_date(clock()), now=clock())] == ["MZ"]

    due = "2026-09-30"
    assert opinions_sent(store, station.station_id, county) == [
        [("YB", None, due, False)],  # asked: YB holds the case
        [("MZ", None, due, False), ("YB", None, due, False)],  # asked at the same time: by department
        [("MZ", None, due, False), ("YB", "consent", due, True)],
        [("MZ", "deemed_consent", due, True), ("YB", "consent", due, True)],  # the system's, shown as such
    ]
    # Departments, kinds and times only: the staff who asked and answered, and the applicant, stay at the hub.
    states = [
        msgspec.msgpack.decode(body, type=dict)
        for _, kind, body in store.pending_items(station.station_id)
        if kind == "case_state"
    ]
    sent = [o for state in states for o in state.get("opinions") or []]
    assert sent and all(
        set(o) == {"department", "name_zh", "name_en", "opinion", "requested_at", "due_date", "answered_at"}
        for o in sent
    )
    values = {v for o in sent for v in o.values()}
    assert not values & {"rs", "yb", "system", NAME}
    last = [
        msgspec.msgpack.decode(body, type=CaseState)
        for _, kind, body in store.pending_items(station.station_id)
        if kind == "case_state"
    ][-1]
    assert (last.status, last.opinions[1].name_zh) == ("ACCEPTED", "县医疗保障局")
