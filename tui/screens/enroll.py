"""First start: enrol with the county hub (hub address + one-time code), or start offline for a village.

Either way the agent's name is asked for first: every history line the station writes names it.
:class:`AgentNameDialog` (Ctrl+N) changes it later.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static
from textual.worker import Worker, WorkerState

from station.agent import clean_agent_name, set_agent_name
from station.store import Station
from sync.divisions import DivisionTree, sample_divisions
from sync.errors import ProxyAppError
from tui.fmt import plain
from tui.i18n import t
from tui.prefs import save_prefs
from tui.screens.base import StationModal, StationScreen, error_text
from tui.screens.dialogs import ConfirmScreen
from tui.sync_adapter import EnrollOutcome

__all__ = ("AgentNameDialog", "EnrollScreen")

_LABELS = {
    "lbl-hub": "enroll.hub",
    "lbl-code": "enroll.code",
    "lbl-village": "enroll.village",
    "lbl-device": "enroll.device",
    "lbl-agent": "enroll.agent_name",
    "lbl-pass": "enroll.passphrase",
    "lbl-pass2": "enroll.passphrase2",
}
MIN_PASSPHRASE = 8
"""As station.identity.MIN_PASSPHRASE: checked here too, so the agent hears it before the network is tried."""


@functools.lru_cache(maxsize=1)
def _divisions() -> DivisionTree:
    return sample_divisions()


class EnrollScreen(StationScreen[bool]):
    """Dismisses True once the station can be used (enrolled, or the agent chose to work offline)."""

    TITLE_KEY = "title.enroll"
    BINDINGS = [Binding("escape", "offline", "Work offline")]
    DEFAULT_CSS = """
    EnrollScreen #enroll_form { padding: 0 1; }
    EnrollScreen .row { height: auto; margin: 0 0 1 0; }
    EnrollScreen .row > Label { width: 14; text-style: bold; }
    EnrollScreen .row > Input { width: 1fr; }
    EnrollScreen #device { width: 4; }
    EnrollScreen #lbl-pass2 { width: 10; margin: 0 0 0 2; }
    EnrollScreen #pass_hint { margin: 0 0 1 14; color: $text-muted; }
    EnrollScreen #agent_row > Input { width: 22; }
    EnrollScreen #agent_hint { width: 1fr; margin: 0 0 0 2; color: $text-muted; }
    EnrollScreen .section { text-style: bold; color: $primary; margin: 1 0 1 0; }
    EnrollScreen #enroll_msg, EnrollScreen #offline_msg { height: auto; text-style: bold; margin: 0 0 1 0; }
    EnrollScreen #enroll { margin: 0; }  /* its message right under it: the offline part still fits 24 lines */
    EnrollScreen #village_name { margin: 0 0 1 14; height: auto; }
    EnrollScreen Button { margin: 0 0 1 0; }
    """

    def __init__(self, *, existing: bool) -> None:
        super().__init__()
        self.existing = existing

    def compose_body(self) -> Iterable[Widget]:
        lang = self.lang
        with VerticalScroll(id="enroll_form"):
            yield Static(t("enroll.intro", lang), id="intro", markup=False)
            if self.existing and self.station_app.station is not None:
                yield Static(t("enroll.existing", lang, village=plain(self.station_app.station_label)), markup=False)
            station = self.station_app.station
            with Horizontal(classes="row", id="agent_row"):
                yield Label(t("enroll.agent_name", lang), id="lbl-agent")
                yield Input(station.agent_name if station else "", id="agent", compact=True, max_length=50)
                yield Static(t("enroll.agent_hint", lang), id="agent_hint", markup=False)
            with Horizontal(classes="row"):
                yield Label(t("enroll.hub", lang), id="lbl-hub")
                yield Input(id="hub", compact=True, placeholder="http://...")
            with Horizontal(classes="row"):
                yield Label(t("enroll.code", lang), id="lbl-code")
                yield Input(id="code", compact=True, placeholder="XXXX-XXXX-XXXX-XXXX")
            with Horizontal(classes="row"):
                yield Label(t("enroll.passphrase", lang), id="lbl-pass")
                yield Input(id="passphrase", compact=True, password=True)
                yield Label(t("enroll.passphrase2", lang), id="lbl-pass2")
                yield Input(id="passphrase2", compact=True, password=True)
            yield Static(t("enroll.passphrase_hint", lang), id="pass_hint", markup=False)
            yield Button(t("action.enroll", lang), id="enroll", variant="primary", compact=True)
            yield Static("", id="enroll_msg", markup=False)
            if not self.existing:
                yield Static(t("enroll.offline_title", lang), classes="section", id="offline_title", markup=False)
                with Horizontal(classes="row"):
                    yield Label(t("enroll.village", lang), id="lbl-village")
                    yield Input(
                        id="village", compact=True, restrict=r"[0-9]*", max_length=12, placeholder="349921001001"
                    )
                yield Static("", id="village_name", markup=False)
                with Horizontal(classes="row"):
                    yield Label(t("enroll.device", lang), id="lbl-device")
                    yield Input("A", id="device", compact=True, max_length=1)
                yield Static("", id="offline_msg", markup=False)
            yield Button(f"{t('action.offline', lang)}" + (" Esc" if self.existing else ""), id="offline", compact=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#agent", Input).focus()

    def relabel(self) -> None:
        lang = self.lang
        for widget_id, key in _LABELS.items():
            for label in self.query(f"#{widget_id}").results(Label):
                label.update(t(key, lang))
        self.query_one("#intro", Static).update(t("enroll.intro", lang))
        self.query_one("#pass_hint", Static).update(t("enroll.passphrase_hint", lang))
        self.query_one("#agent_hint", Static).update(t("enroll.agent_hint", lang))
        self.query_one("#enroll", Button).label = t("action.enroll", lang)
        self.query_one("#offline", Button).label = t("action.offline", lang) + (" Esc" if self.existing else "")
        for title in self.query("#offline_title").results(Static):
            title.update(t("enroll.offline_title", lang))

    # -- enrolment --------------------------------------------------------------------------

    def _agent(self, message: Static) -> str | None:
        """The agent's name as typed, cleaned; None (and why, in ``message``) when it is empty or refused."""
        try:
            return clean_agent_name(self.query_one("#agent", Input).value, required=True)
        except ProxyAppError as exc:
            message.update("! " + exc.message(self.lang))
            self.query_one("#agent", Input).focus()
            return None

    def action_enroll(self) -> None:
        hub = self.query_one("#hub", Input).value.strip()
        code = self.query_one("#code", Input).value.strip().upper()
        passphrase = self.query_one("#passphrase", Input).value
        message = self.query_one("#enroll_msg", Static)
        agent = self._agent(message)
        if agent is None:
            return
        if not hub or not code:
            message.update("! " + t("enroll.need", self.lang))
            return
        if len(passphrase) < MIN_PASSPHRASE:
            message.update("! " + t("enroll.passphrase_short", self.lang))
            return
        if passphrase != self.query_one("#passphrase2", Input).value:
            message.update("! " + t("enroll.passphrase_differ", self.lang))
            return
        message.update(t("enroll.working", self.lang))
        self.run_enroll(hub, code, passphrase, agent)

    # The description stands in for the arguments in Textual's worker log: the passphrase is one.
    @work(thread=True, group="enroll", exclusive=True, exit_on_error=False, description="enrol with the hub")
    def run_enroll(self, hub: str, code: str, passphrase: str, agent: str) -> EnrollOutcome:
        """Talk to the hub in a worker thread; a slow or absent network never freezes the screen."""
        return self.station_app.adapter.enroll(
            self.station_app.data_dir, hub, code, passphrase=passphrase, agent_name=agent
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "enroll":
            return
        message = self.query_one("#enroll_msg", Static)
        if event.state is WorkerState.ERROR:
            error = error_text(event.worker.error, self.lang)  # type: ignore[arg-type]
            message.update("! " + t("enroll.failed", self.lang, error=error))
        elif event.state is WorkerState.SUCCESS:
            outcome: EnrollOutcome = event.worker.result  # type: ignore[assignment]
            message.update("")
            try:
                self.station_app.open_station()
            except ProxyAppError as exc:
                message.update("! " + error_text(exc, self.lang))
                return
            body = t(
                "enroll.fingerprint",
                self.lang,
                fingerprint=outcome.fingerprint,
                station=outcome.station_id,
                village=outcome.village,
            )
            self.app.push_screen(
                ConfirmScreen(
                    t("title.enroll", self.lang), body, t("action.match", self.lang), t("action.mismatch", self.lang)
                ),
                self._fingerprint_checked,
            )

    def _fingerprint_checked(self, matches: object) -> None:
        if matches:
            self.dismiss(True)
        else:
            self.query_one("#enroll_msg", Static).update("! " + t("enroll.mismatch", self.lang))

    # -- offline ----------------------------------------------------------------------------

    @on(Input.Changed, "#village")
    def _village_typed(self, event: Input.Changed) -> None:
        shown = ""
        if len(event.value) == 12:
            try:
                village = _divisions().village(event.value)
                shown = t("enroll.village_is", self.lang, township=village.township_name_zh, village=village.name_zh)
            except ProxyAppError as exc:
                shown = "! " + exc.message(self.lang)
        self.query_one("#village_name", Static).update(shown)

    def action_offline(self) -> None:
        app = self.station_app
        if app.station is None:
            if not self.query("#village"):
                return
            agent = self._agent(self.query_one("#offline_msg", Static))
            if agent is None:
                return
            # The passphrase fields above protect the new station's data too; left empty,
            # $STATION_PASSPHRASE does (or Station.init says that one is needed).
            passphrase = self.query_one("#passphrase", Input).value or None
            if passphrase is not None and passphrase != self.query_one("#passphrase2", Input).value:
                self.query_one("#offline_msg", Static).update("! " + t("enroll.passphrase_differ", self.lang))
                return
            try:
                Station.init(
                    app.data_dir,
                    village_code=self.query_one("#village", Input).value.strip(),
                    device=self.query_one("#device", Input).value.strip() or "A",
                    agent_name=agent,
                    passphrase=passphrase,
                    now=app.now,
                ).close()
                app.open_station()
            except ProxyAppError as exc:
                self.query_one("#offline_msg", Static).update("! " + exc.message(self.lang))
                return
        else:
            typed = self.query_one("#agent", Input).value
            if typed.strip() and " ".join(typed.split()) != app.station.agent_name:
                try:  # a station that exists already: a name typed here replaces the one it has
                    app.agent_name = set_agent_name(app.station, typed)
                except ProxyAppError as exc:
                    self.query_one("#enroll_msg", Static).update("! " + exc.message(self.lang))
                    return
        save_prefs(app.data_dir, offline_chosen=True)
        self.dismiss(True)

    @on(Input.Submitted, "#hub, #code, #passphrase, #passphrase2")
    def _submit_enroll(self) -> None:
        self.action_enroll()

    @on(Input.Submitted, "#agent")
    def _agent_entered(self) -> None:
        self.query_one("#hub", Input).focus()  # the name first, then the hub's address

    @on(Input.Submitted, "#village, #device")
    def _submit_offline(self) -> None:
        self.action_offline()

    @on(Button.Pressed, "#enroll")
    def _enroll_pressed(self) -> None:
        self.action_enroll()

    @on(Button.Pressed, "#offline")
    def _offline_pressed(self) -> None:
        self.action_offline()


class AgentNameDialog(StationModal):
    """Ctrl+N: the name of the agent working at this PC, for every history line, note and receipt from now on."""

    BINDINGS = [
        Binding("ctrl+s", "save", "OK", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]
    DEFAULT_CSS = """
    AgentNameDialog .field { height: auto; margin: 0 0 1 0; }
    AgentNameDialog .field > Label { width: 14; text-style: bold; }
    AgentNameDialog .field > Input { width: 1fr; }
    AgentNameDialog #agent_hint { height: auto; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        lang = self.lang
        station = self.station_app.station
        with Vertical(id="dialog"):
            yield Static(t("agent.title", lang), classes="dialog-title", markup=False)
            with Horizontal(classes="field"):
                yield Label(t("enroll.agent_name", lang), markup=False)
                yield Input(station.agent_name if station else "", id="agent", compact=True, max_length=50)
            yield Static(t("agent.hint", lang), id="agent_hint", markup=False)
            yield Static("", id="error", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{t('action.confirm', lang)} Ctrl+S", id="ok", variant="primary", compact=True)
                yield Button(f"{t('action.cancel', lang)} Esc", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#agent", Input).focus()

    def action_save(self) -> None:
        app = self.station_app
        if app.station is None:
            self.dismiss(None)
            return
        try:
            name = set_agent_name(app.station, self.query_one("#agent", Input).value)
        except ProxyAppError as exc:
            self.query_one("#error", Static).update("! " + error_text(exc, self.lang))
            return
        app.agent_name = name  # the title bar of every screen follows
        self.notify(t("agent.done", self.lang, name=plain(name)), markup=False)
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#agent")
    def _submitted(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()
