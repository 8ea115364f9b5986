"""The routers of ratings and progress queries, wired into the app with one line (hub.web.app)."""

from __future__ import annotations

from hub.web import followups, progress

__all__ = ("RATING_ROUTERS",)

RATING_ROUTERS = (progress.ROUTER, followups.ROUTER)
"""The public progress query (page and JSON) and the department desk's follow-ups of bad ratings."""
