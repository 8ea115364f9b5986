"""The top line of every screen: what this screen is, which station this is, and who is working."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from sync.text import printable
from tui.i18n import t

__all__ = ("TitleBar",)


class TitleBar(Static):
    """``今日待办 | 村级代办点 永兴街道店庄社区 A | 李代办``; follows the language and the agent's name.

    Without a name the last part says how to give one (history lines would name nobody).
    """

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
        if hasattr(type(self.app), "agent_name"):  # the station app's reactive (not in a bare test app)
            self.watch(self.app, "agent_name", self._changed, init=False)

    def _changed(self, _value: object = None) -> None:
        self.update(self.line())

    def line(self) -> Text:
        lang = getattr(self.app, "lang", "zh")
        place = printable(getattr(self.app, "station_label", ""))  # village and device letter
        parts = [t(self.title_key, lang), t("app.title", lang) + (" " + place if place else "")]
        if getattr(self.app, "station", None) is not None:
            agent = printable(getattr(self.app, "agent_name", ""))
            parts.append(agent or t("title.no_agent", lang))
        return Text(" " + " | ".join(parts), no_wrap=True, overflow="crop")
