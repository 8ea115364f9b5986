"""``station case rate``, ``station case find`` and ``station case query``: ratings, ID-card search, progress queries."""

from __future__ import annotations

import click
import msgspec

from station import progress, queries, render
from station.cli_base import Context, handles_errors
from station.ratings import rate
from sync.errors import InputError
from sync.i18n import pick
from sync.idnumber import validate_id_number
from sync.lifecycle import status_label
from sync.progress import ProgressAnswer, holder_label
from sync.ratings import CHANNELS, level_label

__all__ = ("RATING_COMMANDS", "progress_lines")


@click.command("rate")
@click.argument("number")
@click.option("--level", type=click.IntRange(1, 5), required=True, help="5 very satisfied … 1 very dissatisfied.")
@click.option("--comment", default=None, help="The applicant's words (optional; no ID numbers).")
@click.option(
    "--channel",
    type=click.Choice(list(CHANNELS)),
    default="onsite",
    show_default=True,
    help="How the rating was given: onsite, phone (call-back), card (paper card), sms.",
)
@click.option("--overall", is_flag=True, help="Rate a bundle (一件事) as a whole rather than one of its cases.")
@click.option("--by", default=None, help="Agent recording the rating (default: the station's agent).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handles_errors
def rate_command(
    obj: Context,
    number: str,
    level: int,
    comment: str | None,
    channel: str,
    overall: bool,
    by: str | None,
    as_json: bool,
) -> None:
    """Record the applicant's rating (好差评) of a delivered case; levels 1–2 open a follow-up at the county."""
    with obj.station() as st:
        view = rate(st, number, level=level, comment=comment, channel=channel, overall=overall, by=by)
        if as_json:
            click.echo(render.to_json(msgspec.to_builtins(view)))
            return
        what = view.case_no or view.intake_id
        click.echo(
            pick(
                obj.lang,
                f"已记录评价：{what} {level_label(view.level)}（{view.level}）",
                f"Rating recorded: {what} {level_label(view.level, 'en')} ({view.level})",
            )
        )
        if view.bad:
            click.echo(
                pick(
                    obj.lang,
                    "差评：同步后县平台将转相关部门回访、整改并答复。",
                    "A bad rating: once synced, the county department concerned calls back, fixes and answers.",
                )
            )


@click.command("find")
@click.option("--id-number", required=True, help="The applicant's whole 18-character ID number (from the card).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON array).")
@click.pass_obj
@handles_errors
def find_command(obj: Context, id_number: str, as_json: bool) -> None:
    """The cases of a resident who brings only the ID card (matched by the county's keyed ID hash; masked list)."""
    number = validate_id_number(id_number).number  # InputError naming the field when it is not one
    with obj.station() as st:
        rows = queries.list_cases(st, queries.CaseFilter(text=number, limit=200))
        if as_json:
            click.echo(render.to_json(rows))
            return
        if not rows:
            click.echo(pick(obj.lang, "本站没有此身份证号的办件。", "No case of this ID number at this station."))
            return
        obj.out.print(render.cases_table(rows, obj.lang))


def progress_lines(answer: ProgressAnswer, lang: str) -> list[str]:
    """A progress answer as lines for a terminal (no personal data in it to begin with)."""
    due = answer.due_date or pick(lang, "按批次办理", "batch")
    if answer.due_date and answer.due_provisional:
        due += pick(lang, "（暂定）", " (provisional)")
    lines = [
        pick(lang, f"办件编号：{answer.case_no}", f"Case no.: {answer.case_no}"),
        pick(lang, f"事项：{answer.item_name}（{answer.item_code}）", f"Item: {answer.item_name} ({answer.item_code})"),
        pick(lang, f"状态：{status_label(answer.status, lang)}", f"Status: {status_label(answer.status, lang)}"),
        pick(lang, f"当前环节：{holder_label(answer.holder)}", f"Held by: {holder_label(answer.holder, 'en')}"),
        pick(lang, f"办结时限：{due}", f"Due: {due}"),
    ]
    if answer.missing:
        lines.append(pick(lang, f"尚缺材料：{'、'.join(answer.missing)}", f"Missing: {', '.join(answer.missing)}"))
    if answer.correction:
        lines.append(pick(lang, f"补正要求：{answer.correction}", f"Correction asked: {answer.correction}"))
    return lines


@click.command("query")
@click.argument("number")
@click.option("--code", required=True, help="The query code printed on the receipt beside the case number.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handles_errors
def query_command(obj: Context, number: str, code: str, as_json: bool) -> None:
    """A resident's progress query (办件进度查询) by case number and query code, for a case of any village.

    This station's own cases are answered here; any other is asked of the county hub (online only).
    No name or ID number is shown. Exit 1 when nothing matches (a wrong number or a wrong code alike).
    """
    if not code.strip():
        raise InputError(
            zh="请填写回执上的查询码（--code）", en="give the query code from the receipt (--code)", field="code"
        )
    with obj.station() as st:
        answer, source = progress.ask(st, number, code)
    if as_json:
        click.echo(render.to_json({**msgspec.to_builtins(answer), "source": source}))
        return
    render.print_lines(obj.out, progress_lines(answer, obj.lang))
    click.echo(
        pick(obj.lang, "（本站办件，本地查询）", "(this station's case, answered here)")
        if source == "station"
        else pick(obj.lang, "（县平台查询结果）", "(answered by the county hub)")
    )


RATING_COMMANDS = (rate_command, find_command, query_command)
"""Added to the ``station case`` group by station.cli."""
