"""The key line at the bottom: the keys that work here, labelled in the user's language."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import App
from textual.binding import Binding
from textual.widgets import Static

from tui.i18n import action_label

__all__ = ("KeyBar", "key_display")

_NAMES = {
    "escape": "Esc",
    "enter": "Enter",
    "space": "Space",
    "question_mark": "?",
    "delete": "Del",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "tab": "Tab",
    "up": "Up",
    "down": "Down",
}


def key_display(binding: Binding) -> str:
    """``Ctrl+S``, ``F5``, ``Esc``: spelled out, as agents read them off the keyboard."""
    if binding.key_display:
        return binding.key_display
    shown = []
    for key in binding.key.split(","):
        parts = key.strip().split("+")
        *mods, name = parts
        name = _NAMES.get(name, name.upper() if len(name) <= 3 else name.title())
        shown.append("+".join([m.title() for m in mods] + [name]))
    return "/".join(shown)


class KeyBar(Static):
    """Like Textual's Footer, but with our labels (Chinese or English) and plain ASCII key names.

    F1 (help) and F9 (the other language: what someone who cannot read this one looks for) come
    first; then this screen's keys, then the other keys that work everywhere, Quit last. When they
    do not fit on one line (80 columns, English) the line wraps between keys onto a second one:
    no key is ever cut off. A key can be clicked as well as pressed.
    """

    DEFAULT_CSS = """
    KeyBar {
        height: auto;
        max-height: 3;
        background: $panel;
        color: $foreground;
    }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._changed)
        self.watch(self.app, "lang", self._changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def on_resize(self) -> None:
        self._changed()

    def _changed(self, _value: object = None) -> None:
        self.update(self.line(self.size.width or self.app.size.width))

    def entries(self) -> list[Text]:
        """One piece of text per key, in the order shown: `` F1 ``帮助."""
        lang = getattr(self.app, "lang", "zh")
        first: list[tuple[str, Binding, bool]] = []
        local: list[tuple[str, Binding, bool]] = []
        common: list[tuple[str, Binding, bool]] = []
        seen: set[str] = set()
        for node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            namespace = "app" if isinstance(node, App) else "screen"
            entry = (namespace, binding, enabled)
            if binding.action in ("help", "toggle_lang"):
                first.append(entry)
            elif namespace == "app":
                common.append(entry)
            else:
                local.append(entry)
        # Quit goes last: where the agent looks for it, at the end of the line.
        common.sort(key=lambda entry: entry[1].action == "quit")
        pieces = []
        for namespace, binding, enabled in first + local + common:
            click = Style(meta={"@click": f"{namespace}.{binding.action}"})
            key_style = "bold reverse" if enabled else "dim reverse"
            piece = Text(no_wrap=True)
            piece.append(f" {key_display(binding)} ", style=Style.parse(key_style) + click)
            piece.append(
                action_label(binding.action, lang, binding.description),
                style=(Style.parse("dim") if not enabled else Style()) + click,
            )
            pieces.append(piece)
        return pieces

    def line(self, width: int | None = None) -> Text:
        """The keys as styled text, wrapped between keys to ``width`` cells (None: one line)."""
        text = Text(no_wrap=True, overflow="crop")
        used = 0
        for piece in self.entries():
            size = piece.cell_len + 1  # a space after each key's label
            if width is not None and used and used + size - 1 > width:
                text.append("\n")
                used = 0
            text.append_text(piece)
            text.append(" ")
            used += size
        return text
