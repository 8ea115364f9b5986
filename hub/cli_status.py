"""``hub status``: the station table of a (remote) hub, over its JSON API with a bearer token."""

from __future__ import annotations

import sys
from typing import Any

import click
import httpx
from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from hub._cli_common import Context, json_text, text
from hub.catalog_report import failure_label
from hub.cli_county import print_province
from hub.dashboard import STATES
from hub.views import china_time, clock_offset_text, duration_text
from sync.i18n import label, pick
from sync.text import json_for_terminal, printable

__all__ = ("NARROW_BELOW", "HubAnswerError", "fetch_status", "problems_first", "status")

_STATES = {
    "danger": ("危险", "danger", "bold red"),
    "warning": ("警告", "warning", "yellow"),
    "never": ("从未联系", "never", "yellow"),
    "ok": ("正常", "ok", "green"),
    "revoked": ("已吊销", "revoked", "dim"),
    "not_enrolled": ("未注册", "not enrolled", "dim"),
}


class HubAnswerError(click.ClickException):
    """The hub could not be asked, or refused: a message in both languages (the English one is ``message``)."""

    def __init__(self, *, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh


def fetch_status(
    url: str, token: str, *, params: dict[str, Any], timeout: float = 20.0, transport: httpx.BaseTransport | None = None
) -> dict[str, Any]:
    """``GET /api/v1/status`` of the hub at ``url``; raises HubAnswerError with a clear message."""
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
        raise HubAnswerError(
            zh=f"无法连接县平台 {url}：{exc}；请检查地址（--url）和网络", en=f"cannot reach the hub at {url}: {exc}"
        ) from None
    if response.status_code == 401:
        raise HubAnswerError(
            zh="县平台拒绝了此令牌（未知、已吊销或已过期）；请用“hub token create”重新签发",
            en="the hub refused the token (unknown, revoked or expired)",
        )
    if response.status_code == 403:
        raise HubAnswerError(
            zh="此令牌的账号不是管理员；请用管理员账号的令牌", en="the token's account is not an administrator"
        )
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text[:200]
        raise HubAnswerError(
            zh=f"县平台答复 {response.status_code}：{detail}", en=f"the hub answered {response.status_code}: {detail}"
        )
    return response.json()


_FLAGS = {
    "stale": ("久未联系", "no recent contact"),
    "never": ("从未联系", "never contacted"),
    "fork": ("分叉", "fork"),
    "clock": ("时钟偏差", "clock"),
    "error": ("上次出错", "last contact failed"),
    "behind": ("本地落后于平台", "station behind hub"),
    "waiting": ("数据久未送达", "data waiting long"),
    "key_old": ("密钥使用过久", "key due for change"),
    "catalog_old": ("事项目录未更新", "old catalogue"),
}
"""Why a station needs attention, as the dashboard words it."""

_FLAG_ORDER = ("fork", "behind", "stale", "never", "waiting", "error", "clock", "key_old", "catalog_old")
"""Reasons worst first: what loses data, then silence, then what only warns."""

NARROW_BELOW = 100
"""Below this many columns ``hub status`` prints the narrow table: status, village, station, contact, problems."""

_REASON_KEPT = {False: 24, True: 20}
"""A reason up to this wide (wide, narrow layout) is never broken across lines: columns give way first.
A longer one (a station's error text) folds."""


def _coarse(seconds: float | None, *, narrow: bool) -> float | None:
    """Narrow, a duration in its largest unit only ("3 天", not "3 天 4 小时"): enough to judge, and short."""
    if seconds is None or not narrow:
        return seconds
    for unit in (86400, 3600, 60):
        if abs(seconds) >= unit:
            return seconds // unit * unit if seconds > 0 else -(-seconds // unit * unit)
    return seconds


_GAP = 3
"""Columns between two columns of the table (SIMPLE_HEAD without edges: a space, the rule, a space)."""


def _catalog_detail(r: dict[str, Any], lang: str) -> str:
    """``第 1 版`` / ``v1``: the catalogue version a station flagged ``catalog_old`` still holds."""
    held = r.get("catalog_version")
    version = pick(lang, "无", "none") if held is None else pick(lang, f"第 {held} 版", f"v{held}")
    if r.get("catalog_failure"):  # the station could not install a newer one (hub.catalog_report)
        return f"{version} {failure_label(r['catalog_failure'], lang)}"
    return version


def _reasons(r: dict[str, Any], lang: str, *, narrow: bool, error_column: bool = False) -> list[str]:
    """The reasons of a row's status with their measures, worst first: ``分叉 1``, ``时钟偏差 快 2 小时``.

    A reason that only repeats the status (从未联系 under 从未联系) is left out: one word once; the
    error's text is left to the error column when the table has one.
    """
    detail = {
        "fork": str(r.get("forks") or ""),
        "behind": pick(lang, f"{-r['gap']} 批", f"{-r['gap']} sets") if (r.get("gap") or 0) < 0 else "",
        # Narrow, the contact column says how long ago; wide, it shows the time.
        "stale": "" if narrow else duration_text(r.get("contact_age_s"), lang),
        "waiting": duration_text(_coarse(r.get("waiting_age_s"), narrow=narrow), lang),
        "key_old": duration_text(_coarse(r.get("key_age_s"), narrow=narrow), lang),
        "catalog_old": _catalog_detail(r, lang),
        "error": "" if error_column else label("error", r.get("last_error"), lang),
        "clock": clock_offset_text(_coarse_ms(r.get("clock_offset_ms"), narrow=narrow), lang),
    }
    order = {flag: i for i, flag in enumerate(_FLAG_ORDER)}
    reasons = []
    for flag in sorted(r.get("attention") or (), key=lambda f: order.get(f, len(order))):
        if flag == r["state"]:
            continue
        zh, en = _FLAGS.get(flag, (flag, flag))
        reasons.append(printable(f"{pick(lang, zh, en)} {detail.get(flag, '')}".strip()))
    if r.get("rejected"):
        reasons.append(pick(lang, f"拒收变更 {r['rejected']}", f"rejected changes {r['rejected']}"))
    return reasons


def problems_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stations needing attention first, worst status first; then the rest, each group in the hub's order."""
    severity = {state: i for i, state in enumerate(STATES)}
    needing = sorted((r for r in rows if r.get("attention")), key=lambda r: severity.get(r["state"], len(STATES)))
    return needing + [r for r in rows if not r.get("attention")]


def _contact(r: dict[str, Any], lang: str, *, narrow: bool) -> str:
    if not r.get("last_contact"):
        return "-"
    if narrow and r.get("contact_age_s") is not None:
        if r["contact_age_s"] < 60:
            return pick(lang, "刚刚", "just now")
        ago = duration_text(_coarse(r["contact_age_s"], narrow=True), lang)
        return pick(lang, f"{ago}前", f"{ago} ago")
    return china_time(r["last_contact"])


def _coarse_ms(ms: int | None, *, narrow: bool) -> int | None:
    coarse = _coarse(None if ms is None else ms / 1000, narrow=narrow)
    return None if coarse is None else int(coarse * 1000)


def _pair(a: Any, b: Any) -> str:
    return "-" if a is None and b is None else f"{text(a)}/{text(b)}"


def _columns(lang: str, narrow: bool) -> list[tuple[str, str]]:
    """(key, header) of the table's columns: the status and the problem first, the detail after."""
    heads = [
        ("state", "状态", "status"),
        ("township", "乡镇", "township"),
        ("village", "村", "village"),
        ("station", "代办点", "station"),
        ("contact", "最近联系" if narrow else "最近联系(UTC+8)", "last contact" if narrow else "last contact (UTC+8)"),
        ("problems", "问题", "problems"),
        ("waiting", "待收批/条", "waiting sets/changes"),
        ("seqs", "已收/本地", "hub/head"),
        ("software", "版本", "software"),
        ("error", "最近错误", "last error"),
    ]
    if narrow:
        heads = [h for h in heads if h[0] in ("state", "village", "station", "contact", "problems")]
    return [(key, pick(lang, zh, en)) for key, zh, en in heads]


def _cells(r: dict[str, Any], lang: str, *, narrow: bool) -> dict[str, str]:
    # Plain text, printed as Text: the report is another machine's JSON, and what stations sent
    # ("[/x]" as their software) must show as it is, never be read as Rich markup.
    return {
        key: printable(value) or "-"
        for key, value in {
            "state": pick(lang, *_STATES.get(r["state"], (r["state"], r["state"], ""))[:2]),
            "township": r.get("township_name"),
            "village": r.get("village_name"),
            # A village without a station shows its code: a station id starts with it otherwise.
            "station": r.get("station_id") or r.get("village_code"),
            "contact": _contact(r, lang, narrow=narrow),
            "waiting": _pair(r.get("sets_waiting"), r.get("changes_waiting")),
            "seqs": _pair(r.get("applied_seq"), r.get("head_seq")),
            "software": r.get("software"),
            "error": label("error", r.get("last_error"), lang),
        }.items()
    }


_GIVE_WAY = {
    False: ("error", "software", "seqs", "waiting", "township", "village"),
    True: ("village", "contact"),
}
"""Columns that give way, in turn, when the table would not fit (the status, station and problems never do)."""


def _table(report: dict[str, Any], lang: str, width: int) -> Table:
    """The station table for a terminal ``width`` columns wide: no cell cut, problems first.

    Below NARROW_BELOW columns, the narrow layout (status, village, station, time since the last
    contact, problems); else the wide one. Columns that still do not fit give way (``_GIVE_WAY``).
    Only the problems column wraps, one reason a line when they do not fit on one: ids, names and
    times are never broken or cut.
    """
    narrow = width < NARROW_BELOW
    shown = problems_first(report["stations"])
    rows = [_cells(r, lang, narrow=narrow) for r in shown]
    reasons = [_reasons(r, lang, narrow=narrow) for r in shown]
    joiner = pick(lang, "；", "; ")
    columns = _columns(lang, narrow)
    widths = {key: max([cell_len(header)] + [cell_len(row.get(key, "")) for row in rows]) for key, header in columns}
    one_line = max([cell_len(joiner.join(found)) for found in reasons] + [widths["problems"]])
    longest = max(
        [min(cell_len(reason), _REASON_KEPT[narrow]) for found in reasons for reason in found] + [widths["problems"]]
    )
    keys = [key for key, _ in columns]

    def room() -> int:
        """The width left to the problems column."""
        return width - sum(widths[k] for k in keys if k != "problems") - _GAP * (len(keys) - 1)

    for optional in _GIVE_WAY[narrow]:
        if room() >= longest:
            break
        keys.remove(optional)
    if "error" in keys:  # the error's text has a column of its own: the reason only names it
        reasons = [_reasons(r, lang, narrow=narrow, error_column=True) for r in shown]
        one_line = max([cell_len(joiner.join(found)) for found in reasons] + [widths["problems"]])
        longest = max([cell_len(reason) for found in reasons for reason in found] + [widths["problems"]])
    stacked = one_line > room()  # the reasons do not fit on one line: one a line, none split across two
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for key, header in columns:
        if key == "problems":
            table.add_column(header, overflow="fold", min_width=min(longest if stacked else one_line, room()))
        elif key in keys:
            table.add_column(header, no_wrap=True, min_width=widths[key])
    for row, found, r in zip(rows, reasons, shown, strict=True):
        row["problems"] = ("\n" if stacked else joiner).join(found) or "-"
        style = _STATES.get(r["state"], ("", "", ""))[2]
        table.add_row(*(Text(row[key], style=style if key == "state" else "") for key in keys))
    return table


def _print_table(obj: Context, report: dict[str, Any]) -> None:
    lang = obj.lang
    if report.get("province"):  # a province hub: its counties (hub.cli_county)
        print_province(obj, report)
        return
    if not report["stations"]:
        obj.say("没有符合条件的代办点。", "No stations match.")
    else:
        obj.out.print(_table(report, lang, obj.out.width))
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
    except HubAnswerError as exc:  # may quote the hub: printed as plain text
        click.echo(pick(obj.lang, "错误：", "Error: ") + printable(pick(obj.lang, exc.zh, exc.message)), err=True)
        sys.exit(1)
    if as_json:
        click.echo(json_for_terminal(json_text(report)))
        return
    _print_table(obj, report)
