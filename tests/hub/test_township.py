"""The township desk: a township clerk decides delegated items, reviews township_or_county items first and
forwards them to the county department, never sees another township's cases; CSRF and roles hold."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hub.accounts import add_user, hasher_for
from hub.cli import main
from hub.feed import read_feed
from sync.protocol import StatusChange
from tests.hub.builders import PASSWORDS, VILLAGE, csrf_of, enrol
from tests.hub.test_app import do_sync

TOWNSHIP = "349921001000"  # 永兴街道: VILLAGE and OTHER_VILLAGE
OTHER_TOWNSHIP = "349921002000"  # 双河街道
PASSWORD = "township-desk-pw"


@pytest.fixture
def clerks(store, settings, clock, users):
    """tw1 (VILLAGE's township), tw1head (its head), tw2 (another township), mz and ny (county departments)."""
    for name, role, department, township, head in (
        ("tw1", "township", None, TOWNSHIP, False),
        ("tw1head", "township", None, TOWNSHIP, True),
        ("tw2", "township", None, OTHER_TOWNSHIP, False),
        ("mz", "department", "MZ", None, False),
        ("ny", "department", "NY", None, False),
    ):
        add_user(
            store, name, role, PASSWORD, department=department, township=township, head=head,
            hasher=hasher_for(settings), now=clock(),
        )  # fmt: skip
    return PASSWORD


def login(client, name: str) -> str:
    """Log in through the form; the CSRF token of the session's pages."""
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": name, "password": PASSWORDS.get(name, PASSWORD), "csrf": csrf_of(form.text), "next": ""},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    home = client.get(answer.headers["location"])
    return csrf_of(home.text) if 'name="csrf"' in home.text else csrf_of(client.get("/login").text)


def post(client, base: str, case_no: str, csrf: str, status: str, **fields: str):
    data = {"csrf": csrf, "status": status, **fields}
    return client.post(f"{base}/cases/{case_no}/decision", data=data, follow_redirects=False)


def file_case(client, station, item: str) -> str:
    number, changes = station.new_case(item)
    assert do_sync(client, station, [station.seal(changes)]).status_code == 200
    return number


def case_csrf(client, base: str, case_no: str) -> str:
    page = client.get(f"{base}/cases/{case_no}")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def test_a_township_clerk_decides_a_delegated_item(client, station, store, identity, clock, clerks):
    case_no = file_case(client, station, "NY-002")  # approver_level township: the township decides
    login(client, "tw1")
    listing = client.get("/township")
    assert case_no in listing.text and "乡镇审核中" in listing.text
    csrf = case_csrf(client, "/township", case_no)
    for status in ("ACCEPTED", "IN_PROGRESS"):
        assert post(client, "/township", case_no, csrf, status).status_code == 303
    done = post(client, "/township", case_no, csrf, "COMPLETED", outcome="approved")
    assert done.status_code == 303
    case = store.row("cases", case_no)
    assert (case["status"], case["outcome"]) == ("COMPLETED", "approved")
    events = store.case_events(case_no)
    assert [(e["actor"], e["by"], e["to_status"]) for e in events[-3:]] == [
        ("township", "tw1", "ACCEPTED"),
        ("township", "tw1", "IN_PROGRESS"),
        ("township", "tw1", "COMPLETED"),
    ]
    # The decision goes down to the village's station like a department's.
    rows, _ = read_feed(store, identity, station.station_id, after=0, limit=None, now=clock())
    items = [item for row in rows for item in station.read_feed_set(row.envelope)[1]]
    moves = [i for i in items if isinstance(i, StatusChange) and i.case_no == case_no]
    assert [m.actor for m in moves] == ["township"] * 3


def test_a_department_cannot_decide_what_the_township_holds(client, station, store, clerks):
    case_no = file_case(client, station, "NY-002")
    login(client, "ny")
    page = client.get(f"/desk/cases/{case_no}")
    assert page.status_code == 200 and 'id="no-actions"' in page.text and "乡镇审核中" in page.text
    refused = post(client, "/desk", case_no, csrf_of(page.text), "ACCEPTED")
    assert refused.status_code == 409
    assert store.row("cases", case_no)["status"] == "RECEIVED"


def test_a_township_or_county_item_passes_through_both_levels(client, station, store, clerks):
    case_no = file_case(client, station, "MZ-001")  # 低保: township initial review, county decides
    login(client, "mz")
    assert post(client, "/desk", case_no, case_csrf(client, "/desk", case_no), "ACCEPTED").status_code == 409
    client.cookies.clear()
    login(client, "tw1")
    page = client.get(f"/township/cases/{case_no}")
    assert 'data-level="township_initial"' in page.text and "乡镇初审中" in page.text
    csrf = csrf_of(page.text)
    assert post(client, "/township", case_no, csrf, "ACCEPTED").status_code == 303
    assert post(client, "/township", case_no, csrf, "IN_PROGRESS").status_code == 303
    # The township does not decide a county item, and forwards only with its opinion.
    assert post(client, "/township", case_no, csrf, "COMPLETED", outcome="approved").status_code == 409
    assert post(client, "/township", case_no, csrf, "FORWARD").status_code == 400
    page = client.get(f"/township/cases/{case_no}")
    assert 'id="decide-FORWARD"' in page.text
    forwarded = post(client, "/township", case_no, csrf, "FORWARD", reason="经入户调查，情况属实，同意上报")
    assert forwarded.status_code == 303
    page = client.get(f"/township/cases/{case_no}")
    assert 'data-level="county"' in page.text and 'id="no-actions"' in page.text
    assert post(client, "/township", case_no, csrf, "SUSPENDED", reason="x").status_code == 409
    client.cookies.clear()
    login(client, "mz")
    page = client.get(f"/desk/cases/{case_no}")
    assert "县级部门审核中" in page.text and "经入户调查，情况属实，同意上报" in page.text
    done = post(client, "/desk", case_no, csrf_of(page.text), "COMPLETED", outcome="approved")
    assert done.status_code == 303
    events = store.case_events(case_no)
    assert [(e["actor"], e["from_status"], e["to_status"]) for e in events[-2:]] == [
        ("township", "IN_PROGRESS", "IN_PROGRESS"),
        ("department", "IN_PROGRESS", "COMPLETED"),
    ]


def test_a_clerk_never_sees_another_townships_cases(client, station, store, identity, clock, clerks):
    ours = file_case(client, station, "MZ-001")
    county_item = file_case(client, station, "RS-001")  # a county item of the same village
    elsewhere = enrol(store, identity, clock, village="349921002001")
    theirs = file_case(client, elsewhere, "MZ-001")
    login(client, "tw2")
    listing = client.get("/township").text
    assert theirs in listing and ours not in listing and county_item not in listing
    assert client.get(f"/township/cases/{ours}").status_code == 404
    assert client.get(f"/township/cases/{ours}?reveal=1").status_code == 404
    csrf = case_csrf(client, "/township", theirs)
    assert post(client, "/township", ours, csrf, "ACCEPTED").status_code == 404
    assert store.row("cases", ours)["status"] == "RECEIVED"
    client.cookies.clear()
    login(client, "tw1")
    listing = client.get("/township").text
    assert ours in listing and theirs not in listing and county_item not in listing
    assert client.get(f"/township/cases/{county_item}").status_code == 404


def test_roles_csrf_and_the_audited_reveal(client, station, store, clerks):
    case_no = file_case(client, station, "MZ-001")
    login(client, "tw1")
    assert client.get("/desk", follow_redirects=False).status_code == 403
    assert client.get("/dashboard", follow_redirects=False).status_code == 403
    # A form post without the session's CSRF token is refused.
    refused = client.post(f"/township/cases/{case_no}/decision", data={"status": "ACCEPTED"}, follow_redirects=False)
    assert refused.status_code == 403
    assert store.row("cases", case_no)["status"] == "RECEIVED"
    shown = client.get(f"/township/cases/{case_no}?reveal=1").text
    assert "349921195803120234" in shown
    rows = store.db.execute("SELECT user_name, action, case_no FROM audit_log").fetchall()
    assert ("tw1", "reveal", case_no) in rows
    client.cookies.clear()
    login(client, "mz")
    assert client.get("/township", follow_redirects=False).status_code == 403
    client.cookies.clear()
    login(client, "admin")
    assert client.get("/township", follow_redirects=False).status_code == 403


def test_hub_user_add_takes_a_township(hub_dir, store):
    runner = CliRunner()
    env = {"HUB_USER_PASSWORD": "long-enough-pw"}
    args = ["--data-dir", str(hub_dir), "--lang", "en", "user", "add"]
    done = runner.invoke(main, [*args, "clerk", "--role", "township", "--township", TOWNSHIP, "--head"], env=env)
    assert done.exit_code == 0, done.output
    assert "township 349921001000, head" in done.output
    user = store.user_named("clerk")
    assert (user.role, user.township, user.head) == ("township", TOWNSHIP, 1)
    missing = runner.invoke(main, [*args, "clerk2", "--role", "township"], env=env)
    assert missing.exit_code == 2 and "--township" in missing.output
    unknown = runner.invoke(main, [*args, "clerk3", "--role", "township", "--township", "349921999000"], env=env)
    assert unknown.exit_code == 2
    stray = runner.invoke(
        main, [*args, "clerk4", "--role", "department", "--department", "RS", "--township", TOWNSHIP], env=env
    )
    assert stray.exit_code == 2 and "--township" in stray.output
    assert VILLAGE[:9] == TOWNSHIP[:9]
