"""Small text helpers shared by the screens: clipping to terminal cells, due dates, days left."""

from __future__ import annotations

from rich.cells import cell_len

from tui.i18n import t

__all__ = ("clip", "days_left_text", "due_text")


def clip(text: str, cells: int) -> str:
    """Cut ``text`` to ``cells`` terminal cells with an ASCII ``..`` (``…`` is ambiguous width)."""
    if cell_len(text) <= cells:
        return text
    out = ""
    for char in text:
        if cell_len(out + char) > cells - 2:
            break
        out += char
    return out + ".."


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
