"""The software version, as stations report it to the hub and administrators see it, and the oldest peer supported."""

from __future__ import annotations

import re
from importlib import metadata

__all__ = ("OLDEST_PEER", "SOFTWARE_VERSION", "SUPPORT_WINDOW", "within_window")

try:
    SOFTWARE_VERSION = metadata.version("proxyapp")
except metadata.PackageNotFoundError:  # running from a checkout that was never installed
    SOFTWARE_VERSION = "0.0.0+checkout"

SUPPORT_WINDOW = 2
"""A hub and a station of release N talk to peers of the two minor releases before it, N-1 and N-2
(docs/protocol.md, "Support window"); what any release ever wrote stays readable for ever."""
OLDEST_PEER = "0.4"
"""The oldest release a peer of this one may run (0.6 - SUPPORT_WINDOW): the exchange, the protocol
features, format-2 sets and ``zstd-r2`` came in 0.4. Moves on with each minor release."""


def within_window(software: str | None) -> bool:
    """Whether a peer's software version (``0.5.0``, ``0.4.1+local``) is ``OLDEST_PEER`` or newer; False for
    what does not start with a version."""
    match = re.match(r"(\d+)\.(\d+)", software or "")
    oldest = re.match(r"(\d+)\.(\d+)", OLDEST_PEER)
    assert oldest is not None
    return match is not None and (int(match[1]), int(match[2])) >= (int(oldest[1]), int(oldest[2]))
