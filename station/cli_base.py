"""What every ``station`` subcommand shares: the data folder, the language, and error handling."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from station.store import Station
from sync.errors import InputError, ProxyAppError
from sync.i18n import pick

__all__ = ("Context", "handles_errors")

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """What every subcommand needs: where the data is and which language to speak."""

    def __init__(self, data_dir: Path, lang: str) -> None:
        self.data_dir = data_dir
        self.lang = lang
        self.out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)

    def station(self) -> Station:
        return Station.open(self.data_dir)


def handles_errors(func: F) -> F:
    """Turn the project's errors into a message in the user's language and an exit status.

    Bad input exits 2 (like a usage error: nothing was written); other failures exit 1.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context().find_object(Context)
        lang = ctx.lang if ctx else "zh"
        try:
            return func(*args, **kwargs)
        except ProxyAppError as exc:
            prefix = pick(lang, "错误：", "Error: ")
            click.echo(prefix + exc.message(lang), err=True)
            sys.exit(2 if isinstance(exc, InputError) else 1)

    return wrapper  # type: ignore[return-value]
