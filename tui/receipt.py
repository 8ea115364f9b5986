"""The intake receipt (收件回执) handed to the resident: plain text and a PDF with a QR code, kept encrypted."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from station.fsutil import atomic_write, private_folder, wipe
from station.queries import get_bundle, get_case, intake_agent, is_bundle_number
from station.ratings import ensure_query_code, query_code_of
from station.store import Station
from sync.errors import ProxyAppError, StoreError
from sync.personal import mask_id_number, mask_phone
from sync.ratings import format_code
from sync.timeutil import format_local
from tui import sealed

__all__ = (
    "PRINT_DIR",
    "RECEIPT_DIR",
    "NoViewerError",
    "Receipt",
    "open_file",
    "open_receipt",
    "receipt_for",
    "receipt_lines",
    "receipt_pdf",
    "receipt_pdf_bytes",
    "receipt_text",
    "settle_receipts",
    "store_receipt",
    "write_receipt",
)

RECEIPT_DIR = "receipts"
"""``DATA_DIR/receipts/NUMBER.receipt``: the text and the PDF of one receipt, AES-256-GCM under a key
derived from the data key (HKDF label "receipts"). Releases up to 0.4 wrote NUMBER.txt and
NUMBER.pdf there in plain form; :func:`settle_receipts` seals those and wipes them."""
PRINT_DIR = "print"
"""``DATA_DIR/print/``: the plain copies handed to the PDF viewer or printer (0700 folders, 0600
files), wiped by :func:`settle_receipts` when the TUI next starts."""
SUFFIX = ".receipt"
_MAGIC = b"PXR1"
_PURPOSE = "receipts"

_STATES = {
    "presented": "已收",
    "deferred": "容缺待补",
    "supplied": "已补交",
    "exempt": "免提交",
    "not_provided": "未提供",
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
    query_code: str = ""
    """The intake's progress-query code (sync.ratings), printed beside the number and in the QR code."""
    hub_url: str = ""
    """The county hub's address when the station has one: the QR code then opens its progress page."""

    @property
    def qr_text(self) -> str:
        """What the QR code holds: the hub's progress page for this case, else the number and the code."""
        if not self.query_code:
            return self.number
        if self.hub_url:
            return f"{self.hub_url.rstrip('/')}/q?{urlencode({'case': self.cases[0].case_no, 'code': self.query_code})}"
        return f"{self.number} {format_code(self.query_code)}"


def receipt_for(station: Station, number: str) -> Receipt:
    """The receipt of an intake, by case number or bundle number."""
    if is_bundle_number(station, number):
        bundle = get_bundle(station, number)
        first = get_case(station, bundle.members[0].case_no)
        title = bundle.bundle_name
        cases = [
            ReceiptCase(m.case_no, m.item_code, m.item_name, m.due_date, m.due_provisional) for m in bundle.members
        ]
        materials, commitments = bundle.materials, bundle.commitments
    else:
        first = get_case(station, number)
        s = first.summary
        title = s.item_name
        cases = [ReceiptCase(s.case_no, s.item_code, s.item_name, s.due_date, s.due_provisional)]
        materials, commitments = first.materials, first.commitments
    intake = first.summary.intake_id
    agent = intake_agent(station, intake)
    try:
        village = station.divisions.village(station.village_code)
        place = f"{village.township_name_zh}{village.name_zh}"
    except ProxyAppError:  # a village missing from an old division tree still gets its receipt
        place = station.village_code
    return Receipt(
        number=number,
        title=title,
        cases=cases,
        applicant=first.applicant_name,
        # The resident keeps the paper: mask it like a list, in case it is lost.
        id_masked=mask_id_number(first.id_number),
        phone_masked=mask_phone(first.phone),
        received_at=first.summary.received_at,
        agent=agent or station.agent_name,
        station=place,
        village_code=station.village_code,
        materials=[(m.name_zh, _STATES.get(m.state, m.state)) for m in materials],
        commitments=[ReceiptCommitment(c.material, c.due_date, c.due_provisional, c.signer_name) for c in commitments],
        # An intake recorded before query codes existed gets its code now, at its reprint.
        query_code=_query_code(station, intake),
        hub_url=station.meta.hub_url or "",
    )


def _query_code(station: Station, intake_id: str) -> str:
    """The intake's query code, this PC's key queued for the hub if it was not yet (none while the
    station may not record anything: restored and not yet confirmed by the hub)."""
    try:
        return ensure_query_code(station, intake_id)
    except ProxyAppError:
        return query_code_of(station, intake_id) or ""


def _due(date: str | None, provisional: bool) -> str:
    if not date:
        return "按批次办理"
    return date + ("（预计，以县平台为准）" if provisional else "")


