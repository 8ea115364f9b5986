"""What the issue-14 benchmarks share: progress to stderr, the machine's line, the figures printed and saved."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ("log", "machine", "print_figures")


def log(message: str) -> None:
    """A progress line."""
    print(message, file=sys.stderr, flush=True)  # progress to stderr, figures to stdout


def machine(*, sqlite: bool = True) -> dict[str, Any]:
    """The machine the figures were taken on (with SQLite's version where the run is on SQLite only)."""
    figures: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    if sqlite:
        figures["sqlite"] = sqlite3.sqlite_version
    figures["platform"] = platform.platform()
    return figures


def print_figures(figures: dict[str, Any], table: str, *, started: float, out: Path | None, note: str = "") -> None:
    """The machine's line, how long the run took (and ``note``), the table; the figures as JSON to ``out``."""
    m = figures["machine"]
    sqlite = f"  SQLite {m['sqlite']}" if "sqlite" in m else ""
    print(f"{m['date']}  {m['cpus']} CPUs  Python {m['python']}{sqlite}  {m['platform']}")
    print(f"run took {time.perf_counter() - started:.0f} s{note}\n")
    print(table)
    if out:
        out.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
