"""The station TUI application: keys that work everywhere, the screens, background sync, and ``run``."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.theme import Theme
from textual.widget import AwaitMount
from textual.worker import Worker, WorkerState

from station.errors import PassphraseError
from station.store import DB_FILE, Station, datakey, default_data_dir
from station.syncstate import SyncStatus, is_enrolled
from sync.errors import ProxyAppError
from sync.i18n import resolve_lang
from sync.timeutil import iso_utc, utc_now
from tui.drafts import NEW_CASE, DraftStore
from tui.i18n import t
from tui.prefs import DEFAULT_LOCK_MINUTES, load_prefs
from tui.receipt import settle_receipts
from tui.screens.base import error_text
from tui.screens.case_detail import CaseDetailScreen
from tui.screens.case_list import CaseListScreen
from tui.screens.dialogs import DraftOfferScreen, PassphraseScreen
from tui.screens.enroll import AgentNameDialog, EnrollScreen
from tui.screens.help import HelpScreen
from tui.screens.home import HomeScreen
from tui.screens.lock import LockScreen
from tui.screens.new_case import NewCaseScreen
from tui.screens.sync import SyncScreen
from tui.sync_adapter import StationLink, SyncAdapter, SyncOutcome
from tui.widgets.status_bar import SyncView

__all__ = ("HIGH_CONTRAST", "StationApp", "run")

LOCKED_ACTIONS = frozenset({"toggle_lang", "quit", "help_quit", "bell", "focus_next", "focus_previous"})
"""The app's actions that still work while locked: none of them shows what the lock hides."""

HIGH_CONTRAST = Theme(
    name="station-contrast",
    # Plain black and white with saturated accents: readable on a cheap, washed-out screen.
    primary="#FFD700",
    secondary="#00D7FF",
    accent="#FFD700",
    warning="#FFD700",
    error="#FF5F5F",
    success="#5FFF5F",
    foreground="#FFFFFF",
    background="#000000",
    surface="#0A0A0A",
    panel="#262626",
    dark=True,
)


def fold_letter_case(event: events.Key) -> None:
    """Make Shift+V and V under Caps Lock the key ``v``: every letter key of the TUI works in both cases.

    The footer and the help show letter keys in upper case, and Caps Lock is often left on after
    typing an ID number ending in X. The bindings are written in lower case; only the key's name
    changes here, the character stays as typed, so a field still receives the upper-case letter.
    """
    key = event.key
    if len(key) == 1 and key.isascii() and key.isupper():
        event.key = key.lower()
    elif key.startswith("shift+") and len(key) == 7 and key[-1].isascii() and key[-1].isalpha():
        # A terminal reporting the modifier rather than the character (the kitty protocol without text).
        event.key = key[-1]
        if event.character is None:
            event.character = key[-1].upper()


class WholeCellScrollBar(ScrollBarRender):
    """A scrollbar thumb in whole cells: the eighth-block glyphs are ambiguous width in CJK terminals."""

    VERTICAL_BARS = [" "] * 8
    HORIZONTAL_BARS = [" "] * 8


