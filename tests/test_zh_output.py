"""No English on Chinese pages and output (issue 12 item 7): every hub page and every human-facing
``hub`` and ``station`` command output, in zh, holds no Latin word outside a small allow-list.

One county is built through the real commands and pages: a hub with accounts, a station enrolled to
it over HTTP with cases in every state (decided at the hub's command line and at a department's desk,
refused, corrected, delivered, withdrawn, a 容缺 commitment, a bundle), a file carried both ways, and
stations whose rows carry every dashboard flag (fork, clock, error, stale, never contacted, revoked).
Then every page is rendered as an administrator and as a department clerk, and every command is run;
what a person reads (HTML text and visible attributes; stdout and stderr) is searched for Latin words.
Machine-facing output (``--json``, the CSV, codes) is not searched: scripts read it.
"""

from __future__ import annotations

import datetime as dt
import html.parser
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from rich.console import Console

from hub.accounts import create_token
from hub.cli import main as hub_main
from hub.cli_status import _table as status_table
from hub.departments import departments
from hub.enroll import revoke_station
from hub.ingest import ingest_sets
from hub.keys import load_identity
from hub.settings import Settings
from hub.store import Contact, HubStore
from hub.testing import live_server
from hub.web.app import create_app
from station.cli import main as station_main
from station.store import datakey
from sync.timeutil import iso_utc
from tests.hub.builders import Clock, csrf_of, enrol

pytestmark = pytest.mark.timeout(300)

VILLAGE = "349921001001"
OTHER_VILLAGES = ("349921001002", "349921001003", "349921002001", "349921002002")
PASSPHRASE = "村代办点口令2026"
ACCOUNTS = {
    "admin": ("admin", None, "admin-password-1"),
    "liu": ("department", "RS", "pension-desk-pw"),
    "yb": ("department", "YB", "medical-desk-pw"),
}
"""Hub accounts of the fixture: name → (role, department, password). Their names are shown on pages."""

WANG, ZHANG, ZHAO, LI = "349921195803120234", "11010519491231002X", "34992119950612128X", "349921196001010011"


# -- the allow-list ----------------------------------------------------------------------------------

ALLOWED_WORDS = frozenset(
    {
        # Abbreviations and names Chinese users read as they are.
        "PDF",
        "CSV",
        "JSON",
        "URL",
        "HTTP",
        "HTTPS",
        "ID",
        "QR",
        "UTC",
        "USB",
        "English",  # the pages' link to the English version, named in its own language
        "KiB",  # the unit of a backup's size
        "MiB",
        # The fixture's hub account names: what people typed as their user names.
        *ACCOUNTS,
        "testclient",  # the address TestClient's requests come from (a real one is an IP address)
    }
)
"""Latin words a Chinese reader may meet: abbreviations read as they are, the language switch,
units, and what people typed (account names). Any other Latin word is an untranslated label."""

_CODES = re.compile(
    r"""
      [A-Z_]+\ →\ [A-Z_]+                 # the two states of a refused move, as --status takes them
    | [0-9A-F]{4}(?:\ [0-9A-F]{4}){4}      # key fingerprints: 648F AEA0 D1B3 6EE2 C807
    | [A-Za-z0-9_.-]*\d[A-Za-z0-9_.-]*     # anything with a digit: case and station numbers, item
                                          # codes (RS-001), versions, hashes, sizes
    | BND-[A-Z-]+                         # bundle codes (一件事)
    | [A-Z0-9]{4}(?:-[A-Z0-9]{4}){3}      # enrolment codes
    | [0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}  # progress-query codes as printed: 7K3M-Q9XD
    | \S*[/\\]\S*                         # paths and URLs (a folder's name is not a word of the UI)
    | \$?[A-Z][A-Z0-9]*_[A-Z0-9_]+        # environment variables: STATION_PASSPHRASE
    | [a-z]+(?:_[a-z]+)+                  # snake_case codes: bad_signature, id_number
    | --[a-z][a-z-]*(?:\ [a-z]+)?         # a command-line option and its value: --role admin
    | [0-9a-f]{8,}                        # hex digests and ids
    | chinese-calendar                    # the package a seeded calendar year came from (its source)
    """,
    re.VERBOSE,
)
"""Codes, taken out before words are looked at: what a person copies or types, never reads as a word."""

_LATIN = re.compile(r"[A-Za-z][A-Za-z'’]*")


