"""``hub county``: a province hub's counties: enrolment codes, the list, revocation, upstream files by USB."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import msgspec
from rich.table import Table

from hub._cli_common import Context, handles_errors, json_text, text
from hub.cli_county_forks import station_forks_cmd
from hub.keys import load_identity
from hub.province import (
    ingest_upstream,
    issue_county_code,
    require_province,
    resolve_county_fork,
    revoke,
)
from hub.province_auth import open_upstream_file
from hub.province_view import county_forks, province_report
from hub.upstream_link import read_upstream_file, sign_answer, write_answer_file
from hub.views import duration_text
from sync.i18n import pick
from sync.protocol import ProtocolError
from sync.timeutil import utc_now

__all__ = ("county", "print_province")

_STATES = {
    "ok": ("正常", "ok"),
    "lagging": ("滞后", "lagging"),
    "danger": ("危险", "danger"),
    "never": ("未登记", "not enrolled"),
    "revoked": ("已吊销", "revoked"),
    "fork": ("分叉", "fork"),
}


@click.group()
def county() -> None:
    """A province hub's counties (the hub was made with 'hub init --role province')."""


@county.command("add")
@click.option("--county", "code", required=True, help="The county's 6-digit division code, e.g. 349921.")
@click.option(
    "--expires-hours", type=float, default=72.0, show_default=True, help="The code expires after this many hours."
)
@click.pass_obj
@handles_errors
def county_add(obj: Context, code: str, expires_hours: float) -> None:
    """Issue a one-time enrolment code for a county hub ('hub upstream enroll' there); the code is the last line."""
    identity = load_identity(obj.data_dir)
    with obj.store() as store:
        issued, expires = issue_county_code(store, code, expires_hours=expires_hours, now=utc_now())
    obj.say(
        f"县（区）{code.strip()} 的登记码，{expires} 前有效（只显示这一次）。",
        f"Enrolment code for county {code.strip()}, valid until {expires} (shown once).",
    )
    obj.say(f"省级平台密钥指纹：{identity.fingerprint}", f"Province key fingerprint: {identity.fingerprint}")
    obj.say(
        "在县级平台运行：hub upstream enroll --url 省级平台地址 --code 登记码",
        "At the county run: hub upstream enroll --url PROVINCE_URL --code CODE",
    )
    click.echo(issued)


@county.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the province status's counties).")
@click.pass_obj
@handles_errors
def county_list(obj: Context, as_json: bool) -> None:
    """The counties: state, forwarding lag, stations and cases rolled up (no personal data)."""
    with obj.store() as store:
        require_province(store)
        report = province_report(store, now=utc_now())
    data = {
        "province": {
            "counties": [_plain(r) for r in report.counties],
            "totals": report.totals,
            "forks": [_plain(f) for f in report.forks],
            "station_forks": [_plain(f) for f in report.station_forks],
        }
    }
    if as_json:
        click.echo(json_text(data["province"]["counties"]))
        return
    print_province(obj, data)


def _plain(row: Any) -> dict[str, Any]:
    return msgspec.to_builtins(row)  # type: ignore[no-any-return]


def print_province(obj: Context, report: dict[str, Any]) -> None:
    """The county table of a province's status (``hub status --url PROVINCE`` and ``hub county list``)."""
    lang = obj.lang
    province = report["province"]
    if not province["counties"]:
        obj.say(
            "尚无县（区）：用“hub county add --county 代码”签发登记码。",
            "No counties yet: 'hub county add --county CODE' issues a code.",
        )
        return
    table = Table(box=None, pad_edge=False)
    for zh, en in (
        ("县（区）", "County"),
        ("状态", "State"),
        ("滞后", "Lag"),
        ("待转发", "Waiting"),
        ("代办点", "Stations"),
        ("需关注", "Attention"),
        ("办件", "Cases"),
        ("批次", "Sets"),
    ):
        table.add_column(pick(lang, zh, en))
    for r in province["counties"]:
        states = r["stations_by_state"]
        attention = sum(n for s, n in states.items() if s != "ok")
        lag = r["lag_seconds"]
        table.add_row(
            r["county"],
            pick(lang, *_STATES.get(r["state"], (r["state"], r["state"]))),
            "-" if lag is None else duration_text(lag, lang) or "0",
            str(r["pending"]),
            str(r["stations"]),
            str(attention),
            str(r["cases"]),
            text(r["head_seq"]),
        )
    obj.out.print(table)
    t = province["totals"]
    obj.say(
        f"县（区）{t['counties']} · 代办点 {t['stations']} · 办件 {t['cases']} · 需关注 {t['attention']}",
        f"counties {t['counties']} · stations {t['stations']} · cases {t['cases']} · need attention {t['attention']}",
    )
    for fork in province.get("forks") or []:
        obj.say(
            f"分叉：县（区）{fork['county']} 第 {fork['seq']} 批与省里已有的不同，已隔离（未采用、未删除）；"
            f"处理：hub county forks resolve --county {fork['county']} --by 姓名",
            f"Fork: county {fork['county']}'s set {fork['seq']} differs from the chain held; quarantined (nothing "
            f"applied, nothing deleted); resolve: hub county forks resolve --county {fork['county']} --by NAME",
        )
    for fork in province.get("station_forks") or []:
        obj.say(
            f"分叉：县（区）{fork['county']} 转发的代办点 {fork['station_id']} 数据集 {fork['seq']} 与省里已有的冲突，"
            "已隔离（未采用、未删除，该县其他代办点照常转发）；核实后运行“hub county station-forks resolve "
            f"--county {fork['county']} --station {fork['station_id']} --keep county --by 姓名”",
            f"Fork: station {fork['station_id']}'s set {fork['seq']} forwarded by county {fork['county']} conflicts "
            "with the station's chain held; quarantined (nothing applied, nothing deleted, the county's other "
            "stations forward as usual); once checked, run 'hub county station-forks resolve --county "
            f"{fork['county']} --station {fork['station_id']} --keep county --by NAME'",
        )


