"""A fork the county resolved: this station takes the branch kept, and loses nothing of the other.

The hub tells the station with a :class:`~sync.protocol.ForkResolved` feed item (``hub forks resolve``;
docs/protocol.md, "Forks"), the first of what the resolution queued for it:

- ``keep="hub"``: the hub's chain stands. Inside the feed set's transaction the station moves its sets
  after ``base_seq`` and every change not acknowledged (sealed in them, or not sealed yet) aside into
  ``forked_sets`` and ``forked_outbox`` (kept, never deleted), marking the changes the hub holds already
  (``held``: sealed in both branches). It then waits, as a station restored from a backup does
  (``meta.restored``: nothing recorded, nothing sealed), while the hub's rows and the receipts of its
  sets up to ``head_seq`` come down (station.restore adopts those as its chain). Once the hub's next seq
  follows that head, :func:`record_again` puts each set-aside change the hub lacks back in the outbox as
  a new change, in the order it was made, and the round seals them on top of the hub's chain: each case
  exactly once on both sides.
- ``keep="station"``: the station's chain stands. The hub took its own sets after ``base_seq`` out of the
  chain and sends down the rows they wrote; the fork mark is cleared and the station's sets go up again
  from ``base_seq + 1`` as they were sealed.

Either way the case-number counters move past every number the hub holds of this village and device
letter (``numbers``), so a new case never takes one of the branch not kept.
"""

from __future__ import annotations

import json

from station.store import Station
from station.store.db import write_txn
from sync.changes import StatusChange, decode_change
from sync.errors import IllegalTransition
from sync.lifecycle import check_transition
from sync.protocol import ForkResolved, change_digest
from sync.timeutil import iso_utc

__all__ = ("apply_resolution", "pending_again", "record_again")


def apply_resolution(station: Station, item: ForkResolved) -> str:
    """Take the county's resolution (inside the feed set's transaction); returns a note for the sync log."""
    if item.base_seq > 0:
        row = station.db.execute("SELECT hash FROM sets_out WHERE seq = ?", [item.base_seq]).fetchone()
        if row is None or bytes(row[0]) != item.base_hash:
            # Not the divergence this station holds (another copy of the folder): nothing is changed.
            return (
                f"fork {item.fork_id} resolution not applied: this station's set {item.base_seq} is not the one "
                "the hub holds; call the county administrator"
            )
    moment = iso_utc(station.now())
    _counters_past(station, item.numbers)
    if item.keep == "station":
        # The copied folder held this key too: changed once this branch's sets are up (signed by it).
        station.meta.update({"fork": None, "rekey_after_fork": str(item.fork_id) if item.rekey else None})
        return f"fork {item.fork_id} resolved by the county: this station's chain stands; its sets go up from {item.base_seq + 1}"
    held = set(item.held)
    station.db.execute(
        "INSERT INTO forked_sets (fork_id, seq, hash, envelope, changes, created_at, set_aside_at)"
        " SELECT ?, seq, hash, envelope, changes, created_at, ? FROM sets_out WHERE seq > ?",
        [item.fork_id, moment, item.base_seq],
    )
    aside = station.db.execute(
        "SELECT id, hlc, kind, entity, entity_id, body, created_at, set_seq FROM outbox"
        " WHERE set_seq IS NULL OR set_seq > ? ORDER BY id",
        [item.base_seq],
    ).fetchall()
    for row in aside:
        station.db.execute(
            "INSERT INTO forked_outbox (fork_id, id, hlc, kind, entity, entity_id, body, created_at, set_seq,"
            " held_at_hub) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [item.fork_id, *row, int(change_digest(bytes(row[5])) in held)],
        )
    station.db.execute("DELETE FROM outbox WHERE set_seq IS NULL OR set_seq > ?", [item.base_seq])
    station.db.execute("DELETE FROM sets_out WHERE seq > ?", [item.base_seq])
    fork = station.meta.fork or {}
    # Waits as a restored station does until the hub's chain is this station's (station.restore.confirm).
    station.meta.update(
        {
            "fork": None,
            "restored": json.dumps(
                {
                    "at": moment,
                    "backup_at": fork.get("at", moment),
                    "head_seq": item.base_seq,
                    "feed_seq": station.meta.feed_seq,
                    "fork_id": item.fork_id,
                    # Change this station's key before recording its branch again (station.link.round).
                    "rekey": item.rekey,
                }
            ),
        }
    )
    again = sum(1 for row in aside if change_digest(bytes(row[5])) not in held and row[2] != "key")
    return (
        f"fork {item.fork_id} resolved by the county: the hub's chain stands up to set {item.head_seq}; "
        f"{len(aside)} changes of this station set aside, {again} to be recorded again on top of it"
    )


