"""After a save: the case number, due dates (预计 where provisional), 容缺 promises, the receipt's copies to print."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from station.cases import IntakeResult
from sync.errors import ProxyAppError
from tui.fmt import due_text, plain
from tui.i18n import t
from tui.receipt import open_file, open_receipt
from tui.screens.base import StationModal, error_text

__all__ = ("IntakeDoneScreen",)


class IntakeDoneScreen(StationModal):
    """Dismisses with "next" (a new, empty form), "view:CASE" (open the case) or "scans:CASE" (its scans)."""

    DEFAULT_CSS = """
    IntakeDoneScreen > #dialog { width: auto; min-width: 76; max-width: 100%; }
    IntakeDoneScreen #done_note { display: none; height: auto; margin: 1 0 0 0; }
    """
    BINDINGS = [
        Binding("enter,escape", "next_case", "Next case"),
        Binding("v", "view_case", "View case"),
        Binding("p", "open_pdf", "Open PDF to print"),
        Binding("s", "scans", "Scans"),
    ]

    def __init__(self, result: IntakeResult, paths: tuple[Path, Path] | None) -> None:
        """``paths``: the receipt's plain copies to print (tui.receipt.write_receipt), shown to the
        agent; the receipt itself is kept encrypted in DATA_DIR/receipts."""
        super().__init__()
        self.result = result
        self.paths = paths

    def summary(self) -> str:
        """The text shown (also what tests read)."""
        lang, r = self.lang, self.result
        catalog = self.station_app.station.catalog if self.station_app.station else None
        lines = [t("done.number", lang, number=r.number)]
        for case in r.cases:
            name = catalog.item(case.item_code).name_zh if catalog else case.item_code
            due = (
                due_text(case.due_date.isoformat(), case.provisional, lang)
                if case.due_date
                else t("done.no_limit", lang)
            )
            lines.append(t("done.case", lang, case=case.case_no, item=name, due=due))
        for c in r.commitments:
            due = due_text(c.due_date.isoformat(), c.provisional, lang)
            lines.append(t("done.commitment", lang, material=c.material, due=due))
        if self.paths:
            # Each path on a line of its own: a path broken in the middle cannot be typed in again.
            lines.append(t("done.receipt_files", lang))
            lines.extend(f"  {path}" for path in self.paths)
        return plain("\n".join(lines), multiline=True)  # item and material names come from the hub

    def compose(self) -> ComposeResult:
        lang = self.lang
        with Vertical(id="dialog"):
            yield Static(t("done.title", lang), classes="dialog-title")
            yield Static(self.summary(), id="done_summary", markup=False)
            yield Static("", id="done_note", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{t('action.next_case', lang)} Enter", id="next", variant="primary", compact=True)
                yield Button(f"{t('action.view_case', lang)} V", id="view", compact=True)
                if self.paths:
                    yield Button(f"{t('action.open_pdf', lang)} P", id="pdf", compact=True)

    def action_next_case(self) -> None:
        self.dismiss("next")

    def action_view_case(self) -> None:
        self.dismiss(f"view:{self.result.cases[0].case_no}")

    def action_scans(self) -> None:
        self.dismiss(f"scans:{self.result.cases[0].case_no}")

    def action_open_pdf(self) -> None:
        if self.paths:
            try:
                if not self.paths[1].exists():  # the copy was wiped (another TUI started): decrypt anew
                    self.paths = open_receipt(self.station_app.data_dir, self.result.number)
            except ProxyAppError as exc:
                self._say(error_text(exc, self.lang))
                return
            except OSError as exc:
                self._say(str(exc.strerror or exc))
                return
            self._say(t("done.opening", self.lang), error=False)
            self.open_pdf(self.paths[1])

    @work(thread=True, exclusive=True, group="open_pdf", exit_on_error=False)
    def open_pdf(self, pdf: Path) -> None:
        """Hand the PDF to the system's viewer in a worker thread (the opener is waited for)."""
        try:
            open_file(pdf)
        except ProxyAppError as exc:
            self.app.call_from_thread(self._say, error_text(exc, self.lang))
        else:
            self.app.call_from_thread(self._say, t("done.opened", self.lang), error=False)

    def _say(self, text: str, *, error: bool = True) -> None:
        """A line under the summary: it stays, with the file's path (a toast would vanish, and cover the buttons)."""
        note = self.query_one("#done_note", Static)
        note.update(("! " + text) if error else text)
        note.set_class(error, "error")
        note.display = True

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        actions = {"next": self.action_next_case, "view": self.action_view_case, "pdf": self.action_open_pdf}
        actions[event.button.id or "next"]()
