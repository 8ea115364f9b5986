"""A table whose columns are as wide as their content (CJK counted two cells), cut only when the screen is too narrow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.widgets import DataTable

from tui.fmt import clip, fit_widths

__all__ = ("FitColumn", "FitTable")


class FitColumn(NamedTuple):
    """A column: its key, its header, and how narrow it may be cut (None: never cut)."""

    key: str
    label: str
    minimum: int | None = None
    aside: bool = False
    """On a screen too narrow for every column even cut down, this one is left whole to the
    right, to scroll to, and the others share the width (a masked ID number cut is no use)."""


class FitTable(DataTable[Text]):
    """A DataTable filled whole by :meth:`show`, which sizes the columns to the table's width.

    Every column gets the width of its widest cell while they all fit; when they do not, the
    widest of the columns that may be cut (names, items, reasons) are cut first, with an ASCII
    ``..``, and the table is fitted again whenever its width changes. Fixed widths also spare
    DataTable's own measuring, which runs late (on idle) and left columns at their headers' width.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.spec: list[FitColumn] = []
        self.data: list[tuple[str, list[Text]]] = []
        self.widths: list[int] = []
        self._fitted_for = 0

    def show(self, columns: Sequence[FitColumn], rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """Replace the table's columns and rows (row key, cells); the cursor stays on its line number."""
        self.spec = list(columns)
        self.data = [(key, list(cells)) for key, cells in rows]
        self._fit()

    def room(self) -> int:
        """Cells left for the columns' content: the table's width less cell padding and scrollbar."""
        width = self.size.width or self.app.size.width  # before the first layout: the screen's width
        height = self.size.height or max(1, self.app.size.height - 5)
        if len(self.data) + 1 > height:  # rows and the header: a vertical scrollbar takes its cells
            width -= self.styles.scrollbar_size_vertical
        return width - 2 * self.cell_padding * len(self.spec)

    def _fit(self) -> None:
        cursor = self.cursor_row
        natural = [
            max([cell_len(column.label), *(cell_len(cells[i].plain) for _, cells in self.data)])
            for i, column in enumerate(self.spec)
        ]
        minimum = [
            size if column.minimum is None else max(column.minimum, cell_len(column.label))
            for column, size in zip(self.spec, natural, strict=True)
        ]
        room = self.room()
        if sum(minimum) > room and any(column.aside for column in self.spec):
            # Too narrow: the columns set aside keep their width, off to the right; the others fit.
            inside = [i for i, column in enumerate(self.spec) if not column.aside]
            fitted = fit_widths([natural[i] for i in inside], room, [minimum[i] for i in inside])
            self.widths = list(natural)
            for i, width in zip(inside, fitted, strict=True):
                self.widths[i] = width
        else:
            self.widths = fit_widths(natural, room, minimum)
        self._fitted_for = self.size.width
        self.clear(columns=True)
        for column, width in zip(self.spec, self.widths, strict=True):
            self.add_column(column.label, key=column.key, width=width)
        for key, cells in self.data:
            self.add_row(*(_cut(text, width) for text, width in zip(cells, self.widths, strict=True)), key=key)
        if self.data:
            self.move_cursor(row=min(cursor, len(self.data) - 1))
        self.check_idle()  # DataTable lays rows out when its queue runs idle: now, not at the next key

    def on_resize(self, event: events.Resize) -> None:
        if self.spec and event.size.width != self._fitted_for:
            self._fit()


def _cut(text: Text, cells: int) -> Text:
    if text.cell_len <= cells:
        return text
    return Text(clip(text.plain, cells), style=text.style)
