"""The ``hub migrate --to postgresql://…`` command: the stopped SQLite hub copied into PostgreSQL (docs/postgresql.md)."""

from __future__ import annotations

import click

from hub._cli_common import Context, handles_errors
from hub._cli_progress import StageBars
from hub.migrate_store import OPTION, migrate_to_postgresql
from hub.settings import parse_database_url
from hub.store import DB_FILE
from hub.store.location import DATABASE_FILE

__all__ = ("migrate",)

_STAGES = {
    "schema": ("建立表结构", "Creating the tables"),
    "verify": ("校验", "Verifying"),
}


def _bars(lang: str) -> StageBars:
    return StageBars(lang, lambda stage: _STAGES.get(stage, (f"复制 {stage}", f"Copying {stage}")))


@click.command("migrate")
@click.option(
    OPTION,
    "target",
    metavar="URL",
    required=True,
    help="The empty PostgreSQL database to copy the hub into (postgresql://USER:PASSWORD@HOST:PORT/DATABASE).",
)
@click.pass_obj
@handles_errors
def migrate(obj: Context, target: str) -> None:
    """Copy this data folder's SQLite hub into an empty PostgreSQL database while the hub is stopped, verify
    every table's rows and every station's chain and feed head, and say what to change. The SQLite file is
    left as it was; a bad URL, an unreachable server or a non-empty database: exit 2, nothing written."""
    database = parse_database_url(target, option=OPTION)
    bars = _bars(obj.lang)
    try:
        result = migrate_to_postgresql(obj.data_dir, database, progress=bars)
    finally:
        bars.close()
    copied = sum(result.rows.values())
    obj.say(
        f"已迁移到 PostgreSQL {database.redacted}：{len(result.rows)} 个表共 {copied:,} 行，"
        f"{result.rows.get('cases', 0):,} 件办件，{result.stations} 个代办点",
        f"Migrated to PostgreSQL {database.redacted}: {copied:,} rows in {len(result.rows)} tables, "
        f"{result.rows.get('cases', 0):,} cases, {result.stations} stations",
    )
    obj.say(
        f"校验通过：每个表的行数一致；{result.chain_heads} 个代办点的数据链末端、{result.feed_heads} 个下发链末端一致",
        f"Verified: row counts equal in every table; chain heads of {result.chain_heads} station(s) and feed "
        f"heads of {result.feed_heads} equal",
    )
    recorded = obj.data_dir / DATABASE_FILE
    obj.say(
        f"数据库地址已记入 {recorded}（仅属主可读）：此后 hub serve 和所有 hub 命令都使用 PostgreSQL。"
        "下一步：重新启动 hub serve（systemctl start proxyapp-hub）。",
        f"The URL is recorded in {recorded} (owner-only): hub serve and every hub command now use PostgreSQL. "
        "Next: start hub serve again (systemctl start proxyapp-hub).",
    )
    obj.say(
        "若要改用环境变量配置（例如 systemd 单元中的 Environment=），设置下面这一行（密码已隐去，请写入真实密码）；"
        f"设置后它优先于 {DATABASE_FILE}：",
        "To configure it in the environment instead (in a systemd unit as Environment=…), set this line (password "
        f"hidden: write the real one); once set it takes precedence over {DATABASE_FILE}:",
    )
    click.echo(f"  {result.setting}")
    obj.say(
        f"密钥和设置仍在 {obj.data_dir}。原 SQLite 文件 {obj.data_dir / DB_FILE} 未改动、不再使用：请留作备份。",
        f"Keys and settings stay in {obj.data_dir}. The SQLite file {obj.data_dir / DB_FILE} is unchanged and no "
        "longer used: keep it as a backup.",
    )
