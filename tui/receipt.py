"""The intake receipt (收件回执) handed to the resident: plain text and a PDF with a QR code."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from station.queries import get_bundle, get_case, is_bundle_number
from station.store import Station
from sync.errors import ProxyAppError
from sync.personal import mask_id_number, mask_phone
from sync.timeutil import format_local

__all__ = (
    "RECEIPT_DIR", "Receipt", "open_file", "receipt_for", "receipt_lines", "receipt_pdf", "receipt_text", "write_receipt",
)

RECEIPT_DIR = "receipts"

_STATES = {
    "presented": "已收", "deferred": "容缺待补", "supplied": "已补交", "exempt": "免提交", "not_provided": "未提供",
}


@dataclass(frozen=True)
class ReceiptCase:
    case_no: str
    item_code: str
    item_name: str
    due_date: str | None
    provisional: bool


@dataclass(frozen=True)
class ReceiptCommitment:
    material: str
    due_date: str
    provisional: bool
    signer: str


@dataclass(frozen=True)
class Receipt:
    """What a receipt says, read back from the case book (so a reprint says exactly the same)."""

    number: str
    title: str
    cases: list[ReceiptCase]
    applicant: str
    id_masked: str
    phone_masked: str
    received_at: str
    agent: str
    station: str
    village_code: str
    materials: list[tuple[str, str]] = field(default_factory=list)
    commitments: list[ReceiptCommitment] = field(default_factory=list)


def receipt_for(station: Station, number: str) -> Receipt:
    """The receipt of an intake, by case number or bundle number."""
    if is_bundle_number(station, number):
        bundle = get_bundle(station, number)
        first = get_case(station, bundle.members[0].case_no)
        title = bundle.bundle_name
        cases = [ReceiptCase(m.case_no, m.item_code, m.item_name, m.due_date, m.due_provisional) for m in bundle.members]
        materials, commitments = bundle.materials, bundle.commitments
    else:
        first = get_case(station, number)
        s = first.summary
        title = s.item_name
        cases = [ReceiptCase(s.case_no, s.item_code, s.item_name, s.due_date, s.due_provisional)]
        materials, commitments = first.materials, first.commitments
    intake = first.summary.intake_id
    agent = station.db.execute("SELECT agent FROM intakes WHERE intake_id = ?", [intake]).fetchone()[0]
    try:
        village = station.divisions.village(station.village_code)
        place = f"{village.township_name_zh}{village.name_zh}"
    except ProxyAppError:  # a village missing from an old division tree still gets its receipt
        place = station.village_code
    return Receipt(
        number=number, title=title, cases=cases, applicant=first.applicant_name,
        # The resident keeps the paper: mask it like a list, in case it is lost.
        id_masked=mask_id_number(first.id_number), phone_masked=mask_phone(first.phone),
        received_at=first.summary.received_at, agent=agent or station.agent_name, station=place,
        village_code=station.village_code,
        materials=[(m.name_zh, _STATES.get(m.state, m.state)) for m in materials],
        commitments=[ReceiptCommitment(c.material, c.due_date, c.due_provisional, c.signer_name) for c in commitments],
    )


def _due(date: str | None, provisional: bool) -> str:
    if not date:
        return "按批次办理"
    return date + ("（预计，以县平台为准）" if provisional else "")


def receipt_lines(r: Receipt) -> list[tuple[str, str]]:
    """The receipt as (style, text) lines: style is title, head, text or sign."""
    lines = [("title", "村级为民服务代办点 收件回执"), ("text", f"代办点：{r.station}（{r.village_code}）"), ("rule", "")]
    lines.append(("text", f"回执编号：{r.number}"))
    lines.append(("text", f"办理事项：{r.title}"))
    lines.append(("text", f"申请人：{r.applicant}    身份证号：{r.id_masked}    电话：{r.phone_masked}"))
    lines.append(("text", f"收件时间：{format_local(r.received_at)}"))
    if len(r.cases) > 1:
        lines.append(("head", "办件（一件事，按顺序办理）："))
        lines += [("text", f"  {c.case_no}  {c.item_name}  承诺办结：{_due(c.due_date, c.provisional)}") for c in r.cases]
    else:
        lines.append(("text", f"承诺办结日期：{_due(r.cases[0].due_date, r.cases[0].provisional)}"))
    lines.append(("head", "材料清单："))
    lines += [("text", f"  {name}：{state}") for name, state in r.materials]
    if r.commitments:
        lines.append(("head", "容缺受理承诺："))
        for c in r.commitments:
            lines.append(("text", f"  {c.material}：承诺人 {c.signer} 承诺于 {_due(c.due_date, c.provisional)} 前补交"))
        lines.append(("text", "  承诺人承诺按期补交上述材料；材料补齐前，办理结果暂不送达。"))
        lines.append(("sign", "承诺人签字：________________    日期：____________"))
    lines.append(("rule", ""))
    lines.append(("text", f"代办员：{r.agent or '________'}    本服务免费（无偿代理）"))
    lines.append(("text", "凭本回执编号查询办理进度。"))
    return lines


def receipt_text(r: Receipt) -> str:
    """The plain-text receipt (for any printer, or to read on screen)."""
    out = []
    for style, text in receipt_lines(r):
        out.append("-" * 60 if style == "rule" else text)
    return "\n".join(out) + "\n"


_FONT = "STSong-Light"


def _register_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    # A built-in CID font: Chinese renders without shipping a font file (the reader supplies glyphs).
    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))


def _wrap(text: str, size: float, width: float) -> list[str]:
    """Split a line to fit ``width`` points; CJK text has no spaces, so measure character by character."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines, current = [], ""
    for char in text:
        if current and stringWidth(current + char, _FONT, size) > width:
            lines.append(current)
            current = "    " + char if text.startswith("  ") else char
        else:
            current += char
    return [*lines, current]


