"""The ``hub backup FILE`` and ``hub restore FILE`` commands (docs/hub.md, "Backups")."""

from __future__ import annotations

from pathlib import Path

import click

from hub._cli_common import Context, handles_errors
from hub._cli_progress import StageBars
from hub.backup import make_backup, restore_backup
from hub.views import china_time

__all__ = ("BACKUP_COMMANDS",)

_STAGES = {
    "copy": ("复制数据库", "Copying the database"),
    "write": ("压缩写入", "Compressing"),
    "read": ("校验", "Verifying"),
}


def _bars(lang: str) -> StageBars:
    return StageBars(lang, lambda stage: _STAGES.get(stage, (stage, stage)), show_percent=True)


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MiB" if count >= 1024 * 1024 else f"{count / 1024:.0f} KiB"


@click.command("backup")
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_obj
@handles_errors
def backup_command(obj: Context, file: Path) -> None:
    """Write the hub's database and key to FILE (.tar.zst), consistent while the hub serves, verified."""
    bars = _bars(obj.lang)
    try:
        result = make_backup(obj.data_dir, file, progress=bars)
    finally:
        bars.close()
    m = result.manifest
    if result.postgresql is not None:
        obj.say(
            f"备份已写入 {result.path}（{_size(result.bytes)}）：县平台密钥和数据库地址",
            f"Backup written to {result.path} ({_size(result.bytes)}): the hub's key and its database address",
        )
        obj.say(
            f"数据库在 PostgreSQL（{result.postgresql}），不在此文件中：请用 pg_dump 备份（pg_dump -Fc -f 文件 数据库名），"
            "与服务器上其他数据库一样；恢复时两者一起使用。",
            f"The database is in PostgreSQL ({result.postgresql}), not in this file: back it up with pg_dump "
            "(pg_dump -Fc -f FILE DBNAME) like the server's other databases; a restore needs both.",
        )
        obj.say(
            "该文件含县平台密钥和数据库密码：请离线保存，妥善保管。",
            "The file holds the hub's key and the database password: keep it offline and safe.",
        )
        return
    obj.say(
        f"备份已写入 {result.path}（{_size(result.bytes)}，数据库 {_size(m.db_bytes)} 已通过完整性检查）",
        f"Backup written to {result.path} ({_size(result.bytes)}; database of {_size(m.db_bytes)}, integrity ok)",
    )
    obj.say(
        f"时间 {china_time(m.created_at)}（UTC+8）；{m.counts.get('stations', 0)} 个代办点，"
        f"{m.counts.get('cases', 0)} 件办件，{m.counts.get('sets_in', 0)} 个数据集",
        f"Taken {china_time(m.created_at)} (UTC+8); {m.counts.get('stations', 0)} stations, "
        f"{m.counts.get('cases', 0)} cases, {m.counts.get('sets_in', 0)} sets",
    )
    obj.say(
        "备份文件含全县办件和县平台密钥：请离线保存，妥善保管。",
        "The file holds every case of the county and the hub's key: keep it offline and safe.",
    )


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Replace the hub database already in the data folder (it is kept aside, renamed), or a hub of another key.",
)
@click.pass_obj
@handles_errors
def restore_command(obj: Context, file: Path, force: bool) -> None:
    """Put the hub of backup FILE in place (the hub must be stopped); the stations then bring it up to date."""
    bars = _bars(obj.lang)
    try:
        result = restore_backup(obj.data_dir, file, force=force, progress=bars)
    finally:
        bars.close()
    m = result.manifest
    if result.postgresql is not None:
        obj.say(
            f"县平台（PostgreSQL {result.postgresql}）已记为从备份恢复：各代办点说明其位置之前，不为其生成下行文件",
            f"The hub (PostgreSQL {result.postgresql}) now knows it was restored from a backup: no down file is "
            "written for a station before it says where it stands",
        )
    obj.say(
        f"已恢复 {china_time(m.created_at)}（UTC+8）的备份（软件 {m.software}）到 {obj.data_dir}",
        f"Restored the backup of {china_time(m.created_at)} (UTC+8) (software {m.software}) to {obj.data_dir}",
    )
    for path in result.aside:
        obj.say(f"原文件已改名保留：{path}", f"The file it replaced is kept as {path}")
    obj.say(
        "各代办点下次同步时会补交备份之后的数据；备份之后在县平台所做的决定、账号、登记和吊销须重新办理"
        "（见 docs/hub.md“恢复备份”）。",
        "Stations send what the hub lost at their next sync; decisions, accounts, enrolments and revocations "
        "made at the hub after the backup must be made again (docs/hub.md, 'Restoring a backup').",
    )


BACKUP_COMMANDS = (backup_command, restore_command)
"""Added to the ``hub`` group by hub.cli."""
