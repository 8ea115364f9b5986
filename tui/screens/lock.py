"""The idle lock, and the unlock at start: a full, opaque screen over everything until the station passphrase is typed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from textual import on, work
from textual.binding import Binding
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from sync.errors import ProxyAppError
from tui.fmt import plain
from tui.i18n import t
from tui.screens.base import StationScreen, error_text

__all__ = ("LockScreen",)


class LockScreen(StationScreen):
    """Hides the screens below it (village PCs are shared and can be stolen); dismisses once unlocked.

    A full ``Screen`` with an opaque background, not a translucent modal: nothing of the case,
    list or form underneath is drawn while it is up. The station passphrase unlocks it, checked
    in a worker thread (scrypt takes a while on a slow PC); a station with no passphrase at all
    (none of this release has one) is unlocked by Enter.

    At start (``opening``), the same screen asks for the passphrase that opens the station's
    encrypted data, when neither ``$STATION_PASSPHRASE`` nor the OS keyring gave it; with
    ``new_passphrase`` (an older database never given one) it is chosen, typed twice.

    Args:
        locked_at: when the lock came on (aware), shown in local time.
        has_key: whether a passphrase is asked for.
        opening: the station is not open yet (its data is still locked).
        new_passphrase: ask for a new passphrase twice (only with ``opening``).
    """

    TITLE_KEY = "title.lock"
    BINDINGS = [Binding("enter", "unlock", "Unlock")]
    DEFAULT_CSS = """
    LockScreen { background: $background 100%; align: center middle; }
    LockScreen #lock_box {
        width: 72; max-width: 100%; height: auto;
        border: ascii $primary; background: $surface; padding: 1 2;
    }
    LockScreen #lock_heading { text-style: bold; color: $primary; margin: 0 0 1 0; }
    LockScreen #lock_prompt { margin: 1 0 0 0; }
    LockScreen #lock_input, LockScreen #lock_input2 { margin: 1 0 0 0; }
    LockScreen #lock_msg { height: auto; text-style: bold; margin: 1 0 0 0; }
    """

    def __init__(
        self, locked_at: dt.datetime, *, has_key: bool, opening: bool = False, new_passphrase: bool = False
    ) -> None:
        super().__init__()
        self.locked_at = locked_at
        self.has_key = has_key
        self.opening = opening
        self.new_passphrase = opening and new_passphrase
        self.checking = False
        self._message_key: str | None = None
        self._message_values: dict[str, object] = {}

    def compose_body(self) -> Iterable[Widget]:
        with Vertical(id="lock_box"):
            yield Static("", id="lock_heading", markup=False)
            yield Static("", id="lock_station", markup=False)
            yield Static("", id="lock_at", markup=False)
            yield Static("", id="lock_prompt", markup=False)
            field = Input(id="lock_input", password=True, compact=True)
            # Without a key there is nothing to type: hidden, and disabled so focus never lands on it.
            field.display = self.has_key
            field.disabled = not self.has_key
            yield field
            again = Input(id="lock_input2", password=True, compact=True)
            again.display = self.new_passphrase
            again.disabled = not self.new_passphrase
            yield again
            yield Static("", id="lock_msg", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        if self.has_key:
            self.query_one("#lock_input", Input).focus()
        self.relabel()

    def relabel(self) -> None:
        lang = self.lang
        if self.opening:
            self.query_one("#lock_heading", Static).update(
                t("lock.choose_heading" if self.new_passphrase else "lock.opening", lang)
            )
            self.query_one("#lock_station", Static).update(
                t("lock.folder", lang, folder=plain(str(self.station_app.data_dir)))
            )
            self.query_one("#lock_at", Static).display = False
            self.query_one("#lock_prompt", Static).update(
                t("lock.choose" if self.new_passphrase else "lock.open_prompt", lang)
            )
            self.query_one("#lock_input", Input).placeholder = t("lock.placeholder", lang)
            self.query_one("#lock_input2", Input).placeholder = t("lock.again", lang)
            self._show_message()
            return
        station = self.station
        self.query_one("#lock_heading", Static).update(t("lock.heading", lang))
        self.query_one("#lock_station", Static).update(
            t("lock.station", lang, station=plain(station.station_id), village=plain(self._village()))
        )
        when = self.locked_at.astimezone().strftime("%Y-%m-%d %H:%M")
        self.query_one("#lock_at", Static).update(t("lock.at", lang, when=when))
        self.query_one("#lock_prompt", Static).update(t("lock.prompt" if self.has_key else "lock.no_key", lang))
        self.query_one("#lock_input", Input).placeholder = t("lock.placeholder", lang)
        self._show_message()

    def _village(self) -> str:
        station = self.station
        try:
            village = station.divisions.village(station.village_code)
        except ProxyAppError:
            return station.village_code
        return f"{village.township_name_zh}{village.name_zh}"  # the code is in the station id already

    def _say(self, key: str | None, **values: object) -> None:
        # Kept as a key, not text, so F9 puts the message in the other language too.
        self._message_key, self._message_values = key, values
        self._show_message()

    def _show_message(self) -> None:
        lang = self.lang
        values = {
            name: error_text(value, lang) if isinstance(value, BaseException) else value
            for name, value in self._message_values.items()
        }
        text = t(self._message_key, lang, **values) if self._message_key else ""
        self.query_one("#lock_msg", Static).update(text)

    # -- unlocking --------------------------------------------------------------------------

    def action_unlock(self) -> None:
        if not self.has_key:
            self.dismiss(None)
            return
        self._try(self.query_one("#lock_input", Input))

    @on(Input.Submitted, "#lock_input, #lock_input2")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.new_passphrase and event.input.id == "lock_input" and event.value:
            self.query_one("#lock_input2", Input).focus()  # the same again, below
            return
        self.action_unlock()

    def _try(self, field: Input) -> None:
        if self.checking:
            return
        text = field.value
        again_field = self.query_one("#lock_input2", Input)
        again, again_field.value = again_field.value, ""
        field.value = ""  # cleared at once: the passphrase stays in no widget
        if not text:
            self._say("lock.empty")
            field.focus()
            return
        if self.new_passphrase and text != again:
            self._say("lock.differ")
            field.focus()
            return
        self.checking = True
        field.disabled = True
        self._say("lock.checking")
        self.check_passphrase(text)

    # The description is given so that Textual's worker log never shows the argument (the passphrase).
    @work(thread=True, exclusive=True, group="unlock", exit_on_error=False, description="check the station passphrase")
    def check_passphrase(self, text: str) -> bool | Exception:
        """True when ``text`` is the station passphrase (at start: it opened the station's data); a
        wrong one waits a moment first (slows guessing).

        A failure (a damaged key file) comes back as the result, not raised: it is shown to the
        agent, and no worker traceback of this call (whose argument is the passphrase) is made.
        """
        app = self.station_app
        try:
            right = app.open_with_passphrase(text) if self.opening else app.passphrase_unlocks(text)
        except Exception as exc:  # noqa: BLE001 - shown to the agent, the screen stays locked
            return exc
        if not right:
            app.wait_after_wrong_passphrase()
        return right

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "unlock" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        event.stop()  # the app's own handler is for sync and status
        self.checking = False
        result = event.worker.result if event.state is WorkerState.SUCCESS else event.worker.error
        if result is True:
            self.dismiss(None)
            return
        if isinstance(result, Exception):
            self._say("lock.failed", error=result)
        else:
            self._say("lock.wrong")
        field = self.query_one("#lock_input", Input)
        field.disabled = False
        field.focus()
