"""The ingest's per-set shortcuts keep every guarantee: no savepoint unless a change fails, rows inserted unread, due dates once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import msgspec
import pytest

import hub.ingest
import hub.store.cases
import sync.protocol.sets
from hub.ingest import ingest_sets
from hub.keys import HubIdentity
from hub.store import HubStore
from sync.changes import RowChange, encode_change
from sync.compact import compact
from sync.compression import ZSTD_R2, _zstd
from sync.protocol import CTX_UP, seal_set
from sync.timeutil import iso_utc
from tests.hub.builders import TestStation
from tests.support.postgres import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS


def _push(store: HubStore, identity: HubIdentity, st: TestStation, *sets: bytes) -> list[str]:
    result = ingest_sets(store, identity, list(sets), station_id=st.station_id, now=st.clock, lean=True)
    return [r.status for r in result.results]


def _counts(store: HubStore) -> dict[tuple[str, str, str], int]:
    """The triggers' case_counts rows (non-zero), beside what the cases table holds."""
    kept = {
        (d, t, s): n
        for d, t, s, n in store.db.execute(
            "SELECT department, township, status, n FROM case_counts WHERE n <> 0"
        ).fetchall()
    }
    counted: dict[tuple[str, str, str], int] = {}
    for item, village, status in store.db.execute("SELECT item_code, village_code, status FROM cases").fetchall():
        key = (item.split("-")[0], village[:9] + "000", status)
        counted[key] = counted.get(key, 0) + 1
    assert kept == counted
    return kept


def test_a_change_failing_half_written_is_undone_alone_and_the_rest_of_its_set_applied(
    store, identity, station, station_b
):
    first, changes_a = station.new_case()
    second, changes_b = station.new_case()
    # A value the database refuses (stage is an INTEGER column): the change fails inside its write.
    bad = station.update("cases", first, {"stage": "not a number"})
    assert _push(store, identity, station, station.seal([*changes_a, bad, *changes_b])) == ["accepted"]
    assert [r["code"] for r in store.rejected(station.station_id)] == ["malformed"]
    assert [store.row("cases", c)["status"] for c in (first, second)] == ["RECEIVED", "RECEIVED"]
    assert store.row("cases", first)["stage"] == 0
    assert [len(store.case_events(c)) for c in (first, second)] == [1, 1]
    assert sum(_counts(store).values()) == 2  # each case counted once, not once more for the run undone
    assert store.count_rows("intake_materials") == 2
    # What the village's other PC is sent: each applied change once (the run undone queued nothing that stayed).
    bodies = [body for _, _, body in store.pending_items(station_b.station_id)]
    assert len(bodies) == len(set(bodies)) >= len(changes_a) + len(changes_b)


