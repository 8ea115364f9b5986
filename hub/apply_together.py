"""Changes of a set that go in together: a new case with its first move, an intake's materials in one statement."""

from __future__ import annotations

import datetime as dt

from hub.apply import Outcome, SetScope, fields_after_move, history_line, new_row_values, row_problem
from hub.store import HubStoreProtocol
from sync.changes import RowChange, StatusChange
from sync.ids import event_minter, row_minter
from sync.lifecycle import Actor, Status
from sync.merge import decide_status
from sync.timeutil import parse_iso

__all__ = ("HELD_BACK_TABLES", "HeldAfterAll", "apply_new_case_and_move", "hold_back_new_rows", "write_held_back")


HELD_BACK_TABLES = ("intakes", "intake_materials", "commitments")
"""Tables whose new rows under the station's own numbers a trusted set holds back and writes together, table by
table in this order (a parent before its children): an intake, its materials, its commitments. No rule reads
them back mid-set but a parent's existence (SetScope.held) and an intake's receipt date (SetScope.received)."""


class HeldAfterAll(ValueError):
    """A row inserted together was held already (the statement left it out): the set's changes run again
    one by one, each judged against what is held (a ValueError, as the ingest replays a set on one)."""


def hold_back_new_rows(
    store: HubStoreProtocol,
    run: list[RowChange],
    *,
    origin: str,
    village_code: str,
    lookup_key: bytes,
    now: dt.datetime,
    scope: SetScope,
) -> list[Outcome]:
    """New rows of one of HELD_BACK_TABLES under the station's own numbers, the set's next changes, judged as
    apply_row judges a new row and held back in ``scope`` (write_held_back writes them): the outcomes of the
    first of them, in order, up to the first that is anything else; that one and those after it are left to
    apply_row.

    Only in a ``trusted`` scope, like apply_new_case_and_move. A row found held after all when written (a
    station restored from a copy sends it again) raises :class:`HeldAfterAll` then: the ingest runs the set
    again a change at a time, where it is judged against the row held.
    """
    minter, table = scope.minter, run[0].table if run else ""
    if not scope.trusted or minter is None or table not in HELD_BACK_TABLES:
        return []
    at = scope.stamp(now)[0]
    held_back = scope.rows_held_back.setdefault(table, {})
    parent = table == "intakes"
    outcomes: list[Outcome] = []
    for change in run:
        if (
            change.table != table
            or not change.insert
            or change.pk in held_back  # a key twice: the second is judged against the first, by apply_row
            or (parent and (table, change.pk) in scope.held)
            or row_minter(table, change.pk) != minter
            or row_problem(store, change, scope) is not None
        ):
            break
        values = new_row_values(store, change, origin, village_code, lookup_key, at, minter, scope)
        if isinstance(values, Outcome):
            break
        held_back[change.pk] = values
        if parent:  # as apply_row remembers an intake it inserted in a trusted scope
            scope.held.add((table, change.pk))
            if isinstance(values.get("received_date"), str):
                scope.received[change.pk] = values["received_date"]
        outcomes.append(Outcome(result="applied", village_code=village_code))
    return outcomes


def write_held_back(store: HubStoreProtocol, scope: SetScope) -> None:
    """Write the new rows hold_back_new_rows and apply_new_case_and_move held back, table by table, parents
    first, each table's in order; HeldAfterAll when a row was held after all (a station restored from a copy
    sends it again): the set runs again a change at a time."""
    if scope.rows_held_back:
        held, scope.rows_held_back = scope.rows_held_back, {}
        for table in HELD_BACK_TABLES:
            rows = list(held.get(table, {}).values())
            if rows and store.insert_new_rows(table, rows) != len(rows):
                raise HeldAfterAll(f"{table}: a new row of the set was held already")
    if scope.cases_held_back:
        pairs, scope.cases_held_back = scope.cases_held_back, []
        if store.insert_new_cases_moved(pairs) != len(pairs):
            raise HeldAfterAll("cases: a new case of the set was held already")


def apply_new_case_and_move(
    store: HubStoreProtocol,
    case_change: RowChange,
    move: StatusChange,
    *,
    origin: str,
    village_code: str,
    lookup_key: bytes,
    actors: frozenset[Actor],
    now: dt.datetime,
    scope: SetScope,
) -> tuple[Outcome, Outcome] | None:
    """A new case under the station's own number and its first move, the set's next change, written as
    one row (now, or with the set's other new rows when nobody is sent it: write_held_back): the case goes
    in already moved, with the move in its history (what apply_row and then
    apply_status make of the two, without the case's update, the reads of it and of its history, or the
    counts taken for the draft and moved again). Their outcomes; None, with nothing written, for two
    changes that are anything else, which are then applied one by one.

    Only in a ``trusted`` scope: the history line goes in after the case, and a failure of it must undo
    the case too (the ingest runs the whole set again, a change at a time, when any change fails).
    """
    minter = scope.minter
    if (
        not scope.trusted
        or minter is None
        or case_change.table != "cases"
        or not case_change.insert
        or move.case_no != case_change.pk
        or move.to_status == Status.COMPLETED  # its working days are counted from the case's history
        or row_minter("cases", case_change.pk) != minter
        or event_minter(move.event_id) != minter
        or scope.numbered_twice("cases", case_change.pk)
        or row_problem(store, case_change, scope) is not None
    ):
        return None
    (at, today), calendar = scope.stamp(now), scope.calendar()
    values = new_row_values(store, case_change, origin, village_code, lookup_key, at, minter, scope)
    if isinstance(values, Outcome) or not isinstance(values.get("status"), str):
        return None
    try:
        parse_iso(move.at)
    except ValueError:
        return None
    if decide_status(values["status"], move, origin_actors=actors) is not None:
        return None
    fields = fields_after_move(store, move, values, at, today, calendar, events=[(move.to_status, move.at)])
    row, line = {**values, **fields}, history_line(move, values["status"], origin, at)
    if scope.case_rows_wanted:
        write_held_back(store, scope)  # its intake first
        case = store.insert_new_case_moved(row, line)
        if case is None:
            return None  # held after all: judged one by one against the row
    else:
        # Nobody is sent the case's state: the row as written is all the ingest reads of it (SQLite's
        # RETURNING * would cost as much as the insert), and it goes in with the set's other new rows (write_held_back).
        scope.cases_held_back.append((row, line))
        case = row
    scope.held.add(("cases", case_change.pk))
    moved = Outcome(result="applied", case=case, village_code=case["village_code"], before=values["status"])
    return Outcome(result="applied", village_code=village_code), moved
