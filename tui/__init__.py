"""The station's terminal UI (Textual): today's work, intake, case list and detail, sync.

Start it with :func:`tui.app.run` or ``python -m tui``. Depends on :mod:`station` and
:mod:`sync`; every call into the sync engine goes through :mod:`tui.sync_adapter`.
"""

from __future__ import annotations

__all__: tuple[str, ...] = ()