def pending_again(station: Station) -> int:
    """How many set-aside changes wait to be recorded again (the hub's chain not yet adopted)."""
    return int(
        station.db.execute(
            "SELECT COUNT(*) FROM forked_outbox WHERE held_at_hub = 0 AND kind != 'key' AND rerecorded_as IS NULL"
        ).fetchone()[0]
    )


def record_again(station: Station) -> int:
    """Once the hub's chain is this station's: each set-aside change the hub lacks goes back in the outbox as
    a new change, in the order it was made (sealed next, on top of the hub's chain). Returns how many.

    A key change of the branch is not recorded again (the hub never took it). The status of a case the hub
    already held is its own moves of the branch on top of the hub's state, as for any move not yet seen.
    """
    with write_txn(station.db):
        rows = station.db.execute(
            "SELECT fork_id, id, hlc, kind, entity, entity_id, body FROM forked_outbox"
            " WHERE held_at_hub = 0 AND kind != 'key' AND rerecorded_as IS NULL ORDER BY fork_id, id"
        ).fetchall()
        moment = iso_utc(station.now())
        created = {entity_id for _, _, _, kind, entity, entity_id, _ in rows if kind == "row" and entity == "cases"}
        moves: dict[str, list[StatusChange]] = {}
        for fork_id, old_id, hlc, kind, entity, entity_id, body in rows:
            cursor = station.db.execute(
                "INSERT INTO outbox (hlc, kind, entity, entity_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [hlc, kind, entity, entity_id, body, moment],
            )
            station.db.execute(
                "UPDATE forked_outbox SET rerecorded_as = ? WHERE fork_id = ? AND id = ?",
                [cursor.lastrowid, fork_id, old_id],
            )
            if kind == "status":
                change = decode_change(bytes(body))
                if isinstance(change, StatusChange):
                    moves.setdefault(change.case_no, []).append(change)
        for case_no, made in moves.items():
            if case_no not in created:
                _moves_on_top(station, case_no, made)
    return len(rows)


def _moves_on_top(station: Station, case_no: str, made: list[StatusChange]) -> None:
    """The case's status as the hub sent it, with this station's moves of the set-aside branch on top
    (one the lifecycle no longer allows is left for the hub to refuse, with a reason that comes down)."""
    row = station.db.execute("SELECT status, outcome FROM cases WHERE case_no = ?", [case_no]).fetchone()
    if row is None:
        return
    status, outcome = row
    for change in made:
        try:
            check_transition(status, change.to_status, change.actor)
        except (IllegalTransition, ValueError):
            continue
        status, outcome = change.to_status, change.outcome if change.outcome is not None else outcome
    station.db.execute("UPDATE cases SET status = ?, outcome = ? WHERE case_no = ?", [status, outcome, case_no])


def _counters_past(station: Station, numbers: list[tuple[str, int]]) -> None:
    """Move each day's case-number counter past the highest number the hub holds of this PC that day."""
    for day, last in numbers:
        station.db.execute(
            "INSERT INTO counters (day, last) VALUES (?, ?) ON CONFLICT(day) DO UPDATE SET last = MAX(last, excluded.last)",
            [day, last],
        )