def _command_names() -> re.Pattern[str]:
    """The ``hub`` and ``station`` command lines a Chinese message tells the reader to type
    (运行“station sync”): codes too. "station" alone is a word ("station 测试员")."""
    paths: list[str] = []

    def walk(command: click.Command, prefix: str) -> None:
        if " " in prefix:
            paths.append(prefix)
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{prefix} {name}")

    walk(hub_main, "hub")
    walk(station_main, "station")
    return re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(paths, key=len, reverse=True))) + r")\b")


def leaks(text: str, codes: frozenset[str] = frozenset()) -> list[str]:
    """The Latin words of ``text`` outside the allow-list, once codes and command lines are taken out.

    ``codes``: words that are codes of this county (department keys, device letters, enrolment code
    ids), which no pattern tells from words.
    """
    text = _command_names().sub(" ", text)
    text = _CODES.sub(" ", text)
    return sorted({w for w in _LATIN.findall(text) if w not in ALLOWED_WORDS and w not in codes})


class _Visible(html.parser.HTMLParser):
    """The text of a page a person sees: text nodes (no style or script) and shown attributes."""

    SHOWN = ("title", "alt", "placeholder", "aria-label")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._hidden += 1
        shown = dict(attrs)
        self.parts += [shown[name] or "" for name in self.SHOWN if name in shown]
        if tag == "input" and shown.get("type") in ("submit", "button"):
            self.parts.append(shown.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _Visible()
    parser.feed(page)
    return "\n".join(parser.parts)


def test_the_checker_finds_words_and_passes_codes() -> None:
    assert leaks("已办结（approved）") == ["approved"]
    assert leaks("正常 clock · station 测试员") == ["clock", "station"]
    assert leaks("#2: accepted") == ["accepted"]
    assert leaks("办件 349921001001-20261126-A001 RS-001 BND-NEWBORN 哈希 3fa9c0d1e2") == []
    assert leaks("下一步：运行“station sync”；创建管理员：hub user add 用户名 --role admin") == []
    assert leaks("已写入 /tmp/x/export.bin；$STATION_PASSPHRASE") == []
    assert leaks("密钥指纹：648F AEFC DABC 6EE2 C807") == []
    assert leaks("部门 liu") == [] and leaks("department liu") == ["department"]
    assert leaks("部门 RS，设备 A") == ["A", "RS"] and leaks("部门 RS，设备 A", frozenset({"RS", "A"})) == []
    assert leaks("王小明（M，1958-03-12）") == ["M"]
    assert leaks("办件不能从“不予受理”变为“已受理”（NOT_ACCEPTED → ACCEPTED）") == []
    assert leaks("349921001001-20261126-A001 ACCEPTED") == ["ACCEPTED"]
    assert visible_text('<p title="Status">状态 <b>ok</b></p><style>a{color:red}</style>') == "Status\n状态 \nok"


# -- the county ----------------------------------------------------------------------------------------


@dataclass
class World:
    """What the county's commands and pages printed, by source, in zh."""

    pages: dict[str, str] = field(default_factory=dict)
    hub_cli: dict[str, str] = field(default_factory=dict)
    station_cli: dict[str, str] = field(default_factory=dict)
    api_errors: dict[str, str] = field(default_factory=dict)
    codes: frozenset[str] = frozenset()
    """Department keys, device letters and enrolment code ids of this county: codes shaped like words."""


class _Runner:
    def __init__(self, main: click.Group, env: dict[str, str], prefix: list[str], into: dict[str, str]) -> None:
        self.main, self.env, self.prefix, self.into = main, env, prefix, into
        self.runner = CliRunner()

    def __call__(
        self,
        *args: str,
        ok: tuple[int, ...] = (0,),
        input_text: str | None = None,
        key: str = "",
        script_line: bool = False,
    ) -> str:
        """Run a command; keep what a person reads of it (stdout and stderr) under ``key``.

        ``script_line``: the last line of stdout is documented for scripts (``hub case decide``
        ends with ``CASE_NO STATUS``), so it is not a label and is not searched.
        """
        result = self.runner.invoke(
            self.main, [*self.prefix, *args], env=self.env, input=input_text, catch_exceptions=False
        )
        assert result.exit_code in ok, (args, result.output)
        name = key or " ".join(a for a in args if not a.startswith(("/", "349921", "http")))
        read = result.output
        if script_line:
            last = result.stdout.rstrip("\n").rsplit("\n", 1)[-1]
            read = read.replace(last, "")
        if "--json" not in args:
            self.into[name] = self.into.get(name, "") + read
        return result.stdout


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    patch = pytest.MonkeyPatch()
    patch.setattr(datakey, "KEY_WORK", 2**10)  # scrypt's cost lowered: the tests check words, not keys
    datakey.forget()
    root = tmp_path_factory.mktemp("zh")
    try:
        yield _build(root)
    finally:
        datakey.forget()
        patch.undo()


def _build(root: Path) -> World:
    world = World()
    hub_dir, station_dir = root / "hub", root / "station"
    base_env = {"LANG": "zh_CN.UTF-8", "LC_ALL": "", "HUB_DATA_DIR": str(hub_dir)}
    hub = _Runner(hub_main, base_env, ["--lang", "zh"], world.hub_cli)
    st = _Runner(
        station_main,
        {**base_env, "STATION_DATA_DIR": str(station_dir), "STATION_PASSPHRASE": PASSPHRASE},
        ["--lang", "zh"],
        world.station_cli,
    )
    hub("init")
    for name, (role, department, password) in ACCOUNTS.items():
        extra = ["--department", department] if department else []
        hub("user", "add", name, "--role", role, *extra, "--password-stdin", input_text=password + "\n")
    settings = Settings(data_dir=hub_dir, argon2_time_cost=1, argon2_memory_kib=1024)
    with live_server(create_app(settings)) as url:
        code = _last_line(hub("station", "add", "--village", VILLAGE))
        st("enroll", "--hub", url, "--code", code, "--agent", "李代办")
        st("sync")
        cases = _intake(st)
        st("sync")
        _decide_at_the_hub(hub, cases)
        st("sync")
        _station_moves(st, cases)
        st("sync")
        _desk_decisions(settings, cases, world)
        st("sync")
        st("case", "update", cases["corrected"], "correct", "--material", "居民身份证")
        # A file both ways: the station's sets to the hub, the hub's answer back (USB).
        st("case", "update", cases["received"], "note", "--note", "申请人电话已核实")
        st("export", str(root / "up.bin"))
        hub("import", str(root / "up.bin"))
        hub("export", "--station", _station_id(hub_dir), str(root / "down.bin"))
        st("import", str(root / "down.bin"))
        _second_pc(hub, st, cases, root, url, world)
        _other_stations(hub_dir)
        token = _admin_token(hub_dir)
        hub("status", "--url", url, "--token", token, ok=(0, 1), key="status")
        hub("status", "--url", url, "--token", token, "--problems", ok=(0, 1), key="status --problems")
        # Below 100 columns the narrow layout (a terminal's width; CliRunner's console is 200 wide).
        report = json.loads(hub("status", "--url", url, "--token", token, "--json", ok=(0, 1)))
        narrow = Console(width=80, record=True, file=io.StringIO())
        narrow.print(status_table(report, "zh", 80))
        world.hub_cli["status (80 columns)"] = narrow.export_text()
        st("sync")
        st("status")
    _hub_commands(hub, root)
    _station_commands(st, cases, root)
    _pages(settings, cases, world, hub_dir)
    world.codes = _county_codes(hub_dir)
    return world


def _second_pc(hub: _Runner, st: _Runner, cases: dict[str, str], root: Path, url: str, world: World) -> None:
    """A second PC in the village: both correct the same phone number before either syncs, so one
    value loses the merge (a conflict, kept and shown with the case)."""
    pc_b = _Runner(station_main, {**st.env, "STATION_DATA_DIR": str(root / "station-b")}, st.prefix, {})
    code = _last_line(hub("station", "add", "--village", VILLAGE))
    pc_b("enroll", "--hub", url, "--code", code, "--agent", "王代办")
    pc_b("sync")
    number = cases["received"]
    st("case", "update", number, "correct", "--phone", "13900000001", key="case update correct --phone")
    pc_b("case", "update", number, "correct", "--phone", "13900000002")
    st("sync")
    pc_b("sync")
    st("sync")
    pc_b("sync")
    for name, out in pc_b.into.items():
        world.station_cli[f"second PC: {name}"] = out
    pc_b("case", "show", number, key="case show")
    st("case", "show", number, key="case show (conflict)")
    world.station_cli["second PC: case show"] = pc_b.into["case show"]


def _county_codes(hub_dir: Path) -> frozenset[str]:
    with HubStore.open_existing(hub_dir) as store:
        keys = {d.key for d in departments(store.catalog())}
        devices = {s.device for s in store.stations()}
        code_ids = {e.code_id for e in store.enrolments()}
    return frozenset(keys | devices | code_ids)


def _intake(st: _Runner) -> dict[str, str]:
    """Cases for every state the county can put them in, named by what will happen to them."""
    pension = ["--item", "RS-001", "--material", "居民身份证", "--material", "城乡居民基本养老保险参保登记表"]
    people = iter(
        [("王小明", WANG), ("张桂英", ZHANG), ("赵丽", ZHAO), ("李四", LI), ("周五", WANG), ("吴六", ZHANG)]
        + [("郑七", ZHAO), ("孙八", LI), ("钱九", WANG)]
    )
    cases = {}
    for role in ("approved", "denied", "refused", "corrected", "suspended", "special", "withdrawn", "received"):
        name, number = next(people)
        out = st(
            "case", "new", "--name", name, "--id-number", number, "--phone", "13800138000", *pension, key="case new"
        )
        cases[role] = _last_line(out)
    out = st(
        "case",
        "new",
        "--item",
        "RS-002",
        "--name",
        "张桂英",
        "--id-number",
        ZHANG,
        "--phone",
        "13912345678",
        "--material",
        "居民身份证",
        "--material",
        "待遇领取通知表（本人签字或按指纹）",
        "--defer",
        "社会保障卡或本人银行账户",
        key="case new",
    )
    cases["deferred"] = _last_line(out)
    out = st(
        "case",
        "new",
        "--bundle",
        "BND-NEWBORN",
        "--name",
        "赵丽",
        "--id-number",
        ZHAO,
        "--phone",
        "0551-6543210",
        "--material",
        "居民身份证",
        "--material",
        "父母双方居民身份证",
        "--material",
        "出生医学证明",
        "--material",
        "随迁方居民户口簿",
        "--material",
        "城乡居民基本医疗保险参保登记表",
        "--material",
        "有效身份证件（身份证、户口簿等）",
        "--defer",
        "近期1寸免冠彩色照片",
        key="case new",
    )
    cases["bundle"] = _last_line(out)
    return cases


def _decide_at_the_hub(hub: _Runner, cases: dict[str, str]) -> None:
    def decide(role: str, status: str, *extra: str) -> None:
        hub("case", "decide", cases[role], "--status", status, *extra, key="case decide", script_line=True)

    decide("approved", "accept")
    decide("approved", "complete", "--outcome", "approved")
    decide("denied", "accept")
    decide("denied", "review")
    decide("denied", "complete", "--outcome", "denied")
    decide("refused", "refuse", "--reason", "不属于本事项受理范围")
    decide("corrected", "correct", "--missing", "居民身份证", "--reason", "身份证复印件不清晰")
    decide("suspended", "accept")
    decide("suspended", "review")
    decide("suspended", "suspend", "--reason", "等待公安户籍核查")
    decide("special", "accept")
    # A move the lifecycle refuses: its error is in Chinese too.
    hub("case", "decide", cases["refused"], "--status", "accept", ok=(2,), key="case decide (refused)")


def _station_moves(st: _Runner, cases: dict[str, str]) -> None:
    st("case", "update", cases["approved"], "deliver", "--note", "已电话通知本人领取")
    st("case", "update", cases["withdrawn"], "withdraw", "--reason", "申请人改为线上办理")
    st("case", "update", cases["deferred"], "supply", "--material", "社会保障卡或本人银行账户")
    # The station may not accept: refused, in Chinese.
    st("case", "update", cases["received"], "correct", ok=(2,), key="case update (nothing)")


def _desk_decisions(settings: Settings, cases: dict[str, str], world: World) -> None:
    """A department clerk decides at the desk (history then reads "县直部门 liu")."""
    with TestClient(app=create_app(settings)) as client:
        _log_in(client, "liu")
        page = client.get(f"/desk/cases/{cases['special']}")
        csrf = csrf_of(page.text)
        for status in ("IN_PROGRESS", "SPECIAL_PROCEDURE"):
            client.post(
                f"/desk/cases/{cases['special']}/decision",
                data={"csrf": csrf, "status": status, "reason": "需专家评审"},
                follow_redirects=False,
            )
        # A refused form: the page with its error message.
        refused = client.post(f"/desk/cases/{cases['special']}/decision", data={"csrf": csrf, "status": "NOT_ACCEPTED"})
        world.pages["desk case (refused decision)"] = refused.text


def _log_in(client: TestClient[Any], name: str) -> None:
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"username": name, "password": ACCOUNTS[name][2], "csrf": csrf_of(form.text), "next": ""},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _station_id(hub_dir: Path) -> str:
    with HubStore.open_existing(hub_dir) as store:
        return next(s.station_id for s in store.stations() if s.village_code == VILLAGE)


