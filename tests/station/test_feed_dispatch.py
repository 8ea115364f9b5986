"""Feed items are dispatched by matching on the DownItem union; an item of any other type is refused by name."""

from __future__ import annotations

import pytest

from station.errors import FeedError
from station.feed import _Applier
from station.identity import require_pins
from station.store import Station
from sync.crypto import KeyPair
from sync.protocol import GENESIS, SignedSet


def _applier(station: Station, keys: KeyPair) -> _Applier:
    signed = SignedSet(origin=f"hub>{station.station_id}", seq=3, prev=GENESIS, created_ms=0, hlc=0, count=1, body=b"")
    return _Applier(station, keys, require_pins(station.db), signed)


class _NotADownItem:
    pass


def test_an_item_outside_the_union_is_refused_naming_its_type(station: Station, keys: KeyPair) -> None:
    with pytest.raises(FeedError) as caught:
        _applier(station, keys).apply(_NotADownItem())  # type: ignore[arg-type]
    error = caught.value
    assert (error.code, error.seq) == ("apply", 3)
    assert "_NotADownItem" in error.en and "_NotADownItem" in error.zh
