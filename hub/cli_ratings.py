"""``hub figures export FILE.xlsx`` (county figures, no personal data) and ``hub ratings`` (好差评 follow-ups)."""

from __future__ import annotations

from pathlib import Path

import click

from hub._cli_common import Context, handles_errors, json_text
from hub.figures_export import write_figures
from hub.ratings import followup_days, satisfaction, set_followup_days
from sync.text import json_for_terminal
from sync.timeutil import business_date, utc_now

__all__ = ("RATING_GROUPS",)


@click.group()
def figures() -> None:
    """County figures without personal data."""


@figures.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.pass_obj
@handles_errors
def figures_export(obj: Context, file: Path) -> None:
    """Write the county figures to FILE (.xlsx): cases by department and township, satisfaction (好差评) by
    department, township, item and bundle. Counts and rates only: no case number, name or ID number."""
    with obj.store() as store:
        sheets = write_figures(store, file, today=business_date(utc_now()), lang=obj.lang)
    obj.say(f"已写出全县统计：{sheets} 张表 → {file}", f"County figures written: {sheets} sheets → {file}")


@click.group()
def ratings() -> None:
    """Ratings (好差评): satisfaction figures and the follow-up limit of bad ratings."""


@ratings.command("followup-days")
@click.argument("days", type=int, required=False)
@click.pass_obj
@handles_errors
def ratings_followup_days(obj: Context, days: int | None) -> None:
    """Show, or set to DAYS (1–60), the working days a department has to call back, fix and answer a bad rating
    (follow-ups opened from now on; 15 unless set)."""
    with obj.store() as store:
        if days is not None:
            with store.transaction():
                set_followup_days(store, days)
        current = followup_days(store)
    obj.say(f"差评整改期限：{current} 个工作日", f"Bad-rating follow-up limit: {current} working days")


@ratings.command("figures")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handles_errors
def ratings_figures(obj: Context, as_json: bool) -> None:
    """Satisfaction by department, township and item (counts only)."""
    with obj.store() as store:
        data = satisfaction(store, today=business_date(utc_now()))
    if as_json:
        click.echo(json_for_terminal(json_text(data)))
        return
    total = data["total"]
    rate = "—" if total["satisfaction_rate"] is None else f"{total['satisfaction_rate'] * 100:.1f}%"
    obj.say(
        f"评价 {total['n']} 条，满意率 {rate}，差评 {total['bad']} 条",
        f"{total['n']} ratings, satisfaction {rate}, {total['bad']} bad",
    )
    for line in data["by_department"]:
        share = "—" if line["satisfaction_rate"] is None else f"{line['satisfaction_rate'] * 100:.1f}%"
        obj.say(
            f"  {line['department']} {line['name_zh']}：{line['n']} 条，满意率 {share}，待整改 {line['followups_open']}（逾期 {line['followups_overdue']}）",
            f"  {line['department']} {line['name_en']}: {line['n']}, satisfaction {share}, follow-ups open {line['followups_open']} (overdue {line['followups_overdue']})",
        )


RATING_GROUPS = (figures, ratings)
"""Added to the ``hub`` command by hub.cli."""
