"""The dialog behind each station move on a case: supply, correct, deliver, withdraw, note."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Input, Label, Static

from sync.errors import ProxyAppError
from sync.idnumber import check_partial_id_number
from tui.i18n import t
from tui.screens.base import StationModal, error_text
from tui.widgets.checkbox import Check

__all__ = ("ActionDialog", "Field")


@dataclass(frozen=True)
class Field:
    """One field of an action dialog: a text input or a checkbox."""

    kind: Literal["input", "check"]
    key: str
    label: str
    value: str | bool = ""
    required: bool = False


Values = dict[str, "str | bool"]


class ActionDialog(StationModal):
    """Asks for what a move needs, runs it, and shows its error in the user's language if it fails.

    ``perform`` gets the values by field key; it raises ProxyAppError when the station refuses.
    The dialog dismisses True once the move is done, None when cancelled.
    """

    BINDINGS = [
        Binding("ctrl+s", "submit", "OK", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]
    DEFAULT_CSS = """
    ActionDialog .field { height: auto; margin: 0 0 1 0; }
    ActionDialog .field > Label { width: 14; text-style: bold; }
    ActionDialog .field > Input { width: 1fr; }
    ActionDialog #id_msg { color: $error; height: auto; }
    """

    def __init__(
        self, title: str, fields: list[Field], perform: Callable[[Values], object], *, empty_note: str = ""
    ) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields
        self.perform = perform
        self.empty_note = empty_note

    def compose(self) -> ComposeResult:
        lang = self.lang
        with Vertical(id="dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            if not self.fields and self.empty_note:
                yield Static(self.empty_note, markup=False)
            for field in self.fields:
                if field.kind == "check":
                    yield Check(Content(field.label), bool(field.value), id=f"f-{field.key}")
                    continue
                with Horizontal(classes="field"):
                    star = "*" if field.required and not field.label.endswith("*") else ""
                    yield Label(field.label + star, markup=False)
                    yield Input(str(field.value), id=f"f-{field.key}", compact=True)
                if field.key == "id_number":
                    yield Static("", id="id_msg", markup=False)
            yield Static("", id="error", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{t('action.confirm', lang)} Ctrl+S", id="ok", variant="primary", compact=True)
                yield Button(f"{t('action.cancel', lang)} Esc", id="cancel", compact=True)

    def on_mount(self) -> None:
        first = next(iter(self.query("Input, Check")), None)
        (first or self.query_one("#ok", Button)).focus()

    def values(self) -> Values:
        found: Values = {}
        for field in self.fields:
            widget = self.query_one(f"#f-{field.key}")
            found[field.key] = widget.value  # type: ignore[attr-defined]
        return found

    @on(Input.Changed, "#f-id_number")
    def _id_typed(self, event: Input.Changed) -> None:
        error = check_partial_id_number(event.value) if event.value.strip() else None
        self.query_one("#id_msg", Static).update(("! " + error.message(self.lang)) if error else "")

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        values = self.values()
        missing = [f.label for f in self.fields if f.required and f.kind == "input" and not str(values[f.key]).strip()]
        if missing:
            self._error("、".join(missing) + " ?")
            return
        try:
            self.perform(values)
        except ProxyAppError as exc:
            self._error(error_text(exc, self.lang))
            return
        self.dismiss(True)

    def _error(self, text: str) -> None:
        self.query_one("#error", Static).update("! " + text)
        self.notify(text, severity="error", markup=False)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()
