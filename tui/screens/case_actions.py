"""The dialog behind each station move on a case: supply, correct, deliver, withdraw, note."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Label, Static

from station import cases as ops
from station.queries import CaseDetail, correction_reason, outstanding_materials
from station.store import Station
from sync.errors import InputError, ProxyAppError
from sync.idnumber import check_partial_id_number
from sync.lifecycle import Status
from tui.fmt import plain
from tui.i18n import t
from tui.screens.base import StationModal, error_text
from tui.widgets.checkbox import Check

__all__ = ("ActionDialog", "Field", "correction_form")


@dataclass(frozen=True)
class Field:
    """One field of an action dialog: a text input, a checkbox, or a line heading the fields after it."""

    kind: Literal["input", "check", "heading"]
    key: str
    label: str
    value: str | bool = ""
    required: bool = False
    secret: bool = False
    """An input whose characters are not shown (a passphrase)."""


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
    ActionDialog #intro { height: auto; margin: 0 0 1 0; text-style: bold; }
    ActionDialog #fields { height: auto; max-height: 50vh; }
    ActionDialog #fields > Check:focus { border: none; }
    ActionDialog .heading { text-style: bold; color: $primary; }
    ActionDialog .heading.after { margin: 1 0 0 0; }
    """

    def __init__(
        self,
        title: str,
        fields: list[Field],
        perform: Callable[[Values], object],
        *,
        empty_note: str = "",
        intro: str = "",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields
        self.perform = perform
        self.empty_note = empty_note
        self.intro = intro

    def compose(self) -> ComposeResult:
        lang = self.lang
        with Vertical(id="dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            if self.intro:
                yield Static(self.intro, id="intro", markup=False)
            if not any(f.kind != "heading" for f in self.fields) and self.empty_note:
                yield Static(self.empty_note, markup=False)
            # Scrolls when a long list of materials would push the buttons off a 24-line screen.
            with VerticalScroll(id="fields", can_focus=False):
                yield from self._compose_fields()
            yield Static("", id="error", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{t('action.confirm', lang)} Ctrl+S", id="ok", variant="primary", compact=True)
                yield Button(f"{t('action.cancel', lang)} Esc", id="cancel", compact=True)

    def _compose_fields(self) -> ComposeResult:
        for i, field in enumerate(self.fields):
            if field.kind == "heading":
                yield Static(field.label, classes="heading after" if i else "heading", markup=False)
                continue
            if field.kind == "check":
                yield Check(Content(field.label), bool(field.value), id=f"f-{field.key}")
                continue
            with Horizontal(classes="field"):
                star = "*" if field.required and not field.label.endswith("*") else ""
                yield Label(field.label + star, markup=False)
                yield Input(str(field.value), id=f"f-{field.key}", compact=True, password=field.secret)
            if field.key == "id_number":
                yield Static("", id="id_msg", markup=False)

    def on_mount(self) -> None:
        first = next(iter(self.query("Input, Check")), None)
        (first or self.query_one("#ok", Button)).focus()

    def values(self) -> Values:
        found: Values = {}
        for field in self.fields:
            if field.kind == "heading":
                continue
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


# -- the correction dialog (C) ---------------------------------------------------------------------


def correction_form(
    station: Station, detail: CaseDetail, lang: str, *, by: str | None
) -> tuple[str, list[Field], Callable[[Values], object], str]:
    """Title key, fields, action and intro of the C dialog.

    A case awaiting correction lists what its notice (一次性告知) asks for first, each with how the
    intake holds it ("已收" when the reviewer wants it again), then any other outstanding material,
    then the applicant's details; a received case shows the details first. Submitting with nothing
    ticked and nothing changed is refused: a case awaiting correction stays so.
    """
    case_no = detail.summary.case_no
    awaiting = detail.summary.status == Status.AWAITING_CORRECTION
    held = {m.name_zh: m.state for m in detail.materials}
    requested = ops.requested_materials(station, case_no)
    pending = [(n, s) for n, s in outstanding_materials(station, detail.summary.intake_id) if n not in requested]
    choices: list[tuple[str, str]] = [
        (name, f"{name} ({t('mat.' + held[name], lang)})" if name in held else name) for name in requested
    ]
    choices += [(name, f"{name} ({t('mat.' + state, lang)})") for name, state in pending]
    materials: list[Field] = []
    for i, (_, label) in enumerate(choices):
        if i == 0 and requested:
            materials.append(Field("heading", "h-asked", t("act.correct.asked", lang)))
        if i == len(requested):
            materials.append(Field("heading", "h-pending", t("act.correct.pending", lang)))
        materials.append(Field("check", f"m{i}", label))
    applicant = [
        Field("heading", "h-applicant", t("act.correct.applicant", lang)),
        Field("input", "name", t("new.name", lang), detail.applicant_name, required=True),
        Field("input", "id_number", t("new.id_number", lang), detail.id_number, required=True),
        Field("input", "phone", t("new.phone", lang), detail.phone, required=True),
    ]
    current = {"name": detail.applicant_name, "id_number": detail.id_number, "phone": detail.phone}

    def perform(values: Values) -> None:
        names = [name for i, (name, _) in enumerate(choices) if values[f"m{i}"]]
        changed = {key: str(values[key]).strip() for key in current if str(values[key]).strip() != current[key]}
        if not names and not changed:
            key = "act.correct.nothing_awaiting" if awaiting else "act.correct.nothing"
            raise InputError(zh=t(key, "zh"), en=t(key, "en"), field="material", code="correct.nothing")
        ops.correct_intake(station, case_no, by=by, materials=names, **changed)

    if not awaiting:
        return "act.correct.title", applicant + materials, perform, ""
    intro = f"{t('case.notice', lang)}: {plain(correction_reason(station, case_no)) or '-'}"
    return "act.correct.title_awaiting", materials + applicant, perform, intro
