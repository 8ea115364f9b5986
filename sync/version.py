"""The software version, as stations report it to the hub and administrators see it."""

from __future__ import annotations

from importlib import metadata

__all__ = ("SOFTWARE_VERSION",)

try:
    SOFTWARE_VERSION = metadata.version("proxyapp")
except metadata.PackageNotFoundError:  # running from a checkout that was never installed
    SOFTWARE_VERSION = "0.0.0+checkout"
