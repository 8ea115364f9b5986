"""The station's monthly ledger (代办台账) as an .xlsx workbook, in the columns county offices keep.

One row per case received in the month: case number, applicant (masked unless the passphrase is
given again), item, received, due, status, delivered, rating. The workbook is written with openpyxl
and holds nothing else (no formulas, no macros), so any spreadsheet program opens it.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import msgspec

from station.store import Station
from sync.errors import InputError, NotFoundError, ProxyAppError
from sync.lifecycle import Status, status_label
from sync.personal import mask_id_number, mask_name
from sync.ratings import level_label
from sync.timeutil import business_date, parse_iso

__all__ = ("COLUMNS", "LedgerRow", "ledger_rows", "parse_month", "write_ledger")

COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("序号", "No.", 6),
    ("办件编号", "Case no.", 28),
    ("申请人", "Applicant", 10),
    ("身份证号", "ID number", 21),
    ("事项编码", "Item code", 10),
    ("事项名称", "Item", 28),
    ("收件日期", "Received", 12),
    ("办结时限", "Due", 12),
    ("办理状态", "Status", 12),
    ("送达日期", "Delivered", 12),
    ("评价", "Rating", 12),
)
"""(Chinese heading, English heading, column width) of the ledger, in order."""

_MONTH = re.compile(r"(\d{4})-(\d{2})")


class LedgerRow(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the ledger."""

    case_no: str
    applicant: str
    id_number: str
    item_code: str
    item_name: str
    received_date: str
    due_date: str | None
    status: str
    delivered_date: str | None
    rating: int | None


def parse_month(text: str) -> tuple[dt.date, dt.date]:
    """``2026-11`` as (first day, first day of the next month); InputError naming ``--month`` otherwise."""
    match = _MONTH.fullmatch(text.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise InputError(
            zh=f"--month 应为“年-月”，如 2026-11，而不是 {text!r}",
            en=f"--month takes a year and month like 2026-11, not {text!r}",
            field="month",
        )
    first = dt.date(int(match.group(1)), int(match.group(2)), 1)
    after = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, after


def ledger_rows(station: Station, month: str, *, full: bool = False) -> list[LedgerRow]:
    """The ledger lines of the cases received in ``month`` (China dates), oldest first.

    ``full`` gives names and ID numbers whole (the caller checks the passphrase first); else masked.
    """
    first, after = parse_month(month)
    rows = station.db.execute(
        "SELECT c.case_no, c.applicant_name, c.id_number, c.item_code, c.received_date, c.due_date, c.status,"
        " (SELECT e.at FROM case_events e WHERE e.case_no = c.case_no AND e.to_status = ? ORDER BY e.hlc DESC LIMIT 1),"
        " (SELECT r.level FROM ratings r WHERE r.case_no = c.case_no)"
        " FROM cases c WHERE c.received_date >= ? AND c.received_date < ? AND c.status != ?"
        " ORDER BY c.received_at, c.case_no",
        [Status.DELIVERED.value, first.isoformat(), after.isoformat(), Status.DRAFT.value],
    ).fetchall()
    lines = []
    for case_no, name, id_number, item_code, received, due, status, delivered_at, level in rows:
        try:
            item_name = station.catalog.item(item_code).name_zh
        except NotFoundError:
            item_name = item_code
        lines.append(
            LedgerRow(
                case_no=case_no,
                applicant=name if full else mask_name(name),
                id_number=id_number if full else mask_id_number(id_number),
                item_code=item_code,
                item_name=item_name,
                received_date=received,
                due_date=due,
                status=status,
                delivered_date=business_date(parse_iso(delivered_at)).isoformat() if delivered_at else None,
                rating=level,
            )
        )
    return lines


def _place(station: Station) -> str:
    try:
        village = station.divisions.village(station.village_code)
        return f"{village.township_name_zh}{village.name_zh}"
    except ProxyAppError:
        return station.village_code


def write_ledger(station: Station, month: str, path: Path, *, full: bool = False, lang: str = "zh") -> int:
    """Write the month's ledger to ``path`` (.xlsx); returns the number of cases in it."""
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped]
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    rows = ledger_rows(station, month, full=full)
    en = lang == "en"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Ledger" if en else "代办台账"
    first, _ = parse_month(month)
    title = (
        f"Village service station ledger, {first:%Y-%m}: {_place(station)} ({station.village_code})"
        if en
        else f"{_place(station)}为民服务代办点 代办台账（{first.year}年{first.month}月）"
    )
    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(
        [
            (
                f"Station {station.station_id}, written {station.today().isoformat()}"
                if en
                else f"代办点 {station.station_id}，制表日期 {station.today().isoformat()}"
            )
            + ("" if full else (" · names and ID numbers masked" if en else " · 姓名、身份证号已脱敏"))
        ]
    )
    sheet.append([en_ if en else zh for zh, en_, _ in COLUMNS])
    for cell in sheet[3]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center")
    for index, row in enumerate(rows, start=1):
        values: list[Any] = [
            index,
            row.case_no,
            row.applicant,
            row.id_number,
            row.item_code,
            row.item_name,
            row.received_date,
            row.due_date or ("batch" if en else "按批次"),
            status_label(row.status, lang),
            row.delivered_date or "",
            f"{row.rating} {level_label(row.rating, lang)}" if row.rating else "",
        ]
        sheet.append(values)
    sheet.append([])
    sheet.append([f"Cases: {len(rows)}" if en else f"合计：{len(rows)} 件"])
    for number, (_, _, width) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(number)].width = width
    sheet.freeze_panes = "A4"
    book.save(path)
    return len(rows)
