"""Hub settings: where the data lives and the limits the HTTP endpoints enforce."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs

__all__ = ("MAX_BODY_BYTES", "MAX_INFLATED_BYTES", "Settings", "default_data_dir")

MAX_BODY_BYTES = 8 * 1024 * 1024
"""A request body over this is refused (413 too_large) before it is read in full."""

MAX_INFLATED_BYTES = 16 * 1024 * 1024
"""A gzip body that inflates past this is a decompression bomb (413 too_large)."""


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``HUB_DATA_DIR`` if set, else the per-user data folder of this OS ("proxyapp-hub")."""
    env = os.environ if environ is None else environ
    if env.get("HUB_DATA_DIR"):
        return Path(env["HUB_DATA_DIR"])
    return Path(platformdirs.user_data_dir("proxyapp-hub", appauthor=False))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """What :func:`hub.app.create_app` needs; build it with :meth:`from_env` under uvicorn."""

    data_dir: Path
    """The hub data folder made by ``hub init`` (hub.key, hub.db)."""
    max_body_bytes: int = MAX_BODY_BYTES
    max_inflated_bytes: int = MAX_INFLATED_BYTES
    feed_limit: int = 20
    """Feed sets per response when the station does not say."""
    feed_limit_max: int = 200
    clock_skew_ms: int = 5 * 60 * 1000
    """A station whose clock is off by more than this is flagged to administrators (invariant 8)."""
    debug: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from the environment: ``HUB_DATA_DIR`` (else the per-user folder)."""
        return cls(data_dir=default_data_dir(environ))
