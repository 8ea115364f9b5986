"""Escalation: a case goes overdue across a holiday and shows up in each list (the handler's desk, the head's,
the county figures, ``hub alerts``), the daily digest by file and by SMTP (aiosmtpd on loopback), and a
parallel review's deemed consent (缺席默认) recorded by the system, distinct from a person's consent."""

from __future__ import annotations

import datetime as dt
import json
import socket

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from hub.accounts import add_user, hasher_for
from hub.cli import main
from hub.escalation import SYSTEM, case_alerts, deem_consent
from hub.notify import NotifySettings, make_notifier
from hub.notify.digest import run_alerts
from sync.timeutil import business_date
from tests.hub.builders import csrf_of
from tests.hub.test_app import do_sync
from tests.hub.test_township import PASSWORD, login, post

NAME = "王小明"


@pytest.fixture
def clock_before_national_day(clock):
    clock.moment = dt.datetime(2026, 9, 28, 2, 0, tzinfo=dt.UTC)  # Monday, 10:00 in China
    return clock


@pytest.fixture
def heads(store, settings, clock_before_national_day, users):
    for name, role, department, township, head, email in (
        ("rshead", "department", "RS", None, True, "rshead@county.example"),
        ("tw1", "township", None, "349921001000", False, "tw1@county.example"),
    ):
        add_user(
            store, name, role, PASSWORD, department=department, township=township, head=head, email=email,
            hasher=hasher_for(settings), now=clock_before_national_day(),
        )  # fmt: skip
    return PASSWORD


def file_and_accept(client, station, item: str, who: str, base: str) -> str:
    number, changes = station.new_case(item)
    assert do_sync(client, station, [station.seal(changes)]).status_code == 200
    login(client, who)
    page = client.get(f"{base}/cases/{number}")
    assert post(client, base, number, csrf_of(page.text), "ACCEPTED").status_code == 303
    client.cookies.clear()
    return number


