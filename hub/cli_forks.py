"""``hub forks``: the forks a station's chain took (list) and the county's choice between its branches (resolve)."""

from __future__ import annotations

import click
import msgspec

from hub._cli_common import Context, handles_errors, json_text
from hub.forks import default_operator, resolve_fork
from hub.keys import load_identity
from hub.views import china_time, fork_reason
from sync.text import json_for_terminal, printable
from sync.timeutil import utc_now

__all__ = ("forks",)


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON array), as 'forks list --json'.")
@click.pass_context
def forks(ctx: click.Context, as_json: bool) -> None:
    """Forks: a station sent a different set at a seq the hub already holds. Alone: the open ones."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(forks_list, as_json=as_json)


@forks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON array).")
@click.pass_obj
@handles_errors
def forks_list(obj: Context, as_json: bool) -> None:
    """List open forks: a station sent a different set at a seq the hub already holds."""
    with obj.store() as store:
        rows = [
            {
                "id": f.id,
                "station_id": f.station_id,
                "seq": f.seq,
                "reason": f.reason,
                "detected_at": f.detected_at,
                "held_hash": f.held_hash.hex() if f.held_hash else None,
                "quarantined_hash": f.quarantined_hash.hex(),
            }
            for f in store.forks()
        ]
    if as_json:
        click.echo(json_for_terminal(json_text(rows)))
        return
    if not rows:
        obj.say("没有分叉。", "No forks.")
        return
    for r in rows:
        reason, at = fork_reason(str(r["reason"]), obj.lang), china_time(str(r["detected_at"]))
        obj.say(
            printable(f"分叉 {r['id']}：{r['station_id']} 第 {r['seq']} 批，{at}（{reason}）"),
            printable(f"fork {r['id']}: {r['station_id']} set {r['seq']}, {at} ({reason})"),
        )


@forks.command("resolve")
@click.argument("fork_id", metavar="FORK", type=int)
@click.option(
    "--keep",
    type=click.Choice(["hub", "station"]),
    required=True,
    help="The branch that stands: the chain the hub holds, or the one on the station's PC.",
)
@click.option("--by", default=None, help="Your name, for the audit log (default: your login name).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON object).")
@click.pass_obj
@handles_errors
def forks_resolve(obj: Context, fork_id: int, keep: str, by: str | None, as_json: bool) -> None:
    """Resolve fork FORK: keep one branch; the other's work comes back to the side that lacks it.

    --keep hub: the station sets its own sets after the fork aside, takes the hub's chain and rows, and
    records again, as new changes on top of it, what of its branch the hub lacks. --keep station: the
    hub sets its own sets after the fork aside (kept, as evidence), takes the station's from there, and
    sends the station the rows of its branch. Either happens at the station's next sync; every open
    fork of that station is resolved with it. An unknown or already resolved FORK: exit 2.
    """
    identity = load_identity(obj.data_dir)
    operator = (by or "").strip() or default_operator()
    with obj.store() as store:
        done = resolve_fork(
            store, identity, fork_id, keep="hub" if keep == "hub" else "station", by=operator, now=utc_now()
        )
    if as_json:
        click.echo(json_for_terminal(json_text(msgspec.to_builtins(done))))
        return
    if done.collisions:
        # Said first: each number is a second applicant whose case the county must file again.
        numbers = "、".join(done.collisions)
        obj.say(
            printable(
                f"注意：两个分支把同一编号给了不同的办件：{numbers}。编号不改（申请人手中的回执印着它）；"
                "县平台保留本方的记录，代办点的那份被拒收（编号重复）并完整留存，在代办点标为县平台拒收：请为其申请人重新受理"
            ),
            printable(
                f"Note: both branches gave the same number to different cases: {', '.join(done.collisions)}. "
                "No number is changed (it is on the applicant's receipt); the hub keeps its record, the station's "
                "is refused (duplicate_row), kept whole and flagged refused at the station: file that applicant's "
                "case again"
            ),
        )
    if done.keep == "hub":
        obj.say(
            printable(
                f"分叉 {fork_id} 已解决：保留县平台一方（{done.station_id} 至第 {done.head_seq} 批）。该代办点下次同步时"
                f"收回县平台的办件，并把本方第 {done.base_seq} 批之后县平台没有的变更重新记录上报。记录人：{done.by}"
            ),
            printable(
                f"Fork {fork_id} resolved: the hub's branch stands ({done.station_id} up to set {done.head_seq}). At its "
                f"next sync the station takes the hub's cases and records again, on top of them, what of its own "
                f"work after set {done.base_seq} the hub lacks. Recorded as: {done.by}"
            ),
        )
        return
    obj.say(
        printable(
            f"分叉 {fork_id} 已解决：保留代办点一方（{done.station_id} 自第 {done.base_seq + 1} 批起）。县平台原有的 "
            f"{done.sets_set_aside} 个数据集已移出数据链并留存；其办件下次同步时发回该代办点。记录人：{done.by}"
        ),
        printable(
            f"Fork {fork_id} resolved: the station's branch stands ({done.station_id} from set {done.base_seq + 1}). "
            f"The hub's own {done.sets_set_aside} sets from there are out of the chain and kept; their cases go to "
            f"the station at its next sync. Recorded as: {done.by}"
        ),
    )
