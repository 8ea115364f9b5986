"""The ``station`` command: set up a station and keep its case book from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click
import msgspec

from station import cases as case_ops
from station import queries, render
from station.cli_agent import AGENT_COMMANDS
from station.cli_atrest import KEY_COMMANDS
from station.cli_backup import BACKUP_COMMANDS
from station.cli_base import Context, handles_errors
from station.cli_keys import rekey_command
from station.cli_ledger import ledger_command
from station.cli_ratings import RATING_COMMANDS
from station.cli_scans import register_scans
from station.cli_sync import SYNC_COMMANDS
from station.store import Station, default_data_dir
from sync.catalog_search import find
from sync.errors import InputError
from sync.i18n import pick, resolve_lang
from sync.lifecycle import Status, status_label
from sync.text import check_text, printable

__all__ = ("main",)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Station data folder. Default: $STATION_DATA_DIR, else the per-user data folder.",
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=None,
    help="Output language. Default: zh, or en when LANG is English.",
)
@click.version_option(package_name="proxyapp", prog_name="station")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, lang: str | None) -> None:
    """Village service station (代办点): record proxy applications offline.

    Start with 'station init --village CODE', then 'station case new'.
    """
    ctx.obj = Context(data_dir or default_data_dir(), resolve_lang(lang))


@main.command()
@click.option("--village", required=True, help="12-digit division code of this station's village, e.g. 349921001001.")
@click.option(
    "--device",
    default="A",
    show_default=True,
    help="One letter for this PC; use B for a second PC in the same village.",
)
@click.option("--agent", default="", help="Name of the agent working at this PC (shown in case history).")
@click.option(
    "--catalog",
    "catalog_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Load this catalogue (JSON) instead of the bundled sample.",
)
@click.pass_obj
@handles_errors
def init(obj: Context, village: str, device: str, agent: str, catalog_file: Path | None) -> None:
    """Create the station's data folder with the catalogue, holiday calendar and division tree."""
    agent = check_text("agent", agent.strip(), label_zh="代办员姓名")  # printed in every case's history
    catalog_data = None
    if catalog_file is not None:
        try:
            catalog_data = json.loads(catalog_file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(
                zh=f"{catalog_file} 不是有效的 JSON：{exc}",
                en=f"{catalog_file} is not valid JSON: {exc}",
                field="catalog",
            ) from None
    with Station.init(
        obj.data_dir,
        village_code=village,
        device=device,
        agent_name=agent,
        catalog_data=catalog_data,
        passphrase=obj.new_passphrase(),
    ) as st:
        village_row = st.divisions.village(st.village_code)
        township = st.divisions.township_of(st.village_code)
        render.print_lines(
            obj.out,
            [
                pick(
                    obj.lang,
                    f"已创建代办点：{township.name_zh}{village_row.name_zh}（{st.village_code}，设备 {st.device}）",
                    f"Station created: {village_row.name_zh}, {township.name_zh} ({st.village_code}, device {st.device})",
                ),
                pick(obj.lang, f"数据目录：{st.data_dir}", f"Data folder: {st.data_dir}"),
                pick(
                    obj.lang,
                    f"事项目录版本 {st.catalog.version}：{len(st.catalog.items)} 个事项，{len(st.catalog.bundles)} 个一件事",
                    f"Catalogue version {st.catalog.version}: {len(st.catalog.items)} items, {len(st.catalog.bundles)} bundles",
                ),
            ],
        )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handles_errors
def info(obj: Context, as_json: bool) -> None:
    """Show this station's identity, catalogue and case counts."""
    with obj.station() as st:
        counts = dict(st.db.execute("SELECT status, COUNT(*) FROM cases GROUP BY status").fetchall())
        unsent = st.db.execute("SELECT COUNT(*) FROM outbox WHERE set_seq IS NULL").fetchone()[0]
        data = {
            "station_id": st.station_id,
            "village_code": st.village_code,
            "device": st.device,
            "agent_name": st.agent_name,
            "data_dir": str(st.data_dir),
            "catalog_version": st.catalog.version,
            "calendar_years": sorted(st.calendar.years),
            "cases_by_status": counts,
            "unsent_changes": unsent,
        }
        if as_json:
            click.echo(render.to_json(data))
            return
        village = st.divisions.village(st.village_code)
        render.print_lines(
            obj.out,
            [
                pick(
                    obj.lang,
                    f"代办点：{village.township_name_zh}{village.name_zh}（{st.village_code}）设备 {st.device}",
                    f"Station: {village.name_zh}, {village.township_name_zh} ({st.village_code}) device {st.device}",
                ),
                pick(
                    obj.lang,
                    f"代办员：{printable(st.agent_name) or '未填写（station agent set-name 姓名）'}",
                    f"Agent: {printable(st.agent_name) or 'not set (station agent set-name NAME)'}",
                ),
                pick(obj.lang, f"事项目录版本：{st.catalog.version}", f"Catalogue version: {st.catalog.version}"),
                pick(
                    obj.lang,
                    f"节假日表年份：{_years(st.calendar.years)}",
                    f"Holiday tables: {_years(st.calendar.years)}",
                ),
                pick(obj.lang, f"办件数：{sum(counts.values())}", f"Cases: {sum(counts.values())}"),
                pick(obj.lang, f"待上报变更：{unsent}", f"Changes not yet sent: {unsent}"),
            ],
        )


def _years(years: frozenset[int]) -> str:
    return f"{min(years)}-{max(years)}" if years else "-"


# -- catalogue -----------------------------------------------------------------------------------


@main.group()
def catalog() -> None:
    """Browse the service catalogue (items, materials, bundles)."""


@catalog.command("list")
@click.option(
    "--search",
    default="",
    help="Part of a name or code, or pinyin initials (ylbx for 养老保险): the TUI's item search.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handles_errors
def catalog_list(obj: Context, search: str, as_json: bool) -> None:
    """List the items and bundles of the current catalogue, or those matching --search (best first).

    A bundle is listed when its own name, code or pinyin matches, not because one of its members does.
    """
    with obj.station() as st:
        items, bundles = find(st.catalog, search)
        if as_json:
            click.echo(render.to_json({"version": st.catalog.version, "items": items, "bundles": bundles}))
            return
        if search.strip() and not items and not bundles:
            shown = printable(search.strip())  # echoed to the terminal: what was typed, as plain text
            click.echo(pick(obj.lang, f"没有与“{shown}”相符的事项或一件事。", f"No item or bundle matches “{shown}”."))
            return
        obj.out.print(render.catalog_table(st.catalog, items, obj.lang, bundles=bundles))


@catalog.command("show")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handles_errors
def catalog_show(obj: Context, code: str, as_json: bool) -> None:
    """Show one item with its materials (what is required, what may be deferred)."""
    with obj.station() as st:
        item = st.catalog.item(code.strip().upper())
        if as_json:
            click.echo(render.to_json(item))
            return
        render.print_lines(obj.out, render.item_text(item, obj.lang))


# -- cases ---------------------------------------------------------------------------------------


@main.group()
def case() -> None:
    """Record and follow cases (办件)."""


@case.command("new")
@click.option("--item", help="Item code, e.g. RS-001 (see 'station catalog list').")
@click.option("--bundle", help="Bundle code (一件事), e.g. BND-NEWBORN.")
@click.option("--name", required=True, help="Applicant's name.")
@click.option("--id-number", required=True, help="Applicant's 18-character resident ID number.")
@click.option("--phone", required=True, help="Applicant's phone number.")
@click.option("--material", "materials", multiple=True, help="A material handed in, by its Chinese name. Repeatable.")
@click.option(
    "--defer", "deferred", multiple=True, help="A material missing under 容缺 (signed commitment). Repeatable."
)
@click.option(
    "--defer-days",
    type=int,
    default=case_ops.DEFAULT_DEFER_DAYS,
    show_default=True,
    help="Working days the applicant has to supply deferred materials.",
)
@click.option("--signer", default=None, help="Who signed the 容缺 commitment (default: the applicant).")
@click.option("--agent", default=None, help="Agent recording the case (default: the station's agent).")
@click.option("--note", default=None, help="A note on the case (no ID numbers).")
@click.pass_obj
@handles_errors
def case_new(
    obj: Context,
    item: str | None,
    bundle: str | None,
    name: str,
    id_number: str,
    phone: str,
    materials: tuple[str, ...],
    deferred: tuple[str, ...],
    defer_days: int,
    signer: str | None,
    agent: str | None,
    note: str | None,
) -> None:
    """Record a new case (or a bundle's cases); prints the case number alone on the last line."""
    with obj.station() as st:
        result = case_ops.new_intake(
            st,
            case_ops.NewIntake(
                item=item.strip().upper() if item else None,
                bundle=bundle.strip().upper() if bundle else None,
                applicant_name=name,
                id_number=id_number,
                phone=phone,
                materials=list(materials),
                deferred=list(deferred),
                defer_days=defer_days,
                signer_name=signer,
                agent=agent,
                note=note,
            ),
        )
        render.print_lines(obj.out, render.intake_text(result, st.catalog, obj.lang))
        click.echo(result.number)


def _statuses(values: tuple[str, ...]) -> list[str]:
    return [v.upper() for v in values]


@case.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in Status], case_sensitive=False),
    help="Only cases in this status. Repeatable.",
)
@click.option("--item", default=None, help="Only cases of this item code.")
@click.option("--search", default=None, help="Name or case-number fragment, or a whole ID number (exact match).")
@click.option("--due-soon", is_flag=True, help="Only running cases due within 1 working day.")
@click.option("--due-within", type=int, default=None, help="Only running cases due within N working days.")
@click.option("--overdue", is_flag=True, help="Only running cases past their due date.")
@click.option(
    "--sort",
    type=click.Choice(["received", "due", "case_no"]),
    default=None,
    help="Order. Default: soonest due first with --overdue/--due-soon/--due-within, else newest first.",
)
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON array).")
@click.pass_obj
@handles_errors
def case_list(
    obj: Context,
    statuses: tuple[str, ...],
    item: str | None,
    search: str | None,
    due_soon: bool,
    due_within: int | None,
    overdue: bool,
    sort: queries.Sort | None,  # click.Choice above allows only these
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List cases, newest first; ID and phone numbers are masked."""
    with obj.station() as st:
        rows = queries.list_cases(
            st,
            queries.CaseFilter(
                statuses=_statuses(statuses),
                item=item,
                text=search,
                due_within=1 if due_soon and due_within is None else due_within,
                overdue=overdue,
                sort=sort,
                limit=limit,
                offset=offset,
            ),
        )
        if as_json:
            click.echo(render.to_json(rows))
            return
        if not rows:
            click.echo(pick(obj.lang, "没有符合条件的办件。", "No cases match."))
            return
        obj.out.print(render.cases_table(rows, obj.lang))


@case.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handles_errors
def case_show(obj: Context, number: str, as_json: bool) -> None:
    """Show one case in full (or a bundle by its bundle number)."""
    with obj.station() as st:
        if queries.is_bundle_number(st, number):
            bundle = queries.get_bundle(st, number)
            if as_json:
                click.echo(render.to_json({"case_no": bundle.intake_id, **msgspec.to_builtins(bundle)}))
                return
            render.print_lines(obj.out, render.bundle_text(bundle, obj.lang))
            return
        detail = queries.get_case(st, number)
        if as_json:
            data = msgspec.to_builtins(detail)
            click.echo(render.to_json({"case_no": detail.summary.case_no, "status": detail.summary.status, **data}))
            return
        render.print_lines(obj.out, render.case_text(detail, obj.lang))


ACTIONS = ("correct", "supply", "deliver", "withdraw", "note")


@case.command("update")
@click.argument("number")
@click.argument("action", type=click.Choice(ACTIONS))
@click.option("--name", default=None, help="correct: the applicant's name.")
@click.option("--phone", default=None, help="correct: the applicant's phone.")
@click.option("--id-number", default=None, help="correct: the applicant's ID number.")
@click.option(
    "--material",
    "materials",
    multiple=True,
    help="supply/correct: a material handed in now (correct: also one the correction notice asks for again). "
    "Repeatable.",
)
@click.option("--reason", default=None, help="withdraw: the applicant's reason.")
@click.option("--note", default=None, help="deliver/note: a note to add.")
@click.option("--by", default=None, help="Agent making the change.")
@click.pass_obj
@handles_errors
def case_update(
    obj: Context,
    number: str,
    action: str,
    name: str | None,
    phone: str | None,
    id_number: str | None,
    materials: tuple[str, ...],
    reason: str | None,
    note: str | None,
    by: str | None,
) -> None:
    """Make a change the station may make to a case.

    \b
    ACTION is one of:
      correct   correct intake facts; hands a requested correction back in
                (--material: what the notice asked for; nothing handed in: exit 2)
      supply    a material handed in after intake (closes its 容缺 commitment)
      deliver   the county's result was handed to the applicant
      withdraw  the applicant withdraws (needs --reason)
      note      add a note
    """
    with obj.station() as st:
        if action == "correct":
            awaiting = case_ops.case_row(st, number)["status"] == Status.AWAITING_CORRECTION
            status = case_ops.correct_intake(
                st, number, name=name, phone=phone, id_number=id_number, materials=materials, by=by
            )
            message = (
                pick(obj.lang, "补正已提交", "Correction handed in")
                if awaiting
                else pick(obj.lang, "已更正收件信息", "Intake corrected")
            )
        elif action == "supply":
            closed = case_ops.supply_material(st, number, materials, by=by)
            status = queries.get_case(st, number).summary.status
            message = pick(obj.lang, "已登记补交材料", "Materials recorded") + (
                pick(
                    obj.lang, f"，容缺承诺已履行：{'、'.join(closed)}", f"; commitments fulfilled: {', '.join(closed)}"
                )
                if closed
                else ""
            )
        elif action == "deliver":
            status = case_ops.deliver(st, number, by=by, note=note)
            message = pick(obj.lang, "已送达", "Delivered")
        elif action == "withdraw":
            status = case_ops.withdraw(st, number, reason=reason or "", by=by)
            message = pick(obj.lang, "已撤回", "Withdrawn")
        else:
            case_ops.add_note(st, number, note or "", by=by)
            status = queries.get_case(st, number).summary.status
            message = pick(obj.lang, "已添加备注", "Note added")
        click.echo(f"{message}{pick(obj.lang, '：', ': ')}{number.strip()} {status_label(status, obj.lang)}")


# -- commitments ---------------------------------------------------------------------------------


@main.group()
def commitment() -> None:
    """容缺 commitments: materials promised for later."""


@commitment.command("list")
@click.option("--overdue", is_flag=True, help="Only open commitments past their due date.")
@click.option("--all", "show_all", is_flag=True, help="Include fulfilled commitments.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handles_errors
def commitment_list(obj: Context, overdue: bool, show_all: bool, as_json: bool) -> None:
    """List 容缺 commitments, soonest due first."""
    with obj.station() as st:
        rows = queries.list_commitments(st, overdue_only=overdue, open_only=not show_all)
        if as_json:
            click.echo(render.to_json(rows))
            return
        if not rows:
            click.echo(pick(obj.lang, "没有容缺承诺。", "No commitments."))
            return
        obj.out.print(render.commitments_table(rows, obj.lang))


for _command in (*SYNC_COMMANDS, *KEY_COMMANDS, *AGENT_COMMANDS, *BACKUP_COMMANDS):
    main.add_command(_command)
main.add_command(rekey_command)
register_scans(case)
main.add_command(ledger_command)
for _command in RATING_COMMANDS:  # station case rate / find / query
    case.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