def receipt_pdf(r: Receipt, path: Path) -> None:
    """Write the receipt as an A4 PDF with a QR code of its number."""
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    _register_font()
    page_w, page_h = A4
    left, right, top = 20 * mm, page_w - 20 * mm, page_h - 20 * mm
    # invariant=1: the same receipt gives the same bytes (no creation date or random id inside).
    canvas = Canvas(str(path), pagesize=A4, invariant=1)
    canvas.setTitle(f"收件回执 {r.number}")
    qr_size = 32 * mm
    widget = QrCodeWidget(r.number)
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(qr_size, qr_size, transform=[qr_size / (x1 - x0), 0, 0, qr_size / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, right - qr_size, top - qr_size - 6 * mm)
    canvas.setFont(_FONT, 8)
    canvas.drawCentredString(right - qr_size / 2, top - qr_size - 9 * mm, r.number)
    y = top
    for style, text in receipt_lines(r):
        if y < 25 * mm:
            canvas.showPage()
            y = top
        if style == "title":
            canvas.setFont(_FONT, 16)
            canvas.drawString(left, y - 6 * mm, text)
            y -= 12 * mm
            continue
        if style == "rule":
            canvas.line(left, y - 2 * mm, right - qr_size - 4 * mm if y > top - qr_size - 12 * mm else right, y - 2 * mm)
            y -= 6 * mm
            continue
        size = 11.5 if style == "head" else 10.5
        width = (right - qr_size - 6 * mm if y > top - qr_size - 12 * mm else right) - left
        canvas.setFont(_FONT, size)
        if style == "sign":
            y -= 4 * mm
        for part in _wrap(text, size, width):
            canvas.drawString(left, y - 4 * mm, part)
            y -= 6.5 * mm
    canvas.showPage()
    canvas.save()


def write_receipt(station: Station, number: str) -> tuple[Path, Path]:
    """Write DATA_DIR/receipts/NUMBER.txt and .pdf; returns both paths."""
    receipt = receipt_for(station, number)
    folder = station.data_dir / RECEIPT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    text_path, pdf_path = folder / f"{number}.txt", folder / f"{number}.pdf"
    # utf-8-sig: Notepad on older Windows reads UTF-8 only with the BOM.
    text_path.write_text(receipt_text(receipt), encoding="utf-8-sig")
    receipt_pdf(receipt, pdf_path)
    return text_path, pdf_path


def open_file(path: Path) -> None:
    """Open a file in the system's viewer (to print it), without waiting for it."""
    if sys.platform == "win32":
        os.startfile(str(path))  # type: ignore[attr-defined]  # Windows only, hence the guard
        return
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    subprocess.Popen([opener, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
