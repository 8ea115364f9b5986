"""The ``station`` commands that talk to the county hub: enroll, sync, status, export, import."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from station import enrolment, link, transfer
from station.agent import clean_agent_name
from station.cli_base import Context, handles_errors
from station.identity import load_keypair, passphrase, require_pins
from station.render import print_lines, to_json
from station.scans.store import warn_bytes
from station.scans.usb import export_scans
from station.store import Station
from station.syncstate import Refusal, SyncStatus, last_refusal_id, refusals, refused_cases, sync_status
from sync.crypto import KeyPair
from sync.i18n import pick
from sync.text import printable
from sync.timeutil import format_local

__all__ = ("EXIT_REFUSED", "SYNC_COMMANDS")

EXIT_REFUSED = 3
"""``station sync`` (and ``import``): the county refused a change of this station's, each named on
stderr with its case and reason (docs/cli.md); 0 stays "fully in sync", 1 "not in step", 2 bad input."""
REFUSALS_LISTED = 20
"""Refusals printed one by one; the rest are counted."""


def _unlock(obj: Context) -> KeyPair:
    return load_keypair(obj.data_dir, obj.passphrase())


def _offset_text(offset_ms: int, lang: str) -> str:
    minutes = abs(offset_ms) / 60000
    if offset_ms > 0:
        return pick(
            lang, f"县平台时间比本机快 {minutes:.0f} 分钟", f"the hub's clock is {minutes:.0f} min ahead of ours"
        )
    return pick(lang, f"县平台时间比本机慢 {minutes:.0f} 分钟", f"the hub's clock is {minutes:.0f} min behind ours")


@click.command()
@click.option("--hub", "hub_url", required=True, help="Address of the county hub, e.g. https://hub.example.gov.cn.")
@click.option(
    "--code", required=True, help="One-time enrolment code from the county administrator, XXXX-XXXX-XXXX-XXXX."
)
@click.option(
    "--agent",
    default=None,
    help="Name of the agent working at this PC (named in case history). Asked for at a terminal when not given; "
    "change it later with 'station agent set-name'.",
)
@click.pass_obj
@handles_errors
def enroll(obj: Context, hub_url: str, code: str, agent: str | None) -> None:
    """Enrol this station with the county hub (makes its keys; asks for a new passphrase).

    The passphrase comes from $STATION_PASSPHRASE, else it is asked for twice.
    """
    enrolment.parse_code(code)  # a typo is reported before the passphrase is asked for
    if agent is None:
        agent = _ask_agent(obj.lang)
    clean_agent_name(agent)  # a bad name is reported before the passphrase is asked for
    result = enrolment.enroll(
        obj.data_dir, hub_url=hub_url, code=code, passphrase=passphrase(confirm=True), agent_name=agent
    )
    print_lines(
        obj.out,
        [
            pick(
                obj.lang,
                f"已在县平台登记：站点 {result.station_id}（村 {result.village_code}，设备 {result.device}）",
                f"Enrolled with the hub: station {result.station_id} (village {result.village_code}, device {result.device})",
            ),
            pick(
                obj.lang, f"县平台密钥指纹：{result.hub_fingerprint}", f"Hub key fingerprint: {result.hub_fingerprint}"
            ),
            pick(
                obj.lang,
                "请与县管理员屏幕上显示的指纹逐字核对；不一致时请勿同步，并立即联系县管理员。",
                "Compare it with the fingerprint on the administrator's screen; if they differ, do not sync and call "
                "the county administrator.",
            ),
            pick(obj.lang, f"代办员：{printable(result.agent_name)}", f"Agent: {printable(result.agent_name)}")
            if result.agent_name
            else pick(
                obj.lang,
                "尚未填写代办员姓名：办件历史将只显示“村代办点”。用“station agent set-name 姓名”填写。",
                "No agent's name yet: case history will say only 'village station'. "
                "Set it with 'station agent set-name NAME'.",
            ),
            pick(
                obj.lang,
                "下一步：运行“station sync”接收事项目录、节假日表和区划。",
                "Next: run 'station sync' to receive the catalogue, holiday calendar and divisions.",
            ),
        ],
    )


def _at_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _ask_agent(lang: str) -> str:
    """The agent's name, asked for at a terminal ('' when there is none to ask or nothing is typed)."""
    if not _at_terminal():
        return ""
    return str(
        click.prompt(
            pick(lang, "代办员姓名（记入办件历史；可留空）", "Agent's name (written in case history; may be empty)"),
            default="",
            show_default=False,
        )
    )


