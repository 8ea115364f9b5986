"""The demo's info file: ``./run demo`` writes it, the F1 help shows its hub addresses and demo-only accounts.

The file (``demo-data/DEMO.txt``) is for people as much as for the TUI: ``#`` comment lines, then one
``key: value`` per line. The keys read here are ``dashboard``, ``admin``, ``desk``, ``desk_user`` and
``passphrase``; any others (the log, how to keep the hub up) are for the reader of the file alone.
``./run demo`` passes the file's path in ``STATION_DEMO_INFO`` when it opens the TUI; without that
variable (every real station) the help shows no demo section.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from tui.i18n import t

__all__ = ("DEMO_INFO_ENV", "demo_help_lines", "demo_info_from_env", "read_demo_info")

DEMO_INFO_ENV = "STATION_DEMO_INFO"
"""The environment variable ``./run demo`` sets to the info file's path for the TUI it starts."""


def read_demo_info(path: Path) -> dict[str, str]:
    """The ``key: value`` lines of the info file; comments, blank and malformed lines are skipped."""
    info: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition(":")
        if line.startswith("#") or not sep or not key.strip() or " " in key.strip():
            continue
        info[key.strip()] = value.strip()
    return info


def demo_info_from_env(environ: Mapping[str, str] = os.environ) -> tuple[Path, dict[str, str]] | None:
    """The info file named by ``STATION_DEMO_INFO`` and its fields, or None outside the demo.

    An unreadable file is None too: the help must open whatever happened to the demo folder.
    """
    name = environ.get(DEMO_INFO_ENV, "")
    if not name:
        return None
    path = Path(name)
    try:
        return path, read_demo_info(path)
    except (OSError, UnicodeDecodeError):
        return None


def demo_help_lines(path: Path, info: Mapping[str, str], lang: str) -> list[str]:
    """The demo section of the help: the dashboard and desk with their accounts, the passphrase, the file.

    One line each, so that they fit 80 columns unbroken and a URL can be copied off the screen.
    """
    lines = [t("help.demo.title", lang)]
    for site, account in (("dashboard", "admin"), ("desk", "desk_user")):
        if info.get(site):
            label = t(f"help.demo.{site}", lang)
            if info.get(account):
                lines.append(t("help.demo.site_account", lang, label=label, url=info[site], account=info[account]))
            else:
                lines.append(t("help.demo.site", lang, label=label, url=info[site]))
    if info.get("passphrase"):
        lines.append(t("help.demo.passphrase", lang, passphrase=info["passphrase"]))
    lines.append(t("help.demo.file", lang, path=path))
    return lines
