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


def test_a_peers_version_is_within_the_window_from_the_oldest_peer_on():
    from sync.version import within_window

    assert [within_window(v) for v in (OLDEST_PEER, "0.5.0", "0.4.1+local", "0.10.0")] == [True] * 4
    assert [within_window(v) for v in ("0.3.9", "", None, "test/1")] == [False] * 4
