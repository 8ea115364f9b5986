"""Small text helpers shared by the screens: plain cells, clipping to terminal cells, due dates, days left.

Names, notes and reasons come from people and from the hub. Textual reads a string cell of a
DataTable as Rich markup (``[/x]`` in a name crashed the list, ``[b]`` turned it bold), and a control
or direction-override character would act on the terminal, so what the screens show of them goes
through :func:`plain` (or :func:`cell` in a table): printable, and never read as markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text

from sync.text import printable
from tui.i18n import t

__all__ = ("cell", "clip", "days_left_text", "due_text", "fit_widths", "plain")


def plain(value: object, *, multiline: bool = False) -> str:
    """``value`` as text to show: control and bidi characters dropped (line feeds kept if ``multiline``)."""
    return printable(value, multiline=multiline)


def clip(text: str, cells: int) -> str:
    """Cut ``text`` to ``cells`` terminal cells with an ASCII ``..`` (``…`` is ambiguous width); printable."""
    text = printable(text)
    if cell_len(text) <= cells:
        return text
    out = ""
    for char in text:
        if cell_len(out + char) > cells - 2:
            break
        out += char
    return out + ".."


def cell(value: object, cells: int | None = None, *, style: str = "") -> Text:
    """A DataTable cell shown literally (a str cell would be read as markup), clipped to ``cells``."""
    text = printable(value)
    return Text(clip(text, cells) if cells is not None else text, style=style)


def due_text(due: str | None, provisional: bool, lang: str) -> str:
    """``2026-10-08``, ``2027-01-12(预计)`` or ``-``."""
    if not due:
        return "-"
    return due + (t("provisional", lang) if provisional else "")


def days_left_text(days_left: int | None, lang: str) -> str:
    """``!超2天``, ``今日``, ``3天``, or empty when no clock runs."""
    if days_left is None:
        return ""
    if days_left < 0:
        return t("left.overdue", lang, n=-days_left)
    if days_left == 0:
        return t("left.today", lang)
    return t("left.days", lang, n=days_left)


def fit_widths(natural: Sequence[int], room: int, minimum: Sequence[int]) -> list[int]:
    """Column widths (in terminal cells) for ``room`` cells of content.

    Each column gets its natural width (its widest cell, CJK counted two) when they all fit: nothing
    is cut while there is space. Otherwise the widest columns are cut down first, to one common
    cap, none below its ``minimum`` (a column that must not shrink has minimum = natural). When
    even the minimums do not fit, the minimums are returned and the table scrolls sideways.
    """
    natural = list(natural)
    floor = [min(n, m) for n, m in zip(natural, minimum, strict=True)]
    if sum(natural) <= room:
        return natural

    def capped(cap: int) -> list[int]:
        return [min(n, max(cap, f)) for n, f in zip(natural, floor, strict=True)]

    low, high = 0, max(natural)  # the largest cap that fits: sum(capped(cap)) grows with cap
    while low < high:
        middle = (low + high + 1) // 2
        if sum(capped(middle)) <= room:
            low = middle
        else:
            high = middle - 1
    widths = capped(low)
    # Hand the cells left over by the integer cap to the cut columns, one each, left to right.
    spare = room - sum(widths)
    for index, (width, full) in enumerate(zip(widths, natural, strict=True)):
        if spare <= 0:
            break
        if width < full:
            widths[index] += 1
            spare -= 1
    return widths
