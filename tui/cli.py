"""The ``station`` console command: the station's CLI plus ``station tui``, which opens the terminal UI.

It lives here, not in station/, because the dependencies point one way (tui → station → sync):
the station package knows nothing of its UI.
"""

from __future__ import annotations

import click

from station.cli_base import Context
from station.cli import main as station_main

__all__ = ("main",)


@station_main.command("tui")
@click.option("--hub", "hub_url", default=None, help="County hub address, overriding the one stored at enrolment.")
@click.pass_obj
def tui_command(obj: Context, hub_url: str | None) -> None:
    """Open the terminal UI for village agents (keyboard-first, Chinese by default)."""
    from tui.app import run  # Textual loads only when the UI is asked for

    run(obj.data_dir, obj.lang, hub_url=hub_url)


main = station_main
