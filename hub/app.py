"""The hub's HTTP app, kept at its old path: ``hub.app:app_from_env`` is the uvicorn factory of ``hub serve``."""

from __future__ import annotations

from hub.web.app import app_from_env, create_app

__all__ = ("app_from_env", "create_app")
