"""The top line of every screen: what this screen is, and which station this is."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from sync.text import printable
from tui.i18n import t

__all__ = ("TitleBar",)


class TitleBar(Static):
    """``今日待办 | 永兴街道店庄社区 A | 李代办``; the title follows the language switch."""

    DEFAULT_CSS = """
    TitleBar {
        height: 1;
        background: $primary;
        color: $background;
        text-style: bold;
    }
    """

    def __init__(self, title_key: str) -> None:
        super().__init__()
        self.title_key = title_key

    def on_mount(self) -> None:
        self.watch(self.app, "lang", self._changed)

    def _changed(self, _value: object = None) -> None:
        self.update(self.line())

    def line(self) -> Text:
        lang = getattr(self.app, "lang", "zh")
        place = printable(getattr(self.app, "station_label", ""))  # the agent's name, as typed at enrolment
        parts = [t(self.title_key, lang), t("app.title", lang) + (" " + place if place else "")]
        return Text(" " + " | ".join(parts), no_wrap=True, overflow="crop")
