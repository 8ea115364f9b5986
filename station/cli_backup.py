"""The ``station backup FILE`` and ``station restore FILE`` commands (docs/cli.md, docs/security.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from station.backup import make_backup, read_header, restore_backup
from station.cli_base import Context, handles_errors
from station.identity import load_keypair
from station.link import sync_once
from station.render import print_lines
from station.store import Station
from sync.i18n import pick
from sync.timeutil import CHINA_TZ, parse_iso

__all__ = ("BACKUP_COMMANDS",)

_STAGES = {"copy": ("复制数据库", "Copying the database"), "write": ("写入", "Writing"), "read": ("校验", "Verifying")}


class _Bars:
    """A progress bar per stage on stderr, at a terminal only."""

    def __init__(self, lang: str) -> None:
        self.lang, self.shown, self.bar, self.stage, self.done = lang, sys.stderr.isatty(), None, "", 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.shown:
            return
        if stage != self.stage:
            self.close()
            bar: Any = click.progressbar(
                length=max(total, 1), label=pick(self.lang, *_STAGES.get(stage, (stage, stage))), file=sys.stderr
            )
            bar.__enter__()
            self.bar, self.stage, self.done = bar, stage, 0
        if self.bar is not None:
            self.bar.update(max(done - self.done, 0))
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _china(created_at: str) -> str:
    return f"{parse_iso(created_at).astimezone(CHINA_TZ):%Y-%m-%d %H:%M}"


@click.command("backup")
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_obj
@handles_errors
def backup_command(obj: Context, file: Path) -> None:
    """Write the whole station to FILE (a USB stick), encrypted under the station passphrase."""
    bars = _Bars(obj.lang)
    with obj.station() as st:
        try:
            result = make_backup(st, file, progress=bars)
        finally:
            bars.close()
    h = result.header
    print_lines(
        obj.out,
        [
            pick(
                obj.lang,
                f"备份已写入 {result.path}（{result.bytes // 1024 + 1} KiB，已读回校验）",
                f"Backup written to {result.path} ({result.bytes // 1024 + 1} KiB, read back and checked)",
            ),
            pick(
                obj.lang,
                f"代办点 {h.station_id}，{_china(h.created_at)}（UTC+8），已封装至数据集 {h.head_seq}",
                f"Station {h.station_id}, {_china(h.created_at)} (UTC+8), sets sealed up to {h.head_seq}",
            ),
            pick(
                obj.lang,
                "备份已用本站密钥口令加密：恢复时需要这个口令。",
                "The backup is encrypted under the station passphrase: restoring it needs that passphrase.",
            ),
        ],
    )


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the station already in the data folder (kept aside, renamed).")
@click.option("--no-sync", is_flag=True, help="Do not ask the hub to confirm now (the next 'station sync' does).")
@click.pass_obj
@handles_errors
def restore_command(obj: Context, file: Path, force: bool, no_sync: bool) -> None:
    """Restore the station of backup FILE; the hub confirms its chain before anything new is written."""
    header = read_header(file)
    print_lines(
        obj.out,
        [
            pick(
                obj.lang,
                f"备份：代办点 {header.station_id}，{_china(header.created_at)}（UTC+8），已封装至数据集 {header.head_seq}",
                f"Backup: station {header.station_id}, {_china(header.created_at)} (UTC+8), "
                f"sets sealed up to {header.head_seq}",
            )
        ],
    )
    passphrase = obj.passphrase()
    bars = _Bars(obj.lang)
    try:
        result = restore_backup(obj.data_dir, file, passphrase, force=force, progress=bars)
    finally:
        bars.close()
    lines = [pick(obj.lang, f"已恢复到 {obj.data_dir}", f"Restored to {obj.data_dir}")]
    lines += [pick(obj.lang, f"原文件已改名保留：{p}", f"The file it replaced is kept as {p}") for p in result.aside]
    print_lines(obj.out, lines)
    if not result.enrolled:
        return
    if not no_sync:
        report = sync_once(obj.data_dir, keys=load_keypair(obj.data_dir, passphrase))
        for error in report.errors:
            click.echo(pick(obj.lang, "同步：", "Sync: ") + error.message(obj.lang), err=True)
    with Station.open(obj.data_dir, passphrase=passphrase) as st:
        unconfirmed = st.meta.restored
    if unconfirmed:
        print_lines(
            obj.out,
            [
                pick(
                    obj.lang,
                    "县平台尚未确认本站的数据链：确认前不能办理新业务。能连上县平台时请运行“station sync”。",
                    "The hub has not confirmed this station's chain yet: no new work until it does. Run "
                    "'station sync' when the hub can be reached.",
                )
            ],
        )
        sys.exit(3)
    print_lines(
        obj.out,
        [
            pick(
                obj.lang,
                "县平台已确认本站的数据链，备份之后的办件已取回：可以继续办理业务。",
                "The hub confirmed this station's chain and sent back the work done after the backup: carry on.",
            )
        ],
    )


BACKUP_COMMANDS = (backup_command, restore_command)
"""Added to the ``station`` group by station.cli."""
