"""Where the hub's store is: the SQLite file in the data folder, or a PostgreSQL database named by a URL.

``HUB_DATABASE_URL`` names the PostgreSQL database; without it, ``hub init --database URL`` recorded the URL
in the data folder (:data:`DATABASE_FILE`, owner-only, beside the hub key); without either, the store is
the SQLite file ``hub.db`` in the data folder. hub.settings checks a URL before anything uses it (exit 2
with the reason); this module only finds it, so that every way of opening the store agrees.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ("DATABASE_FILE", "DATABASE_URL_ENV", "database_url", "record_database_url", "redacted")

DATABASE_URL_ENV = "HUB_DATABASE_URL"
"""The hub's store on PostgreSQL (``postgresql://…``); unset or empty: the recorded URL, else SQLite."""

DATABASE_FILE = "database.url"
"""In the data folder: the URL ``hub init --database`` was given (mode 600: it holds the password)."""


def database_url(data_dir: Path | str, environ: Mapping[str, str] | None = None) -> str | None:
    """The PostgreSQL URL of the hub in ``data_dir`` (``HUB_DATABASE_URL`` first, then the recorded one), or
    None for the SQLite file."""
    env = os.environ if environ is None else environ
    value = env.get(DATABASE_URL_ENV, "").strip()
    if value:
        return value
    try:
        recorded = (Path(data_dir) / DATABASE_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return recorded or None


def record_database_url(data_dir: Path | str, url: str) -> None:
    """Keep ``url`` in the data folder, readable by its owner only (it holds the database password)."""
    path = Path(data_dir) / DATABASE_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(url.strip() + "\n")
    path.chmod(0o600)


def redacted(url: str) -> str:
    """The URL without its password (errors and logs never show it); best effort for malformed ones too."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***" if "@" in url or "password" in url.lower() else url
    main, question, query = rest.partition("?")
    if "@" in main:  # the last @ before the query: a password may hold / or @ unencoded
        userinfo, _, hosts = main.rpartition("@")
        if ":" in userinfo:
            main = f"{userinfo.split(':', 1)[0]}:***@{hosts}"
    query = re.sub(r"(?i)(password=)[^&]*", r"\1***", query)
    return f"{scheme}{sep}{main}{question}{query}"
