"""``hub upstream``: a county hub's link to its province: enrol, forward now, status, files for USB."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import msgspec

from hub._cli_common import Context, handles_errors, json_text
from hub.keys import load_identity
from hub.upstream import UpstreamError, fork_error, held_aside, held_aside_advice, link_status, require_link
from hub.upstream_link import enroll_upstream, export_upstream, read_answer_file, sync_upstream
from sync.crypto import fingerprint
from sync.i18n import pick
from sync.protocol import ProtocolError, StationForkNotice
from sync.timeutil import utc_now

__all__ = ("upstream",)


@click.group()
def upstream() -> None:
    """Forward what this county accepted and decided to its province hub."""


@upstream.command("enroll")
@click.option("--url", required=True, help="The province hub, e.g. https://hub.province.lan.")
@click.option("--code", required=True, help="The code 'hub county add' printed at the province.")
@click.pass_obj
@handles_errors
def upstream_enroll(obj: Context, url: str, code: str) -> None:
    """Enrol this county at its province (again after a revocation: what the province lacks is sealed anew)."""
    identity = load_identity(obj.data_dir)
    with obj.store() as store:
        response = enroll_upstream(store, identity, url=url, code=code, now=utc_now())
    obj.say(
        f"已登记到省级平台 {response.province_id}（县（区）{response.county}）",
        f"Enrolled at province {response.province_id} (county {response.county})",
    )
    obj.say(
        f"省级平台密钥指纹：{fingerprint(response.sign_public)}（请与省级管理员核对）",
        f"Province key fingerprint: {fingerprint(response.sign_public)} (compare it with the province's administrator)",
    )
    obj.say(f"省级平台已有本县 {response.head_seq} 批", f"The province holds {response.head_seq} set(s) of this county")


@upstream.command("sync")
@click.pass_obj
@handles_errors
def upstream_sync(obj: Context) -> None:
    """Forward now (hub serve does it every $HUB_UPSTREAM_SECONDS, default 60)."""
    identity = load_identity(obj.data_dir)
    with obj.store() as store:
        try:
            result = sync_upstream(store, identity, now=utc_now())
        except UpstreamError as exc:
            if exc.code != "fork":
                raise
            _fork_exit(obj, exc)
        county, aside = str(require_link(store)["county"]), held_aside(store)
    obj.say(
        f"新排队 {result.queued} 项，封装 {result.sealed} 批，发送 {result.sent} 批；省级平台已确认到第 {result.acked_seq} 批（共 {result.head_seq} 批）",
        f"Queued {result.queued} item(s), sealed {result.sealed} set(s), sent {result.sent}; the province holds up to set "
        f"{result.acked_seq} (of {result.head_seq})",
    )
    _say_held_aside(obj, county, aside)


def _say_held_aside(obj: Context, county: str, aside: list[StationForkNotice]) -> None:
    """Each station whose sets the province holds aside, and what to do (the province's latest answer)."""
    for notice in aside:
        zh, en = held_aside_advice(county, notice)
        obj.say("代办点分叉（省级）：" + zh, "Station fork at the province: " + en)


def _fork_exit(obj: Context, exc: UpstreamError) -> None:
    """A county fork: the message says what happened and what to do; exit 3 (a script tells it from a failure)."""
    click.echo(pick(obj.lang, "分叉：", "Fork: ") + exc.message(obj.lang), err=True)
    sys.exit(3)


@upstream.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handles_errors
def upstream_status(obj: Context, as_json: bool) -> None:
    """The link: the province, what it acknowledged, what waits, the last error."""
    with obj.store() as store:
        require_link(store)  # exit 2 with what to do at a hub not enrolled upstream
        data = link_status(store)
    assert data is not None
    aside: list[StationForkNotice] = data["station_forks"]
    pending, oldest = data["pending_items"], data["oldest_pending"]
    receipts, receipt_seq = data["receipts"], data["receipt_seq"]
    if as_json:
        click.echo(json_text(msgspec.to_builtins(data)))
        return
    obj.say(
        f"省级平台 {data['province_id']}：{data['url']}（县（区）{data['county']}）",
        f"Province {data['province_id']}: {data['url']} (county {data['county']})",
    )
    obj.say(
        f"已确认 {data['acked_seq']}/{data['head_seq']} 批；待转发 {pending} 项（最早 {oldest or '-'}）",
        f"Acknowledged {data['acked_seq']}/{data['head_seq']} set(s); {pending} item(s) waiting (oldest {oldest or '-'})",
    )
    obj.say(
        f"省级平台签名回执 {receipts} 份（已核验，最新为第 {receipt_seq or '-'} 批）",
        f"{receipts} signed receipt(s) from the province (verified; newest for set {receipt_seq or '-'})",
    )
    if data["fork_seq"] is not None:
        fork = fork_error(str(data["county"]), int(data["fork_seq"]))
        obj.say("分叉：" + fork.zh, "Fork: " + fork.en)
    elif data["last_error"]:
        obj.say(f"上次错误：{data['last_error']}", f"Last error: {data['last_error']}")
    _say_held_aside(obj, str(data["county"]), aside)


@upstream.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@handles_errors
def upstream_export(obj: Context, file: Path) -> None:
    """Write the sets the province has not acknowledged to FILE, signed with this hub's key (USB; the province
    runs 'hub county import'). A backlog larger than one file continues in the next, after 'hub upstream
    import-answer'."""
    identity = load_identity(obj.data_dir)
    with obj.store() as store:
        written = export_upstream(store, identity, file, now=utc_now())
    obj.say(
        f"已写入 {file}：{written.sets} 批（自第 {written.first_seq} 批起）",
        f"Wrote {file}: {written.sets} set(s) from set {written.first_seq}",
    )
    if written.left:
        obj.say(
            f"还有 {written.left} 批未写入（一个文件装不下）：省级平台导入本文件后，用“hub upstream import-answer”"
            "导入其回执，再导出下一个文件",
            f"{written.left} set(s) did not fit in this file: once the province has imported it, take its answer "
            "with 'hub upstream import-answer' and export the next file",
        )


@upstream.command("import-answer")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@handles_errors
def upstream_import_answer(obj: Context, file: Path) -> None:
    """Take the province's signed answer file ('hub county import --answer'): what it now holds."""
    with obj.store() as store:
        try:
            acked = read_answer_file(store, file, now=utc_now())
        except ProtocolError as exc:  # damaged or not the province's: nothing changed
            click.echo(pick(obj.lang, "错误：", "Error: ") + exc.message(obj.lang), err=True)
            sys.exit(2)
        except UpstreamError as exc:
            if exc.code != "fork":
                raise
            _fork_exit(obj, exc)
    obj.say(f"省级平台已确认到第 {acked} 批", f"The province holds up to set {acked}")
