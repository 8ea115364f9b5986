"""The one error hierarchy of the project: every error raised on purpose carries both languages."""

from __future__ import annotations

import dataclasses

__all__ = (
    "CalendarError",
    "CatalogError",
    "DivisionCodeError",
    "IdNumberError",
    "IllegalTransition",
    "InputError",
    "IntakeError",
    "NotFoundError",
    "Problem",
    "ProblemsError",
    "ProxyAppError",
    "StoreError",
)


class ProxyAppError(Exception):
    """Base of every error the project raises on purpose.

    Each error carries its message in Chinese and English (keyword-only ``zh=``, ``en=``, Chinese
    first as everywhere in the project), the name of the field at fault (when there is one) and a
    short machine code. ``str(error)`` is the English text, which
    is what logs see; user interfaces call :meth:`message` with the user's language.

    Messages must never contain personal data (ID numbers, phone numbers, names): they reach
    logs and administrators.
    """

    code: str = "error"
    """Short machine-readable code, stable across releases (scripts may match on it)."""

    def __init__(self, *, zh: str, en: str, field: str | None = None, code: str | None = None) -> None:
        super().__init__(en)
        self.en = en
        self.zh = zh
        self.field = field
        if code is not None:
            self.code = code

    def message(self, lang: str = "zh") -> str:
        """The message in ``lang`` ("zh" or "en"); Chinese unless English is asked for."""
        return self.en if lang.startswith("en") else self.zh

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, field={self.field!r}, en={self.en!r})"


class InputError(ProxyAppError):
    """Input from a person or a script is wrong; nothing was written. CLI exit status 2."""

    code = "bad_input"


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with a file an operator hands in: where (``holidays[2].from``) and what, in both languages."""

    where: str
    zh: str
    en: str

    def message(self, lang: str) -> str:
        """``where: what`` in ``lang``."""
        return f"{self.where}: {self.en if lang.startswith('en') else self.zh}"


class ProblemsError(InputError):
    """A file with problems: all of them, listed at once (一次性告知); nothing was published.

    Subclasses name the file (``file_zh``, ``file_en``) and their ``code``.
    """

    file_zh = "文件"
    file_en = "file"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        super().__init__(
            zh=f"{self.file_zh}有 {count} 处问题，未发布任何内容：\n"
            + "\n".join(f"  {p.message('zh')}" for p in problems),
            en=f"the {self.file_en} has {count} problem(s); nothing was published:\n"
            + "\n".join(f"  {p.message('en')}" for p in problems),
            field=problems[0].where if problems else None,
        )


class IdNumberError(InputError):
    """A resident ID number (GB 11643) is malformed; ``code`` says which check failed."""

    code = "id_number"


class DivisionCodeError(InputError):
    """A 12-digit statistical division code is malformed or unknown."""

    code = "division_code"


class IntakeError(InputError):
    """An intake breaks the item's rules: unknown item or material, a missing material."""

    code = "intake"


class IllegalTransition(InputError):
    """A case status change the lifecycle does not allow, or not for this actor."""

    code = "illegal_transition"

    def __init__(self, *, zh: str, en: str, from_status: str, to_status: str, actor: str | None = None) -> None:
        super().__init__(zh=zh, en=en, field="status")
        self.from_status = from_status
        self.to_status = to_status
        self.actor = actor


class CatalogError(ProxyAppError):
    """A service catalogue is malformed; the message names the item and the field."""

    code = "catalog"


class CalendarError(ProxyAppError):
    """A working-day calendar table is malformed or inconsistent."""

    code = "calendar"


class NotFoundError(InputError):
    """A case, item or bundle asked for does not exist."""

    code = "not_found"


class StoreError(ProxyAppError):
    """The local store cannot do what was asked (not initialised, disk full, locked)."""

    code = "store"