def _admin_token(hub_dir: Path) -> str:
    with HubStore.open_existing(hub_dir) as store:
        return create_token(store, "admin", expires_days=30, now=dt.datetime.now(dt.UTC)).token


def _other_stations(hub_dir: Path) -> None:
    """Stations whose dashboard rows carry every flag: a fork, a fast clock, a failed contact, a long
    silence, one never contacted, one revoked."""
    now = dt.datetime.now(dt.UTC)
    identity = load_identity(hub_dir)
    with HubStore.open_existing(hub_dir) as store:
        clock = Clock(now - dt.timedelta(days=9))
        stale = enrol(store, identity, clock, village=OTHER_VILLAGES[0])
        _contact(store, stale.station_id, clock(), kind="pull")  # nine days ago: danger
        clock = Clock(now)
        skewed = enrol(store, identity, clock, village=OTHER_VILLAGES[1])
        _contact(store, skewed.station_id, now, clock_offset_ms=7_200_000)
        _contact(store, skewed.station_id, now, ok=False, code="replay")
        forked = enrol(store, identity, clock, village=OTHER_VILLAGES[2])
        case_no, changes = forked.new_case(village=forked.village_code)
        ingest_sets(store, identity, [forked.seal(changes)], station_id=forked.station_id, now=clock)
        bad = forked.move(case_no, "RECEIVED", "ACCEPTED")  # a station may not accept: rejected
        ingest_sets(store, identity, [forked.seal([bad])], station_id=forked.station_id, now=clock)
        twin = forked.seal([forked.move(case_no, "RECEIVED", "WITHDRAWN")], seq=1)
        ingest_sets(store, identity, [twin], station_id=forked.station_id, now=clock)
        _contact(store, forked.station_id, now, kind="push", head_seq=3, outbox_length=2)
        enrol(store, identity, clock, village=OTHER_VILLAGES[3])  # enrolled, never heard from
        revoked = enrol(store, identity, clock, village=OTHER_VILLAGES[3])
        revoke_station(store, revoked.station_id, reason="电脑丢失")