def _count_savepoints(store: HubStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    opened: list[str] = []
    real = store.savepoint

    @contextlib.contextmanager
    def counted(name: str = "change") -> Iterator[None]:
        opened.append(name)
        with real(name):
            yield

    monkeypatch.setattr(store, "savepoint", counted)
    return opened


def test_a_set_whose_changes_all_go_in_opens_no_savepoint_and_a_failing_one_reruns_each_under_its_own(
    store, identity, station, monkeypatch
):
    opened = _count_savepoints(store, monkeypatch)
    case_no, changes = station.new_case()
    assert len(changes) > 2
    assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
    assert opened == []  # a savepoint around the set costs a journal of every page it touches
    assert store.row("cases", case_no)["status"] == "RECEIVED"

    second, more = station.new_case()
    bad = station.update("cases", second, {"stage": "not a number"})
    assert _push(store, identity, station, station.seal([*more, bad])) == ["accepted"]
    # The set ran once with none, failed at the bad change, was rolled back whole and ran again careful.
    assert opened == ["change"] * (len(more) + 1)
    assert store.row("cases", second)["status"] == "RECEIVED"
    assert [r["code"] for r in store.rejected(station.station_id)] == ["malformed"]
    assert len(store.case_events(second)) == 1
    assert sum(_counts(store).values()) == 2


def test_a_new_case_whose_move_in_the_set_is_refused_still_gets_its_due_date(store, identity, station):
    case_no, changes = station.new_case()
    refused = station.move(case_no, "DRAFT", "COMPLETED")  # not a station's move: refused
    assert _push(store, identity, station, station.seal([*changes[:3], refused])) == ["accepted"]
    assert [r["code"] for r in store.rejected(station.station_id)] != []
    case = store.row("cases", case_no)
    assert case["status"] == "DRAFT"
    assert case["due_date"] == "2026-12-01"  # RS-001: 3 working days after Thu 2026-11-26


def test_a_new_case_moved_later_in_its_set_gets_the_due_date_of_its_state(store, identity, station):
    case_no, changes = station.new_case()
    assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
    assert store.row("cases", case_no)["due_date"] == "2026-12-01"


def test_rows_held_already_sent_again_in_a_later_set_are_duplicates_not_doubled(store, identity, station):
    case_no, changes = station.new_case()
    assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
    # The same changes again in the station's next set (a station restored from a copy sends them anew).
    assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
    assert store.rejected(station.station_id) == []
    assert store.count_rows("cases") == 1 and store.count_rows("intake_materials") == 1
    assert len(store.case_events(case_no)) == 1
    assert sum(_counts(store).values()) == 1


def _case_and_history(store: HubStore, case_no: str) -> tuple[dict[str, object], list[tuple[object, ...]]]:
    case = store.row("cases", case_no)
    assert case is not None
    # What differs between two cases of the same station by their nature: their numbers and versions.
    kept = {k: v for k, v in case.items() if k not in ("case_no", "intake_id", "versions")}
    history = [(e["from_status"], e["to_status"], e["actor"], e["by"], e["origin"]) for e in store.case_events(case_no)]
    return kept, history


def test_a_new_case_and_its_first_move_are_written_as_one_row_as_applying_them_one_by_one_would(
    store, identity, station, station_b, monkeypatch
):
    written_together = []
    together = hub.ingest.apply_new_case_and_move

    def spy(*args, **kwargs):
        both = together(*args, **kwargs)
        written_together.append(both is not None)
        return both

    monkeypatch.setattr(hub.ingest, "apply_new_case_and_move", spy)
    queued_before = len(store.pending_items(station_b.station_id))
    first, changes = station.new_case()
    assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
    assert written_together == [True]
    queued_first = len(store.pending_items(station_b.station_id)) - queued_before

    monkeypatch.setattr(hub.ingest, "_together", lambda *args, **kwargs: {})  # one by one
    second, changes = station.new_case()
    assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
    assert written_together == [True]

    assert _case_and_history(store, first) == _case_and_history(store, second)
    assert store.row("cases", first)["status"] == "RECEIVED"
    assert store.row("cases", first)["due_date"] == "2026-12-01"
    assert _counts(store) == {("RS", station.village_code[:9] + "000", "RECEIVED"): 2}
    # The village's other PC is sent the same for each: the rows and the move.
    assert queued_first == len(changes) + 1  # its changes and the case's state after the move
    assert len(store.pending_items(station_b.station_id)) == queued_before + 2 * queued_first


def test_a_village_s_only_pc_gets_its_new_cases_written_as_one_by_one_and_is_sent_their_state_only_when_not_lean(
    store, identity, station, monkeypatch
):
    # Alone in its village and syncing lean, the station is sent nothing of its own new case: the case
    # goes in without being read back, and must come out as the one-by-one path writes it.
    written: list[str] = []  # "read back" (one case, RETURNING *) or "held back" (the set's cases together)
    insert_moved, insert_all = store.insert_new_case_moved, store.insert_new_cases_moved

    def one(case: dict[str, object], event: dict[str, object]) -> object:
        written.append("read back")
        return insert_moved(case, event)

    def together(pairs: list[tuple[dict[str, object], dict[str, object]]]) -> int:
        written.extend("held back" for _ in pairs)
        return insert_all(pairs)

    monkeypatch.setattr(store, "insert_new_case_moved", one)
    monkeypatch.setattr(store, "insert_new_cases_moved", together)
    kinds_before = sorted(item[1] for item in store.pending_items(station.station_id))
    queued_before = len(kinds_before)
    first, changes = station.new_case()
    assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
    assert written == ["held back"] and len(store.pending_items(station.station_id)) == queued_before

    with monkeypatch.context() as one_by_one:
        one_by_one.setattr(hub.ingest, "_together", lambda *args, **kwargs: {})
        second, changes = station.new_case()
        assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
    assert written == ["held back"]
    assert _case_and_history(store, first) == _case_and_history(store, second)
    assert len(store.pending_items(station.station_id)) == queued_before

    # Not lean (a station of 0.3): its case's state after the move is sent back, read back as inserted.
    third, changes = station.new_case()
    result = ingest_sets(store, identity, [station.seal(changes)], station_id=station.station_id, now=station.clock)
    assert [r.status for r in result.results] == ["accepted"]
    assert written == ["held back", "read back"]
    assert _case_and_history(store, third) == _case_and_history(store, first)
    kinds = sorted(item[1] for item in store.pending_items(station.station_id))
    assert kinds == sorted([*kinds_before, "case_state", "receipt"])  # a receipt in its feed too
    assert _counts(store) == {("RS", station.village_code[:9] + "000", "RECEIVED"): 3}


def test_a_new_case_whose_move_fails_as_written_is_undone_with_it_and_its_set_applied_change_by_change(
    store, identity, station
):
    first, changes = station.new_case()
    assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
    second, changes = station.new_case()
    # The move of the second case under the first move's id: the history line cannot go in after the
    # case went in moved; the set runs again a change at a time, where the move is a duplicate.
    used_id = store.case_events(first)[0]["event_id"]
    changes[-1] = msgspec.structs.replace(changes[-1], event_id=used_id)
    assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
    assert store.row("cases", second)["status"] == "DRAFT"
    assert store.case_events(second) == []
    assert [len(store.case_events(first))] == [1]
    assert _counts(store) == {
        ("RS", station.village_code[:9] + "000", "RECEIVED"): 1,
        ("RS", station.village_code[:9] + "000", "DRAFT"): 1,
    }


def test_a_new_case_with_a_move_the_lifecycle_refuses_is_not_written_moved(store, identity, station):
    case_no, changes = station.new_case()
    changes[-1] = station.move(case_no, "DRAFT", "ACCEPTED")  # a township's move, not the station's
    assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
    assert store.row("cases", case_no)["status"] == "DRAFT"
    assert store.case_events(case_no) == []
    assert [r["code"] for r in store.rejected(station.station_id)] != []


def _materials(station: TestStation, case_no: str, *names: str) -> list[RowChange]:
    return [
        station.insert(
            "intake_materials",
            f"{case_no}/{name}",
            {
                "material_id": f"{case_no}/{name}",
                "intake_id": case_no,
                "name_zh": name,
                "state": "presented",
                "updated_at": iso_utc(station.clock()),
            },
        )
        for name in names
    ]


def _rows_inserted_together(store: HubStore, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Each call of store.insert_new_rows from now on: its table and how many rows it was given."""
    calls: list[tuple[str, int]] = []
    insert_together = store.insert_new_rows

    def spy(table: str, rows: list[dict[str, object]]) -> int:
        calls.append((table, len(rows)))
        return insert_together(table, rows)

    monkeypatch.setattr(store, "insert_new_rows", spy)
    return calls


def test_an_intakes_materials_go_in_together_as_they_would_one_by_one(store, identity, station, station_b, monkeypatch):
    runs = _rows_inserted_together(store, monkeypatch)
    queued_before = len(store.pending_items(station_b.station_id))
    first, changes = station.new_case()
    extra = _materials(station, first, "居民户口簿", "残疾人证", "低保等困难证明")
    assert _push(store, identity, station, station.seal([*changes[:2], *extra, *changes[2:]])) == ["accepted"]
    # The intake, then its four materials, each table's rows in one go (before its case, which the village's
    # other PC is sent, goes in with its first move).
    assert runs == [("intakes", 1), ("intake_materials", 4)]
    queued_together = len(store.pending_items(station_b.station_id)) - queued_before

    monkeypatch.setattr(hub.ingest, "_together", lambda *args, **kwargs: {})  # one by one
    second, changes = station.new_case()
    extra = _materials(station, second, "居民户口簿", "残疾人证", "低保等困难证明")
    assert _push(store, identity, station, station.seal([*changes[:2], *extra, *changes[2:]])) == ["accepted"]
    assert runs == [("intakes", 1), ("intake_materials", 4)]

    def held(intake: str) -> list[tuple[object, ...]]:
        return [
            tuple(r)
            for r in store.db.execute(
                "SELECT name_zh, state FROM intake_materials WHERE intake_id = ? ORDER BY material_id", [intake]
            ).fetchall()
        ]

    assert held(first) == held(second) and len(held(first)) == 4
    assert store.rejected(station.station_id) == []
    assert len(store.pending_items(station_b.station_id)) - queued_before == 2 * queued_together


def _rows_of(store: HubStore, table: str, key: str, intake: str) -> list[tuple[object, ...]]:
    """An intake's rows of ``table`` as the hub holds them, but for what differs between two intakes by nature."""
    skip = {key, "intake_id", "versions"}
    cursor = store.db.execute(f"SELECT * FROM {table} WHERE intake_id = ? ORDER BY rowid", [intake])
    names = [d[0] for d in cursor.description]
    return [tuple(v for n, v in zip(names, row, strict=True) if n not in skip) for row in cursor.fetchall()]


def test_a_village_s_only_pc_s_set_goes_in_table_by_table_as_it_would_one_by_one(store, identity, station, monkeypatch):
    calls = _rows_inserted_together(store, monkeypatch)

    def backlog() -> list[str]:
        intakes, changes = [], []
        for _ in range(3):
            intake, made = station.new_case()
            intakes.append(intake)
            changes += [
                *made[:2],
                *_materials(station, intake, "居民户口簿", "残疾人证"),
                _commitment(station, intake, "户口簿", 5),
            ]
            changes += made[2:]
        assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
        return intakes

    together = backlog()
    # A backlog's set of a village's only PC (lean): each table's new rows in one statement, parents first.
    assert calls == [("intakes", 3), ("intake_materials", 9), ("commitments", 3), ("cases", 3)]
    monkeypatch.setattr(hub.ingest, "_together", lambda *args, **kwargs: {})  # one by one
    alone = backlog()
    assert len(calls) == 4
    assert store.rejected(station.station_id) == []
    tables = {"intakes": "intake_id", "intake_materials": "material_id", "commitments": "commitment_id"}
    for first, second in zip(together, alone, strict=True):
        for table, key in tables.items():
            assert _rows_of(store, table, key, first) == _rows_of(store, table, key, second) != []
        kept, history = _case_and_history(store, first)
        assert (kept, history) == _case_and_history(store, second) and kept["status"] == "RECEIVED"
    assert sum(_counts(store).values()) == 6


def test_a_run_of_materials_with_one_held_already_and_one_refused_loses_and_doubles_nothing(
    store, identity, station, station_b
):
    case_no, changes = station.new_case()
    assert _push(store, identity, station, station.seal(changes)) == ["accepted"]  # 居民身份证 held now
    queued_before = len(store.pending_items(station_b.station_id))
    again = changes[1]  # a material held already, sent again (a station restored from a copy)
    refused = station.insert(
        "intake_materials",
        f"{case_no}/残疾人证",
        {"material_id": f"{case_no}/残疾人证", "intake_id": "349921001001-20261126-Z999", "name_zh": "x"},
    )
    run = [*_materials(station, case_no, "居民户口簿"), again, refused, *_materials(station, case_no, "低保等困难证明")]
    assert _push(store, identity, station, station.seal(run)) == ["accepted"]
    names = {r[0] for r in store.db.execute("SELECT name_zh FROM intake_materials WHERE intake_id = ?", [case_no])}
    assert names == {"居民身份证", "居民户口簿", "低保等困难证明"}
    assert store.count_rows("intake_materials") == 3
    assert [r["code"] for r in store.rejected(station.station_id)] == ["row_missing"]
    # The two new rows reach the village's other PC, each once (the one held already was sent when taken).
    assert len(store.pending_items(station_b.station_id)) - queued_before == 2


def test_a_run_naming_one_material_twice_comes_out_as_one_by_one(store, identity, station, monkeypatch):
    def push_with_a_material_twice() -> tuple[str, list[str]]:
        case_no, changes = station.new_case()
        first, again = _materials(station, case_no, "居民户口簿", "居民户口簿")
        again = msgspec.structs.replace(again, fields={**again.fields, "state": "missing"})
        before = len(store.rejected(station.station_id))
        seal = station.seal([*changes[:2], first, again, *changes[2:]])
        assert _push(store, identity, station, seal) == ["accepted"]
        held = store.row("intake_materials", f"{case_no}/居民户口簿")
        return held["state"], [r["code"] for r in store.rejected(station.station_id)[before:]]

    together = push_with_a_material_twice()
    monkeypatch.setattr(hub.ingest, "_together", lambda *args, **kwargs: {})  # one by one
    assert together == push_with_a_material_twice()


def _commitment(station: TestStation, intake_id: str, material: str, due_days: int) -> RowChange:
    key = f"{intake_id}/{material}"
    fields = {
        "commitment_id": key,
        "intake_id": intake_id,
        "material": material,
        "signer_name": "王小明",
        "signed_at": iso_utc(station.clock()),
        "due_days": due_days,
    }
    return station.insert("commitments", key, fields)


def test_a_commitment_counts_from_its_intake_written_in_the_same_set_unread_and_from_an_update_of_it(
    store, identity, station, monkeypatch
):
    reads: list[str] = []
    read_received = store.intake_received_date
    monkeypatch.setattr(store, "intake_received_date", lambda intake: reads.append(intake) or read_received(intake))
    first, changes = station.new_case()
    promised = _commitment(station, first, "户口簿", 5)
    assert _push(store, identity, station, station.seal([*changes[:2], promised, *changes[2:]])) == ["accepted"]
    assert reads == []  # the set wrote the intake: its receipt date is known without reading it back
    held = store.row("commitments", promised.pk)
    assert held["due_date"] == "2026-12-03"  # 5 working days after Thu 2026-11-26

    # The intake's receipt date corrected in the same set, before its commitment: counted from the new one.
    second, changes = station.new_case()
    corrected = station.update("intakes", second, {"received_date": "2026-11-30"})
    promised = _commitment(station, second, "户口簿", 5)
    assert _push(store, identity, station, station.seal([*changes[:2], corrected, promised, *changes[2:]])) == [
        "accepted"
    ]
    assert reads == [second]
    assert store.row("commitments", promised.pk)["due_date"] == "2026-12-07"  # 5 working days after Mon 11-30


def test_new_cases_held_back_go_in_together_and_before_a_later_change_of_the_set_reads_one(
    store, identity, station, monkeypatch
):
    calls: list[int] = []
    insert_all = store.insert_new_cases_moved

    def together(pairs: list[tuple[dict[str, object], dict[str, object]]]) -> int:
        calls.append(len(pairs))
        return insert_all(pairs)

    monkeypatch.setattr(store, "insert_new_cases_moved", together)
    monkeypatch.setattr(hub.store.cases, "_rows_a_statement", lambda columns: 2)  # PostgreSQL: 3 cases in 2 statements
    numbers, changes = [], []
    for _ in range(3):
        case_no, made = station.new_case()
        numbers.append(case_no)
        changes += made
    assert _push(store, identity, station, station.seal(changes)) == ["accepted"]
    assert calls == [3]  # the set's three new cases (a village's only PC, lean) in one go
    assert [store.row("cases", n)["status"] for n in numbers] == ["RECEIVED"] * 3
    assert [len(store.case_events(n)) for n in numbers] == [1, 1, 1]

    # A later change of the same set reads the case: the cases held back go in first.
    case_no, made = station.new_case()
    corrected = station.update("cases", case_no, {"phone": "13900000000"})
    later, more = station.new_case()
    assert _push(store, identity, station, station.seal([*made, corrected, *more])) == ["accepted"]
    assert calls == [3, 1, 1]
    assert store.rejected(station.station_id) == []
    assert store.row("cases", case_no)["phone"] == "13900000000"
    assert [len(store.case_events(n)) for n in (case_no, later)] == [1, 1]
    assert sum(_counts(store).values()) == 5


def test_a_compact_row_no_change_may_hold_is_kept_as_rejected_and_the_rest_of_its_set_applied(
    store, identity, station, monkeypatch
):
    # The ingest takes the changes a zstd-r2 body's rows were expanded to without decoding their records
    # again; a row whose key is a number (no station writes one) must still be refused as it was decoded.
    case_no, changes = station.new_case()
    shapes, rows = msgspec.msgpack.decode(compact([encode_change(c) for c in changes]))
    shapes.append(["cases", ["stage"], False, None])
    rows.append([len(shapes) - 1, 12345678, 1, 2])
    monkeypatch.setattr(
        sync.protocol.sets, "pack", lambda records: (ZSTD_R2, _zstd(ZSTD_R2, msgspec.msgpack.encode([shapes, rows])))
    )
    envelope, _ = seal_set(
        origin=station.station_id,
        seq=station.seq + 1,
        prev=station.prev,
        records=[],
        sign_private=station.keys.sign_private,
        recipient_box_public=station.response.hub_box_public,
        sender_box_private=station.keys.box_private,
        context=CTX_UP,
    )
    assert _push(store, identity, station, envelope) == ["accepted"]
    (rejected,) = store.rejected(station.station_id)
    assert rejected["code"] == "malformed" and "not a change record" in rejected["reason_en"]
    assert store.row("cases", case_no)["status"] == "RECEIVED"
    assert store.row("cases", case_no)["stage"] == 0