@county.command("revoke")
@click.option("--county", "code", required=True, help="The county's 6-digit division code.")
@click.pass_obj
@handles_errors
def county_revoke(obj: Context, code: str) -> None:
    """Revoke a county's hub key (stolen or lost): its sets are refused until it enrols again with a new key."""
    with obj.store() as store:
        count = revoke(store, code, now=utc_now())
    obj.say(
        f"已吊销县（区）{code.strip()} 的 {count} 个密钥。县级平台须运行“hub key rotate”，再用新登记码重新登记。",
        f"Revoked {count} key(s) of county {code.strip()}. The county runs 'hub key rotate', then enrols again with a new code.",
    )


@county.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--answer",
    "answer",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the province's signed answer here, for the county's 'hub upstream import-answer'.",
)
@click.pass_obj
@handles_errors
def county_import(obj: Context, file: Path, answer: Path | None) -> None:
    """Take a county's upstream file (from 'hub upstream export', carried by USB)."""
    identity = load_identity(obj.data_dir)
    try:
        upstream_file = read_upstream_file(file)
    except ProtocolError as exc:  # damaged: nothing was taken
        click.echo(pick(obj.lang, "错误：", "Error: ") + exc.message(obj.lang), err=True)
        sys.exit(2)
    now = utc_now()
    with obj.store() as store:
        require_province(store)
        try:  # signed by the county's key, checked before the body is read; then each set on its own
            request = open_upstream_file(store, upstream_file)
            result = ingest_upstream(store, identity, request, via="file", now=now)
        except ProtocolError as exc:  # UpstreamRefused included
            click.echo(pick(obj.lang, "错误：", "Error: ") + exc.message(obj.lang), err=True)
            sys.exit(2)
    taken = sum(1 for r in result.results if r.status == "accepted")
    held = sum(1 for r in result.results if r.status == "duplicate")
    obj.say(
        f"县（区）{request.county}：新收 {taken} 批，已有 {held} 批；省级平台现需第 {result.next_seq} 批",
        f"County {request.county}: {taken} set(s) taken, {held} held already; the province needs set {result.next_seq} next",
    )
    if answer is not None:
        write_answer_file(answer, sign_answer(identity, request.county, result))
        obj.say(f"回执已写入 {answer}", f"Answer written to {answer}")
    forked = [r.seq for r in result.results if r.status == "fork"]
    if forked:  # kept whole, nothing applied: the county learns it from the answer file too
        click.echo(
            pick(
                obj.lang,
                f"分叉：县（区）{request.county} 第 {forked[0]} 批与省里已有的不同，已隔离（未采用、未删除）；"
                f"核实后运行“hub county forks resolve --county {request.county} --by 姓名”",
                f"Fork: county {request.county}'s set {forked[0]} differs from the one held; quarantined (nothing "
                f"applied, nothing deleted). Once checked, run 'hub county forks resolve --county {request.county} "
                "--by NAME'",
            ),
            err=True,
        )
        sys.exit(3)


@county.group("forks", invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Resolved county forks too.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
@handles_errors
def county_forks_cmd(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """County sets quarantined as county forks (a county hub restored from an old backup, a copy of its server)."""
    if ctx.invoked_subcommand is not None:
        return
    obj: Context = ctx.obj
    with obj.store() as store:
        require_province(store)
        forks = county_forks(store, open_only=not show_all)
        rows = {f["id"]: f for f in store.county_forks(open_only=False)}
    data = [
        {**_plain(f), "resolved_at": rows[f.id]["resolved_at"], "resolved_by": rows[f.id]["resolved_by"]} for f in forks
    ]
    if as_json:
        click.echo(json_text(data))
        return
    if not data:
        obj.say("没有待处理的县级分叉。", "No unresolved county forks.")
        return
    for f in data:
        resolved = f" · {f['resolved_at']} {f['resolved_by']}" if f["resolved_at"] else ""
        obj.say(
            f"#{f['id']} 县（区）{f['county']} 第 {f['seq']} 批 · {f['reason']} · {f['via']} · {f['received_at']}{resolved}",
            f"#{f['id']} county {f['county']} set {f['seq']} · {f['reason']} · {f['via']} · {f['received_at']}{resolved}",
        )


@county_forks_cmd.command("resolve")
@click.option("--county", "code", required=True, help="The county's 6-digit division code.")
@click.option("--by", "by", required=True, help="Who resolves it (kept with the fork).")
@click.pass_obj
@handles_errors
def county_forks_resolve(obj: Context, code: str, by: str) -> None:
    """Take the branch the county's hub forwards now: the county's sets held from the fork on are set aside
    (kept whole, with their receipts); the county's next send is taken. Stop every other copy of the county's
    hub first."""
    with obj.store() as store:
        fork, moved = resolve_county_fork(store, code, by=by, now=utc_now())
    obj.say(
        f"已处理县（区）{fork['county']} 第 {fork['seq']} 批的分叉：省里该县 {moved} 批已另存（未删除）；"
        "县级平台下次转发时采用其现有批次链",
        f"Resolved county {fork['county']}'s fork at set {fork['seq']}: {moved} county set(s) held here set aside "
        "(kept, not deleted); the county's chain is taken at its next send",
    )


county.add_command(station_forks_cmd)
