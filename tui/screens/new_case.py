"""New case: choose the item, enter the applicant with live checks, tick the materials, save and print."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Static

from station.cases import DEFAULT_DEFER_DAYS, NewIntake, new_intake
from sync.errors import InputError, ProxyAppError
from sync.idnumber import check_partial_id_number, normalize_id_number, validate_id_number
from sync.intake import material_rules
from sync.personal import validate_phone
from sync.timeutil import iso_utc
from tui.drafts import NEW_CASE
from tui.i18n import t
from tui.pinyin import Entry, index_for
from tui.receipt import write_receipt
from tui.screens.base import StationScreen, error_text
from tui.screens.dialogs import ConfirmScreen
from tui.screens.intake_done import IntakeDoneScreen
from tui.screens.scans import POLL_SECONDS as SCAN_POLL_SECONDS
from tui.screens.scans import ScanScreen, inbox_waiting
from tui.widgets.item_picker import ItemPicker
from tui.widgets.materials import MaterialChecklist

__all__ = ("NewCaseScreen",)

_LABELS = {
    "lbl-item": "new.item",
    "lbl-name": "new.name",
    "lbl-id": "new.id_number",
    "lbl-phone": "new.phone",
    "lbl-materials": "new.materials",
    "lbl-days": "new.defer_days",
    "lbl-signer": "new.signer",
    "lbl-note": "new.note",
}
_PLACEHOLDERS = {"signer": "new.signer_placeholder", "note": "new.note_placeholder"}
_TEXT_FIELDS = ("name", "id_number", "phone", "defer_days", "signer", "note")


class NewCaseScreen(StationScreen):
    """The intake form. Every change is written to the draft file, so nothing typed is lost."""

    TITLE_KEY = "title.new_case"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("f8", "clear_form", "Clear form"),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    NewCaseScreen #form { height: 1fr; padding: 0 1; }
    NewCaseScreen .row { height: auto; margin: 0 0 0 0; }
    NewCaseScreen .row > Label { width: 12; text-style: bold; }
    NewCaseScreen .row > Input { width: 1fr; }
    NewCaseScreen .row > ItemPicker { width: 1fr; }
    NewCaseScreen #defer_days { width: 6; }
    NewCaseScreen #lbl-signer { width: 8; margin: 0 0 0 2; }
    NewCaseScreen .msg { height: auto; margin: 0 0 0 12; display: none; }
    NewCaseScreen .msg.-error { color: $error; text-style: bold; }
    NewCaseScreen #item_chosen { margin: 0 0 0 12; height: auto; }
    NewCaseScreen #lbl-materials { text-style: bold; margin: 1 0 0 0; }
    NewCaseScreen #materials { margin: 0 0 1 0; }
    NewCaseScreen #problems { color: $error; text-style: bold; height: auto; margin: 1 0 0 0; display: none; }
    NewCaseScreen #scan_waiting { height: auto; margin: 1 0 0 0; text-style: bold; display: none; }
    NewCaseScreen .buttons { height: auto; margin: 1 0 1 0; }
    NewCaseScreen .buttons Button { margin: 0 2 0 0; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.entry: Entry | None = None
        self._last_draft: dict[str, Any] | None = None
        self._problems_shown = False

    # -- layout -----------------------------------------------------------------------------

    def compose_body(self) -> Iterable[Widget]:
        lang = self.lang
        with VerticalScroll(id="form"):
            with Horizontal(classes="row"):
                yield Label(t("new.item", lang), id="lbl-item")
                yield ItemPicker(self.station.catalog, id="picker")
            yield Static(t("new.item_none", lang), id="item_chosen", markup=False)
            with Horizontal(classes="row"):
                yield Label(t("new.name", lang), id="lbl-name")
                yield Input(id="name", compact=True, max_length=50)
            with Horizontal(classes="row"):
                yield Label(t("new.id_number", lang), id="lbl-id")
                yield Input(id="id_number", compact=True, max_length=24)
            yield Static("", id="id_msg", classes="msg", markup=False)
            with Horizontal(classes="row"):
                yield Label(t("new.phone", lang), id="lbl-phone")
                yield Input(id="phone", compact=True, max_length=20)
            yield Static("", id="phone_msg", classes="msg", markup=False)
            yield Label(t("new.materials", lang), id="lbl-materials")
            yield MaterialChecklist(id="materials")
            with Horizontal(classes="row"):
                yield Label(t("new.defer_days", lang), id="lbl-days")
                yield Input(str(DEFAULT_DEFER_DAYS), id="defer_days", compact=True, restrict=r"[0-9]*", max_length=2)
                yield Label(t("new.signer", lang), id="lbl-signer")
                yield Input(id="signer", compact=True, max_length=50, placeholder=t("new.signer_placeholder", lang))
            with Horizontal(classes="row"):
                yield Label(t("new.note", lang), id="lbl-note")
                yield Input(id="note", compact=True, max_length=200, placeholder=t("new.note_placeholder", lang))
            yield Static("", id="problems", markup=False)
            yield Static("", id="scan_waiting", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{t('action.save', lang)} Ctrl+S", id="save", variant="primary", compact=True)
                yield Button(f"{t('action.clear_form', lang)} F8", id="clear", compact=True)

    async def on_mount(self) -> None:
        super().on_mount()
        await self.query_one(MaterialChecklist).set_rules([])
        self._update_defer_text()
        self.query_one("#item_search").focus()
        self.show_scan_inbox()
        self.set_interval(SCAN_POLL_SECONDS, self.show_scan_inbox)

    def show_scan_inbox(self) -> None:
        """A line under the form when the document camera has left files in the scan inbox (none: no line)."""
        ready, _ = inbox_waiting(self.station_app.data_dir)
        line = self.query_one("#scan_waiting", Static)
        line.update(t("new.scans_waiting", self.lang, count=ready) if ready else "")
        line.display = bool(ready)

    async def on_screen_resume(self) -> None:
        # A draft left by a quit or crash comes back into an empty form: nothing typed is lost.
        pending = self.station_app.take_pending_draft()
        if pending is None and self._is_empty() and self.station_app.drafts.exists(NEW_CASE):
            pending = self.station_app.drafts.load(NEW_CASE)
        if pending:
            await self.load_draft(pending)
            self.notify(t("new.draft_restored", self.lang))

    def relabel(self) -> None:
        lang = self.lang
        for widget_id, key in _LABELS.items():
            self.query_one(f"#{widget_id}", Label).update(t(key, lang))
        for widget_id, key in _PLACEHOLDERS.items():
            self.query_one(f"#{widget_id}", Input).placeholder = t(key, lang)
        self.query_one("#save", Button).label = f"{t('action.save', lang)} Ctrl+S"
        self.query_one("#clear", Button).label = f"{t('action.clear_form', lang)} F8"
        self._show_entry()
        self.show_scan_inbox()
        self.query_one(MaterialChecklist).relabel()
        self._update_defer_text()
        self._check_id(self.query_one("#id_number", Input).value)
        self._check_phone(self.query_one("#phone", Input).value, final=False)
        self._recheck()

    # -- item -------------------------------------------------------------------------------

    def _show_entry(self) -> None:
        lang = self.lang
        chosen = self.query_one("#item_chosen", Static)
        if self.entry is None:
            chosen.update(t("new.item_none", lang))
            return
        e = self.entry
        if e.promised_days is None:
            days = t("new.days_batch", lang)
        else:
            days = t("new.days_same", lang) if e.promised_days == 0 else t("new.days", lang, n=e.promised_days)
        name = e.name_en if lang == "en" and e.name_en else e.name_zh
        if e.kind == "bundle":
            name = t("new.bundle_tag", lang) + " " + name
        chosen.update(t("new.item_chosen", lang, code=e.code, name=name, days=days))

    async def choose(self, entry: Entry | None, presented: Iterable[str] = (), deferred: Iterable[str] = ()) -> None:
        self.entry = entry
        self._show_entry()
        rules = []
        if entry is not None:
            catalog = self.station.catalog
            if entry.kind == "item":
                rules = material_rules(catalog, item=entry.code)
            else:
                rules = material_rules(catalog, bundle=entry.code)
        await self.query_one(MaterialChecklist).set_rules(rules, list(presented), list(deferred))
        self._update_defer_text()

    @on(ItemPicker.Chosen)
    async def _chosen(self, event: ItemPicker.Chosen) -> None:
        await self.choose(event.entry)
        self.query_one("#name", Input).focus()
        self._save_draft()
        self._recheck()

    # -- live checks ------------------------------------------------------------------------

    def _message(self, widget_id: str, text: str, error: bool) -> None:
        msg = self.query_one(f"#{widget_id}", Static)
        msg.update(("! " + text) if error and text else text)
        msg.set_class(error and bool(text), "-error")
        msg.display = bool(text)

    def _check_id(self, value: str) -> bool:
        """Say what is wrong while the number is typed; show birth date and sex once it is whole."""
        field = self.query_one("#id_number", Input)
        today = self.station.today()
        error = check_partial_id_number(value, today=today) if value.strip() else None
        field.set_class(error is not None, "-invalid")
        if error is not None:
            self._message("id_msg", error.message(self.lang), True)
            return False
        if len(normalize_id_number(value)) == 18:
            resident = validate_id_number(value, today=today)
            sex = t("new.male" if resident.sex == "M" else "new.female", self.lang)
            self._message("id_msg", t("new.id_facts", self.lang, birth=resident.birth_date.isoformat(), sex=sex), False)
            return True
        self._message("id_msg", "", False)
        return False

    def _check_phone(self, value: str, *, final: bool) -> bool:
        """Complain while typing only when the number cannot become right; on leaving, always."""
        field = self.query_one("#phone", Input)
        if not value.strip():
            field.set_class(False, "-invalid")
            self._message("phone_msg", "", False)
            return False
        try:
            validate_phone(value)
        except InputError as error:
            digits = sum(c.isdigit() for c in value)
            certain = final or error.code in ("phone.chars", "phone.invalid") or digits > 11
            field.set_class(certain, "-invalid")
            self._message("phone_msg", error.message(self.lang) if certain else "", True)
            return False
        field.set_class(False, "-invalid")
        self._message("phone_msg", "", False)
        return True

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "id_number":
            self._check_id(event.value)
        elif event.input.id == "phone":
            self._check_phone(event.value, final=False)
        elif event.input.id == "defer_days":
            self._update_defer_text()
        if event.input.id in _TEXT_FIELDS:
            self._save_draft()
            self._recheck()

    @on(Input.Blurred, "#phone")
    def _phone_left(self, event: Input.Blurred) -> None:
        self._check_phone(event.value, final=True)

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        if event.input.id in _TEXT_FIELDS:
            self.focus_next()

    @on(MaterialChecklist.Changed)
    def _materials_changed(self) -> None:
        self._save_draft()
        self._recheck()

    def _defer_days(self) -> int | None:
        raw = self.query_one("#defer_days", Input).value.strip()
        return int(raw) if raw.isdigit() and 1 <= int(raw) <= 60 else None

    def _update_defer_text(self) -> None:
        days = self._defer_days() or DEFAULT_DEFER_DAYS
        due = self.station.calendar.add_working_days(self.station.today(), days)
        prov = t("provisional", self.lang) if due.provisional else ""
        self.query_one(MaterialChecklist).set_defer_text(
            t("new.defer", self.lang, date=due.date.isoformat(), prov=prov)
        )

    # -- drafts -----------------------------------------------------------------------------

    def fields(self) -> dict[str, Any]:
        """The form as a JSON-able dict (what the draft file holds)."""
        presented, deferred = self.query_one(MaterialChecklist).state()
        data: dict[str, Any] = {f: self.query_one(f"#{f}", Input).value for f in _TEXT_FIELDS}
        data.update(
            kind=self.entry.kind if self.entry else None,
            code=self.entry.code if self.entry else None,
            materials=presented,
            deferred=deferred,
        )
        return data

    def _is_empty(self) -> bool:
        data = self.fields()
        return self.entry is None and not any(data[f] for f in _TEXT_FIELDS if f != "defer_days")

    def _save_draft(self) -> None:
        data = self.fields()
        if data == self._last_draft:
            return
        self._last_draft = data
        drafts = self.station_app.drafts
        try:
            if self._is_empty():
                drafts.delete(NEW_CASE)
            else:
                drafts.save(NEW_CASE, {**data, "saved_at": iso_utc(self.station.now())})
        except OSError as exc:
            error = exc.strerror or type(exc).__name__
            self.notify(t("new.draft_failed", self.lang, error=error), severity="error", markup=False)

    async def load_draft(self, draft: dict[str, Any]) -> None:
        """Fill the form from a draft (after a quit or crash)."""
        entry = None
        if draft.get("code"):
            entry = next(
                (
                    e
                    for e in index_for(self.station.catalog).entries
                    if e.code == draft["code"] and e.kind == draft.get("kind", "item")
                ),
                None,
            )
        with self.prevent(Input.Changed, Checkbox.Changed):
            for name in _TEXT_FIELDS:
                if isinstance(draft.get(name), str):
                    self.query_one(f"#{name}", Input).value = draft[name]
        await self.choose(entry, draft.get("materials") or [], draft.get("deferred") or [])
        self._check_id(self.query_one("#id_number", Input).value)
        self._check_phone(self.query_one("#phone", Input).value, final=False)
        self._last_draft = self.fields()

    async def reset_form(self) -> None:
        with self.prevent(Input.Changed, Checkbox.Changed):
            for name in _TEXT_FIELDS:
                self.query_one(f"#{name}", Input).value = str(DEFAULT_DEFER_DAYS) if name == "defer_days" else ""
        self._show_problems([])
        await self.choose(None)
        self._check_id("")
        self._check_phone("", final=False)
        self._last_draft = self.fields()
        self.query_one("#form", VerticalScroll).scroll_home(animate=False)
        self.query_one("#item_search").focus()

    # -- saving -----------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """Everything that stops the save, all at once (一次性告知)."""
        lang = self.lang
        found = []
        if self.entry is None:
            found.append(t("new.need_item", lang))
        if not self.query_one("#name", Input).value.strip():
            found.append(t("new.need_name", lang))
        for check in (
            lambda: validate_id_number(self.query_one("#id_number", Input).value, today=self.station.today()),
            lambda: validate_phone(self.query_one("#phone", Input).value),
        ):
            try:
                check()
            except InputError as error:
                found.append(error.message(lang))
        if self._defer_days() is None:
            found.append(t("new.bad_days", lang))
        blocked, deferrable = self.query_one(MaterialChecklist).problems()
        if blocked:
            found.append(t("new.missing_blocked", lang, names="、".join(blocked)))
        if deferrable:
            found.append(t("new.missing_deferrable", lang, names="、".join(deferrable)))
        return found

    def _show_problems(self, found: list[str], *, scroll: bool = True) -> None:
        text = (t("new.problems", self.lang) + "\n" + "\n".join(f"- {p}" for p in found)) if found else ""
        self.query_one("#problems", Static).update(text)
        self.query_one("#problems", Static).display = bool(found)
        self._problems_shown = bool(found)
        if found:
            self.query_one(MaterialChecklist).reveal_problems()
            if scroll:
                self.query_one("#problems").scroll_visible(animate=False)

    def _recheck(self) -> None:
        """After a refused save, keep the list of problems true as the agent fixes them: each fixed
        one goes at once, and the list goes when nothing is left (no need to press Ctrl+S to see)."""
        if self._problems_shown:
            self._show_problems(self.problems(), scroll=False)  # not scrolled: the agent is typing above

    async def action_save(self) -> None:
        found = self.problems()
        self._show_problems(found)
        if found:
            self.notify(found[0], severity="error", markup=False)
            return
        assert self.entry is not None
        presented, deferred = self.query_one(MaterialChecklist).state()
        value = lambda name: self.query_one(f"#{name}", Input).value.strip()
        request = NewIntake(
            item=self.entry.code if self.entry.kind == "item" else None,
            bundle=self.entry.code if self.entry.kind == "bundle" else None,
            applicant_name=value("name"),
            id_number=value("id_number"),
            phone=value("phone"),
            materials=presented,
            deferred=deferred,
            defer_days=self._defer_days() or DEFAULT_DEFER_DAYS,
            signer_name=value("signer") or None,
            note=value("note") or None,
        )
        try:
            result = new_intake(self.station, request)
        except ProxyAppError as error:
            self._show_problems([error_text(error, self.lang)])
            self.notify(error_text(error, self.lang), severity="error", markup=False)
            return
        self.station_app.drafts.delete(NEW_CASE)
        paths = None
        try:
            paths = write_receipt(self.station, result.number)
        except (OSError, ProxyAppError) as exc:
            self.notify(t("new.receipt_failed", self.lang, error=type(exc).__name__), severity="error", markup=False)
        await self.reset_form()
        self.station_app.push_screen(IntakeDoneScreen(result, paths), self._after_done)

    def _after_done(self, choice: object) -> None:
        if isinstance(choice, str) and choice.startswith("view:"):
            self.station_app.open_case(choice[5:])
        elif isinstance(choice, str) and choice.startswith("scans:"):
            self.station_app.push_screen(ScanScreen(choice[6:]))

    def action_clear_form(self) -> None:
        """Empty the form after a yes (a slip of the finger must not throw away a resident's details)."""
        if self._is_empty():
            return

        async def answered(yes: object) -> None:
            if yes:
                self.station_app.drafts.delete(NEW_CASE)
                await self.reset_form()

        self.app.push_screen(ConfirmScreen(t("new.clear_title", self.lang), t("new.clear_body", self.lang)), answered)

    def action_back(self) -> None:
        self.station_app.action_home()

    @on(Button.Pressed, "#save")
    async def _save_pressed(self) -> None:
        await self.action_save()

    @on(Button.Pressed, "#clear")
    def _clear_pressed(self) -> None:
        self.action_clear_form()
