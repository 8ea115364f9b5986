"""What every full screen shares: a title line on top, the sync status and the keys at the bottom."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, TypeVar, cast

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widget import Widget

from sync.errors import ProxyAppError
from tui.i18n import t
from tui.widgets.key_bar import KeyBar
from tui.widgets.status_bar import StatusBar
from tui.widgets.title_bar import TitleBar

if TYPE_CHECKING:
    from station.store import Station
    from tui.app import StationApp

__all__ = ("StationModal", "StationScreen", "error_text")


def error_text(exc: BaseException, lang: str) -> str:
    """An error for the agent: the project's own message in their language, else a generic line.

    Unexpected exceptions are not shown verbatim: their text may carry personal data (brief §9).
    """
    if isinstance(exc, ProxyAppError):
        return exc.message(lang)
    return t("error.unexpected", lang, kind=type(exc).__name__)


_Result = TypeVar("_Result")


class StationScreen(Screen[_Result]):
    """A full screen; subclasses set ``TITLE_KEY`` and implement :meth:`compose_body`."""

    TITLE_KEY = "app.title"

    DEFAULT_CSS = """
    StationScreen > #bottom { dock: bottom; height: auto; }
    StationScreen > TitleBar { dock: top; }
    """

    @property
    def station_app(self) -> StationApp:
        return cast("StationApp", self.app)

    @property
    def station(self) -> Station:
        station = self.station_app.station
        assert station is not None, "screens that need a station are shown only once it is open"
        return station

    @property
    def lang(self) -> str:
        return self.station_app.lang

    def compose(self) -> ComposeResult:
        yield TitleBar(self.TITLE_KEY)
        yield from self.compose_body()
        with Vertical(id="bottom"):
            yield StatusBar()
            yield KeyBar()

    def compose_body(self) -> Iterable[Widget]:
        return ()

    def on_mount(self) -> Awaitable[None] | None:  # a subclass's handler may be async (Textual awaits it)
        self.watch(self.app, "lang", self._lang_changed, init=False)
        return None

    def _lang_changed(self, _value: object = None) -> None:
        self.relabel()

    def relabel(self) -> None:
        """Put this screen's own texts in the new language (bars relabel themselves)."""

    def refresh_data(self) -> None:
        """Re-read what the screen shows (after a sync or a change elsewhere)."""


class StationModal(ModalScreen[object]):
    """A dialog over a screen; Esc closes it without doing anything."""

    DEFAULT_CSS = """
    StationModal { align: center middle; background: $background 60%; }
    StationModal > #dialog {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: ascii $primary; background: $surface; padding: 0 1;
    }
    StationModal .dialog-title { text-style: bold; color: $primary; margin: 0 0 1 0; }
    StationModal .error { color: $error; text-style: bold; height: auto; }
    StationModal .buttons { height: auto; margin: 1 0 0 0; }
    StationModal .buttons Button { margin: 0 2 0 0; }
    """

    @property
    def station_app(self) -> StationApp:
        return cast("StationApp", self.app)

    @property
    def lang(self) -> str:
        return self.station_app.lang
