"""``station case attach`` and ``station case attachments``: scanned pages of a case's materials."""

from __future__ import annotations

from pathlib import Path

import click
import msgspec

from station import render
from station.cli_base import Context, handles_errors
from station.scans.normalise import normalise_file, wants_colour
from station.scans.store import AttachmentRow, attach_pages, case_materials, list_attachments
from sync.errors import InputError
from sync.i18n import pick
from sync.scans import attachment_hash, page_hash
from sync.text import printable

__all__ = ("register_scans",)


def _size(size: int) -> str:
    return f"{size / 1024:.1f} KB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MB"


def _state(row: AttachmentRow, lang: str) -> str:
    if row.refused is not None:  # kept here, never sent: the county refused its record or its case
        reason = printable(row.refused.reason(lang))
        return pick(
            lang, f"县平台拒收，本站保留、不再上传：{reason}", f"refused by the county, kept here, not sent: {reason}"
        )
    if row.acked:
        return pick(lang, "县平台已收到", "at the hub") + (
            "" if row.stored else pick(lang, "（本站已清理）", " (bytes deleted here)")
        )
    if not row.stored:
        return pick(lang, "本站无此页内容", "bytes not at this station")
    percent = int(100 * row.hub_held / row.size) if row.size else 100
    return pick(lang, f"待上传（{percent}%）", f"waiting ({percent} %)")


@click.command("attach")
@click.argument("case_no", metavar="CASE")
@click.option("--material", required=True, help="The material the pages are of, by its Chinese name.")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_obj
@handles_errors
def attach_command(obj: Context, case_no: str, material: str, files: tuple[Path, ...]) -> None:
    """Attach scanned pages (JPEG, PNG, TIFF or PDF files, pages in order) to a material of a case.

    Each page is normalised (oriented, downscaled, grayscale unless the material is a photo) and stored
    once by its SHA-256; the last line is the attachment's content hash (its page's, or the SHA-256 of
    its pages' hashes in order). Bad input (unknown case or material, not an image or PDF, absurd size):
    exit 2, nothing stored.
    """
    with obj.station() as st:
        known = case_materials(st, case_no)  # an unknown case is refused before any file is read
        name = material.strip()
        if name not in known:
            raise InputError(
                zh=f"办件 {case_no} 没有材料“{name}”；可选：{'、'.join(known) or '（无）'}",
                en=f"case {case_no} has no material {name!r}; its materials: {', '.join(known) or '(none)'}",
                field="material",
            )
        colour = wants_colour(name)
        pages = [page for path in files for page in normalise_file(path, colour=colour)]
        rows = attach_pages(st, case_no, name, pages)
    given = [page_hash(p.data) for p in pages]
    by_hash = {row.sha256: row for row in rows}
    for sha in dict.fromkeys(given):
        row = by_hash[sha]
        click.echo(
            pick(obj.lang, f"第 {row.page} 页", f"page {row.page}") + f"  {sha}  {_size(row.size)}  {row.format}"
        )
    click.echo(attachment_hash(given))


@click.command("attachments")
@click.argument("case_no", metavar="CASE")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handles_errors
def attachments_command(obj: Context, case_no: str, as_json: bool) -> None:
    """List the scanned pages of a case by material: page, content hash, size, format, whether the hub has it.

    A page the county refused (its record, or its case) is kept here and not sent: it shows the county's
    reason, and in the JSON ``refused`` holds its code and reasons (null for every other page).
    """
    with obj.station() as st:
        rows = list_attachments(st, case_no)
    if as_json:
        click.echo(render.to_json([msgspec.structs.asdict(r) for r in rows]))
        return
    if not rows:
        click.echo(pick(obj.lang, "此办件没有扫描件。", "No scanned pages for this case."))
        return
    material = None
    for row in rows:
        if row.material != material:
            material = row.material
            click.echo(material)
        click.echo(
            f"  {pick(obj.lang, f'第 {row.page} 页', f'page {row.page}')}  {row.sha256[:16]}  "
            f"{_size(row.size)}  {row.format}  {_state(row, obj.lang)}"
        )


def register_scans(group: click.Group) -> None:
    """Add ``attach`` and ``attachments`` to the ``station case`` group."""
    group.add_command(attach_command)
    group.add_command(attachments_command)
