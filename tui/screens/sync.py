"""Sync: the status in full, the county's refusals, a progress view of the running sync, USB export and import, enrolment."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Log, Static
from textual.worker import Worker, WorkerState

from station.syncstate import Refusal
from sync.text import printable
from tui.data import refused_list
from tui.i18n import t
from tui.screens.base import StationScreen, error_text
from tui.screens.case_actions import ActionDialog, Field, Values
from tui.sync_adapter import TransferOutcome
from tui.widgets.status_bar import status_line

__all__ = ("EXPORT_DIR", "SyncScreen")

EXPORT_DIR = "exports"
REFUSALS_SHOWN = 10
"""Refusals listed on the screen (the status bar counts them all)."""


class SyncScreen(StationScreen):
    """F5 opens this screen and starts a sync; the log below shows its progress."""

    TITLE_KEY = "title.sync"
    BINDINGS = [
        Binding("s", "start", "Sync"),
        Binding("e", "export", "Export to USB"),
        Binding("i", "import", "Import from USB"),
        Binding("r", "enroll", "Enrol"),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    SyncScreen #sync_intro { padding: 0 1; margin: 0 0 1 0; }
    SyncScreen #sync_state { padding: 0 1; height: auto; }
    SyncScreen .buttons { height: 1; margin: 1 1; }
    SyncScreen .buttons Button { margin: 0 2 0 0; }
    SyncScreen #sync_log { height: 1fr; border: none; background: $panel; margin: 0 1; }
    """

    _logged: object = None
    """The adapter's refusals last written to the log (each sync's are written once)."""

    def compose_body(self) -> Iterable[Widget]:
        yield Static("", id="sync_intro", markup=False)
        yield Static("", id="sync_state")
        with Horizontal(classes="buttons"):
            yield Button("", id="start", variant="primary", compact=True)
            yield Button("", id="export", compact=True)
            yield Button("", id="import", compact=True)
            yield Button("", id="enroll", compact=True)
        yield Log(id="sync_log", auto_scroll=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.watch(self.app, "sync_view", self._show_state)
        self.watch(self.app, "sync_log_version", self._show_log)
        self.relabel()

    def relabel(self) -> None:
        lang = self.lang
        self.query_one("#sync_intro", Static).update(t("sync.intro", lang))
        for widget_id, key, shown in (
            ("start", "action.sync_now", "S/F5"),
            ("export", "action.export", "E"),
            ("import", "action.import", "I"),
            ("enroll", "action.enroll", "R"),
        ):
            self.query_one(f"#{widget_id}", Button).label = f"{t(key, lang)} {shown}"
        self._show_state()

    def _show_state(self, _value: object = None) -> None:
        view = self.station_app.sync_view
        lang = self.lang
        text = Text(no_wrap=False)
        text.append_text(status_line(view, lang))  # the same words as the status bar
        status = view.status
        if status is not None and not status.enrolled:
            text.append("\n" + t("sync.enroll_hint", lang), style="bold")
        self._show_refused(text)
        self.query_one("#sync_state", Static).update(text)
        self.query_one("#enroll", Button).display = status is not None and not status.enrolled
        self.refresh_bindings()

    def _show_refused(self, text: Text) -> None:
        """The county's refusals: what the last sync brought, and every case it refused to file."""
        lang = self.lang
        brought = self.station_app.adapter.last_refused
        now = list(brought)
        if now:
            text.append("\n" + t("sync.refused_now", lang, count=len(now)), style="bold white on red")
            for refusal in now[:REFUSALS_SHOWN]:
                text.append("\n  " + self._refusal_line(refusal))
            if brought is not self._logged:  # into the progress log too, once per sync that brought them
                self._logged = brought
                self.station_app.log_sync(t("sync.refused_now", lang, count=len(now)))
                for refusal in now[:REFUSALS_SHOWN]:
                    self.station_app.log_sync("  " + self._refusal_line(refusal))
        standing = refused_list(self.station_app.station, REFUSALS_SHOWN) if self.station_app.station else []
        if standing:
            text.append("\n" + t("sync.refused_cases", lang), style="bold white on red")
            for refusal in standing:
                text.append("\n  " + self._refusal_line(refusal))

    def _refusal_line(self, refusal: Refusal) -> str:
        reason = refusal.reason_en if self.lang == "en" else refusal.reason_zh
        return printable(t("sync.refused_line", self.lang, case_no=refusal.case_no, code=refusal.code, reason=reason))

    def _show_log(self, _value: object = None) -> None:
        log = self.query_one("#sync_log", Log)
        log.clear()
        log.write_lines(self.station_app.sync_lines[-100:])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "enroll":
            status = self.station_app.sync_view.status
            return status is not None and not status.enrolled
        return True

    # -- actions ----------------------------------------------------------------------------

    def action_start(self) -> None:
        self.station_app.start_sync()

    def _default_export(self) -> Path:
        station = self.station
        stamp = station.now().astimezone().strftime("%Y%m%d-%H%M%S")
        return station.data_dir / EXPORT_DIR / f"{station.village_code}-{station.device}-{stamp}.sync"

    def action_export(self) -> None:
        fields = [Field("input", "path", t("sync.path", self.lang), str(self._default_export()), required=True)]
        self.app.push_screen(ActionDialog(t("action.export", self.lang), fields, lambda v: self._transfer("export", v)))

    def action_import(self) -> None:
        fields = [Field("input", "path", t("sync.path", self.lang), "", required=True)]
        self.app.push_screen(ActionDialog(t("action.import", self.lang), fields, lambda v: self._transfer("import", v)))

    def _transfer(self, kind: str, values: Values) -> None:
        path = Path(str(values["path"]).strip()).expanduser()
        if kind == "export":
            if path.is_dir():  # the agent typed only the USB drive (E:\): put the usual file name there
                path = path / self._default_export().name
            if path.parent == self.station.data_dir / EXPORT_DIR:
                path.parent.mkdir(parents=True, exist_ok=True)
        self.station_app.log_sync(f"{t('action.' + kind, self.lang)}: {path}")
        self.run_transfer(kind, path)

    @work(thread=True, group="transfer", exit_on_error=False)
    def run_transfer(self, kind: str, path: Path) -> tuple[str, TransferOutcome]:
        """USB export or import in a worker thread (a slow stick must not freeze the form)."""
        adapter = self.station_app.adapter
        data_dir = self.station_app.data_dir
        return kind, (adapter.export(data_dir, path) if kind == "export" else adapter.import_(data_dir, path))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "transfer":
            return
        lang = self.lang
        if event.state is WorkerState.SUCCESS:
            kind, outcome = event.worker.result  # type: ignore[misc]
            message = t(f"sync.{kind}_done", lang, path=outcome.path)
            self.station_app.log_sync(message)
            self.notify(message, markup=False)
            self.station_app.refresh_status()
            self.station_app.refresh_views()
        elif event.state is WorkerState.ERROR:
            message = t("sync.transfer_failed", lang, error=error_text(event.worker.error, lang))  # type: ignore[arg-type]
            self.station_app.log_sync(message)
            self.notify(message, severity="error", markup=False)

    def action_enroll(self) -> None:
        from tui.screens.enroll import EnrollScreen  # enroll imports nothing from here; avoid a cycle at import

        def enrolled(_result: bool | None) -> None:
            self.station_app.refresh_status()

        self.app.push_screen(EnrollScreen(existing=True), enrolled)

    def action_back(self) -> None:
        self.station_app.action_home()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        {
            "start": self.action_start,
            "export": self.action_export,
            "import": self.action_import,
            "enroll": self.action_enroll,
        }[event.button.id or "start"]()
