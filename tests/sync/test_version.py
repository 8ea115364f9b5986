"""The support window in code: the oldest peer is the minor release two before this one."""

from __future__ import annotations

import re

from sync.version import OLDEST_PEER, SOFTWARE_VERSION, SUPPORT_WINDOW


def _minor(version: str) -> int | None:
    match = re.match(r"0\.(\d+)", version)
    return int(match.group(1)) if match else None


def test_the_oldest_peer_moves_with_each_minor_release():
    # 0.6 talks to 0.4 and 0.5 (docs/protocol.md, "Support window"). A release of 0.7 that still says
    # 0.4 keeps code paths it should have deleted: this fails until OLDEST_PEER is moved on.
    assert SUPPORT_WINDOW == 2 and _minor(OLDEST_PEER) is not None
    this = _minor(SOFTWARE_VERSION)
    if this is not None and this >= 6:  # 0.5.0 and a checkout never installed are before the window rule
        assert _minor(OLDEST_PEER) == this - SUPPORT_WINDOW, (SOFTWARE_VERSION, OLDEST_PEER)
