"""``python -m tui [--data-dir DIR] [--lang zh|en] [--hub URL] [--lock-after MINUTES]``: start the station TUI."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tui.prefs import LOCK_ENV

__all__ = ("main",)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the app."""
    parser = argparse.ArgumentParser(prog="python -m tui", description="Village station terminal UI (村级代办点)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="station data folder (default: $STATION_DATA_DIR or the per-user folder)",
    )
    parser.add_argument(
        "--lang", choices=["zh", "en"], default=None, help="language (default: zh, or en when LANG is English)"
    )
    parser.add_argument("--hub", default=None, help="county hub address, overriding the one stored at enrolment")
    # A string default goes through `type` too, so a bad $STATION_LOCK_MINUTES is reported like a bad option.
    parser.add_argument(
        "--lock-after",
        type=_minutes,
        default=os.environ.get(LOCK_ENV) or None,
        metavar="MINUTES",
        help=f"lock the screen after this many idle minutes (default 5; 0: never; env {LOCK_ENV})",
    )
    args = parser.parse_args(argv)
    # Imported here so `--help` answers without loading Textual.
    from tui.app import run

    run(args.data_dir, args.lang, hub_url=args.hub, lock_after=args.lock_after)


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of minutes: {text!r}") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"minutes must be 0 or more: {text!r}")
    return value


if __name__ == "__main__":
    main()
