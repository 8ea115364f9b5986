"""Language choice for user-facing text: Chinese (zh) by default, English (en) on request."""

from __future__ import annotations

import os

__all__ = ("LANGS", "pick", "resolve_lang")

LANGS = ("zh", "en")


def resolve_lang(explicit: str | None = None, environ: dict[str, str] | None = None) -> str:
    """The language to speak: an explicit choice, else ``LANG``/``LC_ALL`` starting with "en", else zh.

    Only English is recognised from the environment: every other locale (C, POSIX, zh_CN…)
    keeps the Chinese default, since the users are Chinese village agents.
    """
    if explicit:
        lang = explicit.lower()
        if lang.startswith("en"):
            return "en"
        return "zh"
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LANG"):
        value = env.get(var, "")
        if value:
            return "en" if value.lower().startswith("en") else "zh"
    return "zh"


def pick(lang: str, zh: str, en: str) -> str:
    """Choose between a Chinese and an English text."""
    return en if lang == "en" else zh
