"""``hub catalog``: publish a new version of the service catalogue (事项清单动态调整), show it, list its versions."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from hub._cli_common import Context, handles_errors
from hub.catalog import catalog_history, catalog_json, catalog_view, publish_catalog, read_catalog
from hub.catalog_report import failure_label
from hub.views import china_time, terminal_cell
from sync.catalog_patch import CatalogChange
from sync.errors import InputError
from sync.i18n import pick
from sync.text import printable
from sync.timeutil import utc_now

__all__ = ("catalog",)


@click.group()
def catalog() -> None:
    """Publish a new version of the service catalogue, show a version, list them all."""


def _read(file: Path) -> bytes:
    try:
        return sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        raise InputError(
            zh=f"无法读取文件 {file}：{exc.strerror}", en=f"cannot read {file}: {exc.strerror}", field="file"
        ) from None


def _print_changes(obj: Context, found: list[CatalogChange]) -> None:
    if not found:
        obj.say("变更：只调整了顺序。", "Changes: the order only.")
        return
    obj.say(f"变更（{len(found)} 处）：", f"Changes ({len(found)}):")
    for change in found:
        click.echo("  " + printable(change.text(obj.lang)))


@catalog.command("publish")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--note", default=None, help="Why: kept with the version, shown by 'hub catalog history'.")
@click.option("--dry-run", is_flag=True, help="Check FILE and print the changes; publish nothing.")
@click.pass_obj
@handles_errors
def catalog_publish(obj: Context, file: Path, note: str | None, dry_run: bool) -> None:
    """Publish FILE (the catalogue's JSON, as 'hub catalog show --json' prints it) as the next version.

    The whole file is checked and every problem listed at once; with any, nothing is published
    (exit 2). The changes against the version in force are printed. Published, the version goes to
    every active station on its next sync (or USB file), as a patch where the station can take one.
    New intakes use it; a case keeps the version it was received under. '-' reads standard input.
    """
    raw = _read(file)
    with obj.store() as store:
        read = read_catalog(raw, current=store.catalog())
        for warning in read.warnings:
            click.echo(pick(obj.lang, "注意：", "Warning: ") + warning.message(obj.lang), err=True)
        result = publish_catalog(store, read, note=note.strip() if note else None, now=utc_now(), dry_run=dry_run)
    if result.unchanged:
        obj.say(
            f"文件与现行第 {result.version} 版相同，未发布新版本。",
            f"The file is the same as version {result.version} in force; nothing published.",
        )
        return
    _print_changes(obj, result.changes)
    if result.dry_run:
        obj.say(
            f"试运行：未发布。发布后将为第 {result.version} 版，发往 {result.stations} 个代办点。",
            f"Dry run: nothing published. It would be version {result.version}, "
            f"queued to {result.stations} station(s).",
        )
        return
    forms = result.forms
    obj.say(
        f"已发布事项目录第 {result.version} 版，已放入 {result.stations} 个代办点的下发队列"
        f"（增量 {forms.get('patch', 0)} 个，完整 {forms.get('full', 0) + forms.get('legacy', 0)} 个；"
        "下次同步或U盘文件送达）。",
        f"Published catalogue version {result.version}; queued to {result.stations} station(s) "
        f"({forms.get('patch', 0)} as a patch, {forms.get('full', 0) + forms.get('legacy', 0)} whole; "
        "delivered on their next sync or USB file).",
    )


@catalog.command("show")
@click.option("--version", "version", type=click.IntRange(1), default=None, help="An earlier version.")
@click.option(
    "--json", "as_json", is_flag=True, help="The catalogue in the format 'publish' reads (edit, publish back)."
)
@click.pass_obj
@handles_errors
def catalog_show(obj: Context, version: int | None, as_json: bool) -> None:
    """Show the catalogue in force (or VERSION): its items, their time limits and materials, its bundles."""
    with obj.store() as store:
        view = catalog_view(store, version)
        failures = store.catalog_failures() if view.current else {}
    if as_json:
        click.echo(catalog_json(view.catalog))
        return
    lang = obj.lang
    current = pick(lang, "（现行）", " (in force)") if view.current else ""
    obj.say(
        f"事项目录 第 {view.catalog.version} 版{current}，发布于 {china_time(view.published_at)}",
        f"Catalogue version {view.catalog.version}{current}, published {china_time(view.published_at)}",
    )
    if view.note:
        obj.say(f"说明：{printable(view.note)}", f"Note: {printable(view.note)}")
    table = Table(
        *[
            pick(lang, zh, en)
            for zh, en in (
                ("编码", "code"),
                ("事项", "item"),
                ("承诺时限", "promised"),
                ("材料", "materials"),
                ("", ""),
            )
        ]
    )
    for item in view.catalog.items:
        days = "-" if item.promised_days is None else str(item.promised_days)
        withdrawn = pick(lang, "停办", "withdrawn") if item.withdrawn else ""
        name = item.name_zh if lang != "en" else item.name_en or item.name_zh
        table.add_row(*(terminal_cell(v) for v in (item.code, name, days, str(len(item.materials)), withdrawn)))
    obj.out.print(table)
    for bundle in view.catalog.bundles:
        name = bundle.name_zh if lang != "en" else bundle.name_en or bundle.name_zh
        withdrawn = pick(lang, "（停办）", " (withdrawn)") if bundle.withdrawn else ""
        obj.say(
            printable(f"一件事 {bundle.code} {name}{withdrawn}：{'、'.join(bundle.members_in_order())}"),
            printable(f"bundle {bundle.code} {name}{withdrawn}: {', '.join(bundle.members_in_order())}"),
        )
    for station_id, failed in failures.items():
        # Stations not on this version because one could not be installed there (hub.catalog_report).
        why = failure_label(failed["code"], lang)
        obj.say(
            f"{station_id} 未能安装第 {failed['version']} 版（{why}），已于 {china_time(failed['reported_at'])} 报告；"
            f"已重新发送第 {failed['resent_version']} 版全文",
            f"{station_id} could not install version {failed['version']} ({why}), reported "
            f"{china_time(failed['reported_at'])}; version {failed['resent_version']} sent to it whole",
        )


@catalog.command("history")
@click.pass_obj
@handles_errors
def catalog_history_command(obj: Context) -> None:
    """List every catalogue version: when, why, what it changed, how many stations hold it now."""
    with obj.store() as store:
        rows = catalog_history(store)
    lang = obj.lang
    table = Table(
        *[
            pick(lang, zh, en)
            for zh, en in (
                ("版本", "version"),
                ("发布时间(UTC+8)", "published (UTC+8)"),
                ("变更", "changes"),
                ("持有站点", "stations holding"),
                ("说明", "note"),
            )
        ]
    )
    for row in rows:
        if row.counts is None:
            what = pick(lang, "初始版本", "initial")
        else:
            c = row.counts
            what = pick(
                lang,
                f"新增 {c['added']}，停办/删除 {c['withdrawn']}，变更 {c['changed']}",
                f"+{c['added']} added, {c['withdrawn']} withdrawn/removed, {c['changed']} changed",
            )
        cells = (str(row.version), china_time(row.published_at), what, str(row.holding), row.note or "")
        table.add_row(*(terminal_cell(v) for v in cells))
    obj.out.print(table)