def _contact(store: HubStore, station_id: str, at: dt.datetime, **fields: Any) -> None:
    with store.transaction():
        store.record_contact(
            station_id, Contact(at=iso_utc(at), kind=fields.pop("kind", "pull"), ok=fields.pop("ok", True), **fields)
        )


def _hub_commands(hub: _Runner, root: Path) -> None:
    hub("station", "list")
    hub("station", "add", "--village", OTHER_VILLAGES[0])
    code_id = _last_line(hub("station", "add", "--village", OTHER_VILLAGES[1])).split("-")[0]
    hub("station", "codes")
    hub("station", "codes", "--all")
    hub("station", "void", code_id)
    hub("forks")
    hub("case", "list")
    hub("case", "list", "--status", "COMPLETED")
    hub("user", "list")
    hub("user", "passwd", "yb", "--password-stdin", input_text="yb-pw-67890\n")
    hub("user", "disable", "yb")
    token_id = _last_line(hub("token", "create", "--user", "liu")).split(".")[0]
    hub("token", "list")
    hub("token", "revoke", token_id)
    hub("department", "list")
    hub("calendar", "show", "--year", "2026")
    hub("backup", str(root / "hub-backup.tar.zst"))
    hub("restore", str(root / "hub-backup.tar.zst"), ok=(1, 2), key="errors")  # onto a hub in use
    # Errors a person meets: an unknown case, a station that is not there.
    hub("case", "decide", "349921001001-20200101-Z999", "--status", "accept", ok=(2,), key="errors")
    hub("station", "revoke", "349921009999-Z-9", "--reason", "测试", ok=(2,), key="errors")
    hub("ratings", "followup-days", "10")
    hub("ratings", "figures")
    hub("ratings", "followup-days", "0", ok=(2,), key="errors")
    hub("figures", "export", str(root / "figures.xlsx"))


