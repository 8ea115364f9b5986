"""``hub alerts`` (time-limit escalation: show, send the daily digest) and ``hub joint`` (parallel review)."""

from __future__ import annotations

import datetime as dt

import click
import msgspec

from hub._cli_common import Context, handles_errors, json_text
from hub.departments import find_department
from hub.escalation import case_alerts, county_counts, deem_consent
from hub.joint_feed import queue_opinions
from hub.notify import NotifySettings, make_notifier
from hub.notify.digest import run_alerts
from sync.errors import InputError, NotFoundError
from sync.i18n import label
from sync.text import check_text
from sync.timeutil import business_date, iso_utc, utc_now

__all__ = ("alerts", "joint")


def _day(text: str | None) -> dt.date:
    if not text:
        return business_date(utc_now())
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(
            zh=f"--date 应为 YYYY-MM-DD，而不是 {text!r}", en=f"--date must be YYYY-MM-DD, not {text!r}", field="date"
        ) from None


@click.group()
def alerts() -> None:
    """Time-limit escalation: cases due within a working day or overdue, and the daily digest."""


@alerts.command("show")
@click.option("--date", "day", default=None, help="The China date to look from (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON object).")
@click.pass_obj
@handles_errors
def alerts_show(obj: Context, day: str | None, as_json: bool) -> None:
    """Cases due soon or overdue (numbers, items, levels, due dates) and the counts per department and township."""
    today = _day(day)
    with obj.store() as store:
        found = case_alerts(store, today)
    if as_json:
        click.echo(json_text({"date": today.isoformat(), "cases": msgspec.to_builtins(found), **county_counts(found)}))
        return
    if not found:
        obj.say(f"{today}：没有即将到期或逾期的办件", f"{today}: no case due soon or overdue")
        return
    for a in found:
        kind = obj.lang == "en" and a.kind or {"due_soon": "将到期", "overdue": "逾期"}[a.kind]
        click.echo(f"{a.case_no}\t{a.item_code}\t{a.due_date}\t{kind}\t{label('level', a.level, obj.lang) or '-'}")


@alerts.command("send")
@click.option("--date", "day", default=None, help="The China date of the digest (default: today).")
@click.option("--force", is_flag=True, help="Send again even if the day's digest went out already.")
@click.pass_obj
@handles_errors
def alerts_send(obj: Context, day: str | None, force: bool) -> None:
    """Record deemed consents past their date and send the day's digest per handler (HUB_ALERTS_BACKEND)."""
    settings = NotifySettings.from_env(obj.data_dir)
    with obj.store() as store:
        result = run_alerts(store, make_notifier(settings), _day(day), now=utc_now(), force=force)
    if result.already:
        obj.say(
            f"{result.day} 的预警摘要已发送过（用 --force 重发）；缺席默认 {result.deemed} 条",
            f"the digest of {result.day} went out already (--force sends again); {result.deemed} deemed consent(s)",
        )
        return
    obj.say(
        f"{result.day}：已发送 {result.digests} 份预警摘要（{result.backend}），缺席默认 {result.deemed} 条",
        f"{result.day}: {result.digests} digest(s) sent ({result.backend}), {result.deemed} deemed consent(s)",
    )


@click.group()
def joint() -> None:
    """Parallel review (并联审批): departments asked for their opinion on a case by a date (缺席默认 after it)."""


@joint.command("request")
@click.argument("case_no")
@click.option("--department", "department_key", required=True, help="The department asked to join.")
@click.option("--days", type=click.IntRange(0, 60), required=True, help="Working days it has to answer.")
@click.option("--by", default="county", help="Who asks (the lead department's staff member).")
@click.pass_obj
@handles_errors
def joint_request(obj: Context, case_no: str, department_key: str, days: int, by: str) -> None:
    """Ask a department for its opinion on a case within DAYS working days."""
    now = utc_now()
    with obj.store() as store:
        case = store.row("cases", case_no.strip())
        if case is None:
            raise NotFoundError(zh=f"没有办件 {case_no!r}", en=f"no case {case_no!r}", field="case_no")
        key = find_department(store.catalog(), department_key).key
        due = store.calendar().add_working_days(business_date(now), days).date.isoformat()
        with store.transaction():
            fresh = store.request_joint_opinion(
                case["case_no"], key, by=check_text("by", by), at=iso_utc(now), due_date=due
            )
            if fresh:  # down the feed with the case's state: the stations show who holds the case
                queue_opinions(store, case["case_no"], at=iso_utc(now))
    if not fresh:
        raise InputError(zh=f"已征求过 {key} 的意见", en=f"{key} was asked already", field="department")
    obj.say(f"已征求 {key} 对 {case['case_no']} 的意见，期限 {due}", f"Asked {key} about {case['case_no']} by {due}")


@joint.command("answer")
@click.argument("case_no")
@click.option("--department", "department_key", required=True, help="The answering department.")
@click.option("--opinion", type=click.Choice(["consent", "object"]), required=True, help="consent or object.")
@click.option("--reason", default=None, help="Why (needed with object).")
@click.option("--by", required=True, help="The staff member answering.")
@click.pass_obj
@handles_errors
def joint_answer(obj: Context, case_no: str, department_key: str, opinion: str, reason: str | None, by: str) -> None:
    """A department's opinion on a case it was asked about (before the system deems it consent)."""
    if opinion == "object" and not (reason or "").strip():
        raise InputError(zh="不同意须说明理由（--reason）", en="an objection needs --reason", field="reason")
    with obj.store() as store:
        key = find_department(store.catalog(), department_key).key
        with store.transaction():
            done = store.answer_joint_opinion(
                case_no.strip(), key, opinion=opinion, reason=(reason or "").strip() or None,
                by=check_text("by", by), at=iso_utc(utc_now()),
            )  # fmt: skip
            if done:
                queue_opinions(store, case_no.strip(), at=iso_utc(utc_now()))
    if not done:
        raise NotFoundError(
            zh=f"{key} 对 {case_no} 没有待答复的征求意见（可能已答复或已缺席默认）",
            en=f"no pending request to {key} about {case_no} (answered already, or deemed consent)",
            field="case_no",
        )
    obj.say(f"已记录 {key} 的意见：{label('opinion', opinion)}", f"Recorded {key}'s opinion: {opinion}")


@joint.command("list")
@click.argument("case_no")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON array).")
@click.pass_obj
@handles_errors
def joint_list(obj: Context, case_no: str, as_json: bool) -> None:
    """The departments asked about a case and their opinions (deemed_consent: the system's, not a person's)."""
    with obj.store() as store:
        deem_consent(store, business_date(utc_now()), now=utc_now())
        rows = store.joint_opinions(case_no.strip())
    if as_json:
        click.echo(json_text(rows))
        return
    for r in rows:
        said = label("opinion", r["opinion"], obj.lang) or ("待答复" if obj.lang != "en" else "awaiting an answer")
        click.echo(f"{r['department']}\t{r['due_date']}\t{said}\t{r['answered_by'] or '-'}")
