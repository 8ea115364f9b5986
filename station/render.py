"""Turning case-book records into text for the terminal (Chinese or English) and into JSON for scripts.

Whatever came from a person or from the hub (names, notes, reasons, catalogue names) is printed as
plain text: control and direction-override characters dropped (sync.text.printable), Rich markup
never read, so a stored escape sequence or ``[/x]`` neither acts on the terminal nor breaks a table.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any

import msgspec
from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Column, Table
from rich.text import Text

from station.cases import IntakeResult
from station.queries import BundleDetail, CaseDetail, CaseSummary, CommitmentView, OpinionView
from station.ratings import RatingView
from station.syncstate import ConflictView
from sync.catalog import Bundle, Catalog, ServiceItem
from sync.deadlines import due_move_text
from sync.i18n import label, pick
from sync.lifecycle import actor_label, status_label
from sync.ratings import channel_label, format_code, level_label
from sync.text import json_for_terminal, printable
from sync.timeutil import format_local

__all__ = (
    "bundle_text",
    "case_text",
    "cases_table",
    "catalog_table",
    "commitments_table",
    "intake_text",
    "item_text",
    "opinion_text",
    "to_json",
)


# Box-drawing characters are East Asian "ambiguous" width: CJK terminals may draw them two
# cells wide and break every column. ASCII borders are the same width everywhere.
_BOX = box.ASCII


_FOLDED_WIDTH = 10
"""What a column that wraps its text (an item's name) needs at least: 5 Chinese characters a line."""


class FitTable(Table):
    """A table for a terminal of any width: when its columns do not fit even with the wrapping ones folded,
    the columns of ``drop_order`` (least needed first) are left out one by one, and a cell still too wide
    folds onto a second line instead of being cut to "…" (a case number is read whole or not at all)."""

    drop_order: tuple[int, ...] = ()

    def _needs(self, console: Console, options: ConsoleOptions, columns: list[Column]) -> int:
        trial = copy.copy(self)
        trial.columns = _renumbered(columns)
        widest = Measurement.get(console, options.update_width(10_000), trial).maximum
        for column in columns:
            if not column.no_wrap:  # counted at the width it may fold to, not at its longest line
                longest = max([cell_len(str(column.header))] + [cell_len(str(c)) for c in column._cells])
                widest -= max(0, longest - _FOLDED_WIDTH)
        return widest

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        columns = list(self.columns)
        for index in self.drop_order:
            if self._needs(console, options, columns) <= options.max_width:
                break
            columns.remove(self.columns[index])
        if len(columns) == len(self.columns) and self._needs(console, options, columns) <= options.max_width:
            yield from super().__rich_console__(console, options)
            return
        fitted = copy.copy(self)
        fitted.columns = _renumbered(columns)
        for column in fitted.columns:
            column.overflow = "fold"
        yield from Table.__rich_console__(fitted, console, options)


def _renumbered(columns: list[Column]) -> list[Column]:
    """Copies of ``columns`` numbered by their new places (Rich pads the first and last by their number)."""
    renumbered = [copy.copy(column) for column in columns]
    for index, column in enumerate(renumbered):
        column._index = index
    return renumbered


def _fit(table: Table, drop_order: tuple[int, ...]) -> FitTable:
    fit = FitTable.__new__(FitTable)
    fit.__dict__.update(table.__dict__)
    fit.drop_order = drop_order
    return fit


def to_json(value: Any) -> str:
    """Pretty JSON (UTF-8 characters kept readable) of structs, lists and dicts.

    Values stay raw for scripts; a control or bidi character in them is written as a ``\\u`` escape.
    """
    return json_for_terminal(json.dumps(msgspec.to_builtins(value), ensure_ascii=False, indent=2))


def _cell(value: Any) -> Text:
    """A table cell shown literally: a string cell would be read as Rich markup."""
    return Text(printable(value))


def _row(table: Table, *cells: Any, style: str | None = None) -> None:
    table.add_row(*(_cell(c) for c in cells), style=style)


def _p(value: Any) -> str:
    """One field of a text line, printable (a line break in it becomes a space)."""
    return printable(value)


def _due(due: str | None, provisional: bool, lang: str) -> str:
    if not due:
        return "-"
    return due + (pick(lang, "（预计）", " (provisional)") if provisional else "")


def _days_left(summary: CaseSummary, lang: str) -> str:
    if summary.days_left is None:
        return ""
    if summary.days_left < 0:
        return pick(lang, f"超期{-summary.days_left}天", f"{-summary.days_left}d overdue")
    if summary.days_left == 0:
        return pick(lang, "今日到期", "due today")
    return pick(lang, f"剩{summary.days_left}天", f"{summary.days_left}d left")


def _status(summary: CaseSummary, lang: str) -> str:
    """The case's status as this station holds it, flagged when the county refused to file the case."""
    label = status_label(summary.status, lang)
    return label + pick(lang, " [县平台拒收]", " [REFUSED by the county]") if summary.refused else label


def _held(summary: CaseSummary, lang: str) -> str:
    """In a list, the level holding a case when it is a township (乡镇初审中): the county is the usual one."""
    if summary.level in ("township", "township_initial"):
        return pick(lang, f"·{label('level', summary.level, lang)}", f" ({label('level', summary.level, lang)})")
    return ""


def cases_table(cases: list[CaseSummary], lang: str) -> Table:
    """A case list as a table: ID and phone come already masked in the summaries."""
    table = Table(box=_BOX, pad_edge=False)
    item = pick(lang, "事项", "Item")
    for header in (
        pick(lang, "办件编号", "Case no."),
        item,
        pick(lang, "申请人", "Applicant"),
        pick(lang, "身份证号", "ID number"),
        pick(lang, "电话", "Phone"),
        pick(lang, "状态", "Status"),
        pick(lang, "办结期限", "Due"),
        "",
    ):
        # On a terminal too narrow for every column, the item's long name wraps within its cell:
        # it alone gives way, so names and statuses are not each cut to "张 …" and "已 …".
        wraps = header == item
        table.add_column(header, no_wrap=not wraps, overflow="fold" if wraps else "ellipsis")
    for case in cases:
        _row(
            table,
            case.case_no,
            case.item_name,
            case.applicant_name,
            case.id_number_masked,
            case.phone_masked,
            _status(case, lang) + _held(case, lang),
            _due(case.due_date, case.due_provisional, lang),
            _days_left(case, lang),
            style="red" if case.overdue or case.refused else None,
        )
    # At 80 columns the phone, the ID number and the days left give way (the case's own page has them).
    return _fit(table, (4, 3, 7))


def intake_text(result: IntakeResult, catalog: Catalog, lang: str) -> list[str]:
    """What ``station case new`` prints; the caller prints the number alone on the last line."""
    lines = []
    if result.bundle_code:
        bundle = catalog.bundle(result.bundle_code)
        lines.append(
            pick(lang, f"已收件（一件事）：{bundle.name_zh}", f"Received (bundle): {bundle.name_en or bundle.code}")
        )
        lines.append(pick(lang, f"一件事编号：{result.number}", f"Bundle number: {result.number}"))
    for case in result.cases:
        item = catalog.item(case.item_code)
        name = pick(lang, item.name_zh, item.name_en or item.name_zh)
        due = _due(case.due_date.isoformat() if case.due_date else None, case.provisional, lang)
        lines.append(
            pick(lang, f"办件 {case.case_no}：{name}，承诺办结 {due}", f"Case {case.case_no}: {name}, due {due}")
        )
    for commitment in result.commitments:
        due = _due(commitment.due_date.isoformat(), commitment.provisional, lang)
        lines.append(
            pick(
                lang,
                f"容缺承诺：{commitment.material}，须于 {due} 前补交",
                f"Deferred (容缺): {commitment.material}, to be supplied by {due}",
            )
        )
    return lines


def _material_state(state: str, lang: str) -> str:
    return label("material", state, lang)


def _commitment_line(c: CommitmentView, lang: str) -> str:
    due = _due(c.due_date, c.due_provisional, lang)
    if c.status == "open":
        state = pick(lang, "已逾期" if c.overdue else "待补交", "OVERDUE" if c.overdue else "open")
    else:
        state = pick(lang, "已履行", "fulfilled")
    return pick(
        lang,
        f"  {_p(c.material)}：{_p(c.signer_name)} 承诺于 {due} 前补交（{state}）",
        f"  {_p(c.material)}: {_p(c.signer_name)} promised it by {due} ({state})",
    )


def case_text(detail: CaseDetail, lang: str) -> list[str]:
    """The full case, personal data included (case detail is for the handling agent)."""
    s = detail.summary
    sex = label("sex", detail.sex, lang)
    lines = [
        pick(lang, f"办件编号：{s.case_no}", f"Case no.: {s.case_no}"),
        pick(lang, f"事项：{s.item_name}（{s.item_code}）", f"Item: {s.item_name} ({s.item_code})"),
        pick(
            lang,
            f"状态：{_status(s, lang)}" + (f"（{label('outcome', detail.outcome, lang)}）" if detail.outcome else ""),
            f"Status: {_status(s, lang)}" + (f" / {label('outcome', detail.outcome, lang)}" if detail.outcome else ""),
        ),
        *([_p(detail.refusal.message(lang))] if detail.refusal else []),
        *(
            [pick(lang, f"当前办理层级：{label('level', s.level, lang)}", f"Held by: {label('level', s.level, lang)}")]
            if s.level
            else []
        ),
        pick(
            lang,
            f"申请人：{_p(detail.applicant_name)}（{sex}，{detail.birth_date}）",
            f"Applicant: {_p(detail.applicant_name)} ({sex}, born {detail.birth_date})",
        ),
        pick(lang, f"身份证号：{detail.id_number}", f"ID number: {detail.id_number}"),
        pick(lang, f"电话：{detail.phone}", f"Phone: {detail.phone}"),
        pick(lang, f"收件时间：{format_local(s.received_at)}", f"Received: {format_local(s.received_at)}"),
        pick(
            lang,
            f"承诺办结：{_due(s.due_date, s.due_provisional, lang)} {_days_left(s, lang)}",
            f"Due: {_due(s.due_date, s.due_provisional, lang)} {_days_left(s, lang)}",
        ).rstrip(),
    ]
    if s.bundle_code:
        lines.append(
            pick(lang, f"所属一件事：{s.intake_id}（{s.bundle_code}）", f"Bundle: {s.intake_id} ({s.bundle_code})")
        )
    if detail.query_code:
        code = format_code(detail.query_code)
        lines.append(pick(lang, f"查询码：{code}", f"Query code: {code}"))
    lines += [_rating_line(r, lang) for r in detail.ratings]
    if detail.opinions:
        lines.append(pick(lang, "并联审批（各部门意见）：", "Parallel review (departments' opinions):"))
        lines += ["  " + opinion_text(o, lang) for o in detail.opinions]
    lines.append(pick(lang, "材料：", "Materials:"))
    lines += [f"  {_p(m.name_zh)}：{_material_state(m.state, lang)}" for m in detail.materials]
    if detail.commitments:
        lines.append(pick(lang, "容缺承诺：", "Commitments (容缺):"))
        lines += [_commitment_line(c, lang) for c in detail.commitments]
    lines.append(pick(lang, "办理记录：", "History:"))
    for event in detail.history:
        who = actor_label(event.actor, lang) + (f" {_p(event.by)}" if event.by else "")
        line = f"  {format_local(event.at)}  {status_label(event.from_status, lang)} -> {status_label(event.to_status, lang)}  {who}"
        if event.reason:
            line += pick(lang, f"（{_p(event.reason)}）", f" ({_p(event.reason)})")
        lines.append(line)
    for move in detail.due_moves:  # due dates a published calendar year moved
        text = due_move_text(
            lang, old=move.old_due, new=move.new_due, year=move.year, version=move.version, material=move.material
        )
        lines.append(f"  {format_local(move.at)}  {_p(text)}")
    if detail.notes:
        lines.append(pick(lang, "备注：", "Notes:"))
        # A note keeps its line breaks, each further line indented under the first.
        # A note of an older release may have no author: its time then stands alone, without a bare colon.
        lines += [
            f"  {format_local(n.at)} "
            + (f"{_p(n.author)}{pick(lang, '：', ': ')}" if n.author else " ")
            + printable(n.text, multiline=True).replace("\n", "\n    ")
            for n in detail.notes
        ]
    lines += _sync_lines(detail, lang)
    return lines


def opinion_text(o: OpinionView, lang: str) -> str:
    """A department's part in a parallel review as one line: who, what it said and when, or that it holds the
    case and by when it answers (past that date the system deems its silence consent)."""
    name = _p(o.name_en or o.department) if lang == "en" else _p(o.name_zh)
    if o.opinion is None:
        return pick(lang, f"{name}：待答复（{o.due_date} 前）", f"{name}: awaiting its answer (by {o.due_date})")
    said = _p(label("opinion", o.opinion, lang))
    when = format_local(o.answered_at) if o.answered_at else ""
    return pick(lang, f"{name}：{said} {when}", f"{name}: {said} {when}").rstrip()


def _rating_line(r: RatingView, lang: str) -> str:
    """A rating of the case (or of its bundle overall) as one line: level, channel, comment."""
    what = pick(lang, "评价", "Rating") if r.case_no else pick(lang, "一件事总体评价", "Bundle rating")
    text = f"{r.level} {level_label(r.level, lang)} · {channel_label(r.channel, lang)}"
    if r.comment:
        text += pick(lang, f"：{_p(r.comment)}", f": {_p(r.comment)}")
    return f"{what}{pick(lang, '：', ': ')}{text}"


_SYNC_STATES = {
    "saved": ("仅保存在本站，尚未上报", "saved here, not yet sent"),
    "sealed": ("已封装待上报，县平台尚未确认", "sealed, waiting for the hub's receipt"),
    "acknowledged": ("县平台已确认收到", "acknowledged by the hub"),
    "refused": ("数据集已送达，但县平台拒收本办件", "its set reached the hub, but the county refused the case"),
}


def _sync_lines(detail: CaseDetail, lang: str) -> list[str]:
    # A receipt proves the set arrived; the case in it may still have been refused.
    zh, en = _SYNC_STATES["refused" if detail.refusal else detail.sync_state]
    lines = [pick(lang, f"同步状态：{zh}", f"Sync: {en}")]
    for r in detail.receipts:
        lines.append(
            pick(
                lang,
                f"  回执：数据集 {r.seq}，县平台时间 {format_local(r.hub_time, seconds=True)}，哈希 {r.hash_prefix}",
                f"  Receipt: set {r.seq}, hub time {format_local(r.hub_time, seconds=True)}, hash {r.hash_prefix}",
            )
        )
    if detail.rejections:
        lines.append(pick(lang, "县平台未采纳的更改：", "Changes the hub did not apply:"))
        for rej in detail.rejections:
            reason = _p(pick(lang, rej.reason_zh, rej.reason_en))
            code = _p(label("error", rej.code, lang))
            lines.append(pick(lang, f"  数据集 {rej.seq}（{code}）：{reason}", f"  set {rej.seq} ({code}): {reason}"))
    if detail.conflicts:
        lines.append(pick(lang, "合并冲突（保留值 / 未采用值）：", "Merge conflicts (kept / lost):"))
        lines += [_conflict_line(c, lang) for c in detail.conflicts]
    return lines


def _conflict_line(c: ConflictView, lang: str) -> str:
    if lang == "en":
        return _p(f"  {c.table}.{c.field}: {c.kept} ({c.kept_origin}) / {c.lost} ({c.lost_origin})")
    what = label("table", c.table) + label("field", c.field)
    kept, lost = _stored_value(c.kept), _stored_value(c.lost)
    return _p(
        f"  {what}：保留“{kept}”（{label('origin', c.kept_origin)}），"
        f"未采用“{lost}”（{label('origin', c.lost_origin)}）"
    )


def _stored_value(text: str | None) -> str:
    """A merged value as a person reads it: the JSON the conflict was kept in, unwrapped."""
    try:
        value = json.loads(text) if text is not None else None
    except ValueError:
        return text or ""
    return "" if value is None else str(value)


def bundle_text(detail: BundleDetail, lang: str) -> list[str]:
    lines = [
        pick(lang, f"一件事编号：{detail.intake_id}", f"Bundle number: {detail.intake_id}"),
        pick(
            lang,
            f"一件事：{detail.bundle_name}（{detail.bundle_code}）",
            f"Bundle: {detail.bundle_name} ({detail.bundle_code})",
        ),
        pick(lang, f"状态：{status_label(detail.status, lang)}", f"Status: {status_label(detail.status, lang)}"),
        pick(lang, "成员办件：", "Member cases:"),
    ]
    lines += [
        f"  {_p(m.case_no)}  {_p(m.item_name)}  {_status(m, lang)}  {_due(m.due_date, m.due_provisional, lang)}"
        for m in detail.members
    ]
    lines.append(pick(lang, "材料（一次收取，共用）：", "Materials (recorded once, shared):"))
    lines += [f"  {_p(m.name_zh)}：{_material_state(m.state, lang)}" for m in detail.materials]
    if detail.commitments:
        lines.append(pick(lang, "容缺承诺：", "Commitments (容缺):"))
        lines += [_commitment_line(c, lang) for c in detail.commitments]
    return lines


def commitments_table(commitments: list[CommitmentView], lang: str) -> Table:
    table = Table(box=_BOX, pad_edge=False)
    for header in (
        pick(lang, "收件编号", "Intake"),
        pick(lang, "材料", "Material"),
        pick(lang, "承诺人", "Signer"),
        pick(lang, "期限", "Due"),
        pick(lang, "状态", "State"),
    ):
        wraps = header == pick(lang, "材料", "Material")  # a long material's name wraps, whole
        table.add_column(header, no_wrap=not wraps, overflow="fold" if wraps else "ellipsis")
    for c in commitments:
        state = (
            pick(lang, "已逾期", "OVERDUE")
            if c.overdue
            else pick(lang, "待补交" if c.status == "open" else "已履行", c.status)
        )
        _row(
            table,
            c.intake_id,
            c.material,
            c.signer_name,
            _due(c.due_date, c.due_provisional, lang),
            state,
            style="red" if c.overdue else None,
        )
    return _fit(table, (2,))


def _promised(days: int | None, lang: str) -> str:
    # Bundles print their limit in the same unit as items (it used to be a bare number).
    return "-" if days is None else pick(lang, f"{days}个工作日", f"{days} wd")


def catalog_table(
    catalog: Catalog, items: list[ServiceItem], lang: str, *, bundles: Sequence[Bundle] | None = None
) -> Table:
    """The items and bundles to list (``bundles`` None: every bundle of the catalogue)."""
    table = Table(
        box=_BOX,
        pad_edge=False,
        title=pick(lang, f"服务事项目录（版本 {catalog.version}）", f"Catalogue version {catalog.version}"),
    )
    for header in (
        pick(lang, "编码", "Code"),
        pick(lang, "事项", "Item"),
        pick(lang, "承诺时限", "Promised"),
        pick(lang, "一件事", "Bundles"),
    ):
        # A long name and a bundle's members wrap, whole; the code and the time limit never do.
        wraps = header not in (pick(lang, "编码", "Code"), pick(lang, "承诺时限", "Promised"))
        table.add_column(header, no_wrap=not wraps, overflow="fold" if wraps else "ellipsis")
    for item in items:
        _row(
            table,
            item.code,
            pick(lang, item.name_zh, item.name_en or item.name_zh),
            _promised(item.promised_days, lang),
            ",".join(item.bundles),
        )
    for bundle in catalog.bundles if bundles is None else bundles:
        _row(
            table,
            bundle.code,
            pick(lang, bundle.name_zh, bundle.name_en or bundle.name_zh),
            _promised(bundle.promised_days, lang),
            " -> ".join(bundle.members),
        )
    return _fit(table, ())


def item_text(item: ServiceItem, lang: str) -> list[str]:
    lines = [
        f"{item.code}  {pick(lang, item.name_zh, item.name_en or item.name_zh)}",
        pick(lang, f"部门：{item.department_zh}", f"Department: {item.department_en or item.department_zh}"),
        pick(
            lang,
            f"承诺时限：{item.promised_days}个工作日" if item.promised_days is not None else "承诺时限：按批次办理",
            f"Promised: {item.promised_days} working days"
            if item.promised_days is not None
            else "Promised: annual batch",
        ),
        pick(lang, "材料：", "Materials:"),
    ]
    for m in item.materials:
        flags = []
        flags.append(pick(lang, "必需" if m.required else "可选", "required" if m.required else "optional"))
        if m.allow_deferred:
            flags.append(pick(lang, "可容缺", "may be deferred"))
        if m.exempt_if_data_shared:
            flags.append(pick(lang, "可免提交", "exempt by data sharing"))
        lines.append(f"  {m.name_zh}（{'，'.join(flags)}）" if lang != "en" else f"  {m.name_zh} ({', '.join(flags)})")
    return lines


def print_lines(console: Console, lines: list[str]) -> None:
    """Print lines as plain text: no markup read, no control or bidi character let through."""
    for line in lines:
        console.print(printable(line, multiline=True), markup=False, emoji=False, highlight=False, soft_wrap=True)