def receipt_lines(r: Receipt) -> list[tuple[str, str]]:
    """The receipt as (style, text) lines: style is title, head, text or sign."""
    lines = [
        ("title", "村级为民服务代办点 收件回执"),
        ("text", f"代办点：{r.station}（{r.village_code}）"),
        ("rule", ""),
    ]
    lines.append(
        ("text", f"回执编号：{r.number}" + (f"    查询码：{format_code(r.query_code)}" if r.query_code else ""))
    )
    lines.append(("text", f"办理事项：{r.title}"))
    lines.append(("text", f"申请人：{r.applicant}    身份证号：{r.id_masked}    电话：{r.phone_masked}"))
    lines.append(("text", f"收件时间：{format_local(r.received_at)}"))
    if len(r.cases) > 1:
        lines.append(("head", "办件（一件事，按顺序办理）："))
        lines += [
            ("text", f"  {c.case_no}  {c.item_name}  承诺办结：{_due(c.due_date, c.provisional)}") for c in r.cases
        ]
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
    lines.append(
        (
            "text",
            "凭办件编号和查询码查询办理进度：本县任一村代办点，或扫描二维码。"
            if r.query_code
            else "凭本回执编号查询办理进度。",
        )
    )
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
    Path(path).write_bytes(receipt_pdf_bytes(r))


def receipt_pdf_bytes(r: Receipt) -> bytes:
    """The receipt as an A4 PDF with a QR code of its number."""
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
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, invariant=1)
    canvas.setTitle(f"收件回执 {r.number}")
    qr_size = 32 * mm
    widget = QrCodeWidget(r.qr_text)
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
            canvas.line(
                left, y - 2 * mm, right - qr_size - 4 * mm if y > top - qr_size - 12 * mm else right, y - 2 * mm
            )
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
    return out.getvalue()


class _Sealed(msgspec.Struct, frozen=True, array_like=True):
    text: bytes
    pdf: bytes


def _cipher(data_dir: Path, key: bytes | None) -> AESGCM:
    aead = sealed.cipher(data_dir, _PURPOSE, key)
    if aead is None:  # an OSError, as a full disk: the callers already report those
        raise PermissionError(errno.EACCES, "the station's data key is not unlocked")
    return aead


def _seal_into(folder: Path, number: str, text: bytes, pdf: bytes, aead: AESGCM) -> Path:
    private_folder(folder)
    path = folder / f"{number}{SUFFIX}"
    atomic_write(path, sealed.seal(aead, _MAGIC, msgspec.msgpack.encode(_Sealed(text, pdf)), number))
    return path


def store_receipt(station: Station, number: str, *, key: bytes | None = None) -> Path:
    """Render the receipt from the case book and keep it encrypted: ``DATA_DIR/receipts/NUMBER.receipt``.

    Raises:
        OSError: the folder is not writable, or the station's data key is not unlocked.
    """
    receipt = receipt_for(station, number)
    # utf-8-sig: Notepad on older Windows reads UTF-8 only with the BOM.
    text = receipt_text(receipt).encode("utf-8-sig")
    return _seal_into(
        station.data_dir / RECEIPT_DIR, number, text, receipt_pdf_bytes(receipt), _cipher(station.data_dir, key)
    )


def open_receipt(data_dir: Path, number: str, *, key: bytes | None = None) -> tuple[Path, Path]:
    """Decrypt a stored receipt into plain copies for the viewer or printer: NUMBER.txt and NUMBER.pdf
    in a new owner-only folder under ``DATA_DIR/print/``; returns both paths.

    Each open gets its own folder: a viewer may still hold the previous copy open (Windows then
    refuses to overwrite it). The copies are wiped when the TUI next starts (:func:`settle_receipts`).

    Raises:
        OSError: no such receipt, or the station's data key is not unlocked.
        StoreError: the file is damaged or sealed under another key.
    """
    data_dir = Path(data_dir)
    aead = _cipher(data_dir, key)
    path = data_dir / RECEIPT_DIR / f"{number}{SUFFIX}"
    plain = sealed.unseal(aead, _MAGIC, path.read_bytes(), number)
    try:
        parts = msgspec.msgpack.decode(plain, type=_Sealed) if plain is not None else None
    except msgspec.DecodeError:
        parts = None
    if parts is None:
        raise StoreError(
            zh=f"回执文件 {path} 无法读取（已损坏或不属于本站密钥）；请打开该办件按 P 从办件记录重新生成",
            en=f"the receipt file {path} cannot be read (damaged, or not of this station's key); "
            "open the case and press P to write it again from the case book",
            field="receipt",
            code="store.receipt_damaged",
        )
    folder = data_dir / PRINT_DIR
    private_folder(folder)
    copy = Path(tempfile.mkdtemp(prefix="r", dir=folder))  # 0700, as mkdtemp makes every folder
    text_path, pdf_path = copy / f"{number}.txt", copy / f"{number}.pdf"
    _write_private(text_path, parts.text)
    _write_private(pdf_path, parts.pdf)
    return text_path, pdf_path


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def write_receipt(station: Station, number: str) -> tuple[Path, Path]:
    """Store the receipt encrypted (:func:`store_receipt`) and return plain copies to print now
    (:func:`open_receipt`): the .txt and the .pdf, under ``DATA_DIR/print/`` until the next start."""
    store_receipt(station, number)
    return open_receipt(station.data_dir, number)


