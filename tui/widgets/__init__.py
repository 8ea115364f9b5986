"""Reusable widgets of the station TUI, each with its own DEFAULT_CSS."""

from __future__ import annotations

__all__: tuple[str, ...] = ()
