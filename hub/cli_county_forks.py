"""``hub county station-forks``: station sets a province quarantined from its counties' sets, and their resolution."""

from __future__ import annotations

import sys

import click
import msgspec

from hub._cli_common import Context, handles_errors, json_text
from hub.province import require_province
from hub.province_forks import resolve_station_fork
from hub.province_view import station_forks
from sync.text import json_for_terminal, printable
from sync.timeutil import utc_now

__all__ = ("station_forks_cmd",)

_REASONS = {
    "differs": ("省里该序号已有另一批", "another set is held at that seq"),
    "prev": ("未接上省里已有的上一批", "does not follow the set held before it"),
    "after": ("接在已隔离的一批之后", "follows a quarantined set"),
}


@click.group("station-forks", invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Resolved station forks too.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON array).")
@click.pass_context
@handles_errors
def station_forks_cmd(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """Station sets quarantined at the province: a county's set carried a station set that conflicts with the
    station's chain held here (typically a county hub restored from an old backup)."""
    if ctx.invoked_subcommand is not None:
        return
    obj: Context = ctx.obj
    with obj.store() as store:
        require_province(store)
        forks = station_forks(store, open_only=not show_all)
        rows = {int(f["id"]): f for f in store.province_station_forks(open_only=False)}
    data = [
        {**msgspec.to_builtins(f), "resolved_at": rows[f.id]["resolved_at"], "resolved_by": rows[f.id]["resolved_by"]}
        for f in forks
    ]
    if as_json:
        click.echo(json_for_terminal(json_text(data)))
        return
    if not data:
        obj.say("没有待处理的代办点分叉。", "No unresolved station forks.")
        return
    for f in data:
        zh, en = _REASONS.get(f["reason"], (f["reason"], f["reason"]))
        resolved = f" · {f['resolved_at']} {f['resolved_by']}" if f["resolved_at"] else ""
        obj.say(
            printable(
                f"#{f['id']} 县（区）{f['county']} 代办点 {f['station_id']} 第 {f['seq']} 批 · {zh} · "
                f"县第 {f['county_seq']} 批带来 · {f['received_at']}{resolved}"
            ),
            printable(
                f"#{f['id']} county {f['county']} station {f['station_id']} set {f['seq']} · {en} · "
                f"in county set {f['county_seq']} · {f['received_at']}{resolved}"
            ),
        )
    if any(not f["resolved_at"] for f in data):
        obj.say(
            "处理：hub county station-forks resolve --county 县代码 --station 代办点 --keep county|province --by 姓名",
            "Resolve: hub county station-forks resolve --county C --station S --keep county|province --by NAME",
        )


@station_forks_cmd.command("resolve")
@click.option("--county", "county", required=True, help="The county's 6-digit division code.")
@click.option("--station", "station", required=True, help="The station's id, as listed.")
@click.option(
    "--keep",
    type=click.Choice(["county", "province"]),
    required=True,
    help="county: take the county's branch (the usual case); province: keep the chain held here.",
)
@click.option("--by", "by", required=True, help="Who resolves it (kept with the fork and in the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON object).")
@click.pass_obj
@handles_errors
def station_forks_resolve(obj: Context, county: str, station: str, keep: str, by: str, as_json: bool) -> None:
    """Resolve a station's fork at the province.

    --keep county: the province's sets of the station from the fork's seq on are set aside (kept whole, with
    their receipts and keys) and the quarantined sets are taken in seq order, each checked as a forwarded set
    (signature, key, receipt, chain); one that fails stays quarantined and is listed. --keep province: the
    quarantined sets are marked resolved, kept and not applied; the county is told in its next answers. Exit 2 for an
    unknown county or station or no open fork; exit 3 when a quarantined set was left (listed).
    """
    with obj.store() as store:
        done = resolve_station_fork(
            store, county, station, keep="county" if keep == "county" else "province", by=by, now=utc_now()
        )
    if as_json:
        click.echo(json_for_terminal(json_text(msgspec.to_builtins(done))))
        sys.exit(3 if done.left else 0)
    if done.keep == "province":
        obj.say(
            printable(
                f"已处理代办点 {done.station_id}（县（区）{done.county}）自第 {done.from_seq} 批的分叉：保留省里的数据链，"
                f"{done.resolved} 批已隔离的数据集标为已处理（留存，未采用）。县级平台在下次转发时收到通知（hub upstream status 可见，保留 30 天）。记录人：{done.by}"
            ),
            printable(
                f"Resolved station {done.station_id}'s fork (county {done.county}) from set {done.from_seq}: the "
                f"province's chain stands; {done.resolved} quarantined set(s) marked resolved (kept, not applied). "
                "The county is told in its next forwarding round ('hub upstream status' there, for 30 days). "
                f"Recorded as: {done.by}"
            ),
        )
        return
    taken = "、".join(str(s) for s in done.taken) or "无"
    obj.say(
        printable(
            f"已处理代办点 {done.station_id}（县（区）{done.county}）自第 {done.from_seq} 批的分叉：采用县里的分支；"
            f"省里原有 {done.set_aside} 批已另存（未删除），采用已隔离的第 {taken} 批，现到第 {done.head_seq} 批。"
            f"记录人：{done.by}"
        ),
        printable(
            f"Resolved station {done.station_id}'s fork (county {done.county}) from set {done.from_seq}: the "
            f"county's branch stands; {done.set_aside} set(s) held here set aside (kept, not deleted), quarantined "
            f"set(s) {', '.join(str(s) for s in done.taken) or 'none'} taken; the station's chain is at set "
            f"{done.head_seq}. Recorded as: {done.by}"
        ),
    )
    for left in done.left:
        obj.say(
            printable(f"仍隔离：第 {left.seq} 批（#{left.id}，{left.code}）：{left.detail}"),
            printable(f"Still quarantined: set {left.seq} (#{left.id}, {left.code}): {left.detail}"),
        )
    if done.left:
        sys.exit(3)
