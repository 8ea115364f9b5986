"""The county figures as an .xlsx workbook (``hub figures export``): counts and rates only, no personal data.

Sheets: the county's cases by department and by township (hub.figures), and satisfaction (好差评) by
department, township, item and bundle (hub.ratings). No case number, name, ID or comment appears.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hub.figures import county_figures
from hub.ratings import satisfaction
from hub.store import HubStoreProtocol

__all__ = ("write_figures",)

_CASE_HEADS = (
    ("收件", "Received", "received"),
    ("受理", "Accepted", "accepted"),
    ("不予受理", "Refused", "not_accepted"),
    ("撤回", "Withdrawn", "withdrawn"),
    ("在办", "Open", "open"),
    ("办结", "Completed", "completed"),
    ("办结率", "Completion rate", "completion_rate"),
    ("即将到期", "Due soon", "due_soon"),
    ("逾期", "Overdue", "overdue"),
    ("平均办理工作日", "Avg. working days", "avg_working_days"),
)
_RATING_HEADS = (
    ("评价数", "Ratings", "n"),
    ("非常满意", "Very satisfied", 5),
    ("满意", "Satisfied", 4),
    ("基本满意", "Fairly satisfied", 3),
    ("不满意", "Dissatisfied", 2),
    ("非常不满意", "Very dissatisfied", 1),
    ("满意率", "Satisfaction rate", "satisfaction_rate"),
    ("平均等级", "Mean level", "average"),
)


def _value(line: dict[str, Any], key: Any) -> Any:
    return line["levels"].get(key, 0) if isinstance(key, int) else line.get(key)


def write_figures(store: HubStoreProtocol, path: Path, *, today: dt.date, lang: str = "zh") -> int:
    """Write the county figures to ``path`` (.xlsx); returns the number of sheets."""
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.styles import Font  # type: ignore[import-untyped]

    en = lang == "en"
    figures = county_figures(store, today=today)
    rated = satisfaction(store, today=today)
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)

    def sheet(title_zh: str, title_en: str, label: tuple[str, str], heads: Any, lines: list[Any], name: Any) -> None:
        ws = book.create_sheet(title_en if en else title_zh)
        ws.append(
            [
                f"{title_en} — as of {today.isoformat()}, no personal data"
                if en
                else f"{title_zh}（截至 {today.isoformat()}，不含个人信息）"
            ]
        )
        ws["A1"].font = Font(bold=True, size=13)
        ws.append([label[1] if en else label[0], *[(h[1] if en else h[0]) for h in heads]])
        for cell in ws[2]:
            cell.font = Font(bold=True)
        for line in lines:
            ws.append([name(line), *[_value(line, h[2]) for h in heads]])
        ws.column_dimensions["A"].width = 32
        ws.freeze_panes = "B3"

    def department(line: dict[str, Any]) -> str:
        return f"{line['department']} {line['name_en'] if en else line['name_zh']}"

    sheet("按部门", "By department", ("部门", "Department"), _CASE_HEADS, figures["by_department"], department)
    sheet(
        "按乡镇", "By township", ("乡镇", "Township"), _CASE_HEADS, figures["by_township"], lambda x: x["township_name"]
    )
    sheet(
        "满意度-部门",
        "Satisfaction by department",
        ("部门", "Department"),
        _RATING_HEADS,
        rated["by_department"],
        department,
    )
    sheet(
        "满意度-乡镇",
        "Satisfaction by township",
        ("乡镇", "Township"),
        _RATING_HEADS,
        rated["by_township"],
        lambda x: x["township_name"],
    )
    sheet(
        "满意度-事项",
        "Satisfaction by item",
        ("事项", "Item"),
        _RATING_HEADS,
        rated["by_item"],
        lambda x: f"{x['item_code']} {x['item_name']}",
    )
    sheet(
        "满意度-一件事",
        "Satisfaction by bundle",
        ("一件事", "Bundle"),
        _RATING_HEADS,
        rated["by_bundle"],
        lambda x: f"{x['bundle_code']} {x['bundle_name']}",
    )
    book.save(path)
    return len(book.sheetnames)