class StationApp(App[None]):
    """The village station's terminal UI.

    Args:
        data_dir: the station's data folder.
        lang: "zh" or "en".
        adapter: the door to the sync engine (tests pass a fake one).
        now: the clock (tests pass a fixed one).
        auto_sync: sync in the background at start and every ``sync_every`` seconds when enrolled.
        lock_after: seconds without a key press or mouse event before the lock screen comes up; 0: never.
        idle_clock: the monotonic clock the idle time is measured with (tests pass one they move).
        wrong_passphrase_delay: seconds to wait after a wrong passphrase on the lock screen.
    """

    CSS_PATH = "station.tcss"
    TITLE = "村级代办点"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("f1", "help", "Help"),
        # F2-F5 also over a dialog (help, "saved", a case's move): the key lands on its screen.
        Binding("f2", "home", "Today", priority=True),
        Binding("f3", "new_case", "New case", priority=True),
        Binding("f4", "case_list", "Cases", priority=True),
        Binding("f5", "sync_now", "Sync", priority=True),
        Binding("f9", "toggle_lang", "Language", priority=True),  # also inside dialogs and help
        Binding("ctrl+l", "lock", "Lock", priority=True, show=False),  # in F1 help; quit keeps its place in the footer
        Binding("ctrl+n", "set_agent", "Agent's name", show=False),  # in F1 help; the title bar names the agent
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]
    MODES = {"home": HomeScreen, "new": NewCaseScreen, "list": CaseListScreen, "sync": SyncScreen}

    lang: reactive[str] = reactive("zh")
    sync_view: reactive[SyncView] = reactive(SyncView, always_update=True)
    sync_log_version: reactive[int] = reactive(0)
    agent_name: reactive[str] = reactive("")
    """The agent working at this PC, as the title bar shows it ('' until one is given)."""

    def __init__(
        self,
        data_dir: Path,
        lang: str | None = "zh",
        adapter: StationLink | None = None,
        *,
        now: Callable[[], dt.datetime] = utc_now,
        auto_sync: bool = True,
        sync_every: float = 600.0,
        status_every: float = 30.0,
        lock_after: float = DEFAULT_LOCK_MINUTES * 60,
        idle_clock: Callable[[], float] = time.monotonic,
        wrong_passphrase_delay: float = 1.0,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.set_reactive(StationApp.lang, resolve_lang(lang))
        self.now = now
        self.adapter: StationLink = adapter if adapter is not None else SyncAdapter(now=now)
        self.set_reactive(StationApp.sync_view, SyncView(available=self.adapter.available, started=iso_utc(now())))
        self.auto_sync = auto_sync
        self.sync_every = sync_every
        self.status_every = status_every
        self.station: Station | None = None
        self.station_label = ""
        self.drafts = DraftStore(self.data_dir)
        self.sync_lines: list[str] = []
        self._pending_draft: dict[str, Any] | None = None
        self.lock_after = max(0.0, lock_after)
        self.idle_clock = idle_clock
        self.wrong_passphrase_delay = wrong_passphrase_delay
        self.last_input = idle_clock()
        self.lock_screen: LockScreen | None = None
        self._held_screens: list[tuple[Screen[Any], Callable[[Any], None] | None]] = []
        self._refresh_after_unlock = False

    # -- start and stop ---------------------------------------------------------------------

    def on_mount(self) -> None:
        ScrollBar.renderer = WholeCellScrollBar  # the documented way to restyle every scrollbar
        self.register_theme(HIGH_CONTRAST)
        self.theme = HIGH_CONTRAST.name
        if self.lock_after:
            # A tenth of the timeout, at most 5 s: the lock comes at most that late.
            self.set_interval(min(5.0, max(0.05, self.lock_after / 10)), self.lock_if_idle)
        if (self.data_dir / DB_FILE).exists():
            try:
                self.open_station()
            except PassphraseError as exc:
                # The data is encrypted and neither $STATION_PASSPHRASE nor the keyring opened it: ask.
                self.lock_screen = LockScreen(
                    self.now(), has_key=True, opening=True, new_passphrase=exc.code == "passphrase.new"
                )
                self.push_screen(self.lock_screen, self._opened)
                return
            except ProxyAppError as exc:  # a half-initialised folder: offer enrolment / init again
                self.notify(exc.message(self.lang), severity="error", markup=False)
        self._begin()

    def _begin(self) -> None:
        offline_chosen = bool(load_prefs(self.data_dir).get("offline_chosen"))
        if self.station is None or (not is_enrolled(self.station) and not offline_chosen):
            self.push_screen(EnrollScreen(existing=self.station is not None), self._enrolled)
        else:
            self.start_working()

    def open_with_passphrase(self, text: str) -> bool:
        """Open the station's data with ``text`` (encrypting an older database on the way); runs in
        a worker thread, so only the key is kept: the UI thread then opens its own connection."""
        try:
            Station.open(self.data_dir, passphrase=text, now=self.now).close()
        except PassphraseError as exc:
            if exc.code != "passphrase":
                raise  # too short for a new one, say: shown to the agent
            return False
        if self.adapter_has_key():
            self.adapter.set_passphrase(text)  # one passphrase for the data and the station key: sync need not ask
        return True

    def _opened(self, _result: object = None) -> None:
        self._unlocked()
        try:
            self.open_station()  # with the key unlocked in this process
        except ProxyAppError as exc:
            self.notify(exc.message(self.lang), severity="error", markup=False)
        self._begin()

    def on_unmount(self) -> None:
        if self.station is not None:
            self.station.close()

    def open_station(self) -> Station:
        """Open (or reopen, after enrolment) this thread's connection to the station."""
        if self.station is not None:
            self.station.close()
        self.station = Station.open(self.data_dir, now=self.now)
        try:
            village = self.station.divisions.village(self.station.village_code)
            self.station_label = f"{village.township_name_zh}{village.name_zh} {self.station.device}"
        except ProxyAppError:
            self.station_label = f"{self.station.village_code} {self.station.device}"
        self.agent_name = self.station.agent_name  # the title bar shows it after the place
        return self.station

    def _enrolled(self, result: object) -> None:
        if result and self.station is not None:
            self.start_working()

    def start_working(self) -> None:
        """Show today's work, offer a left-over draft, and start the background status and sync."""
        self.switch_mode("home")
        self.refresh_status()
        self.set_interval(self.status_every, self.refresh_status)
        settle_receipts(self.data_dir)  # wipe the last run's print copies; seal 0.4's plain receipts
        draft = self.drafts.load(NEW_CASE)
        if draft:
            self.push_screen(DraftOfferScreen(draft), self._draft_answer)
        if self.auto_sync and self.station is not None and is_enrolled(self.station):
            # Asked once at the start of the day (Esc: offline); then sync runs by itself.
            self.call_after_refresh(self.start_sync)
            self.set_interval(self.sync_every, lambda: self.start_sync(ask=False))

    def _draft_answer(self, answer: object) -> None:
        if answer == "restore":
            self._pending_draft = self.drafts.load(NEW_CASE)
            self.action_new_case()
        elif answer == "discard":
            self.drafts.delete(NEW_CASE)

    def take_pending_draft(self) -> dict[str, Any] | None:
        """The draft the agent chose to restore, once (the new-case screen asks when shown)."""
        draft, self._pending_draft = self._pending_draft, None
        return draft

    # -- navigation -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.locked:
            return action in LOCKED_ACTIONS  # F2-F5 would switch screens out from under the lock
        if action in ("home", "new_case", "case_list", "sync_now", "lock"):
            if self.station is None:
                return False  # nothing to show before a station exists
            # Not from enrolment (the first start's, or R on the sync screen): F2-F5 would close it,
            # skipping the comparison of the hub's fingerprint. Its Esc leaves it.
            enrolling = self.current_mode == self.DEFAULT_MODE or any(
                isinstance(screen, EnrollScreen) for screen in self.screen_stack
            )
            return action == "lock" or not enrolling
        return True

    def _show_mode(self, mode: str) -> None:
        """Land on ``mode``'s own screen (F2-F5), with fresh data.

        Each mode keeps its own stack of screens: a case opened from the list, or the dialog after a
        save, would otherwise come back on the next F4 or F3 instead of the screen the key names. So
        whatever lies over a mode's screen is closed, on leaving it and on coming back to it.
        """
        refresh = self.current_mode == mode and len(self.screen_stack) == 1
        while len(self.screen_stack) > 1:
            self.pop_screen()  # the screen below is resumed: it re-reads its data
        if self.current_mode != mode:
            self.switch_mode(mode)  # resumed as well
            while len(self.screen_stack) > 1:
                self.pop_screen()
        if refresh:  # already in front: nothing resumes it, so read the data again here
            self.refresh_views()

    def action_home(self) -> None:
        self._show_mode("home")

    def action_new_case(self) -> None:
        self._show_mode("new")

    def action_case_list(self) -> None:
        self._show_mode("list")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_lang(self) -> None:
        self.lang = "en" if self.lang == "zh" else "zh"

    def action_set_agent(self) -> None:
        """Change the agent's name (Ctrl+N), from any screen but over no other dialog."""
        if self.station is not None and not isinstance(self.screen, ModalScreen):
            self.push_screen(AgentNameDialog())

    def open_case(self, case_no: str) -> None:
        """Show one case over the current screen (Esc comes back)."""
        self.push_screen(CaseDetailScreen(case_no))

    # -- the idle lock ----------------------------------------------------------------------

    @property
    def locked(self) -> bool:
        return self.lock_screen is not None

    async def on_event(self, event: events.Event) -> None:
        # Every key press and mouse event reaches the app first (not yet forwarded to a screen):
        # the one place to see that someone is at the keyboard, whatever has focus.
        if (isinstance(event, events.InputEvent) and not event.is_forwarded) or isinstance(event, events.Paste):
            self.last_input = self.idle_clock()
        if isinstance(event, events.Key) and not event.is_forwarded:
            fold_letter_case(event)
        await super().on_event(event)

    def lock_if_idle(self) -> None:
        """Lock when nobody has touched the keyboard or mouse for ``lock_after`` seconds (0: never)."""
        if self.lock_after and not self.locked and self.idle_clock() - self.last_input >= self.lock_after:
            self.action_lock()

    def action_lock(self) -> None:
        """Cover everything with the lock screen; a sync under way goes on."""
        if self.locked or self.station is None:
            return
        self.clear_notifications()  # a toast may name a case ("saved: number") and would show on the lock
        self.lock_screen = LockScreen(self.now(), has_key=self.lock_needs_passphrase())
        self.push_screen(self.lock_screen, self._unlocked)

    def adapter_has_key(self) -> bool:
        return self.adapter.has_station_key(self.data_dir)

    def lock_needs_passphrase(self) -> bool:
        """Whether there is a passphrase to check: the station key's, or the data key's (every
        station of this release has one; only a station with neither is unlocked by Enter)."""
        return self.adapter_has_key() or datakey.has_data_key(self.data_dir)

    def passphrase_unlocks(self, text: str) -> bool:
        """True when ``text`` is the station passphrase (unwraps ``station.key``, else the data key);
        runs in a worker thread."""
        if self.adapter_has_key():
            return self.adapter.check_passphrase(self.data_dir, text)
        try:
            datakey.open_data_key(self.data_dir, text)
        except PassphraseError:
            return False
        return True

    def wait_after_wrong_passphrase(self) -> None:
        """The pause after a wrong passphrase (in the worker thread: the screen stays live)."""
        if self.wrong_passphrase_delay > 0:
            time.sleep(self.wrong_passphrase_delay)

    def _unlocked(self, _result: object = None) -> None:
        self.lock_screen = None
        self.last_input = self.idle_clock()
        self.refresh_bindings()
        held, self._held_screens = self._held_screens, []
        for screen, callback in held:
            self.push_screen(screen, callback)
        if self._refresh_after_unlock:
            self._refresh_after_unlock = False
            self.refresh_views()

    def push_screen(
        self, screen: Any, callback: Any = None, wait_for_dismiss: bool = False, *, mode: str | None = None
    ) -> Any:
        """As Textual's, but nothing comes up over the lock: a dialog opened meanwhile (say, by a
        worker finishing) waits until the lock is gone."""
        if (
            self.locked
            and isinstance(screen, Screen)
            and not isinstance(screen, LockScreen)
            and not wait_for_dismiss
            and mode is None
        ):
            self._held_screens.append((screen, callback))
            return AwaitMount(self.screen, [])
        # Textual's overloads take the flag as a literal (the return type depends on it).
        if wait_for_dismiss:
            return super().push_screen(screen, callback, True, mode=mode)
        return super().push_screen(screen, callback, False, mode=mode)

    # -- sync -------------------------------------------------------------------------------

    def action_sync_now(self) -> None:
        self._show_mode("sync")
        self.start_sync()

    def log_sync(self, line: str) -> None:
        """Add a line to the sync screen's progress view."""
        stamp = self.now().astimezone().strftime("%H:%M:%S")
        self.sync_lines = [*self.sync_lines[-199:], f"{stamp} {line}"]
        self.sync_log_version += 1

    def needs_passphrase(self) -> bool:
        return self.adapter.needs_passphrase(self.data_dir)

    def ask_passphrase(self, then: Callable[[], None], error: str | None = None) -> None:
        """Ask for the station passphrase (a modal), hand it to the adapter, then carry on."""
        if isinstance(self.screen, PassphraseScreen) or self.locked:
            return  # while locked the status line says F5 will ask; nothing pops up over the lock

        def answered(text: object) -> None:
            if isinstance(text, str) and text:
                self.adapter.set_passphrase(text)
                self.sync_view = replace(self.sync_view, locked=False)
                then()

        self.push_screen(PassphraseScreen(error), answered)

    def start_sync(self, ask: bool = True) -> None:
        """Start a background sync unless one is running; typing goes on meanwhile."""
        if self.station is None or self.sync_view.running:
            return
        if self.needs_passphrase():
            self.sync_view = replace(self.sync_view, locked=True)
            if ask:
                self.ask_passphrase(self.start_sync)
            return
        self.sync_view = replace(self.sync_view, running=True)
        self.log_sync(t("sync.started", self.lang))
        self.run_sync()

    @work(thread=True, exclusive=True, group="sync", exit_on_error=False)
    def run_sync(self) -> tuple[SyncOutcome, SyncStatus | None]:
        """One sync round in a worker thread; the adapter opens its own Station (connection) here."""
        outcome = self.adapter.sync_now(self.data_dir, progress=lambda line: self.call_from_thread(self.log_sync, line))
        try:
            status = self.adapter.status(self.data_dir)
        except Exception:  # noqa: BLE001 (the status line can wait for the next refresh)
            status = None
        return outcome, status

    @work(thread=True, exclusive=True, group="status", exit_on_error=False)
    def refresh_status(self) -> SyncStatus:
        """Re-read the sync status in a worker thread (never blocks typing)."""
        return self.adapter.status(self.data_dir)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "status" and event.state is WorkerState.SUCCESS:
            self.sync_view = replace(self.sync_view, status=worker.result)
        elif worker.group == "sync" and event.state is WorkerState.SUCCESS:
            result = worker.result  # Worker.result is Optional; the sync worker always returns a pair
            assert result is not None
            outcome, status = result
            self._sync_finished(outcome, status)
        elif worker.group == "sync" and event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            error = worker.error if event.state is WorkerState.ERROR else None
            message = error_text(error, self.lang) if error is not None else "cancelled"
            self.sync_view = replace(self.sync_view, running=False, online=False)
            self.log_sync(t("sync.failed", self.lang, error=message))
            self.notify(t("sync.failed", self.lang, error=message), severity="error", markup=False)

    def _sync_finished(self, outcome: SyncOutcome, status: SyncStatus | None) -> None:
        self.sync_view = replace(
            self.sync_view,
            running=False,
            online=outcome.ok,
            status=status if status is not None else self.sync_view.status,
        )
        if not outcome.available:
            self.log_sync(t("sync.unavailable", self.lang))
            return
        if outcome.needs_passphrase:
            self.sync_view = replace(self.sync_view, locked=True, online=None)
            self.ask_passphrase(self.start_sync, error=outcome.message(self.lang))
            return
        if not outcome.ok:
            message = t("sync.failed", self.lang, error=outcome.message(self.lang))
            self.log_sync(message)
            if outcome.fatal:
                self.log_sync(t("sync.fatal", self.lang))
            self.notify(message, severity="error", markup=False)
            return
        self.log_sync(
            t("sync.ok", self.lang, pushed=outcome.pushed, acknowledged=outcome.acknowledged, pulled=outcome.pulled)
        )
        if not outcome.in_step:
            self.log_sync(t("sync.not_in_step", self.lang))
        if self.station is not None:
            # A sync may bring a new catalogue, calendar or division tree: drop the cached ones.
            for cached in ("catalog", "calendar", "divisions"):
                self.station.__dict__.pop(cached, None)
        self.refresh_views()

    def refresh_views(self) -> None:
        """Re-read the data of the screen in front (after a sync or an import)."""
        if self.locked:
            self._refresh_after_unlock = True  # the screen in front is the lock: the one below, later
            return
        refresh = getattr(self.screen, "refresh_data", None)
        if callable(refresh):
            refresh()


def run(
    data_dir: Path | None = None,
    lang: str | None = None,
    *,
    hub_url: str | None = None,
    lock_after: float | None = None,
) -> None:
    """Start the TUI on a station data folder (default: ``$STATION_DATA_DIR`` or the per-user folder).

    ``lock_after`` is in minutes (0: never lock); None: :data:`tui.prefs.DEFAULT_LOCK_MINUTES`.
    """
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    minutes = DEFAULT_LOCK_MINUTES if lock_after is None else lock_after
    StationApp(folder, resolve_lang(lang), SyncAdapter(hub_url=hub_url), lock_after=minutes * 60).run()
