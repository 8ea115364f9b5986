"""Fork resolution: the county's choice between a station's two chains, carried down its feed.

A fork (docs/protocol.md, "Forks") is a station whose chain at the hub and on its PC went different
ways after seq ``base_seq`` (a data folder copied back by hand, without ``station restore``). An
administrator keeps one branch (``hub forks resolve FORK --keep hub|station``); the hub tells the
station with :class:`ForkResolved`, the first item queued for it by the resolution, and the branch
not kept is not lost: its work comes back to whichever side lacks it. Only a station that said
``FEATURE_FORK_RESOLUTION`` gets the item: a 0.4 or 0.5 station refuses a feed set holding an item
it does not know, so the hub refuses to resolve a fork of one until it is upgraded.
"""

from __future__ import annotations

from hashlib import sha256
from typing import Literal

import msgspec

__all__ = ("FEATURE_FORK_RESOLUTION", "ForkResolved", "change_digest")

FEATURE_FORK_RESOLUTION = 256
"""Station: applies :class:`ForkResolved` feed items (docs/protocol.md, "Forks")."""

DIGEST_BYTES = 8


def change_digest(record: bytes) -> bytes:
    """The first 8 bytes of the SHA-256 of a change record exactly as it travels in a set: how the hub
    tells a station which of its changes it holds already (a change sealed in both branches)."""
    return sha256(record).digest()[:DIGEST_BYTES]


class ForkResolved(msgspec.Struct, tag="fork_resolved", frozen=True, kw_only=True):
    """The county resolved this station's fork (feed item ``"fork_resolved"``).

    ``keep="hub"``: the hub's chain stands. The station sets aside its sets after ``base_seq`` (kept,
    never deleted), takes the hub's rows that follow in the feed and the receipts of the hub's sets up to
    ``head_seq`` as its chain, and records again, as new changes on top of that chain, its own changes the
    hub does not hold (``held``: digests of the changes the hub's sets after ``base_seq`` carry).

    ``keep="station"``: the station's chain stands. The hub set its own sets after ``base_seq`` aside
    (kept as evidence; their rows stay, and follow in the feed) and takes the station's sets from
    ``base_seq + 1`` again; the station goes on pushing.

    Either way the station numbers its new cases after ``numbers`` (``[day, last]``: the highest counter
    of its village and device letter the hub holds for each business day), and changes its key first
    when ``rekey`` says so (the copied folder held the same key).
    """

    fork_id: int
    keep: Literal["hub", "station"]
    base_seq: int
    """The last seq both chains share (0: they differ from the first set)."""
    base_hash: bytes
    """The hash of set ``base_seq`` (empty for 0): a station whose set there differs does not apply it."""
    head_seq: int
    """The seq the hub holds for this station once resolved (``keep="hub"``: its own head)."""
    held: list[bytes] = []
    numbers: list[tuple[str, int]] = []
    rekey: bool = False
