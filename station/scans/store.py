"""Scanned pages at the station: stored once by their SHA-256, attached to a case's material as replicated records.

A page's bytes go in ``scan_blobs`` (in the encrypted database, like every other piece of personal data),
once however many cases use it (a bundle's members share the applicant's ID card); each use is an
``attachments`` row, recorded through the outbox like any replicated write, so its metadata (case,
material, page order, hash, size, format) travels in the next signed change set. Everything of one
attach happens in one transaction: a crash (kill -9) loses nothing that was committed and doubles
nothing, and attaching the same page again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import Any

import msgspec

from station.store import Station
from station.store.db import write_txn
from station.store.outbox import recording
from sync.errors import InputError, NotFoundError, ProxyAppError
from sync.lifecycle import TERMINAL
from sync.scans import MAX_PAGE_BYTES, PAGE_FORMATS, page_hash
from sync.timeutil import iso_utc, parse_iso

__all__ = (
    "FORMATS",
    "KEEP_DAYS_ENV",
    "REFUSED",
    "WARN_BYTES_ENV",
    "AttachmentRow",
    "PageRefusal",
    "ScanBacklog",
    "attach_pages",
    "backlog",
    "case_materials",
    "drop_page",
    "held_pages",
    "list_attachments",
    "page_bytes",
    "reorder_pages",
    "retain",
    "store_bytes",
    "warn_bytes",
)

FORMATS = PAGE_FORMATS
"""Formats a stored page may have (what normalisation writes, and what Chromium shows)."""
KEEP_DAYS_ENV = "STATION_SCAN_KEEP_DAYS"
"""Days a closed case's scans stay at the station after the hub holds them (default 30)."""
WARN_BYTES_ENV = "STATION_SCAN_WARN_MB"
"""Size of the station's scan store past which it warns (megabytes, default 2048)."""


REFUSED = (
    "EXISTS (SELECT 1 FROM rejections r WHERE r.created = 1 AND ("
    "(r.entity = 'attachments' AND r.entity_id = a.attachment_id) "
    "OR (r.entity = 'cases' AND r.entity_id = a.case_no) "
    "OR (r.entity = 'intakes' AND r.entity_id = (SELECT c.intake_id FROM cases c WHERE c.case_no = a.case_no))))"
)
"""SQL: the attachment ``a`` is refused, its page never to be sent. The county refused the record that
created it (malformed, or its case is not there: ``row_missing``), or refused to file its case or the
case's intake (a number used twice, another village's): the hub would never take the bytes, or would put
them on a case that is not this applicant's. The page stays here (nothing is lost)."""


class PageRefusal(msgspec.Struct, frozen=True, kw_only=True):
    """Why the county will not take a page: the refusal of its attachment record or of its case's filing.

    The hub's code and reasons only (they name tables and numbers, never a person)."""

    code: str
    """The hub's rejection code (docs/protocol.md): ``row_missing``, ``malformed``, ``duplicate_row`` ..."""
    entity: str
    """What was refused: ``attachments`` (the page's own record), ``cases`` or ``intakes`` (its case)."""
    reason_en: str
    reason_zh: str

    def reason(self, lang: str) -> str:
        """The hub's reason in ``lang``."""
        return self.reason_en if lang == "en" else self.reason_zh