def _report_lines(report: link.SyncReport, lang: str) -> list[str]:
    lines = [
        pick(
            lang,
            f"封装 {report.sealed}，上报 {report.pushed}，县平台确认 {report.acknowledged}，接收 {report.pulled}",
            f"sealed {report.sealed}, sent {report.pushed}, acknowledged {report.acknowledged}, received {report.pulled}",
        )
    ]
    if report.in_step and not report.refused:
        lines.append(pick(lang, "本站与县平台已完全同步。", "This station and the hub hold the same data."))
    elif report.in_step:
        lines.append(
            pick(
                lang,
                f"数据已送达，但县平台拒收了本站 {len(report.refused)} 项更改（见下）。",
                f"Everything was delivered, but the county refused {len(report.refused)} change(s) of "
                "this station's (below).",
            )
        )
    else:
        feed = f"{report.feed_seq}/{report.hub_feed_seq if report.hub_feed_seq is not None else '?'}"
        lines.append(
            pick(
                lang,
                f"尚未完全同步：待确认数据集 {report.unacknowledged}，未封装变更 {report.unsealed}，下发进度 {feed}。",
                f"Not in step yet: {report.unacknowledged} sets unacknowledged, {report.unsealed} changes unsealed, "
                f"feed {feed}.",
            )
        )
    lines.append(_scan_line(report, lang))
    if report.scan_store_bytes > warn_bytes():
        lines.append(
            pick(
                lang,
                f"警告：本站扫描件已占用 {_megabytes(report.scan_store_bytes)}，超过 {_megabytes(warn_bytes())}；"
                "请确认同步正常（县平台收齐且办结满期限后本站自动清理）",
                f"Warning: this station's scans take {_megabytes(report.scan_store_bytes)}, over "
                f"{_megabytes(warn_bytes())}; check that syncing works (pages the hub holds are deleted here "
                "once their cases have been closed long enough)",
            )
        )
    if report.clock_offset_ms is not None and abs(report.clock_offset_ms) > 5 * 60 * 1000:
        lines.append(
            pick(lang, "警告：", "Warning: ")
            + _offset_text(report.clock_offset_ms, lang)
            + pick(lang, "；请校正本机时间。", "; set this PC's clock.")
        )
    return lines


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 100 * 1024 else f"{size / 1024:.0f} KB"


def _scan_line(report: link.SyncReport, lang: str) -> str:
    """Records and scans, each on its own: ``records: in step; scans: 1.2 MB waiting, 34 %``."""
    records = (
        pick(lang, "记录：已同步", "records: in step")
        if report.in_step
        else pick(lang, "记录：未同步", "records: behind")
    )
    if not report.scans_pages:
        scans = pick(lang, "扫描件：已全部送达", "scans: all at the hub")
    else:
        done = (
            100
            if not report.scans_total
            else int(100 * (report.scans_total - report.scans_waiting) / report.scans_total)
        )
        size = _megabytes(report.scans_waiting)
        scans = pick(lang, f"扫描件：{size} 待上传，已完成 {done}%", f"scans: {size} waiting, {done} %")
    return records + pick(lang, "；", "; ") + scans


class _ScanBar:
    """A progress bar for a long upload of scans, on stderr at a terminal (nothing otherwise)."""

    LONG = 256 * 1024

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.shown = False
        self.live = sys.stderr is not None and sys.stderr.isatty()

    def __call__(self, held: int, total: int) -> None:
        if not self.live or total < self.LONG:
            return
        width = 30
        filled = int(width * held / total) if total else width
        bar = "#" * filled + "." * (width - filled)
        label = pick(self.lang, "扫描件", "scans")
        click.echo(
            f"\r{label} [{bar}] {int(100 * held / total) if total else 100:3d}% {_megabytes(total - held)}",
            nl=False,
            err=True,
        )
        self.shown = True

    def done(self) -> None:
        if self.shown:
            click.echo("", err=True)
            self.shown = False


WAIT_SCAN_ROUNDS = 50
"""``--wait-scans``: rounds in a row that may bring no page forward before it gives up (exit 1)."""


def _refused(station: Station, new: list[Refusal]) -> list[Refusal]:
    """The refusals to name: those that came down just now, then every case the county refused to file
    (it never will be in step until the county sorts it out), one line per case and code."""
    listed: dict[tuple[str, str], Refusal] = {}
    for refusal in [*new, *refused_cases(station).values()]:
        listed.setdefault((refusal.case_no, refusal.code), refusal)
    return list(listed.values())


