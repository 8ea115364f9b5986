"""A station restored from a backup takes the hub's word for its own chain before it writes anything again.

``station restore`` marks an enrolled station restored (``meta.restored``): no new work is recorded
(station.store.outbox.recording) and nothing is sealed. Its next sync tells the hub its head seq
(signed); a hub that holds later sets of this station sends back the rows they wrote and the receipt
of each (hub.recovery). A receipt for a set beyond this station's newest is taken as a set of its
own chain, filed before the restore: its seq and hash, the receipt as proof, no envelope (the set is
at the hub). Once the hub's next seq follows this station's head, the restore is confirmed: the
case-number counters move past every number the recovered cases took, and work goes on, the next
set following the hub's head: no fork (docs/protocol.md, "A station restored from a backup").
"""

from __future__ import annotations

import re

import msgspec

from station.identity import HubPins
from station.sealing import head, hub_time
from station.store import Station
from station.store.db import write_txn
from sync.protocol import ProtocolError, verify_receipt
from sync.timeutil import iso_utc

__all__ = ("adopt_receipt", "confirm")


def adopt_receipt(station: Station, pins: HubPins, receipt: bytes) -> int | None:
    """Take a hub receipt for a set of this station beyond its newest sealed one as part of its chain.

    Only a receipt signed by the pinned hub key, for this station, at a seq this station holds no
    set at or after (so never over a set it sealed itself: that stays a fork). Call inside the feed
    set's transaction. Returns the seq adopted, or None.
    """
    try:
        body = verify_receipt(receipt, pins.sign_public)
    except (ProtocolError, msgspec.DecodeError, ValueError):
        return None
    if body.origin != station.station_id:
        return None
    if station.db.execute("SELECT 1 FROM sets_out WHERE seq >= ?", [body.seq]).fetchone():
        return None
    # No envelope: the set is at the hub, sealed to it; this station cannot send it again, nor need to.
    station.db.execute(
        "INSERT INTO sets_out (seq, hash, envelope, changes, created_at, acked_at, receipt) VALUES (?, ?, ?, 0, ?, ?, ?)",
        [body.seq, body.hash, b"", iso_utc(station.now()), hub_time(body.hub_ms), receipt],
    )
    return body.seq


def confirm(station: Station, hub_next_seq: int | None) -> bool | None:
    """After a round of a restored station: True when the hub's chain now follows this station's head
    (the restore is over), False while the hub holds sets it has not sent back yet, None when the
    station is not waiting for a confirmation (or the hub was not heard)."""
    if not station.meta.restored or hub_next_seq is None:
        return None
    if hub_next_seq - 1 > head(station)[0]:
        return False
    with write_txn(station.db):
        backup_head = int(station.meta.restored.get("head_seq", 0))
        if head(station)[0] > backup_head:
            # The PC sealed on after the backup, and sealing takes every unsealed change, oldest first: what
            # waited here unsealed went into set backup_head + 1 at the latest. It came back with the rows.
            station.db.execute("UPDATE outbox SET set_seq = ? WHERE set_seq IS NULL", [backup_head + 1])
            _key_change_went_up(station, backup_head + 1)
        _counters_past_recovered(station)
        station.meta.update({"restored": None})
    return True


def _key_change_went_up(station: Station, seq: int) -> None:
    """A key change (``station rekey``) that waited unsealed in the backup went up in set ``seq`` with the rest,
    and the hub, which now holds that set, acknowledged it: the station goes on under the new key
    (station.rekey.settle, at the end of the round)."""
    record = station.meta.rekey
    if isinstance(record, dict) and record.get("seq") is None:
        station.meta.update({"rekey": msgspec.json.encode({**record, "seq": seq, "acked": True}).decode()})


def _counters_past_recovered(station: Station) -> None:
    """Move each day's case-number counter past the numbers this PC gave out after the backup (they
    came back with the recovered cases), so a new case never takes one the county holds."""
    pattern = re.compile(rf"{re.escape(station.village_code)}-(\d{{4}})(\d{{2}})(\d{{2}})-{station.device}(\d+)")
    highest: dict[str, int] = {}
    for (number,) in station.db.execute("SELECT case_no FROM cases UNION SELECT intake_id FROM intakes"):
        match = pattern.fullmatch(number)
        if match:
            day = f"{match[1]}-{match[2]}-{match[3]}"
            highest[day] = max(highest.get(day, 0), int(match[4]))
    for day, last in highest.items():
        station.db.execute(
            "INSERT INTO counters (day, last) VALUES (?, ?) ON CONFLICT(day) DO UPDATE SET last = MAX(last, excluded.last)",
            [day, last],
        )
