"""``python -m tui [--data-dir DIR] [--lang zh|en] [--hub URL]``: start the station TUI."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ("main",)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the app."""
    parser = argparse.ArgumentParser(prog="python -m tui", description="Village station terminal UI (村级代办点)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="station data folder (default: $STATION_DATA_DIR or the per-user folder)")
    parser.add_argument("--lang", choices=["zh", "en"], default=None,
                        help="language (default: zh, or en when LANG is English)")
    parser.add_argument("--hub", default=None, help="county hub address, overriding the one stored at enrolment")
    args = parser.parse_args(argv)
    # Imported here so `--help` answers without loading Textual.
    from tui.app import run

    run(args.data_dir, args.lang, hub_url=args.hub)


if __name__ == "__main__":
    main()
