"""A checkbox drawn ``[X]`` / ``[ ]`` in ASCII, readable without colour and in any CJK terminal."""

from __future__ import annotations

from textual.content import Content
from textual.geometry import Size
from textual.widgets import Checkbox

__all__ = ("Check",)


class Check(Checkbox):
    """Textual's Checkbox with an ASCII box.

    The stock box uses half-block characters (East Asian "ambiguous" width, drawn two cells
    wide by some Chinese terminals) and shows on/off by colour alone; ``[X]``/``[ ]`` does
    neither. ``_button`` is the one rendering hook ToggleButton offers (pinned textual 8.2.8).
    """

    DEFAULT_CSS = """
    Check {
        border: none;
        padding: 0 1 0 0;
        height: auto;
        /* A long material name wraps under itself: cut (ToggleButton's default), it lost its
           "(required)" at 80 columns. */
        width: 1fr;
        text-wrap: wrap;
        background: transparent;
        /* ToggleButton draws a tall border on focus, of block characters (ambiguous width, and
           two lines more: the list jumped as Tab moved through it). The highlight says it. */
        &:focus { border: none; background: $primary 40%; text-style: bold; }
        &:focus > .toggle--label { text-style: bold; }
    }
    """

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        # ToggleButton says one line whatever the label; a long material name wraps (CSS above).
        # Widget's own height rule hands its styles to get_height the same way (textual 8.2.8).
        return max(1, self.render().get_height(self.styles, width))  # type: ignore[arg-type]

    @property
    def _button(self) -> Content:
        return Content.assemble(("[X]" if self.value else "[ ]", "bold"))
