"""Small TUI settings: choices the agent made once (``DATA_DIR/tui.json``), and the idle lock's defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from station.fsutil import atomic_write

__all__ = ("DEFAULT_LOCK_MINUTES", "LOCK_ENV", "PREFS_FILE", "load_prefs", "save_prefs")

PREFS_FILE = "tui.json"
DEFAULT_LOCK_MINUTES = 5.0
"""Idle minutes before the screen locks: village PCs are shared and can be stolen (brief, privacy)."""
LOCK_ENV = "STATION_LOCK_MINUTES"
"""Read by ``station tui`` and ``python -m tui`` when ``--lock-after`` is not given."""


def load_prefs(data_dir: Path) -> dict[str, Any]:
    """The saved settings; empty when there are none or the file is unreadable."""
    try:
        data = json.loads((Path(data_dir) / PREFS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_prefs(data_dir: Path, **changes: Any) -> None:
    """Merge ``changes`` into the settings file (best effort: a settings file is never worth a crash)."""
    prefs = {**load_prefs(data_dir), **changes}
    try:
        # Owner-only like every file of the data folder (it says how the station works, no personal data).
        atomic_write(Path(data_dir) / PREFS_FILE, json.dumps(prefs, ensure_ascii=False, indent=1).encode("utf-8"))
    except OSError:
        pass
