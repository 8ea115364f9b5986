"""One case in full: applicant, materials, 容缺, history with the county's decisions, sync facts, and the moves."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from station import cases as ops
from station.queries import (
    CaseDetail,
    correction_reason,
    get_bundle,
    get_case,
    outstanding_materials,
)
from station.scans.store import AttachmentRow, list_attachments
from sync.errors import InputError, ProxyAppError
from sync.i18n import label
from sync.levels import is_forward
from sync.lifecycle import DECIDED, TERMINAL, Actor, Status, actor_label, status_label
from sync.ratings import channel_label, format_code, level_label
from sync.text import printable
from sync.timeutil import format_local
from tui.fmt import days_left_text, due_text, plain
from tui.i18n import t
from tui.receipt import write_receipt
from tui.screens.base import StationScreen, error_text
from tui.screens.case_actions import ActionDialog, Field, Values, correction_form
from tui.screens.ratings import ratable, rating_form
from tui.screens.scans import ScanScreen, inbox_waiting

__all__ = ("CaseDetailScreen",)

_WITHDRAWABLE = {s for s in Status if s not in DECIDED and s not in TERMINAL and s is not Status.DRAFT}


class CaseDetailScreen(StationScreen):
    """Full detail, personal data included: this is the handling agent's own screen (brief §9)."""

    TITLE_KEY = "title.case_detail"
    BINDINGS = [
        Binding("m", "supply", "Supply"),
        Binding("c", "correct", "Correct"),
        Binding("d", "deliver", "Deliver"),
        Binding("w", "withdraw", "Withdraw"),
        Binding("a", "note", "Note"),
        Binding("p", "reprint", "Receipt"),
        Binding("v", "rate", "Rate"),
        Binding("s", "scans", "Scans"),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    CaseDetailScreen #detail_scroll { height: 1fr; padding: 0 1; }
    """

    def __init__(self, case_no: str) -> None:
        super().__init__()
        self.case_no = case_no
        self.detail: CaseDetail | None = None

    def compose_body(self) -> Iterable[Widget]:
        with VerticalScroll(id="detail_scroll"):
            yield Static("", id="detail", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.refresh_data()
        self.query_one("#detail_scroll").focus()

    def on_screen_resume(self) -> None:
        # Back from a dialog or from help: a sync may have changed the case meanwhile.
        self.refresh_data()

    def relabel(self) -> None:
        self.refresh_data()

    def refresh_data(self) -> None:
        try:
            self.detail = get_case(self.station, self.case_no)
        except ProxyAppError as exc:
            self.query_one("#detail", Static).update(error_text(exc, self.lang))
            self.detail = None
            return
        self.query_one("#detail", Static).update(self.render_text())
        self.refresh_bindings()

    # -- what is shown ----------------------------------------------------------------------

    def render_text(self) -> Text:
        """The whole case as styled text (also what tests read)."""
        assert self.detail is not None
        d, s, lang = self.detail, self.detail.summary, self.lang
        out = Text()

        def head(key: str) -> None:
            out.append("\n" + t(key, lang) + "\n", style="bold underline")

        def line(label_key: str, value: str, style: str = "") -> None:
            out.append(f"{t(label_key, lang)}: ", style="bold")
            out.append(plain(value) + "\n", style=style)  # names and reasons come from people and the hub

        status = status_label(s.status, lang)
        if d.outcome in ("approved", "denied"):
            status += f" / {t('outcome.' + d.outcome, lang)}"
        refusal = getattr(d, "refusal", None)  # the county refused to file the case: never plainly "received"
        if refusal is not None:
            status += " " + t("case.status.refused", lang)
        line("case.number", s.case_no)
        line("case.item", f"{s.item_name} ({s.item_code})")
        line("case.status", status, "bold red" if refusal is not None else "bold")
        if getattr(s, "level", None):
            line("case.level", label("level", s.level, lang))
        if refusal is not None:
            reason = refusal.reason_en if lang == "en" else refusal.reason_zh
            out.append(
                f"! {t('case.refused', lang, reason=printable(reason), code=printable(label('error', refusal.code, lang)))}\n",
                style="bold white on red",
            )
        sex = t("new.male" if d.sex == "M" else "new.female", lang)
        line("case.applicant", f"{d.applicant_name} ({sex}, {d.birth_date})")
        line("case.id_number", d.id_number)
        line("case.phone", d.phone)
        line("case.received", format_local(s.received_at))
        left = days_left_text(s.days_left, lang)
        due = due_text(s.due_date, s.due_provisional, lang) + (f"  {left}" if left else "")
        line("case.due", due, "bold" if s.overdue else "")
        if s.bundle_code:
            try:
                bundle = get_bundle(self.station, s.intake_id)
                members = ", ".join(f"{m.case_no[-4:]} {status_label(m.status, lang)}" for m in bundle.members)
                line("case.bundle", f"{bundle.bundle_name} {s.intake_id} [{members}]")
            except ProxyAppError:
                line("case.bundle", s.intake_id)
        if getattr(d, "query_code", None):
            line("case.query_code", format_code(d.query_code or ""))
        for r in getattr(d, "ratings", []):
            level = t(
                "case.rating",
                lang,
                level=r.level,
                label=level_label(r.level, lang),
                channel=channel_label(r.channel, lang),
            )
            what = "case.ratings" if r.case_no else "case.rating.overall"
            line(what, level + (f" · {r.comment}" if r.comment else ""), "bold" if r.bad else "")
        state = d.sync_state if d.sync_state in ("saved", "sealed", "acknowledged") else "saved"
        state = "refused" if refusal is not None else state
        line("case.sync", t(f"case.sync.{state}", lang))
        if s.status == Status.AWAITING_CORRECTION:
            reason = correction_reason(self.station, s.case_no)
            out.append(f"\n! {t('case.notice', lang)}: {plain(reason) or '-'}\n", style="bold reverse")
        head("case.materials")
        for m in d.materials:
            out.append(
                f"  {plain(m.name_zh)}: {t('mat.' + m.state, lang)}\n", style="bold" if m.state == "deferred" else ""
            )
        self._scan_section(out)
        opinions = getattr(d, "opinions", [])
        if opinions:  # parallel review: which department holds the case, and what each said
            head("case.opinions")
            for o in opinions:
                name = plain(o.name_en or o.department) if lang == "en" else plain(o.name_zh)
                if o.opinion is None:
                    out.append("  " + t("case.opinion.pending", lang, name=name, due=o.due_date) + "\n", style="bold")
                else:
                    said = plain(label("opinion", o.opinion, lang))
                    when = format_local(o.answered_at) if o.answered_at else ""
                    out.append("  " + t("case.opinion.given", lang, name=name, said=said, when=when).rstrip() + "\n")
        if d.commitments:
            head("case.commitments")
            for c in d.commitments:
                state_key = (
                    "case.c.overdue" if c.overdue else ("case.c.open" if c.status == "open" else "case.c.fulfilled")
                )
                state = t(state_key, lang)
                out.append(
                    "  "
                    + t(
                        "case.commitment",
                        lang,
                        material=plain(c.material),
                        signer=plain(c.signer_name),
                        due=due_text(c.due_date, c.due_provisional, lang),
                        state=state,
                    )
                    + "\n",
                    style="bold" if c.overdue else "",
                )
        head("case.history")
        out.append("  " + t("case.decisions", lang) + "\n", style="dim")
        for e in d.history:
            decision = e.actor != Actor.STATION
            who = actor_label(e.actor, lang) + (f" {plain(e.by)}" if e.by else "")
            outcome = f" ({t('outcome.' + e.outcome, lang)})" if e.outcome in ("approved", "denied") else ""
            step = f"{status_label(e.from_status, lang)} -> {status_label(e.to_status, lang)}{outcome}"
            if is_forward({"actor": e.actor, "from_status": e.from_status, "to_status": e.to_status}):
                step = t("case.forwarded", lang)
            out.append(
                f"{'>' if decision else ' '} {format_local(e.at)}  {step}  {who}\n",
                style="bold" if decision else "",
            )
            if e.reason:
                out.append("      " + t("case.reason", lang, reason=plain(e.reason)) + "\n")
        for move in d.due_moves:  # due dates a published calendar year moved
            why_key = "case.due_why_version" if move.version > 1 else "case.due_why"
            why = t(why_key, lang, year=move.year, version=move.version)
            was, now = move.old_due or "—", move.new_due or "—"
            text = (
                t("case.c_due_moved", lang, material=plain(move.material), old=was, new=now, why=why)
                if move.material is not None
                else t("case.due_moved", lang, old=was, new=now, why=why)
            )
            out.append(f"  {format_local(move.at)}  {text}\n")
        if d.notes:
            head("case.notes")
            for n in d.notes:
                # A note keeps its line breaks, each further line indented under the first.
                text = plain(n.text, multiline=True).replace("\n", "\n    ")
                # An older release stored notes without an author: no bare colon then.
                colon = ": " if lang == "en" else "："
                by = f"{plain(n.author)}{colon}" if n.author else ""
                out.append(f"  {format_local(n.at)} {by}{text}\n")
        self._sync_sections(out, d)
        return out

    def _scan_section(self, out: Text) -> None:
        """The case's scanned pages per material, and the new files of the scan inbox (none: no section)."""
        lang = self.lang
        try:
            rows = list_attachments(self.station, self.case_no)
        except ProxyAppError:
            rows = []
        ready, _ = inbox_waiting(self.station_app.data_dir)
        if not rows and not ready:
            return
        out.append("\n" + t("case.scans", lang) + "\n", style="bold underline")
        per_material: dict[str, list[AttachmentRow]] = {}
        for row in rows:
            per_material.setdefault(row.material, []).append(row)
        for material, pages in per_material.items():
            held = sum(1 for p in pages if p.acked)
            out.append("  " + t("case.scan_line", lang, material=plain(material), pages=len(pages), held=held) + "\n")
            refused = [p.refused for p in pages if p.refused is not None]
            if refused:  # kept here and never sent: say so, with the county's reason, not "waiting"
                reason = plain(refused[0].reason(lang))
                out.append(
                    "    ! " + t("case.scan_refused", lang, pages=len(refused), reason=reason) + "\n", style="bold"
                )
        if ready:
            out.append("  " + t("scans.inbox_new", lang, count=ready) + "\n", style="bold")

    def _sync_sections(self, out: Text, d: CaseDetail) -> None:
        """The hub's rejections, merge conflicts and receipts (station.syncstate via CaseDetail)."""
        lang = self.lang
        # getattr: these fields came with the sync engine; an older CaseDetail simply has none.
        rejections = getattr(d, "rejections", [])
        if rejections:
            out.append("\n! " + t("case.rejections", lang) + "\n", style="bold underline")
            for r in rejections:
                out.append(
                    "  "
                    + t(
                        "case.rejection",
                        lang,
                        when=format_local(r.received_at),
                        code=plain(label("error", r.code, lang)),
                        reason=plain(r.reason_en if lang == "en" else r.reason_zh),
                    )
                    + "\n",
                    style="bold",
                )
        conflicts = getattr(d, "conflicts", [])
        if conflicts:
            out.append("\n" + t("case.conflicts", lang) + "\n", style="bold underline")
            for c in conflicts:
                out.append(
                    "  "
                    + plain(
                        t(
                            "case.conflict",
                            lang,
                            field=label("field", c.field, lang),
                            kept=c.kept,
                            kept_origin=label("origin", c.kept_origin, lang),
                            lost=c.lost,
                            lost_origin=label("origin", c.lost_origin, lang),
                        )
                    )
                    + "\n"
                )
        receipts = getattr(d, "receipts", [])
        if receipts:
            out.append("\n" + t("case.receipts", lang) + "\n", style="bold underline")
            for r in receipts:
                state = t("case.receipt.ok", lang, when=format_local(r.hub_time))
                out.append("  " + t("case.receipt", lang, seq=r.seq, state=state) + f"  #{r.hash_prefix}\n")

    # -- the station's moves ----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.detail is None:
            return action == "back"
        status = self.detail.summary.status
        if action == "supply":
            return status not in TERMINAL and bool(outstanding_materials(self.station, self.detail.summary.intake_id))
        if action == "correct":
            return status in (Status.RECEIVED, Status.AWAITING_CORRECTION)
        if action == "deliver":
            return status == Status.COMPLETED
        if action == "withdraw":
            return status in _WITHDRAWABLE
        if action == "rate":
            return ratable(self.station, self.detail)
        return True

    def _run(
        self, title_key: str, fields: list[Field], perform: Callable[[Values], object], done_key: str, **kw: str
    ) -> None:
        def after(result: object) -> None:
            if result:
                self.notify(t("act.done", self.lang, what=t(done_key, self.lang)), markup=False)
                self.refresh_data()

        self.app.push_screen(ActionDialog(t(title_key, self.lang), fields, perform, **kw), after)

    def _agent(self) -> str | None:
        return self.station.agent_name or None

    def action_supply(self) -> None:
        assert self.detail is not None
        pending = outstanding_materials(self.station, self.detail.summary.intake_id)
        fields = [
            Field("check", f"m{i}", f"{name} ({t('mat.' + state, self.lang)})")
            for i, (name, state) in enumerate(pending)
        ]

        def perform(values: Values) -> None:
            names = [name for i, (name, _) in enumerate(pending) if values[f"m{i}"]]
            if not names:
                raise InputError(zh=t("act.empty_choice", "zh"), en=t("act.empty_choice", "en"), field="material")
            ops.supply_material(self.station, self.case_no, names, by=self._agent())

        self._run("act.supply.title", fields, perform, "action.supply", empty_note=t("act.supply.none", self.lang))

    def action_correct(self) -> None:
        assert self.detail is not None
        title_key, fields, perform, intro = correction_form(self.station, self.detail, self.lang, by=self._agent())
        self._run(title_key, fields, perform, "action.correct", intro=intro)

    def action_deliver(self) -> None:
        fields = [Field("input", "note", t("act.note.text", self.lang))]
        self._run(
            "act.deliver.title",
            fields,
            lambda v: ops.deliver(self.station, self.case_no, by=self._agent(), note=str(v["note"]) or None),
            "action.deliver",
        )

    def action_withdraw(self) -> None:
        fields = [Field("input", "reason", t("act.withdraw.reason", self.lang), required=True)]
        self._run(
            "act.withdraw.title",
            fields,
            lambda v: ops.withdraw(self.station, self.case_no, reason=str(v["reason"]), by=self._agent()),
            "action.withdraw",
        )

    def action_note(self) -> None:
        fields = [Field("input", "text", t("act.note.text", self.lang), required=True)]
        self._run(
            "act.note.title",
            fields,
            lambda v: ops.add_note(self.station, self.case_no, str(v["text"]), by=self._agent()),
            "action.note",
        )

    def action_rate(self) -> None:
        assert self.detail is not None
        title_key, fields, perform = rating_form(self.station, self.detail, self.lang, by=self._agent())
        self._run(title_key, fields, perform, "action.rate")

    def action_reprint(self) -> None:
        assert self.detail is not None
        number = self.detail.summary.intake_id
        try:
            _, pdf = write_receipt(self.station, number)
        except (OSError, ProxyAppError) as exc:
            self.notify(error_text(exc, self.lang), severity="error", markup=False)
            return
        self.notify(t("act.reprinted", self.lang, path=pdf), markup=False)

    def action_scans(self) -> None:
        self.app.push_screen(ScanScreen(self.case_no))

    def action_back(self) -> None:
        self.app.pop_screen()
