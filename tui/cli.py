"""The ``station`` console command: the station's CLI plus ``station tui``, which opens the terminal UI.

It lives here, not in station/, because the dependencies point one way (tui → station → sync):
the station package knows nothing of its UI.
"""

from __future__ import annotations

import click

from station.cli import main as station_main
from station.cli_base import Context
from tui.prefs import LOCK_ENV

__all__ = ("main",)


@station_main.command("tui")
@click.option("--hub", "hub_url", default=None, help="County hub address, overriding the one stored at enrolment.")
@click.option(
    "--lock-after",
    "lock_after",
    type=click.FloatRange(min=0),
    default=None,
    metavar="MINUTES",
    envvar=LOCK_ENV,
    show_envvar=True,
    help="Lock the screen after this many idle minutes (default 5; 0: never).",
)
@click.pass_obj
def tui_command(obj: Context, hub_url: str | None, lock_after: float | None) -> None:
    """Open the terminal UI for village agents (keyboard-first, Chinese by default)."""
    from tui.app import run  # Textual loads only when the UI is asked for

    run(obj.data_dir, obj.lang, hub_url=hub_url, lock_after=lock_after)


main = station_main
