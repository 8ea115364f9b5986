"""A scanned page drawn in the terminal: one coloured cell per two pixels, for checking which page it is."""

from __future__ import annotations

import io

from PIL import Image, ImageOps
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

__all__ = ("PagePreview", "preview_text")

CELL_ASPECT = 2.0
"""A terminal cell is about twice as tall as it is wide: one cell shows a pixel two high."""


def preview_text(data: bytes, width: int, height: int) -> Text:
    """The page (encoded image bytes) fitted into ``width`` x ``height`` cells, each a space on the page's grey
    or colour there.

    Plain spaces with a background colour, not the half-block glyph ``▀``: that glyph is of ambiguous
    East Asian width and CJK terminals draw it two cells wide, which would scramble the picture. A
    page's shape and layout show, not its words: press O to read it in the system's viewer.
    """
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    width, height = max(1, width), max(1, height)
    # Fit the page (keeping its shape) into the cells, each cell CELL_ASPECT times as tall as wide.
    scale = min(width / image.width, height * CELL_ASPECT / image.height)
    cols = max(1, min(width, round(image.width * scale)))
    rows = max(1, min(height, round(image.height * scale / CELL_ASPECT)))
    small = image.resize((cols, rows), Image.Resampling.BOX)
    pixels = small.load()
    assert pixels is not None
    text = Text(no_wrap=True, overflow="crop")
    for y in range(rows):
        for x in range(cols):
            r, g, b = pixels[x, y]  # type: ignore[misc]
            text.append(" ", style=Style(bgcolor=f"#{r:02x}{g:02x}{b:02x}"))
        if y < rows - 1:
            text.append("\n")
    return text


class PagePreview(Static):
    """Shows one page's bytes with :func:`preview_text`, refitted when the widget is resized."""

    DEFAULT_CSS = """
    PagePreview { width: 1fr; height: 1fr; }
    """

    def __init__(self, data: bytes, **kwargs: object) -> None:
        super().__init__("", markup=False, **kwargs)  # type: ignore[arg-type]
        self.data = data

    def on_resize(self) -> None:
        self.update(preview_text(self.data, self.size.width, self.size.height))
