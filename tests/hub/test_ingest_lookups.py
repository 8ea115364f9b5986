"""The ingest reads the sending station's row once per set, not once per change (hub.apply's key checks)."""

from __future__ import annotations

from typing import Any

import pytest

from hub.ingest import ingest_sets
from hub.keys import HubIdentity
from hub.store import HubStore
from tests.hub.builders import TestStation
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS


def test_a_set_of_many_new_rows_reads_the_station_row_a_fixed_number_of_times(
    store: HubStore, identity: HubIdentity, station: TestStation, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes = []
    for _ in range(6):
        changes += station.new_case()[1]
    looked_up: list[str] = []
    real = store.station

    def counting(station_id: str, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(station_id)
        return real(station_id, *args, **kwargs)

    monkeypatch.setattr(store, "station", counting)
    result = ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=station.clock)
    assert result.results[0].status == "accepted"
    assert len(changes) >= 18
    # The set's checks and bookkeeping read it a few times; the key checks of each change no longer do.
    assert looked_up.count(station.station_id) <= 4, len(looked_up)
