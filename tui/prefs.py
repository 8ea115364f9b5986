"""Small per-station TUI settings (``DATA_DIR/tui.json``): choices the agent made once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ("PREFS_FILE", "load_prefs", "save_prefs")

PREFS_FILE = "tui.json"


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
        (Path(data_dir) / PREFS_FILE).write_text(json.dumps(prefs, ensure_ascii=False, indent=1), encoding="utf-8")
    except OSError:
        pass
