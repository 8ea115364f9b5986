"""A village's history for a new or restored PC carries every later field version of every table: a 容缺
commitment's fulfilment (its ``status``, a plain field there) as well as its ``closed_at``. Found by the fleet:
a restored station whose fork was resolved kept the commitment open beside the hub's fulfilled one."""

from __future__ import annotations

from hub.feed import read_feed
from sync.protocol import RowChange
from tests.hub.builders import enrol
from tests.hub.test_app import do_sync


def test_a_new_pc_gets_a_commitments_later_status(client, store, identity, clock, station):
    case_no, changes = station.new_case()
    commitment = f"{case_no}/社会保障卡"
    changes.append(
        station.insert(
            "commitments",
            commitment,
            {
                "commitment_id": commitment,
                "intake_id": case_no,
                "material": "社会保障卡",
                "signer_name": "王小明",
                "signed_at": "2026-11-26T02:00:00Z",
                "due_days": 5,
                "status": "open",
                "closed_at": None,
            },
        )
    )
    assert do_sync(client, station, [station.seal(changes)]).status_code == 200
    clock.advance(days=1)
    closed = station.update("commitments", commitment, {"status": "fulfilled", "closed_at": "2026-11-27T02:00:00Z"})
    assert do_sync(client, station, [station.seal([closed])]).status_code == 200
    assert store.row("commitments", commitment)["status"] == "fulfilled"

    second = enrol(store, identity, clock, village=station.village_code)
    rows, _ = read_feed(store, identity, second.station_id, after=0, limit=None, now=clock())
    items = [item for row in rows for item in second.read_feed_set(row.envelope)[1]]
    later = [i for i in items if isinstance(i, RowChange) and i.table == "commitments" and not i.insert]
    assert [(i.hlc, i.fields) for i in later] == [
        (closed.hlc, {"status": "fulfilled", "closed_at": "2026-11-27T02:00:00Z"})
    ]
