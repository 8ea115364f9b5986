"""What every ``hub`` subcommand shares: the context (data folder, language) and error reporting."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from hub.store import HubStore
from sync.errors import IllegalTransition, InputError, ProxyAppError
from sync.i18n import pick

__all__ = ("Context", "fit_table", "handles_errors", "json_text", "text")

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """What every subcommand needs: where the hub's data is and which language to speak."""

    def __init__(self, data_dir: Path, lang: str) -> None:
        self.data_dir = data_dir
        self.lang = lang
        self.out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)

    def store(self) -> HubStore:
        """Open the hub store of the data folder (StoreError when there is no hub)."""
        return HubStore.open_existing(self.data_dir)

    def say(self, zh: str, en: str) -> None:
        """Print one line in the user's language."""
        click.echo(pick(self.lang, zh, en))


def handles_errors(func: F) -> F:
    """Errors become a message on stderr in the user's language: exit 2 for bad input, 1 otherwise."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context().find_object(Context)
        lang = ctx.lang if ctx else "zh"
        try:
            return func(*args, **kwargs)
        except ProxyAppError as exc:
            message = exc.message(lang)
            if isinstance(exc, IllegalTransition) and lang != "en":
                message += f"（{exc.from_status} → {exc.to_status}）"
            click.echo(pick(lang, "错误：", "Error: ") + message, err=True)
            sys.exit(2 if isinstance(exc, InputError) else 1)

    return wrapper  # type: ignore[return-value]


def json_text(data: Any) -> str:
    """Indented JSON with Chinese kept readable."""
    return json.dumps(data, ensure_ascii=False, indent=2)


def text(value: Any) -> str:
    """A table cell: "-" for nothing."""
    return "-" if value is None else str(value)


def fit_table(console: Console, table: Table, *, drop: Sequence[int] = ()) -> Table:
    """``table`` made to fit the terminal: the columns in ``drop`` (by index, least needed first) are left out
    one by one while it is too wide, and a cell still too wide breaks onto a second line instead of being cut
    to "…" (a case number or station id is read whole or not at all)."""
    victims = [table.columns[index] for index in drop]
    unbounded = console.options.update_width(10_000)  # the width every cell needs, not the screen's
    for column in victims:
        if Measurement.get(console, unbounded, table).maximum <= console.width:
            break
        table.columns.remove(column)
    for index, column in enumerate(table.columns):
        column.overflow = "fold"
        column._index = index  # Rich pads the first and last column by their number
    return table
