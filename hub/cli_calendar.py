"""``hub calendar``: publish the State Council's yearly holiday arrangement (节假日安排) and show it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hub._cli_common import Context, handles_errors
from hub.calendar import calendar_view, notice_json, notice_warnings, publish_calendar, read_notice
from hub.views import china_time
from sync.errors import InputError
from sync.i18n import pick
from sync.text import printable
from sync.timeutil import utc_now

__all__ = ("calendar",)

_WEEKDAYS_ZH = "一二三四五六日"


@click.group()
def calendar() -> None:
    """Publish next year's working-day calendar (usually in November) and show a year's table."""


@calendar.command("publish")
@click.option("--year", type=click.IntRange(2000, 2099), required=True, help="The year the file is for, e.g. 2027.")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.pass_obj
@handles_errors
def calendar_publish(obj: Context, year: int, file: Path) -> None:
    """Publish FILE (JSON: year, holidays with name/from/to, make-up workdays) as YEAR's next table.

    Every problem in the file is listed at once and nothing is published (exit 2). Published,
    the table goes to every active station on its next sync (or USB file), and the due dates of
    open cases and 容缺 commitments whose count runs through YEAR move, each with a history line.
    '-' reads the file from standard input.
    """
    try:
        raw = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        raise InputError(
            zh=f"无法读取文件 {file}：{exc.strerror}", en=f"cannot read {file}: {exc.strerror}", field="file"
        ) from None
    notice = read_notice(raw, year=year)
    for warning in notice_warnings(notice):
        click.echo(pick(obj.lang, "注意：", "Warning: ") + warning.message(obj.lang), err=True)
    with obj.store() as store:
        result = publish_calendar(store, notice, now=utc_now())
    if result.unchanged:
        obj.say(
            f"{year} 年工作日历与现行第 {result.version} 版相同，未发布新版本。",
            f"The {year} calendar is the same as version {result.version} in force; nothing published.",
        )
        return
    done = result.recomputed
    assert done is not None
    obj.say(
        f"已发布 {year} 年工作日历第 {result.version} 版，已放入 {result.stations} 个代办点的下发队列"
        "（下次同步或U盘文件送达）。",
        f"Published the {year} calendar, version {result.version}; queued to {result.stations} station(s) "
        "(delivered on their next sync or USB file).",
    )
    obj.say(
        f"县平台重算：{done.cases} 个办件（{done.cases_moved} 个办结日期改变）、"
        f"{done.commitments} 个容缺承诺（{done.commitments_moved} 个期限改变），改变的已记入办理记录。",
        f"Recomputed at the hub: {done.cases} case(s) ({done.cases_moved} due date(s) moved), "
        f"{done.commitments} 容缺 commitment(s) ({done.commitments_moved} moved); each move is in the case's history.",
    )


@calendar.command("show")
@click.option("--year", type=click.IntRange(1, 9999), required=True, help="The year to show.")
@click.option("--version", "version", type=click.IntRange(1), default=None, help="An earlier published version.")
@click.option("--json", "as_json", is_flag=True, help="The table in the format 'publish' reads (edit, publish back).")
@click.pass_obj
@handles_errors
def calendar_show(obj: Context, year: int, version: int | None, as_json: bool) -> None:
    """Show YEAR's table in force: its version, holiday spans and make-up working days."""
    with obj.store() as store:
        view = calendar_view(store, year, version)
    if as_json:
        click.echo(notice_json(view.notice))
        return
    lang = obj.lang
    obj.say(
        f"{year} 年工作日历 第 {view.version} 版（来源 {printable(view.source)}，{china_time(view.published_at)}）",
        f"{year} calendar, version {view.version} (source {printable(view.source)}, {china_time(view.published_at)})",
    )
    click.echo(pick(lang, "放假：", "Days off:"))
    for span in view.notice.holidays:
        days = (span.last - span.first).days + 1
        click.echo(
            pick(
                lang,
                f"  {printable(span.name)}  {span.first} 至 {span.last}（{days} 天）",
                f"  {printable(span.name)}  {span.first} to {span.last} ({days} day(s))",
            )
        )
    click.echo(pick(lang, "调休上班：", "Make-up working days:"))
    if not view.notice.workdays:
        click.echo(pick(lang, "  无", "  none"))
    for day in view.notice.workdays:
        click.echo(pick(lang, f"  {day}（周{_WEEKDAYS_ZH[day.weekday()]}）", f"  {day} ({day.strftime('%a')})"))
    if view.versions:
        click.echo(pick(lang, "发布记录：", "Published versions:"))
        for row in view.versions:
            current = pick(lang, "（现行）", " (in force)") if row.version == view.version and version is None else ""
            click.echo(
                pick(
                    lang,
                    f"  第 {row.version} 版  {china_time(row.published_at)}{current}",
                    f"  version {row.version}  {china_time(row.published_at)}{current}",
                )
            )
