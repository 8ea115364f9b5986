"""Free text people type (names, notes, reasons): refused with control or bidi characters, bounded, cleaned for terminals.

A resident's name is printed by ``station case list``, the TUI, ``hub`` commands and pages. An escape
sequence in it (screen clear, title set) or a right-to-left override (which shows ``exe.txt`` as
``txt.exe``) would act on the terminal or mislead the reader, so such text is refused at intake
(:func:`text_problem`) and stripped on output wherever it comes from (:func:`printable`), since
data stored before the rule, or sent by a hostile key, may still hold it.

Private-use and unassigned code points are allowed on purpose: rare characters in Chinese names
(生僻字) are still written with private-use codes in some registries, and the newest CJK extensions
(H, I) are "unassigned" to a Python built with an older Unicode table, so refusing them would turn
real residents away and make the rule differ between a station and the hub. They print as plain
glyphs (or a box); they neither move the cursor nor turn text around.
"""

from __future__ import annotations

import unicodedata

from sync.errors import InputError
from sync.limits import text_limit

__all__ = ("check_text", "json_for_terminal", "printable", "spreadsheet_cell", "text_problem")

_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Arabic letter mark, LRM/RLM, the embeddings and overrides, the isolates."""

_LINE_BREAKS = frozenset("\n\r\t\v\f\x1c\x1d\x1e\x85\u2028\u2029")
"""Characters that break or space a line: shown as a space in one-line output, not dropped."""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection"); tab and CR are listed
by OWASP too, though :func:`printable` has turned them into spaces by the time they are checked."""


def _bad_character(ch: str, *, multiline: bool) -> bool:
    if ch in _BIDI_CONTROLS:
        return True
    if multiline and ch == "\n":
        return False
    # Cc: C0 and C1 controls (ESC, BEL, CSI ...), DEL; Cs: lone surrogates (cannot even be encoded);
    # the Unicode line and paragraph separators end a line like a line feed.
    return unicodedata.category(ch) in ("Cc", "Cs") or ch in ("\u2028", "\u2029")


def text_problem(field: str, value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` cannot be stored in ``field`` (a short English code), or None when it can.

    Codes: ``too_long`` (past :func:`sync.limits.text_limit`), ``control_character`` (a control or
    bidi-override character, or a lone surrogate; a line feed only where ``multiline``).
    """
    if len(value) > text_limit(field):
        return "too_long"
    if not value.isprintable() and any(_bad_character(ch, multiline=multiline) for ch in value):
        return "control_character"
    return None


def check_text(field: str, value: str, *, multiline: bool = False, label_zh: str | None = None) -> str:
    """``value`` unchanged when it may be stored in ``field``, else InputError naming the field and the fix.

    The message never repeats the value (it may be a resident's name, and it is what was refused).

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
            zh=f"{label}超过 {limit} 个字（现有 {len(value)} 个）；请缩短",
            en=f"{field} is longer than {limit} characters ({len(value)}); shorten it",
            field=field,
            code=f"{field}.too_long",
        )
    raise InputError(
        zh=f"{label}含有控制字符或文字方向控制符；请重新输入，不要粘贴",
        en=f"{field} holds a control or direction-override character; retype it without pasting",
        field=field,
        code=f"{field}.control_character",
    )


def printable(value: object, *, multiline: bool = False) -> str:
    """``value`` as text safe to print on a terminal: control and bidi characters removed.

    For output only (stored data is never rewritten): what was stored before the intake rule, or
    arrived from elsewhere, still prints as plain text. A line break or tab becomes a space, so
    words do not run together (``multiline`` keeps line feeds and drops carriage returns); None
    prints as "".
    """
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if not _bad_character(ch, multiline=multiline):
            out.append(ch)
        elif ch in _LINE_BREAKS and not (multiline and ch == "\r"):  # CR LF is one line feed
            out.append(" ")
    return "".join(out)


def json_for_terminal(text: str) -> str:
    """JSON text with each control or bidi character inside its strings written as a ``\\uXXXX`` escape.

    ``json.dumps`` escapes C0 controls already, not DEL, the C1 controls (U+009B acts as CSI on some
    terminals), the direction overrides or lone surrogates. Escaped, they decode to the very same
    value, so scripts still get the raw data while a terminal showing the JSON gets plain text.
    """
    if text.isprintable():
        return text
    return "".join(f"\\u{ord(ch):04x}" if _bad_character(ch, multiline=True) else ch for ch in text)


def spreadsheet_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: printable, and a leading ``= + - @``, tab or CR defused.

    Such a cell would be run as a formula (``=HYPERLINK(...)`` sends the sheet's data away), so it
    gets a leading apostrophe (OWASP's rule). Only text is touched: numbers, including negative
    ones, stay numbers.
    """
    if not isinstance(value, str):
        return value
    # Cleaned first: an escape character before "=" must not hide the formula from the check below.
    text = printable(value)
    return "'" + text if text.lstrip(" ").startswith(_FORMULA_START) else text
