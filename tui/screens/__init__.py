"""The screens of the station TUI: one module per screen, modal dialogs beside the screen that opens them."""

from __future__ import annotations

__all__: tuple[str, ...] = ()
