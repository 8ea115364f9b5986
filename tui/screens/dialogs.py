"""Small dialogs: the draft found at start, and a yes/no question."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Static

from sync.personal import mask_name
from sync.timeutil import format_local
from tui.fmt import plain
from tui.i18n import t
from tui.screens.base import StationModal

__all__ = ("ConfirmScreen", "DraftOfferScreen", "PassphraseScreen")


class DraftOfferScreen(StationModal):
    """A form left unsaved by a quit or crash: restore it, discard it, or decide later."""

    BINDINGS = [
        Binding("enter", "restore", "Restore draft"),
        Binding("d", "discard", "Discard draft"),
        Binding("escape", "later", "Later"),
    ]

    def __init__(self, draft: dict[str, Any]) -> None:
        super().__init__()
        self.draft = draft

    def compose(self) -> ComposeResult:
        lang = self.lang
        # The name is masked: the start screen may be seen by the next person in the queue.
        name = plain(mask_name(str(self.draft.get("name") or ""))) or "-"
        item = plain(self.draft.get("code")) or "-"
        when = format_local(self.draft.get("saved_at")) if isinstance(self.draft.get("saved_at"), str) else "-"
        with Vertical(id="dialog"):
            yield Static(t("draft.title", lang), classes="dialog-title")
            yield Static(t("draft.body", lang, name=name, item=item, when=when), markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{t('action.restore', lang)} Enter", id="restore", variant="primary", compact=True)
                yield Button(f"{t('action.discard', lang)} D", id="discard", compact=True)
                yield Button(f"{t('action.later', lang)} Esc", id="later", compact=True)

    def action_restore(self) -> None:
        self.dismiss("restore")

    def action_discard(self) -> None:
        self.dismiss("discard")

    def action_later(self) -> None:
        self.dismiss("later")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)


class ConfirmScreen(StationModal):
    """A yes/no question; dismisses True or False."""

    BINDINGS = [Binding("y", "confirm", "OK"), Binding("escape,n", "cancel", "Cancel")]

    def __init__(self, title: str, body: str, yes: str | None = None, no: str | None = None) -> None:
        super().__init__()
        self.title_text, self.body, self.yes, self.no = title, body, yes, no

    def compose(self) -> ComposeResult:
        lang = self.lang
        with Vertical(id="dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield Static(self.body, id="confirm_body", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes or t('action.confirm', lang)} Y", id="yes", variant="primary", compact=True)
                yield Button(f"{self.no or t('action.cancel', lang)} Esc", id="no", compact=True)

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class PassphraseScreen(StationModal):
    """Asks for the station passphrase (once per session) so sync can use the station key."""

    BINDINGS = [Binding("escape", "cancel", "Later")]

    def __init__(self, error: str | None = None) -> None:
        super().__init__()
        self.error = error

    def compose(self) -> ComposeResult:
        lang = self.lang
        with Vertical(id="dialog"):
            yield Static(t("pass.title", lang), classes="dialog-title", markup=False)
            yield Static(t("pass.body", lang), markup=False)
            yield Input(id="passphrase", password=True, compact=True)
            yield Static(("! " + self.error) if self.error else "", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{t('pass.unlock', lang)} Enter", id="unlock", variant="primary", compact=True)
                yield Button(f"{t('action.later', lang)} Esc", id="later", compact=True)

    def on_mount(self) -> None:
        self.query_one("#passphrase", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#passphrase")
    def _submitted(self) -> None:
        self._unlock()

    def _unlock(self) -> None:
        text = self.query_one("#passphrase", Input).value
        self.dismiss(text or None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "unlock":
            self._unlock()
        else:
            self.dismiss(None)
