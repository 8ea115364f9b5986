"""Progress bars for the hub's long CLI commands (backup, restore, migrate): one bar per stage, at a terminal only."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from sync.i18n import pick

__all__ = ("StageBars",)


class StageBars:
    """One progress bar per stage on stderr, shown only at a terminal (a cron job's or script's log stays clean).

    Called as ``bars(stage, done, total)``; ``labels(stage)`` gives the stage's (zh, en) label.
    """

    def __init__(
        self, lang: str, labels: Callable[[str], tuple[str, str]], *, show_percent: bool | None = None
    ) -> None:
        self.lang = lang
        self.labels = labels
        self.show_percent = show_percent
        self.shown = sys.stderr.isatty()
        self.bar: Any = None
        self.stage = ""
        self.done = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.shown:
            return
        if stage != self.stage:
            self.close()
            label = pick(self.lang, *self.labels(stage))
            self.bar = click.progressbar(
                length=max(total, 1), label=label, file=sys.stderr, show_percent=self.show_percent
            )
            self.bar.__enter__()
            self.stage, self.done = stage, 0
        self.bar.update(max(done - self.done, 0))
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