def _say_refused(refused: list[Refusal], lang: str) -> None:
    """Name each refused case with the code and the county's reason on stderr (no personal data)."""
    for refusal in refused[:REFUSALS_LISTED]:
        click.echo(pick(lang, "县平台拒收：", "Refused by the county: ") + printable(refusal.message(lang)), err=True)
    if len(refused) > REFUSALS_LISTED:
        more = len(refused) - REFUSALS_LISTED
        click.echo(
            pick(
                lang,
                f"……另有 {more} 项；“station status”列出县平台拒收的办件",
                f"... and {more} more; 'station status' lists the cases the county refused",
            ),
            err=True,
        )


@click.command("sync")
@click.option(
    "--watch", "keep_watching", is_flag=True, help="Keep syncing while the link comes and goes (Ctrl-C stops)."
)
@click.option(
    "--hub", "hub_url", default=None, help="Another address for the hub this time (a relay); keys stay pinned."
)
@click.option(
    "--wait-scans", is_flag=True, help="Also wait until every scanned page is at the hub (exit 1 if they cannot go)."
)
@click.pass_obj
@handles_errors
def sync_command(obj: Context, keep_watching: bool, hub_url: str | None, wait_scans: bool) -> None:
    """Send this station's changes to the hub and receive its decisions; then scanned pages, with what is left.

    Exit status 0 when both sides hold every record (scanned pages may still be on their way; with
    --wait-scans, only once they are all at the hub too), 1 otherwise, 3 when the county refused a
    change of this station's (each named on stderr with its case and the county's reason).
    """
    with obj.station() as st:
        require_pins(st.db)
        keys = _unlock(obj)
        refused_now: list[Refusal] = []
        if keep_watching:

            def progress(report: link.SyncReport) -> None:
                stamp = dt.datetime.now().strftime("%H:%M:%S")
                click.echo(f"[{stamp}] " + " ".join(_report_lines(report, obj.lang)))
                for issue in report.errors:
                    click.echo(pick(obj.lang, "  错误：", "  Error: ") + issue.message(obj.lang), err=True)
                refused_now.extend(report.refused)
                _say_refused(report.refused, obj.lang)

            report = link.watch(st, hub_url=hub_url, keys=keys, on_report=progress)
            if report is None:
                sys.exit(1)
        else:
            bar = _ScanBar(obj.lang)
            report = link.sync_once(st, hub_url=hub_url, keys=keys, scan_progress=bar)
            refused_now = list(report.refused)
            idle = 0
            while wait_scans and report.in_step and report.scans_pages and idle < WAIT_SCAN_ROUNDS:
                # Each round sends records first (any made meanwhile), then pages from where the hub stands.
                report = link.sync_once(st, hub_url=hub_url, keys=keys, scan_progress=bar)
                refused_now += report.refused
                idle = 0 if report.scan_bytes_sent else idle + 1
            bar.done()
            print_lines(obj.out, _report_lines(report, obj.lang))
            for issue in report.errors:
                click.echo(pick(obj.lang, "错误：", "Error: ") + issue.message(obj.lang), err=True)
            for issue in report.scan_errors:
                click.echo(pick(obj.lang, "扫描件：", "Scans: ") + issue.message(obj.lang), err=True)
        refused = _refused(st, refused_now)
        # Watching, each round named what it brought; the cases the county refused before, once now.
        _say_refused([r for r in refused if r not in refused_now] if keep_watching else refused, obj.lang)
        if refused:
            sys.exit(EXIT_REFUSED)
        sys.exit(0 if report.in_step and not (wait_scans and report.scans_pages) else 1)


