"""Free text people type (names, notes, reasons): refused with control or bidi characters, bounded, cleaned for terminals.

A resident's name is printed by ``station case list``, the TUI, ``hub`` commands and pages. An escape
sequence in it (screen clear, title set) or a right-to-left override (which shows ``exe.txt`` as
``txt.exe``) would act on the terminal or mislead the reader, so such text is refused at intake
(:func:`text_problem`) and stripped on output wherever it comes from (:func:`printable`), since
data stored before the rule, or sent by a hostile key, may still hold it.
"""

from __future__ import annotations

import unicodedata

from sync.errors import InputError
from sync.limits import text_limit

__all__ = ("check_text", "printable", "text_problem")

_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Arabic letter mark, LRM/RLM, the embeddings and overrides, the isolates."""

_MULTILINE_OK = frozenset({"\n"})


def _bad_character(ch: str, *, multiline: bool) -> bool:
    if ch in _BIDI_CONTROLS:
        return True
    if multiline and ch in _MULTILINE_OK:
        return False
    # Cc: C0 and C1 controls (ESC, BEL, CSI ...), DEL; Cs: lone surrogates; Co/Cn: private and unassigned
    # code points have no business in a name or a note either.
    return unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") or ch in ("\u2028", "\u2029")


def text_problem(field: str, value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` cannot be stored in ``field`` (a short English code), or None when it can.

    Codes: ``too_long`` (past :func:`sync.limits.text_limit`), ``control_character`` (a control,
    bidi-override, private-use or unassigned character; a line break only where ``multiline``).
    """
    if len(value) > text_limit(field):
        return "too_long"
    if any(_bad_character(ch, multiline=multiline) for ch in value):
        return "control_character"
    return None


def check_text(field: str, value: str, *, multiline: bool = False, label_zh: str | None = None) -> str:
    """``value`` unchanged when it may be stored in ``field``, else InputError naming the field and the fix.

    Args:
        field: the field's name (its length limit comes from :data:`sync.limits.TEXT_LIMITS`).
        value: the text as typed.
        multiline: line breaks allowed (notes), not in names or reasons.
        label_zh: what the field is called in Chinese for the message (defaults to the field name).
    """
    problem = text_problem(field, value, multiline=multiline)
    if problem is None:
        return value
    label = label_zh or field
    if problem == "too_long":
        limit = text_limit(field)
        raise InputError(
            f"{field} is longer than {limit} characters ({len(value)}); shorten it",
            f"{label}超过 {limit} 个字（现有 {len(value)} 个）；请缩短",
            field=field, code=f"{field}.too_long",
        )
    raise InputError(
        f"{field} holds a control or direction-override character; retype it without pasting",
        f"{label}含有控制字符或文字方向控制符；请重新输入，不要粘贴",
        field=field, code=f"{field}.control_character",
    )


def printable(value: object, *, multiline: bool = False) -> str:
    """``value`` as text safe to print on a terminal: control and bidi characters removed.

    For output only (stored data is never rewritten): what was stored before the intake rule, or
    arrived from elsewhere, still prints as plain text.
    """
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(ch for ch in text if not _bad_character(ch, multiline=multiline))
