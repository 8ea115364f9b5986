"""The figures page's charts: cases per week, overdue cases by department, time since each station's last contact."""

from __future__ import annotations

import datetime as dt
from typing import Any

from markupsafe import Markup

from hub.county_grid import STATE_COLOURS
from hub.dashboard import Thresholds
from hub.figures import sync_lag, weekly_cases
from hub.store import HubStoreProtocol
from hub.web.svg import bar_chart, grouped_bars, histogram
from sync.i18n import pick

__all__ = ("figure_charts",)


def _weeks_chart(weeks: list[dict[str, Any]], lang: str) -> Markup:
    received, completed = pick(lang, "收件", "received"), pick(lang, "办结", "completed")
    total_r, total_c = sum(w["received"] for w in weeks), sum(w["completed"] for w in weeks)
    return grouped_bars(
        [w["week_start"][5:] for w in weeks],
        [(received, [w["received"] for w in weeks]), (completed, [w["completed"] for w in weeks])],
        ident="chart-weeks",
        title=pick(lang, f"近 {len(weeks)} 周收件与办结", f"Cases received and completed, last {len(weeks)} weeks"),
        desc=pick(
            lang,
            f"每周（周一起）的收件数与办结数，自 {weeks[0]['week_start']} 起：共收件 {total_r} 件，办结 {total_c} 件。"
            "本周截至今日。",
            f"Cases received and completed each week (from Monday), since {weeks[0]['week_start']}: "
            f"{total_r} received, {total_c} completed. This week so far.",
        ),
        x_label=pick(lang, "周（周一日期）", "week (its Monday)"),
        y_label=pick(lang, "件数", "cases"),
    )


def _overdue_chart(by_department: list[dict[str, Any]], lang: str) -> Markup:
    lines = sorted(by_department, key=lambda line: (-line["overdue"], line["department"]))
    total = sum(line["overdue"] for line in lines)
    return bar_chart(
        [line["name_en"] if lang == "en" else line["name_zh"] for line in lines],
        [line["overdue"] for line in lines],
        ident="chart-overdue",
        title=pick(lang, "逾期办件（按部门）", "Overdue cases by department"),
        desc=pick(
            lang,
            f"在办且已过办结时限的办件，全县共 {total} 件，按部门，多者在前。",
            f"Open cases past their due date, {total} in the county, by department, most first.",
        ),
        value_label=pick(lang, "逾期件数", "overdue cases"),
    )


def _lag_chart(bins: list[dict[str, Any]], lang: str) -> Markup:
    stations = sum(b["count"] for b in bins)
    return histogram(
        [pick(lang, b["zh"], b["en"]) for b in bins],
        [b["count"] for b in bins],
        ident="chart-lag",
        title=pick(lang, "距上次同步的时间（代办点数）", "Time since each station's last contact"),
        desc=pick(
            lang,
            f"已注册且未吊销的 {stations} 个代办点，按距最近一次联系的时间分组；超过警告、危险阈值的组以颜色标出。",
            f"The {stations} enrolled stations (not revoked) by how long ago they were last in contact; "
            "the bins past the warning and danger thresholds are coloured.",
        ),
        x_label=pick(lang, "距最近联系", "since last contact"),
        y_label=pick(lang, "代办点数", "stations"),
        colours=[STATE_COLOURS[b["state"]][0] for b in bins],
    )


def figure_charts(
    store: HubStoreProtocol, figures: dict[str, Any], *, today: dt.date, now: dt.datetime, limits: Thresholds, lang: str
) -> dict[str, Any]:
    """The charts (inline SVG) and the numbers behind them, for figures.html.j2."""
    weeks = weekly_cases(store, today=today)
    lag = sync_lag(store, now=now, limits=limits)
    return {
        "weeks": weeks,
        "lag": lag,
        "weeks_svg": _weeks_chart(weeks, lang),
        "overdue_svg": _overdue_chart(figures["by_department"], lang),
        "lag_svg": _lag_chart(lag, lang),
    }