def _station_commands(st: _Runner, cases: dict[str, str], root: Path) -> None:
    st("info")
    st("status")
    st("catalog", "list")
    st("catalog", "list", "--search", "养老")
    st("catalog", "show", "RS-002")
    st("catalog", "show", "BND-NEWBORN", ok=(2,), key="errors")
    st("case", "list")
    st("case", "list", "--overdue")
    for role, number in cases.items():
        st("case", "show", number, key=f"case show ({role})")
    st("commitment", "list")
    st("commitment", "list", "--all")
    st("agent", "show")
    st("agent", "set-name", "李代办")
    st("backup", str(root / "station-backup.bin"))
    st("restore", str(root / "station-backup.bin"), ok=(1, 2), key="errors")  # onto a station in use
    st("case", "show", "349921001001-20200101-Z999", ok=(2,), key="errors")
    # Ratings, the ID-card search, progress queries and the ledger (issue 16).
    st("case", "rate", cases["approved"], "--level", "2", "--comment", "等了很久", "--channel", "phone")
    st("case", "rate", cases["approved"], "--level", "5", ok=(2,), key="errors")  # rated once
    st("case", "rate", cases["received"], "--level", "5", ok=(2,), key="errors")  # not delivered
    st("case", "find", "--id-number", WANG)
    st("case", "find", "--id-number", "123", ok=(2,), key="errors")
    code = json.loads(st("case", "show", cases["received"], "--json"))["query_code"]
    st("case", "query", cases["received"], "--code", code)
    st("ledger", "--month", "2026-13", str(root / "ledger.xlsx"), ok=(2,), key="errors")
    st("ledger", "--month", dt.datetime.now(dt.UTC).strftime("%Y-%m"), str(root / "ledger.xlsx"))