def test_a_case_goes_overdue_across_national_day_and_shows_in_each_list(
    client, station, store, clock_before_national_day, heads, hub_dir
):
    clock = clock_before_national_day
    county = file_and_accept(client, station, "RS-001", "rs", "/desk")  # 3 working days
    township = file_and_accept(client, station, "NY-002", "tw1", "/township")  # 5 working days
    # 3 working days after Mon 28 Sep: 29, 30 Sep, then 1–7 Oct off: due Thu 8 Oct.
    assert store.row("cases", county)["due_date"] == "2026-10-08"
    # 5: 29, 30 Sep, 8, 9 Oct and the make-up Saturday 10 Oct.
    assert store.row("cases", township)["due_date"] == "2026-10-10"

    # Wed 30 Sep: eight calendar days to go, one working day: due soon for the handler, nobody else.
    clock.moment = dt.datetime(2026, 9, 30, 2, 0, tzinfo=dt.UTC)
    alerts = {a.case_no: a for a in case_alerts(store, business_date(clock()))}
    assert (alerts[county].kind, alerts[county].days_left) == ("due_soon", 1)
    assert township not in alerts
    login(client, "rs")
    desk = client.get("/desk").text
    assert 'id="alerts-mine"' in desk and county in desk and 'data-kind="due_soon"' in desk
    assert 'id="alerts-head"' not in desk

    # Fri 9 Oct: the county case is overdue, the township's comes due on the make-up Saturday.
    clock.moment = dt.datetime(2026, 10, 9, 2, 0, tzinfo=dt.UTC)
    client.cookies.clear()  # sessions idle nine days are over
    login(client, "rs")
    desk = client.get("/desk").text
    assert 'data-kind="overdue"' in desk and 'id="alerts-head"' not in desk  # rs is no head
    client.cookies.clear()
    login(client, "rshead")
    desk = client.get("/desk").text
    head_panel = desk[desk.index('id="alerts-head"') :]
    assert county in head_panel and "县级部门审核中" in head_panel
    client.cookies.clear()
    login(client, "tw1")
    page = client.get("/township").text
    mine = page[page.index('id="alerts-mine"') :]
    assert township in mine and 'data-kind="due_soon"' in mine and county not in mine
    client.cookies.clear()
    # The county administrator: counts per department and township, no personal data.
    login(client, "admin")
    figures = client.get("/dashboard/figures").text
    assert NAME not in figures and county not in figures
    runner = CliRunner()
    shown = runner.invoke(main, ["--data-dir", str(hub_dir), "alerts", "show", "--date", "2026-10-09", "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["department"]["RS"] == {"due_soon": 0, "overdue": 1}
    assert data["township"]["349921001000"] == {"due_soon": 1, "overdue": 1}
    assert NAME not in shown.output and "349921195803120234" not in shown.output

    # The daily digest, file backend: one per handler, the head's overdue list beside its own.
    settings = NotifySettings.from_env(hub_dir, {})
    result = run_alerts(store, make_notifier(settings), business_date(clock()), now=clock())
    assert result.digests == 3 and not result.already  # rs, rshead, tw1
    lines = [json.loads(x) for x in (hub_dir / "alerts" / "2026-10-09.jsonl").read_text().splitlines()]
    by_user = {d["user"]: d for d in lines}
    assert [m["case_no"] for m in by_user["rshead"]["head"]] == [county]
    assert [(m["case_no"], m["kind"]) for m in by_user["tw1"]["mine"]] == [(township, "due_soon")]
    assert NAME not in (hub_dir / "alerts" / "2026-10-09.jsonl").read_text()
    again = run_alerts(store, make_notifier(settings), business_date(clock()), now=clock())
    assert again.already and again.digests == 0


class Collect:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode("utf-8")))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_smtp_backend_mails_each_handler_with_an_address(
    client, station, store, clock_before_national_day, heads, hub_dir
):
    clock = clock_before_national_day
    county = file_and_accept(client, station, "RS-001", "rs", "/desk")
    clock.moment = dt.datetime(2026, 10, 9, 2, 0, tzinfo=dt.UTC)
    handler = Collect()
    port = free_port()
    server = Controller(handler, hostname="127.0.0.1", port=port)
    server.start()
    try:
        env = {
            "HUB_ALERTS_BACKEND": "smtp",
            "HUB_SMTP_HOST": "127.0.0.1",
            "HUB_SMTP_PORT": str(port),
            "HUB_SMTP_FROM": "hub@county.example",
        }
        result = run_alerts(
            store, make_notifier(NotifySettings.from_env(hub_dir, env)), business_date(clock()), now=clock()
        )
    finally:
        server.stop()
    # rs has no address: only the head is mailed (tw1 has nothing due).
    assert result.digests == 1
    ((sender, to, body),) = handler.messages
    assert (sender, to) == ("hub@county.example", ["rshead@county.example"])
    assert county in body and NAME not in body and "349921195803120234" not in body


def test_a_bad_backend_is_refused_with_the_setting_named(hub_dir):
    from sync.errors import InputError

    with pytest.raises(InputError) as info:
        NotifySettings.from_env(hub_dir, {"HUB_ALERTS_BACKEND": "pigeon"})
    assert "HUB_ALERTS_BACKEND" in info.value.message("en")