def settle_receipts(data_dir: Path, *, key: bytes | None = None) -> None:
    """At the TUI's start: wipe the plain copies an earlier run left for printing, and seal the plain
    receipts of release 0.4 (then wipe them). Best effort: a file that cannot be handled now stays
    for the next start; without the unlocked data key only the sweep runs."""
    data_dir = Path(data_dir)
    _sweep(data_dir / PRINT_DIR)
    folder = data_dir / RECEIPT_DIR
    aead = sealed.cipher(data_dir, _PURPOSE, key)
    if aead is None or not folder.is_dir() or folder.is_symlink():
        return
    for stale in folder.glob(f"*{SUFFIX}.tmp"):  # an atomic write cut short
        wipe(stale)
    legacy: dict[str, dict[str, Path]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            name = Path(entry.name)
            if name.suffix in (".txt", ".pdf") and entry.is_file(follow_symlinks=False):
                legacy.setdefault(name.stem, {})[name.suffix] = Path(entry.path)
    for number, files in sorted(legacy.items()):
        try:
            # A sealed file already there is the same receipt: a crash came between sealing and wiping.
            if not (folder / f"{number}{SUFFIX}").exists():
                text = files[".txt"].read_bytes() if ".txt" in files else b""
                pdf = files[".pdf"].read_bytes() if ".pdf" in files else b""
                _seal_into(folder, number, text, pdf, aead)
        except OSError:
            continue
        for path in files.values():
            wipe(path)


def _sweep(folder: Path) -> None:
    """Wipe every file under ``folder`` and remove its subfolders (symlinks only unlinked)."""
    if not folder.is_dir() or folder.is_symlink():
        return
    for root, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            path = Path(root) / name
            if path.is_symlink():
                with contextlib.suppress(OSError):
                    path.unlink()
            else:
                wipe(path)  # a viewer holding it open on Windows: left for the next start
        for name in dirs:
            path = Path(root) / name
            with contextlib.suppress(OSError):
                path.unlink() if path.is_symlink() else path.rmdir()


class NoViewerError(ProxyAppError):
    """Nothing on this PC opens the receipt's PDF: the agent is told where the file is instead."""

    code = "no_viewer"


def _no_viewer(path: Path) -> NoViewerError:
    return NoViewerError(
        # The spaces let a narrow dialog break the line before the path, not in the middle of it.
        zh=f"本机没有可以打开PDF的程序，回执没有打开。 文件在：{path} （可拷到能打印的电脑上打印）",
        en=f"No program on this PC opens PDF files, so the receipt was not opened. The file is at: {path} "
        "(copy it to a PC that can print)",
        field="pdf",
    )


OPENER_WAIT = 5.0
"""Seconds to wait for the system's opener to answer: the usual ones hand the file over and exit
at once, with a failure status when no program takes it; one still running after this has opened it."""


def open_file(path: Path) -> None:
    """Open a file in the system's viewer (to print it); blocks up to :data:`OPENER_WAIT` seconds,
    so call it from a worker thread.

    Raises:
        NoViewerError: no program opens it (no opener, no desktop session, or the opener said so);
            the message names the file, to be printed from elsewhere.
    """
    if sys.platform == "win32":
        try:
            os.startfile(str(path))  # type: ignore[attr-defined]  # Windows only, hence the guard
        except OSError as exc:  # "no application is associated with the specified file"
            raise _no_viewer(path) from exc
        return
    if sys.platform == "darwin":
        opener = shutil.which("open")
    else:
        # Without a desktop session no viewer can show it, and xdg-open would fall back to a text
        # browser in this very terminal.
        desktop = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        opener = shutil.which("xdg-open") if desktop else None
    if opener is None:
        raise _no_viewer(path)
    try:
        process = subprocess.Popen(
            [opener, str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the viewer stays open (to print from) when the TUI quits
        )
    except OSError as exc:
        raise _no_viewer(path) from exc
    try:
        status = process.wait(timeout=OPENER_WAIT)
    except subprocess.TimeoutExpired:
        return  # still running: an opener that waits for its viewer, which is showing the file
    if status != 0:
        raise _no_viewer(path)
