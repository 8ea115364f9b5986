"""A station's report that it could not install a catalogue version the hub sent (feature 4096).

A station that gets a version it cannot install (a :class:`~sync.protocol.CatalogPatch` whose base it
lacks or holds otherwise, edits that do not apply or do not give the hub's digest, a body that does
not load) keeps working on the versions it holds, says so locally, and from then on tells the hub in
each exchange request (``SyncRequest.catalog_failure``) until a version as new is installed. The hub
records it (the dashboard and ``hub status`` show the station as not on the current catalogue, with
the reason) and queues the current version whole, once per version reported (docs/protocol.md,
"Catalogue publication"). Sent only to a hub that said the bit; an older hub skips the trailing field.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ("FAILURE_CODES", "FEATURE_CATALOG_REPORT", "MAX_REASON", "CatalogFailure", "FailureCode")

FEATURE_CATALOG_REPORT = 4096
"""Station: reports a catalogue version it could not install; hub: records it and sends the current
version whole."""

FailureCode = Literal["base_missing", "base_differs", "patch_failed", "digest_differs", "invalid"]
FAILURE_CODES: tuple[str, ...] = ("base_missing", "base_differs", "patch_failed", "digest_differs", "invalid")
MAX_REASON = 300
"""Characters of the station's English reason the hub keeps (no personal data: catalogue facts only)."""


class CatalogFailure(msgspec.Struct, frozen=True, array_like=True):
    """``[version, code, reason]``: the version not installed, why (a code), and the station's words."""

    version: int
    code: str
    reason: str = ""