def _status_lines(status: SyncStatus, lang: str) -> list[str]:
    never = pick(lang, "无", "never")
    lines = [pick(lang, f"站点：{status.station_id}", f"Station: {status.station_id}")]
    if not status.enrolled:
        lines.append(
            pick(
                lang,
                "尚未在县平台登记（station enroll --hub 地址 --code 登记码）",
                "Not enrolled with a hub yet (station enroll --hub URL --code CODE)",
            )
        )
    else:
        lines.append(
            pick(
                lang,
                f"县平台：{status.hub_url}（指纹 {status.hub_fingerprint}）",
                f"Hub: {status.hub_url} (fingerprint {status.hub_fingerprint})",
            )
        )
    hub_feed = status.hub_feed_seq if status.hub_feed_seq is not None else "?"
    lines += [
        pick(
            lang,
            f"已封装未确认数据集：{status.unacknowledged}（最新 {status.head_seq}）",
            f"Sealed, not acknowledged: {status.unacknowledged} sets (newest {status.head_seq})",
        ),
        pick(lang, f"未封装变更：{status.unsealed}", f"Changes not yet sealed: {status.unsealed}"),
        pick(lang, f"下发进度：{status.feed_seq}/{hub_feed}", f"Feed position: {status.feed_seq}/{hub_feed}"),
        pick(
            lang,
            f"上次成功同步：{format_local(status.last_success) or never}",
            f"Last success: {format_local(status.last_success) or never}",
        ),
    ]
    if status.last_error:
        lines.append(
            pick(
                lang,
                f"上次错误：{format_local(status.last_error)} {status.last_error_detail}",
                f"Last error: {format_local(status.last_error)} {status.last_error_detail}",
            )
        )
    if status.clock_warning and status.clock_offset_ms is not None:
        lines.append(
            pick(lang, "警告：", "Warning: ")
            + _offset_text(status.clock_offset_ms, lang)
            + pick(lang, "；请校正本机时间。", "; set this PC's clock.")
        )
    if status.fork:
        lines.append(
            pick(
                lang,
                f"已停止上报：县平台持有本站的另一条数据链，请联系县管理员（{status.fork}）",
                f"Sending stopped: the hub holds another chain for this station; call the county "
                f"administrator ({status.fork})",
            )
        )
    if status.restored:
        lines.append(
            pick(
                lang,
                f"本站从 {format_local(status.restored)} 的备份恢复，县平台尚未确认数据链：确认前不能办理新业务，请同步",
                f"Restored from the backup of {format_local(status.restored)}; the hub has not confirmed this station's chain "
                "yet: no new work until it does, sync",
            )
        )
    if status.revoked:
        lines.append(
            pick(
                lang,
                f"本站密钥 {status.revoked} 已被吊销：同步已停止，请联系县管理员",
                f"This station's key {status.revoked} was revoked: syncing stopped; call the county administrator",
            )
        )
    if status.refused_cases:
        lines.append(
            pick(
                lang,
                f"县平台拒收的办件：{status.refused_cases}（未在县平台立案，请联系县管理员）",
                f"Cases the county refused to file: {status.refused_cases} (call the county administrator)",
            )
        )
        lines += ["  " + refusal.message(lang) for refusal in status.refused]
    return lines


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handles_errors
def status(obj: Context, as_json: bool) -> None:
    """Where sync stands: unsent and unacknowledged work, last success and error, clock, fork or revocation."""
    with obj.station() as st:
        current = sync_status(st)
        if as_json:
            click.echo(to_json(current))
            return
        print_lines(obj.out, _status_lines(current, obj.lang))


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@handles_errors
def export_command(obj: Context, file: Path) -> None:
    """Write the sets the hub has not acknowledged to FILE, to carry to the hub (USB)."""
    with obj.station() as st:
        require_pins(st.db)
        keys = _unlock(obj)
        result = transfer.export_file(st, file, keys)
        parts = export_scans(st, file, keys)  # pages the hub does not hold, beside the sets
        span = f"{result.first_seq}-{result.last_seq}" if result.sets else "-"
        print_lines(
            obj.out,
            [
                pick(
                    obj.lang,
                    f"已写入 {result.path}：{result.sets} 个数据集（{span}）",
                    f"Wrote {result.path}: {result.sets} sets ({span})",
                ),
                *(
                    [
                        pick(
                            obj.lang,
                            f"扫描件另写入 {len(parts)} 个文件（{parts[0].name} …）：请一并带到县平台",
                            f"Scans in {len(parts)} more file(s) ({parts[0].name} …): carry them along",
                        )
                    ]
                    if parts
                    else []
                ),
            ],
        )


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@handles_errors
def import_command(obj: Context, file: Path) -> None:
    """Apply the hub's answer file FILE (made by 'hub export'): decisions, receipts, reference data.

    Exit status 3 when the file brought the county's refusal of a change of this station's (named on stderr).
    """
    with obj.station() as st:
        require_pins(st.db)
        mark = last_refusal_id(st)
        result = transfer.import_file(st, file, _unlock(obj))
        new = refusals(st, after=mark)
        lines = [
            pick(
                obj.lang,
                f"已导入 {result.applied} 个县平台数据集（{result.skipped} 个此前已导入），下发进度 {result.feed_seq}",
                f"Imported {result.applied} hub sets ({result.skipped} held before), feed position {result.feed_seq}",
            )
        ]
        if result.revoked:
            lines.append(
                pick(
                    obj.lang,
                    "县平台已吊销本站密钥：同步已停止，请联系县管理员",
                    "The county revoked this station's key: syncing stopped; call the county administrator",
                )
            )
        print_lines(obj.out, lines)
        if new:
            _say_refused(new, obj.lang)
            sys.exit(EXIT_REFUSED)


SYNC_COMMANDS = (enroll, sync_command, status, export_command, import_command)
"""Added to the ``station`` group by station.cli."""
