"""``hub status``: the station table of a (remote) hub, over its JSON API with a bearer token."""

from __future__ import annotations

import sys
from typing import Any

import click
import httpx
from rich.table import Table
from rich.text import Text

from hub._cli_common import Context, json_text, text
from hub.views import china_time, terminal_cell
from sync.i18n import pick
from sync.text import json_for_terminal, printable

__all__ = ("fetch_status", "status")

_STATES = {
    "danger": ("危险", "danger", "bold red"),
    "warning": ("警告", "warning", "yellow"),
    "never": ("从未联系", "never", "yellow"),
    "ok": ("正常", "ok", "green"),
    "revoked": ("已吊销", "revoked", "dim"),
    "not_enrolled": ("未注册", "not enrolled", "dim"),
}


def fetch_status(
    url: str, token: str, *, params: dict[str, Any], timeout: float = 20.0, transport: httpx.BaseTransport | None = None
) -> dict[str, Any]:
    """``GET /api/v1/status`` of the hub at ``url``; raises click.ClickException with a clear message."""
    query = {k: v for k, v in params.items() if v not in (None, "", False)}
    try:
        with httpx.Client(
            base_url=url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        ) as client:
            response = client.get("/api/v1/status", params=query)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the hub at {url}: {exc}") from None
    if response.status_code == 401:
        raise click.ClickException("the hub refused the token (unknown, revoked or expired)")
    if response.status_code == 403:
        raise click.ClickException("the token's account is not an administrator")
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text[:200]
        raise click.ClickException(f"the hub answered {response.status_code}: {detail}")
    return response.json()


def _age(seconds: int | None, lang: str) -> str:
    if seconds is None:
        return "-"
    days, hours = seconds // 86400, seconds % 86400 // 3600
    return pick(lang, f"{days}天{hours}时", f"{days}d{hours}h") if days else pick(lang, f"{hours}时", f"{hours}h")


def _print_table(obj: Context, report: dict[str, Any]) -> None:
    lang = obj.lang
    if not report["stations"]:
        obj.say("没有符合条件的代办点。", "No stations match.")
    table = Table(
        *[
            pick(lang, zh, en)
            for zh, en in (
                ("乡镇", "township"),
                ("村", "village"),
                ("代办点", "station"),
                ("状态", "state"),
                ("最近联系(UTC+8)", "last contact (UTC+8)"),
                ("已收/本地", "hub/head"),
                ("待收批/条", "waiting sets/changes"),
                ("最早待收", "oldest waiting"),
                ("时钟", "clock"),
                ("版本", "software"),
                ("最近错误", "last error"),
                ("分叉", "forks"),
                ("拒收", "rejected"),
            )
        ]
    )
    for r in report["stations"]:
        # Every cell is Text: the report is another machine's JSON, and what stations sent ("[/x]" as
        # their software) must show as it is, never be read as Rich markup.
        zh, en, style = _STATES.get(r["state"], (r["state"], r["state"], ""))
        flags = (" " + ",".join(map(str, r["attention"]))) if r["attention"] else ""
        clock = (
            "-"
            if r["clock_offset_ms"] is None
            else f"{r['clock_offset_ms'] / 1000:+.0f}s" + (" !" if r["clock_skewed"] else "")
        )
        state = Text(printable(pick(lang, zh, en)), style=style) + terminal_cell(flags)
        table.add_row(
            *(
                cell if isinstance(cell, Text) else terminal_cell(cell, "-")
                for cell in (
                    r["township_name"],
                    f"{r['village_name']} {r['village_code']}",
                    r["station_id"],
                    state,
                    china_time(r["last_contact"]),
                    f"{text(r['applied_seq'])}/{text(r['head_seq'])}",
                    f"{text(r['sets_waiting'])}/{text(r['changes_waiting'])}",
                    _age(r["waiting_age_s"], lang),
                    clock,
                    r["software"],
                    r["last_error"],
                    str(r["forks"]),
                    str(r["rejected"]),
                )
            )
        )
    if report["stations"]:
        obj.out.print(table)
    s = report["summary"]
    parts = [f"{pick(lang, zh, en)} {s[key]}" for key, (zh, en, _) in _STATES.items()]
    obj.say(
        f"{' · '.join(parts)} · 已注册村 {s['villages_enrolled']}/{s['villages']} · 需关注 {s['attention']}",
        f"{' · '.join(parts)} · villages enrolled {s['villages_enrolled']}/{s['villages']} · "
        f"need attention {s['attention']}",
    )


@click.command("status")
@click.option("--url", envvar="HUB_URL", required=True, help="The hub, e.g. http://hub.county.lan:8000 (or $HUB_URL).")
@click.option(
    "--token",
    envvar="HUB_TOKEN",
    required=True,
    help="An administrator's API token from 'hub token create' (or $HUB_TOKEN, kept out of shell history).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON (for scripts).")
@click.option("--problems", is_flag=True, help="Only stations that need attention.")
@click.option("--township", default=None, help="Only this township (12-digit code).")
@click.option(
    "--state",
    type=click.Choice(["danger", "warning", "never", "ok", "revoked", "not_enrolled"]),
    default=None,
    help="Only rows in this state.",
)
@click.option(
    "--warn-days", type=click.FloatRange(0), default=None, help="Warning after this many days without contact."
)
@click.option(
    "--danger-days", type=click.FloatRange(0), default=None, help="Danger after this many days without contact."
)
@click.option(
    "--timeout", type=click.FloatRange(1), default=20.0, show_default=True, help="Seconds to wait for the hub."
)
@click.pass_obj
def status(
    obj: Context,
    url: str,
    token: str,
    as_json: bool,
    problems: bool,
    township: str | None,
    state: str | None,
    warn_days: float | None,
    danger_days: float | None,
    timeout: float,
) -> None:
    """Print the station table of a hub over its JSON API (from a laptop, or over SSH)."""
    params = {
        "township": township,
        "state": "problems" if problems else state,
        "warn_days": warn_days,
        "danger_days": danger_days,
    }
    try:
        report = fetch_status(url, token, params=params, timeout=timeout)
    except click.ClickException as exc:
        click.echo(pick(obj.lang, "错误：", "Error: ") + printable(exc.message), err=True)  # may quote the hub
        sys.exit(1)
    if as_json:
        click.echo(json_for_terminal(json_text(report)))
        return
    _print_table(obj, report)
