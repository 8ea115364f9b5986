"""First start: enrol with the county hub (hub address + one-time code), or start offline for a village."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static
from textual.worker import Worker, WorkerState

from station.store import Station
from sync.divisions import DivisionTree, sample_divisions
from sync.errors import ProxyAppError
from sync.text import check_text
from tui.fmt import plain
from tui.i18n import t
from tui.prefs import save_prefs
from tui.screens.base import StationScreen, error_text
from tui.screens.dialogs import ConfirmScreen
from tui.sync_adapter import EnrollOutcome

__all__ = ("EnrollScreen",)

_LABELS = {
    "lbl-hub": "enroll.hub",
    "lbl-code": "enroll.code",
    "lbl-village": "enroll.village",
    "lbl-device": "enroll.device",
    "lbl-agent": "enroll.agent",
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
    EnrollScreen #lbl-agent, EnrollScreen #lbl-pass2 { width: 10; margin: 0 0 0 2; }
    EnrollScreen #pass_hint { margin: 0 0 1 14; color: $text-muted; }
    EnrollScreen .section { text-style: bold; color: $primary; margin: 1 0 1 0; }
    EnrollScreen #enroll_msg, EnrollScreen #offline_msg { height: auto; text-style: bold; margin: 0 0 1 0; }
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
                    yield Label(t("enroll.agent", lang), id="lbl-agent")
                    yield Input(id="agent", compact=True, max_length=50)
                yield Static("", id="offline_msg", markup=False)
            yield Button(f"{t('action.offline', lang)}" + (" Esc" if self.existing else ""), id="offline", compact=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#hub", Input).focus()

    def relabel(self) -> None:
        lang = self.lang
        for widget_id, key in _LABELS.items():
            for label in self.query(f"#{widget_id}").results(Label):
                label.update(t(key, lang))
        self.query_one("#intro", Static).update(t("enroll.intro", lang))
        self.query_one("#pass_hint", Static).update(t("enroll.passphrase_hint", lang))
        self.query_one("#enroll", Button).label = t("action.enroll", lang)
        self.query_one("#offline", Button).label = t("action.offline", lang) + (" Esc" if self.existing else "")
        for title in self.query("#offline_title").results(Static):
            title.update(t("enroll.offline_title", lang))

    # -- enrolment --------------------------------------------------------------------------

    def action_enroll(self) -> None:
        hub = self.query_one("#hub", Input).value.strip()
        code = self.query_one("#code", Input).value.strip().upper()
        passphrase = self.query_one("#passphrase", Input).value
        message = self.query_one("#enroll_msg", Static)
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
        agent = self.query_one("#agent", Input).value.strip() if self.query("#agent") else ""
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
                    agent_name=check_text(
                        "agent", self.query_one("#agent", Input).value.strip(), label_zh="代办员姓名"
                    ),
                    passphrase=passphrase,
                    now=app.now,
                ).close()
                app.open_station()
            except ProxyAppError as exc:
                self.query_one("#offline_msg", Static).update("! " + exc.message(self.lang))
                return
        save_prefs(app.data_dir, offline_chosen=True)
        self.dismiss(True)

    @on(Input.Submitted, "#hub, #code, #passphrase, #passphrase2")
    def _submit_enroll(self) -> None:
        self.action_enroll()

    @on(Input.Submitted, "#village, #device, #agent")
    def _submit_offline(self) -> None:
        self.action_offline()

    @on(Button.Pressed, "#enroll")
    def _enroll_pressed(self) -> None:
        self.action_enroll()

    @on(Button.Pressed, "#offline")
    def _offline_pressed(self) -> None:
        self.action_offline()