def _pages(settings: Settings, cases: dict[str, str], world: World, hub_dir: Path) -> None:
    with HubStore.open_existing(hub_dir) as store:
        station_ids = [s.station_id for s in store.stations()]
    with TestClient(app=create_app(settings)) as client:
        world.pages["login"] = client.get("/login").text
        world.pages["login (wrong password)"] = client.post(
            "/login", data={"username": "admin", "password": "wrong", "csrf": csrf_of(world.pages["login"])}
        ).text
        _log_in(client, "liu")
        world.pages["desk"] = client.get("/desk").text
        world.pages["desk (overdue, received)"] = client.get("/desk?overdue=1&status=RECEIVED").text
        for role, number in cases.items():
            if role != "bundle":  # a bundle's number is no case's; its members are other departments'
                world.pages[f"desk case ({role})"] = client.get(f"/desk/cases/{number}").text
        world.pages["desk case (revealed)"] = client.get(f"/desk/cases/{cases['approved']}?reveal=1").text
        world.pages["desk case (done)"] = client.get(f"/desk/cases/{cases['special']}?done=SPECIAL_PROCEDURE").text
        world.pages["desk: not ours"] = client.get("/desk/cases/349921001001-20200101-Z999").text
        world.pages["dashboard as a clerk"] = client.get("/dashboard").text
        world.pages["desk page_no=0"] = client.get("/desk?page_no=0").text
        world.pages["desk follow-ups"] = client.get("/desk/followups?all=1").text
        client.post("/logout", data={"csrf": csrf_of(world.pages["desk"])})
        _log_in(client, "admin")
        for path in (
            "/dashboard",
            "/dashboard?state=attention",
            "/dashboard?state=danger",
            "/dashboard?state=never",
            "/dashboard?township=349921001000",
            "/dashboard/figures",
            "/dashboard/audit",
            "/dashboard/audit?user=liu",
            "/dashboard/stations/349921009999-Z-9",
            "/desk",
        ):
            world.pages[path] = client.get(path).text
        world.pages["progress query (form)"] = client.get("/q").text
        world.pages["progress query (nothing found)"] = client.get("/q?case=349921001001-20200101-Z999&code=X").text
        # A path the hub does not have is answered in the API's JSON shape: its Chinese detail is read.
        world.api_errors["/no-such-page"] = client.get("/no-such-page").json()["detail_zh"]
        for station_id in station_ids:
            world.pages[f"station {station_id}"] = client.get(f"/dashboard/stations/{station_id}").text


# -- the tests -----------------------------------------------------------------------------------------


def _report(outputs: dict[str, str], codes: frozenset[str], text_of: Any = str) -> dict[str, list[str]]:
    return {source: found for source, out in outputs.items() if (found := leaks(text_of(out), codes))}


def test_every_hub_page_in_chinese(world: World) -> None:
    assert len(world.pages) > 30
    assert _report(world.pages, world.codes, visible_text) == {}
    assert _report(world.api_errors, world.codes) == {}


def test_every_hub_command_in_chinese(world: World) -> None:
    assert len(world.hub_cli) > 20
    assert _report(world.hub_cli, world.codes) == {}


def test_every_station_command_in_chinese(world: World) -> None:
    assert len(world.station_cli) > 20
    assert _report(world.station_cli, world.codes) == {}