def test_a_department_that_does_not_answer_is_deemed_to_consent(
    client, station, store, clock_before_national_day, heads
):
    clock = clock_before_national_day
    county = file_and_accept(client, station, "RS-001", "rs", "/desk")
    due = store.calendar().add_working_days(business_date(clock()), 2).date.isoformat()
    with store.transaction():
        assert store.request_joint_opinion(county, "YB", by="rs", at="2026-09-28T02:00:00Z", due_date=due)
        assert store.request_joint_opinion(county, "MZ", by="rs", at="2026-09-28T02:00:00Z", due_date=due)
        assert store.answer_joint_opinion(
            county, "MZ", opinion="consent", reason=None, by="mz-clerk", at="2026-09-29T02:00:00Z"
        )
    assert deem_consent(store, business_date(clock()), now=clock()) == []  # not yet due
    clock.moment = dt.datetime(2026, 10, 8, 2, 0, tzinfo=dt.UTC)  # after 30 Sep, across the holiday
    recorded = deem_consent(store, business_date(clock()), now=clock())
    assert [(r["case_no"], r["department"]) for r in recorded] == [(county, "YB")]
    opinions = {o["department"]: o for o in store.joint_opinions(county)}
    assert (opinions["YB"]["opinion"], opinions["YB"]["answered_by"]) == ("deemed_consent", SYSTEM)
    assert (opinions["MZ"]["opinion"], opinions["MZ"]["answered_by"]) == ("consent", "mz-clerk")
    # A late answer does not overwrite the system's record.
    with store.transaction():
        assert not store.answer_joint_opinion(
            county, "YB", opinion="object", reason="late", by="yb", at="2026-10-08T03:00:00Z"
        )
    login(client, "rs")
    page = client.get(f"/desk/cases/{county}").text
    assert 'data-opinion="deemed_consent"' in page and "缺席默认" in page and 'data-opinion="consent"' in page


def test_hub_serve_sends_the_digest_once_a_day_after_its_hour(
    client, station, store, clock_before_national_day, heads, hub_dir
):
    from hub.notify.daily import lifespans, run_if_due

    clock = clock_before_national_day
    file_and_accept(client, station, "RS-001", "rs", "/desk")
    assert lifespans(hub_dir, clock, {}) == []  # only under hub serve (HUB_ALERTS_DAILY=1)
    assert len(lifespans(hub_dir, clock, {"HUB_ALERTS_DAILY": "1"})) == 1
    settings = NotifySettings.from_env(hub_dir, {"HUB_ALERTS_HOUR": "9"})
    early = dt.datetime(2026, 10, 9, 0, 30, tzinfo=dt.UTC)  # 08:30 in China: before the hour
    assert not run_if_due(settings, early)
    assert not (hub_dir / "alerts" / "2026-10-09.jsonl").exists()
    later = dt.datetime(2026, 10, 9, 1, 30, tzinfo=dt.UTC)
    assert run_if_due(settings, later)
    assert not run_if_due(settings, later + dt.timedelta(hours=3))  # once a day
    sent = (hub_dir / "alerts" / "2026-10-09.jsonl").read_text().splitlines()
    assert len(sent) == 2  # rs and its head


def test_parallel_review_on_the_desks(client, station, store, clock_before_national_day, heads, users):
    county = file_and_accept(client, station, "RS-001", "rs", "/desk")
    login(client, "rs")
    page = client.get(f"/desk/cases/{county}").text
    assert 'id="ask-joint"' in page
    csrf = csrf_of(page)
    asked = client.post(
        f"/desk/cases/{county}/joint", data={"csrf": csrf, "department": "yb", "days": "2"}, follow_redirects=False
    )
    assert asked.status_code == 303
    again = client.post(
        f"/desk/cases/{county}/joint", data={"csrf": csrf, "department": "YB", "days": "2"}, follow_redirects=False
    )
    assert again.status_code == 400
    assert client.post(f"/desk/cases/{county}/joint", data={"department": "YB", "days": "2"}).status_code == 403  # CSRF
    client.cookies.clear()
    login(client, "yb")
    desk = client.get("/desk").text
    assert 'id="joint-link"' in desk
    requests = client.get("/desk/joint").text
    assert county in requests and f'id="answer-{county}"' in requests and NAME not in requests
    csrf = csrf_of(requests)
    objection = client.post(f"/desk/joint/{county}", data={"csrf": csrf, "opinion": "object"}, follow_redirects=False)
    assert objection.status_code == 400  # an objection needs its reason
    done = client.post(f"/desk/joint/{county}", data={"csrf": csrf, "opinion": "consent"}, follow_redirects=False)
    assert done.status_code == 303
    assert client.post(f"/desk/joint/{county}", data={"csrf": csrf, "opinion": "consent"}).status_code == 404
    (opinion,) = store.joint_opinions(county)
    assert (opinion["department"], opinion["opinion"], opinion["answered_by"]) == ("YB", "consent", "yb")