class AttachmentRow(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a material of a case, as the station holds it."""

    attachment_id: str
    case_no: str
    material: str
    page: int
    """Its place among the material's pages (1, 2, …; dropped pages keep theirs)."""
    sha256: str
    size: int
    format: str
    attached_at: str
    dropped: bool = False
    stored: bool = True
    """The page's bytes are at this station (False: never were, as on the village's other PC, or
    deleted by retention once the hub held them)."""
    hub_held: int = 0
    """Bytes of the page the hub holds (as it last said)."""
    acked: bool = False
    """The hub holds the page whole, its hash checked."""
    refused: PageRefusal | None = None
    """The county refused the page's record (or its case): it is kept here and not sent, nor counted as
    waiting."""


_COLUMNS = (
    "a.attachment_id, a.case_no, a.material, a.page, a.sha256, a.size, a.format, a.attached_at, a.dropped, "
    "b.data IS NOT NULL, coalesce(b.hub_held, 0), b.acked_at IS NOT NULL"
)


def _row(values: Sequence[Any], refused: PageRefusal | None) -> AttachmentRow:
    names = ("attachment_id", "case_no", "material", "page", "sha256", "size", "format", "attached_at")
    fields = dict(zip(names, values[:8]))
    return AttachmentRow(
        **fields,
        dropped=bool(values[8]),
        stored=bool(values[9]),
        hub_held=int(values[10]),
        acked=bool(values[11]),
        refused=refused,
    )


def _refusals(station: Station, case_no: str, intake_id: str) -> dict[str, PageRefusal]:
    """The county's refusals that keep pages of this case here: attachment id (or "" for the whole case,
    when it refused to file the case or its intake) -> the newest of them."""
    found: dict[str, PageRefusal] = {}
    for entity, entity_id, code, en, zh in station.db.execute(
        "SELECT entity, entity_id, code, reason_en, reason_zh FROM rejections WHERE created = 1 AND ("
        "(entity = 'attachments' AND entity_id >= ? AND entity_id < ?) "
        "OR (entity = 'cases' AND entity_id = ?) OR (entity = 'intakes' AND entity_id = ?)) ORDER BY id",
        [case_no + "/", case_no + "0", case_no, intake_id],
    ):
        key = entity_id if entity == "attachments" else ""
        found[key] = PageRefusal(code=code, entity=entity, reason_en=en, reason_zh=zh)
    return found


def _case(station: Station, case_no: str) -> dict[str, Any]:
    row = station.db.execute(
        "SELECT case_no, intake_id, item_code, catalog_version FROM cases WHERE case_no = ?", [case_no.strip()]
    ).fetchone()
    if row is None:
        raise NotFoundError(
            zh=f"没有编号为 {case_no!r} 的办件；请用“station case list”查看办件编号",
            en=f"no case {case_no!r}; see 'station case list' for case numbers",
            field="case_no",
            code="case.not_found",
        )
    return dict(zip(("case_no", "intake_id", "item_code", "catalog_version"), row))


def case_materials(station: Station, case_no: str) -> list[str]:
    """The materials a page of this case may be attached to: its intake's, then its item's in the catalogue
    it was received under (a bundle member's own name for a shared one counts too)."""
    case = _case(station, case_no)
    names = [
        r[0]
        for r in station.db.execute(
            "SELECT name_zh FROM intake_materials WHERE intake_id = ? ORDER BY rowid", [case["intake_id"]]
        )
    ]
    try:
        item = station.catalog_version(case["catalog_version"]).item(case["item_code"])
    except ProxyAppError:  # an item the catalogue lost: its intake's materials still stand
        item = None
    names += [m.name_zh for m in item.materials] if item is not None else []
    return list(dict.fromkeys(names))


def _check_pages(pages: Sequence[Any]) -> None:
    if not pages:
        raise InputError(zh="没有可附加的页面", en="no pages to attach", field="pages")
    for number, page in enumerate(pages, 1):
        if page.format not in FORMATS:
            raise InputError(
                zh=f"第 {number} 页的格式 {page.format!r} 不可存储（应为 {'、'.join(sorted(FORMATS))}）",
                en=f"page {number} is {page.format!r}, not one of {', '.join(sorted(FORMATS))}",
                field="format",
            )
        if not page.data or len(page.data) > MAX_PAGE_BYTES:
            raise InputError(
                zh=f"第 {number} 页有 {len(page.data)} 字节，应在 1 到 {MAX_PAGE_BYTES} 之间；请重新扫描",
                en=f"page {number} is {len(page.data)} bytes, not 1 to {MAX_PAGE_BYTES}; scan it again",
                field="size",
            )


def attach_pages(station: Station, case_no: str, material: str, pages: Sequence[Any]) -> list[AttachmentRow]:
    """Attach normalised pages (station.scans.normalise.NormalisedPage) to a material of a case, in order.

    Each page's bytes are stored once by their SHA-256; the attachment rows are recorded in the outbox.
    A page the case already has is moved to this material and to the end of its pages (and undropped),
    never doubled.

    Returns:
        The material's pages after the attach, in order (dropped ones left out).

    Raises:
        NotFoundError: no such case. InputError: a material the case does not have, no pages, a page
        of another format or of no or absurd size. Nothing is stored then.
    """
    case = _case(station, case_no)
    material = material.strip()
    known = case_materials(station, case["case_no"])
    if material not in known:
        raise InputError(
            zh=f"办件 {case['case_no']} 没有材料“{material}”；可选：{'、'.join(known) or '（无）'}",
            en=f"case {case['case_no']} has no material {material!r}; its materials: {', '.join(known) or '(none)'}",
            field="material",
        )
    _check_pages(pages)
    with recording(station.db, station.now, station.station_id) as rec:
        at = rec.now_iso
        for page in pages:
            sha = page_hash(page.data)
            station.db.execute(
                "INSERT INTO scan_blobs (sha256, data, size, format, width, height, stored_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                [sha, page.data, len(page.data), page.format, page.width, page.height, at],
            )
            # Retention may have dropped the bytes of a page scanned again for a new case: take them back.
            station.db.execute(
                "UPDATE scan_blobs SET data = ?, deleted_at = NULL WHERE sha256 = ? AND data IS NULL",
                [page.data, sha],
            )
            attachment_id = f"{case['case_no']}/{sha[:32]}"
            held = station.db.execute(
                "SELECT material, dropped FROM attachments WHERE attachment_id = ?", [attachment_id]
            ).fetchone()
            last = station.db.execute(
                "SELECT coalesce(max(page), 0) FROM attachments WHERE case_no = ? AND material = ? AND dropped = 0",
                [case["case_no"], material],
            ).fetchone()[0]
            if held is None:
                rec.insert(
                    "attachments",
                    {
                        "attachment_id": attachment_id,
                        "case_no": case["case_no"],
                        "material": material,
                        "page": last + 1,
                        "sha256": sha,
                        "size": len(page.data),
                        "format": page.format,
                        "attached_at": at,
                        "dropped": 0,
                    },
                )
            elif held[0] != material or held[1]:
                rec.update("attachments", attachment_id, {"material": material, "page": last + 1, "dropped": 0})
    return [row for row in list_attachments(station, case["case_no"]) if row.material == material]


def list_attachments(station: Station, case_no: str, *, dropped: bool = False) -> list[AttachmentRow]:
    """The case's pages by material (in the order first attached) and page; dropped ones only when asked."""
    case = _case(station, case_no)
    rows = station.db.execute(
        f"SELECT {_COLUMNS} FROM attachments a LEFT JOIN scan_blobs b ON b.sha256 = a.sha256 "
        "WHERE a.case_no = ? ORDER BY a.page, a.attached_at",
        [case["case_no"]],
    ).fetchall()
    refusals = _refusals(station, case["case_no"], case["intake_id"])
    # The page's own refusal names what was wrong with it; else its case's.
    result = [_row(r, refusals.get(r[0], refusals.get(""))) for r in rows if dropped or not r[8]]
    order = {name: i for i, name in enumerate(dict.fromkeys(r.material for r in sorted(result, key=_attached)))}
    return sorted(result, key=lambda r: (order[r.material], r.dropped, r.page))


def _attached(row: AttachmentRow) -> tuple[str, int]:
    return row.attached_at, row.page


def _attachment(station: Station, case_no: str, page: str) -> AttachmentRow:
    """A page of the case named by its attachment id or (a prefix of at least 8 of) its hash."""
    for row in list_attachments(station, case_no, dropped=True):
        if page in (row.attachment_id, row.sha256) or (len(page) >= 8 and row.sha256.startswith(page)):
            return row
    raise NotFoundError(zh=f"办件 {case_no} 没有页面 {page!r}", en=f"case {case_no} has no page {page!r}", field="page")


def reorder_pages(station: Station, case_no: str, material: str, order: Sequence[str]) -> list[AttachmentRow]:
    """Put a material's pages in the order given (attachment ids or hashes; pages not named follow, as they
    were). Only the pages whose place changes are recorded."""
    current = [r for r in list_attachments(station, case_no) if r.material == material.strip()]
    named = [_attachment(station, case_no, page) for page in order]
    wanted = list(dict.fromkeys([r.attachment_id for r in named if r.material == material.strip()]))
    wanted += [r.attachment_id for r in current if r.attachment_id not in wanted]
    pages = {r.attachment_id: r.page for r in current}
    with recording(station.db, station.now, station.station_id) as rec:
        for number, attachment_id in enumerate(wanted, 1):
            if pages.get(attachment_id) != number:
                rec.update("attachments", attachment_id, {"page": number})
    return [r for r in list_attachments(station, case_no) if r.material == material.strip()]


def drop_page(station: Station, case_no: str, page: str) -> AttachmentRow:
    """Drop a page from its case (recorded: the hub hides it too). Its bytes stay while another case uses them."""
    row = _attachment(station, case_no, page)
    if not row.dropped:
        with recording(station.db, station.now, station.station_id) as rec:
            rec.update("attachments", row.attachment_id, {"dropped": 1})
    return _attachment(station, case_no, row.attachment_id)


def page_bytes(station: Station, sha256: str) -> bytes | None:
    """A page's stored bytes (for a preview), or None when they are not (or no longer) here."""
    row = station.db.execute("SELECT data FROM scan_blobs WHERE sha256 = ?", [sha256]).fetchone()
    return bytes(row[0]) if row and row[0] is not None else None


# -- what waits to go up, what may go ------------------------------------------------------------


class ScanBacklog(msgspec.Struct, frozen=True, kw_only=True):
    """The station's pages not yet held whole by the hub: pages, bytes in all, bytes still to send."""

    pages: int = 0
    total: int = 0
    waiting: int = 0
    oldest: str | None = None
    """When the oldest waiting page was stored (UTC)."""

    @property
    def percent(self) -> int:
        """How much of the waiting pages' bytes the hub holds already."""
        return 100 if not self.total else int(100 * (self.total - self.waiting) / self.total)


_WAITING = (
    "FROM scan_blobs b WHERE b.acked_at IS NULL AND b.data IS NOT NULL "
    f"AND EXISTS (SELECT 1 FROM attachments a WHERE a.sha256 = b.sha256 AND a.dropped = 0 AND NOT {REFUSED})"
)


def backlog(station: Station) -> ScanBacklog:
    """What waits to go up (pages a case still uses, that the hub does not hold whole). A page the county
    refused (:data:`REFUSED`) does not wait: it will never go, unless another case of the station's uses it."""
    pages, total, held, oldest = station.db.execute(
        f"SELECT COUNT(*), coalesce(sum(b.size), 0), coalesce(sum(b.hub_held), 0), min(b.stored_at) {_WAITING}"
    ).fetchone()
    return ScanBacklog(pages=pages, total=total, waiting=total - held, oldest=oldest)


def store_bytes(station: Station) -> int:
    """Bytes of page data this station holds."""
    return held_pages(station)[1]


def held_pages(station: Station) -> tuple[int, int]:
    """(pages, bytes) of page data this station holds: none held, nothing waits and nothing is let go."""
    pages, size = station.db.execute(
        "SELECT COUNT(*), coalesce(sum(size), 0) FROM scan_blobs WHERE data IS NOT NULL"
    ).fetchone()
    return int(pages), int(size)


def warn_bytes(environ: dict[str, str] | None = None) -> int:
    """The size of the scan store past which the station warns (``STATION_SCAN_WARN_MB``, default 2048 MB)."""
    env = os.environ if environ is None else environ
    raw = env.get(WARN_BYTES_ENV, "").strip()
    megabytes = int(raw) if raw.isdigit() else 2048
    return megabytes * 1024 * 1024


def _keep_days(environ: dict[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    raw = env.get(KEEP_DAYS_ENV, "").strip()
    return int(raw) if raw.isdigit() else 30


def retain(station: Station, *, keep_days: int | None = None, environ: dict[str, str] | None = None) -> int:
    """Delete the bytes of pages the hub holds whole once every case using them has been closed for
    ``keep_days`` (``STATION_SCAN_KEEP_DAYS``, default 30); hash and metadata stay. Returns pages deleted."""
    days = _keep_days(environ) if keep_days is None else keep_days
    cutoff = station.now() - dt.timedelta(days=days)
    closed = tuple(s.value for s in TERMINAL)
    marks = ", ".join("?" for _ in closed)
    candidates = station.db.execute(
        "SELECT sha256 FROM scan_blobs WHERE data IS NOT NULL AND acked_at IS NOT NULL"
    ).fetchall()
    deleted = 0
    for (sha,) in candidates:
        cases = station.db.execute(
            f"SELECT c.case_no, c.status IN ({marks}), (SELECT max(e.at) FROM case_events e WHERE e.case_no = c.case_no) "
            "FROM attachments a JOIN cases c ON c.case_no = a.case_no WHERE a.sha256 = ?",
            [*closed, sha],
        ).fetchall()
        if not cases or not all(done and last and parse_iso(last) <= cutoff for _, done, last in cases):
            continue
        with write_txn(station.db):
            station.db.execute(
                "UPDATE scan_blobs SET data = NULL, deleted_at = ? WHERE sha256 = ? AND acked_at IS NOT NULL",
                [iso_utc(station.now()), sha],
            )
        deleted += 1
    return deleted
