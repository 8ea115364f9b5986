"""What every ``station`` subcommand shares: the data folder, the passphrase, the language, and error handling."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from station.errors import PassphraseError
from station.identity import PASSPHRASE_ENV, passphrase
from station.store import Station
from sync.errors import InputError, ProxyAppError
from sync.i18n import pick

__all__ = ("Context", "handles_errors")

F = TypeVar("F", bound=Callable[..., Any])


def _at_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


class Context:
    """What every subcommand needs: where the data is, its passphrase, and which language to speak."""

    def __init__(self, data_dir: Path, lang: str) -> None:
        self.data_dir = data_dir
        self.lang = lang
        self.out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
        self._passphrase: str | None = None

    def station(self) -> Station:
        """Open the station (its data is encrypted): ``$STATION_PASSPHRASE`` or the OS keyring
        unlock it, else the passphrase is asked for at a terminal (twice when an older database
        is to be encrypted under a new one), else a clear error (exit status 2)."""
        try:
            return Station.open(self.data_dir, passphrase=self._passphrase)
        except PassphraseError as exc:
            if exc.code not in ("passphrase.needed", "passphrase.new") or not _at_terminal():
                raise
            confirm = exc.code == "passphrase.new"
        self._passphrase = passphrase(confirm=confirm, environ={}, interactive=True)
        return Station.open(self.data_dir, passphrase=self._passphrase)

    def passphrase(self) -> str:
        """The passphrase this command was given or asked for already, else ``$STATION_PASSPHRASE``
        or asked for now: one command asks once, for the data and the station key alike."""
        if self._passphrase is None:
            self._passphrase = passphrase()
        return self._passphrase

    def new_passphrase(self) -> str | None:
        """A passphrase for a new station, asked for twice at a terminal; None lets
        ``Station.init`` take ``$STATION_PASSPHRASE`` (or say that it is missing)."""
        if os.environ.get(PASSPHRASE_ENV) or not _at_terminal():
            return None
        self._passphrase = passphrase(confirm=True, environ={}, interactive=True)
        return self._passphrase


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
