"""The department desk's scanned pages: a case's pages by material for its department, each view audited."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hub.accounts import Principal
from hub.desk import case_for_department
from hub.scans import read_page
from hub.store import HubStore
from sync.errors import NotFoundError
from sync.timeutil import iso_utc

__all__ = ("AUDIT_ACTION", "MEDIA", "ZOOMS", "case_pages", "view_page")

AUDIT_ACTION = "scan"
"""The audit log's action for a view of a scanned page (``fields`` names the page, never its content)."""
MEDIA = {"webp": "image/webp", "jpeg": "image/jpeg", "avif": "image/avif", "png": "image/png"}
ZOOMS = (50, 75, 100, 150, 200, 300)
"""Zoom steps of the viewer, in percent of the page's width on the screen."""


def case_pages(store: HubStore, principal: Principal, case_no: str) -> dict[str, list[dict[str, Any]]]:
    """The case's pages by material (in the order first attached), each with its place and whether it is here.

    Raises:
        NotFoundError: no such case for the principal's department.
    """
    case = case_for_department(store, principal, case_no)
    by_material: dict[str, list[dict[str, Any]]] = {}
    for row in store.case_attachments(case["case_no"]):
        by_material.setdefault(row["material"], []).append(
            {
                "sha256": row["sha256"],
                "page": row["page"],
                "size": row["size"],
                "format": row["format"],
                "complete": row["complete_at"] is not None,
            }
        )
    for pages in by_material.values():
        pages.sort(key=lambda p: p["page"])
        for number, item in enumerate(pages, 1):
            item["number"] = number  # the place shown: 1, 2, … whatever pages were dropped before
    return by_material


def view_page(
    store: HubStore,
    data_dir: Path,
    principal: Principal,
    case_no: str,
    sha256: str,
    *,
    ip: str | None,
    now: dt.datetime,
) -> tuple[bytes, str]:
    """A page's bytes and media type, for a department that holds the case; written to the audit log.

    Raises:
        NotFoundError: not a page of one of the department's cases, or not all its bytes are here yet.
    """
    case = case_for_department(store, principal, case_no)
    attached = next((r for r in store.case_attachments(case["case_no"]) if r["sha256"] == sha256), None)
    data = read_page(data_dir, sha256) if attached is not None and attached["complete_at"] is not None else None
    if attached is None or data is None:
        raise NotFoundError(
            zh=f"办件 {case['case_no']} 没有此扫描页，或其内容尚未全部送达",
            en=f"case {case['case_no']} has no such scanned page, or not all of it has arrived",
            field="page",
            code="scan.not_found",
        )
    user = store.user(principal.user_id)
    assert user is not None
    with store.transaction():
        store.add_audit(
            at=iso_utc(now),
            user=user,
            action=AUDIT_ACTION,
            case_no=case["case_no"],
            fields=f"{attached['material']} #{attached['page']} {sha256[:16]}",
            ip=ip,
        )
    return data, MEDIA.get(attached["format"], "application/octet-stream")
