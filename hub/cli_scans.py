"""``hub case attachments CASE [--json]``: a case's scanned pages and whether each has arrived whole."""

from __future__ import annotations

import click

from hub._cli_common import Context, handles_errors, json_text
from sync.errors import NotFoundError
from sync.i18n import pick

__all__ = ("attachments",)


@click.command("attachments")
@click.argument("case_no", metavar="CASE")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output: sha256 and complete for each page.")
@click.pass_obj
@handles_errors
def attachments(obj: Context, case_no: str, as_json: bool) -> None:
    """List a case's scanned pages by material: page, content hash, size, format, whether all its bytes arrived."""
    with obj.store() as store:
        if store.row("cases", case_no.strip()) is None:
            raise NotFoundError(
                zh=f"县平台没有编号为 {case_no!r} 的办件",
                en=f"no case {case_no!r} at this hub",
                field="case_no",
                code="case.not_found",
            )
        rows = store.case_attachments(case_no.strip())
    pages = [
        {
            "material": r["material"],
            "page": r["page"],
            "sha256": r["sha256"],
            "size": r["size"],
            "format": r["format"],
            "held": r["held"] or 0,
            "complete": r["complete_at"] is not None,
        }
        for r in rows
    ]
    order = {name: i for i, name in enumerate(dict.fromkeys(p["material"] for p in pages))}
    pages.sort(key=lambda p: (order[p["material"]], p["page"]))
    if as_json:
        click.echo(json_text(pages))
        return
    if not pages:
        obj.say("此办件没有扫描件。", "No scanned pages for this case.")
        return
    material = None
    for p in pages:
        if p["material"] != material:
            material = p["material"]
            click.echo(material)
        state = (
            pick(obj.lang, "已收齐", "complete")
            if p["complete"]
            else pick(obj.lang, f"已收 {p['held']}/{p['size']} 字节", f"{p['held']}/{p['size']} bytes arrived")
        )
        page = pick(obj.lang, f"第 {p['page']} 页", f"page {p['page']}")
        click.echo(f"  {page}  {p['sha256']}  {p['size']}  {p['format']}  {state}")
