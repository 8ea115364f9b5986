"""Ingesting a station's change sets, one transaction per set: verify, chain, check limits, apply, receipt, forward.

The same code serves a push over HTTP and a file carried by hand (architecture invariant 9). A set
is decoded under the station's limits (sync.budget.STATION_SET) and each change is checked against
sync.limits (bytes, fields, text lengths) before the set's write transaction opens: a set past any
of them is refused whole, and nothing of it is stored (no rejected rows, no feed items).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import msgspec

from hub.apply import Outcome, SetScope, apply_row, apply_status
from hub.apply_together import HELD_BACK_TABLES, apply_new_case_and_move, hold_back_new_rows, write_held_back
from hub.feed import queue, queue_case_state
from hub.keys import HubIdentity
from hub.rotation import accept_key_change, check_key_change, receipt_keys, resigned
from hub.store import HubStoreProtocol, KeyRow, RowError, StationRow, TransactionConflict
from hub.store.locks import CONFLICT_ATTEMPTS, station_lock
from hub.views import FORK_HELD, FORK_PREV
from sync.budget import STATION_SET
from sync.changes import RowChange, StatusChange, decode_change
from sync.compact import Record
from sync.crypto import KeyPair, verify
from sync.ids import Minter
from sync.lifecycle import Actor
from sync.limits import (
    MAX_FIELDS_PER_RECORD,
    MAX_RECORD_BYTES,
    MAX_SETS_PER_REQUEST,
    MAX_TEXT_CHARS,
    TEXT_LIMITS,
    text_limit,
)
from sync.merge import Rejection
from sync.protocol import (
    CTX_UP,
    GENESIS,
    KeyChange,
    ProtocolError,
    PushResponse,
    ReceiptItem,
    RejectedItem,
    SetResult,
    SignedSet,
    decode_envelope,
    decode_key_change,
    make_receipt,
    open_set_records,
)
from sync.tables import BY_NAME
from sync.text import text_problem
from sync.timeutil import iso_utc, utc_now

__all__ = ("STATION_ACTORS", "ingest_sets")

STATION_ACTORS = frozenset({Actor.STATION})
"""A station speaks only as the station: it cannot smuggle in a department's decision."""


class _Claim(msgspec.Struct, frozen=True, array_like=True):
    """The first two fields of a signed set of either format (what a refusal names)."""

    origin: str
    seq: int


_PEEK = msgspec.msgpack.Decoder(_Claim)
_ENVELOPE_PEEK = msgspec.msgpack.Decoder(tuple[int, str, msgspec.Raw, bytes])
_SHORTEST_LIMIT = min(*TEXT_LIMITS.values(), MAX_TEXT_CHARS)
"""A text no longer than this is within every field's limit (sync.limits)."""
_STATUS_TEXT = ("event_id", "case_no", "from_status", "to_status", "actor", "at", "reason", "outcome", "by", "origin")

# CONFLICT_ATTEMPTS: how many times one set's transaction runs when PostgreSQL rolls it back (deadlock,
# serialisation) before the station is answered busy (hub.store.locks).

Decoded = tuple[bytes, RowChange | StatusChange | KeyChange | None, Rejection | None]
"""One change of a set: its bytes, the change (None when it does not decode), and why it is refused
before any rule is applied (it does not decode, or a text in it breaks sync.text's rule)."""


def ingest_sets(
    store: HubStoreProtocol,
    identity: HubIdentity,
    sets: Sequence[bytes | msgspec.Raw],
    *,
    station_id: str,
    via: str = "http",
    now: Callable[[], dt.datetime] = utc_now,
    lean: bool = False,
    feed_after: int | None = None,
    known: StationRow | None = None,
) -> PushResponse:
    """Handle a station's sets in order, each in its own transaction; stop at the first not taken.

    Args:
        station_id: the origin the sets must come from: the signer of the request, or the station
            a transfer file names.
        via: ``http`` or ``file``, kept with each set. A set that comes by file gets its receipt
            queued to the station's feed, also when it was held already (its HTTP answer may have
            been lost before the station turned to the stick).
        lean: the station hears the results in this answer (``POST /api/v1/sync``): nothing is
            queued that only repeats them: no ReceiptItem, and no CaseState for the station's own
            moves that the hub applied from the state the station moved from.
        feed_after: the feed position the station says it applied (the exchange's): receipts in the
            answer are signed under the hub key generation it holds there (hub.rotation); the last
            position it said, when None.
        known: the station's row as the caller read it for this request (the exchange's signer), used
            instead of reading it again; each set still reads it under the station's lock.

    Returns:
        One SetResult per set handled (accepted, duplicate, gap, fork or refused) and the seq the
        hub needs next from this station.
    """
    results: list[SetResult] = []
    # The row the request's signature was checked against, read moments ago (each set reads it again under
    # the station's lock before applying): a round trip less on PostgreSQL.
    station = known if known is not None and known.station_id == station_id else store.station(station_id)
    if not sets:  # a pull: nothing to ingest, nothing to read again
        hub_ms = int(now().timestamp() * 1000)
        return PushResponse(results=[], next_seq=(station.applied_seq if station else 0) + 1, hub_ms=hub_ms)
    if len(sets) > MAX_SETS_PER_REQUEST:
        # The HTTP endpoints and the file import refuse this before decoding the sets; this is the backstop.
        return PushResponse(
            results=[
                SetResult(
                    seq=_peek(sets[0])[0],
                    status="refused",
                    code="too_large",
                    detail=f"more than {MAX_SETS_PER_REQUEST} sets at once",
                )
            ],
            next_seq=(station.applied_seq if station else 0) + 1,
            hub_ms=int(now().timestamp() * 1000),
        )
    # One hub time for the request: every receipt and the answer say the same moment, so a
    # short receipt need not repeat it (sync.protocol.short_receipt).
    moment = now()
    signer: KeyPair | None = None
    if station is not None:
        # Read before the feed in the answer (lean), or down the feed after every handover queued before it.
        position = (feed_after if feed_after is not None else station.feed_acked) if lean else None
        signer = receipt_keys(store, identity, station_id, position=position)
    for data in sets:
        if station is None:
            seq, _ = _peek(data)
            results.append(
                SetResult(
                    seq=seq,
                    status="refused",
                    code="unknown_key",
                    detail=f"station {station_id} is not enrolled at this hub",
                )
            )
            break
        assert signer is not None
        result = _ingest_one(store, identity, bytes(data), station, via, moment, lean, signer)
        results.append(result)
        if result.status not in ("accepted", "duplicate"):
            break
    if results[-1].status == "accepted":
        # The last set moved the chain head to its seq, under the station's lock, moments ago: not read again.
        next_seq = results[-1].seq + 1
    else:
        current = store.station(station_id)
        next_seq = (current.applied_seq if current else 0) + 1
    return PushResponse(results=results, next_seq=next_seq, hub_ms=int(moment.timestamp() * 1000))


def _peek(data: bytes) -> tuple[int, str]:
    """(seq, origin) a set claims, read without trusting it: only to name it in a refusal."""
    try:
        envelope = _ENVELOPE_PEEK.decode(data)
        signed = _PEEK.decode(bytes(envelope[2]))
        return signed.seq, signed.origin
    except (msgspec.DecodeError, TypeError, ValueError, RecursionError):
        return 0, ""


def _refused(station_id: str, seq: int, code: str, en: str) -> SetResult:
    return SetResult(seq=seq, status="refused", code=code, detail=f"station {station_id}, set {seq}: {en}")


def _ingest_one(
    store: HubStoreProtocol,
    identity: HubIdentity,
    data: bytes,
    station: StationRow,
    via: str,
    now: dt.datetime,
    lean: bool = False,
    signer: KeyPair | None = None,
) -> SetResult:
    station_id = station.station_id
    claimed_seq, _ = _peek(data)
    keys: dict[str, KeyRow] = {}

    # The key that signs the set it claims to be (a key change hands over from one set to the next);
    # the signature checks the claim.
    current = store.station_key_for_seq(station_id, max(claimed_seq, 1))

    def public_key_for(key_id: str) -> bytes:
        # A set of format 2 names no key: it is the key of the station that sent it. One naming the key that
        # signs its seq (nearly every set) is not looked up again.
        key = current if not key_id or (current is not None and current.key_id == key_id) else store.key(key_id)
        if key is None:
            raise ProtocolError(
                zh=f"县平台不认识密钥 {key_id}", en=f"key {key_id} is not known to this hub", code="unknown_key"
            )
        keys["key"] = key
        return key.sign_public

    try:
        signed, set_hash, records = open_set_records(
            data,
            public_key_for=public_key_for,
            context=CTX_UP,
            box_private=identity.keys.box_private,
            sender_box_public=current.box_public if current else None,
            limits=STATION_SET,
            # Sets sealed to the hub's box key before a rotation may still be on their way.
            older_box_privates=identity.box_privates[1:],
        )
    except ProtocolError as exc:
        if exc.code == "bad_signature" and _signed_by_retired(store, station_id, data):
            return _refused(station_id, claimed_seq, "retired_key", _RETIRED)
        return _refused(station_id, claimed_seq, exc.code, exc.en)
    except UnicodeDecodeError:  # sync.protocol lets a string that is not UTF-8 through as this
        return _refused(station_id, claimed_seq, "malformed", "a text field is not UTF-8")
    key = keys["key"]
    if signed.origin != station_id or key.station_id != station_id:
        return _refused(
            station_id,
            signed.seq,
            "wrong_origin",
            f"the set's origin {signed.origin} (key of {key.station_id}) is not {station_id}",
        )
    if key.after_seq is not None and signed.seq > key.after_seq:
        return _refused(
            station_id, signed.seq, "revoked_key", f"key {key.key_id} was revoked after seq {key.after_seq}"
        )
    if key.replaced_after is not None and signed.seq > key.replaced_after:
        return _refused(station_id, signed.seq, "retired_key", _RETIRED)
    changes: list[Decoded] = []
    # Past the chain head as read at the request's start, the hub held no set with this seq then (sets_in
    # holds none past it): decoded, as a new set is. Held meanwhile, it is found under the lock below.
    held = store.set_in(station_id, signed.seq) if signed.seq <= station.applied_seq else None
    if held is None or held[0] != set_hash:
        # Checked before the write transaction opens (a set held already is acknowledged as it was).
        try:
            changes = _within_limits(records, signed.count)
        except _OverLimit as exc:
            return _refused(station_id, signed.seq, exc.code, exc.en)
        for _, change, _ in changes:
            if isinstance(change, KeyChange):
                why = check_key_change(change, station_id, key)
                if why is not None:
                    return _refused(station_id, signed.seq, "bad_key_change", f"a key change in the set: {why}")
    careful = len(changes) < 2  # a single change is applied under its own savepoint at once
    attempt = 1
    while True:
        try:
            with store.transaction():
                # One set of a station at a time, across hub serve's workers; sets of different stations apply
                # side by side (the rows they all count are written at commit: hub.store.locks).
                store.lock(station_lock(station_id))
                return _chain_and_apply(
                    store,
                    identity,
                    data,
                    signed,
                    set_hash,
                    changes,
                    via,
                    now,
                    lean,
                    signer or identity.keys,
                    careful,
                    village_code=station.village_code,
                )
        except _Replay:
            # A change failed half-written: the whole transaction was rolled back (nothing of the set stayed,
            # and PostgreSQL takes no statement after an error), and the set runs again, each change under its
            # own savepoint. Not a conflict: it does not count against the attempts.
            if careful:
                raise AssertionError("a careful run does not replay") from None
            careful = True
        except TransactionConflict:
            # PostgreSQL rolled the whole set back (a deadlock with another station's set): nothing of it
            # stayed, so it runs again from the chain head, after a short pause that parts the two.
            if attempt == CONFLICT_ATTEMPTS:
                raise  # store.busy: the station retries later
            time.sleep(random.uniform(0.005, 0.05) * attempt)
            attempt += 1


_RETIRED = (
    "signed by a key the station replaced (station rekey) and the hub no longer takes; "
    "if this station has not changed its key, its old key is in other hands: call the county"
)


def _signed_by_retired(store: HubStoreProtocol, station_id: str, data: bytes) -> bool:
    """Whether a set whose signature failed is signed by a key the station handed over from."""
    try:
        envelope = decode_envelope(data)
    except ProtocolError:
        return False
    payload = bytes(envelope.payload)
    return any(
        verify(key.sign_public, CTX_UP, payload, envelope.signature)
        for key in store.station_keys(station_id)
        if key.replaced_at is not None
    )


class _OverLimit(Exception):
    def __init__(self, en: str, code: str = "too_large") -> None:
        super().__init__(en)
        self.en = en
        self.code = code


def _within_limits(records: list[Record], count: int) -> list[Decoded]:
    """The set's changes, decoded, once each is within sync.limits; _OverLimit names the first that is not.

    The count was charged from the body's header when it was opened (sync.budget); here each change
    is held to the bytes and fields a station writes under (the whole set is refused past them), and
    each text to sync.text's rule (that change alone is refused). A change decompressing built is
    taken as built (sync.compact.expand_records: what decoding its bytes gives back).
    """
    if len(records) != count:
        raise _OverLimit(f"the set says {count} changes but holds {len(records)}", "malformed")
    changes: list[Decoded] = []
    append = changes.append
    for index, (data, built) in enumerate(records):
        if len(data) > MAX_RECORD_BYTES:
            raise _OverLimit(f"change {index} is {len(data)} bytes, over the limit of {MAX_RECORD_BYTES}")
        change: RowChange | StatusChange | KeyChange | None = built
        problem: Rejection | None = None
        if change is None:
            try:
                change = decode_change(data)
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                change = decode_key_change(data)  # the station's new keys (station rekey), taken as it is applied
                # Kept as rejected when the set is applied (invariant 4): within the limits, only not a change.
                problem = None if change is not None else _malformed(en=f"not a change record ({exc})")
        if isinstance(change, RowChange):
            fields = change.fields
            if len(fields) > MAX_FIELDS_PER_RECORD:
                raise _OverLimit(
                    f"change {index} writes {len(fields)} fields, over the limit of {MAX_FIELDS_PER_RECORD}"
                )
            texts: Iterable[object] = fields.values()
            first: object = change.pk  # judged before the values, no tuple of them made: this runs for every change
        elif isinstance(change, StatusChange):
            texts, first = [getattr(change, name) for name in _STATUS_TEXT], None
        else:
            texts, first = (), None
        # A text over its limit or with a control character is a change no station of this release
        # writes, but one of 0.4 may hold it unsealed (0.4 took any note): refused as this change
        # alone, so the station's queue moves on (invariant 4); the record is bounded by the bytes above.
        if problem is None and change is not None:
            if type(first) is str and (len(first) > _SHORTEST_LIMIT or not first.isprintable()):
                problem = _text_problem_of(change)
            else:
                for value in texts:
                    # The common case decided inline (a short printable text passes text_problem as well): this
                    # runs for every field of a backlog. A text that may not pass is judged by its field's name.
                    if type(value) is str and (len(value) > _SHORTEST_LIMIT or not value.isprintable()):
                        problem = _text_problem_of(change)
                        break
        append((data, change, problem))
    return changes


def _text_problem_of(change: RowChange | StatusChange | KeyChange) -> Rejection | None:
    """The rejection of the first text of ``change`` that breaks sync.text's rule for its field, or None."""
    if isinstance(change, RowChange):
        named: list[tuple[str, object]] = [("pk", change.pk), *change.fields.items()]
    elif isinstance(change, StatusChange):
        named = [(name, getattr(change, name)) for name in _STATUS_TEXT]
    else:
        named = []
    for name, value in named:
        if isinstance(value, str) and text_problem(name, value, multiline=True):
            return _text_rejection(name, value)
    return None


def _chain_and_apply(
    store: HubStoreProtocol,
    identity: HubIdentity,
    data: bytes,
    signed: SignedSet,
    set_hash: bytes,
    changes: list[Decoded],
    via: str,
    now: dt.datetime,
    lean: bool,
    signer: KeyPair,
    careful: bool = True,
    *,
    village_code: str,
) -> SetResult:
    origin, seq, at = signed.origin, signed.seq, iso_utc(now)
    # Under the lock; with the village's stations, which the apply sends the set's cases to (a village's code
    # never changes: the caller's row names it).
    station, village = store.station_and_village(origin, village_code)
    assert station is not None  # checked by the caller; the row is never deleted
    # sets_in holds no set past the station's chain head (a set goes in with the head's move, and a fork's
    # resolution takes the head back with the sets it sets aside): only a seq up to it can be held.
    held = store.set_in(origin, seq) if seq <= station.applied_seq else None
    if held is not None:
        held_hash, receipt = held
        if held_hash == set_hash:
            if receipt is not None:  # under the hub key the station checks it with (hub.rotation)
                receipt = resigned(receipt, signer)
            if via == "file" and receipt is not None:
                queue(store, [origin], ReceiptItem(receipt), at=at)
            return SetResult(seq=seq, status="duplicate", receipt=receipt)
        return _fork(store, data, signed, set_hash, held_hash, FORK_HELD, at)
    expected = station.applied_seq + 1
    if seq > expected:
        return SetResult(seq=seq, status="gap", code="gap", detail=f"the hub needs seq {expected} next")
    previous = station.applied_hash if station.applied_seq else GENESIS
    if seq < expected or signed.prev != previous:
        return _fork(store, data, signed, set_hash, previous, FORK_PREV, at)
    # The case_counts and counters rows every station's sets update are written at commit, under the
    # counts lock the triggers take there (schema m018): nothing to take here.
    rejected = _apply_all(store, identity, changes, station, village, seq, now, lean, set_hash, careful=careful)
    hub_ms = int(now.timestamp() * 1000)
    receipt = make_receipt(
        origin=origin,
        seq=seq,
        set_hash=set_hash,
        hub_ms=hub_ms,
        sign_private=signer.sign_private,
        sign_public=signer.sign_public,
    )
    store.accept_set(
        origin=origin,
        seq=seq,
        set_hash=set_hash,
        envelope=data,
        changes=len(changes),
        rejected=rejected,
        via=via,
        at=at,
        receipt=receipt,
        hub_ms=hub_ms,
    )
    if not lean:
        queue(store, [origin], ReceiptItem(receipt), at=at)
    return SetResult(seq=seq, status="accepted", receipt=receipt)


def _fork(
    store: HubStoreProtocol,
    data: bytes,
    signed: SignedSet,
    set_hash: bytes,
    held_hash: bytes | None,
    reason: str,
    at: str,
) -> SetResult:
    # Quarantined whole, nothing applied, nothing deleted (invariant 3): administrators decide.
    fork_id = store.quarantine(
        origin=signed.origin,
        seq=signed.seq,
        set_hash=set_hash,
        envelope=data,
        held_hash=held_hash,
        reason=reason,
        at=at,
    )
    return SetResult(
        seq=signed.seq,
        status="fork",
        code="fork",
        detail=f"station {signed.origin}, set {signed.seq}: {reason} (fork {fork_id}); call the county",
    )


class _Replay(Exception):
    """A change failed where only its own savepoint could have kept the rest of the set: run it again so."""


def _apply_all(
    store: HubStoreProtocol,
    identity: HubIdentity,
    changes: list[Decoded],
    station: StationRow,
    village: list[StationRow],
    seq: int,
    now: dt.datetime,
    lean: bool,
    set_hash: bytes,
    *,
    careful: bool,
) -> int:
    """Apply each change; a change that breaks a rule is kept as rejected (invariant 4). Returns how many.
    ``set_hash`` names the set in the notices sent down (a forked station holds another set at ``seq``).

    A change that fails half-written (a value the database refuses, one of a shape no rule expected)
    must be undone alone. Almost none does, and a savepoint per change was two statements of every
    change's few: unless ``careful``, the set's changes run with none, and when one of them fails
    _Replay rolls the set's whole transaction back (the caller runs it again, careful: each change
    under its own savepoint). Not even one savepoint around the set: on SQLite its journal of the
    pages the set touched spills to a temporary file past 64 KiB, a tenth of a backlog's ingest.
    """
    origin, at = station.station_id, iso_utc(now)
    others = [s.station_id for s in village if s.station_id != origin]
    said = {s.station_id: s.features for s in village}
    rejected = 0
    # Cases a change of this set was refused for: the refusal sends down the hub's values at that
    # moment, so a later move of the same case in this set must be followed by the hub's state,
    # even when the hub applied it from the state the station moved from.
    refused_cases: set[str] = set()
    scope = SetScope(store, Minter(station.village_code, station.device), origin, trusted=not careful)
    # A case's state goes to the village's other PCs, and to the origin unless lean and its move stands as
    # made: a village's only PC syncing lean is sent none for its own new cases (checked again below).
    scope.case_rows_wanted = not lean or bool(others)
    # A new case whose move comes later in the set gets its due date with that move, computed once.
    scope.moves_ahead.update(c.case_no for _, c, p in changes if isinstance(c, StatusChange) and p is None)
    # Outcomes of changes applied ahead, together with an earlier one (at their own index).
    applied_ahead: dict[int, Outcome] = {}
    for index, (raw, change, problem) in enumerate(changes):
        if isinstance(change, StatusChange) and problem is None:
            scope.moves_ahead[change.case_no] -= 1
        applied_already = index in applied_ahead  # what follows an applied change is left to do (below)
        if applied_already:
            outcome = applied_ahead.pop(index)
        elif problem is not None:
            outcome = Outcome(result="rejected", rejection=problem)
        if isinstance(change, KeyChange):
            # Checked against the set's key before the transaction (hub.rotation): later sets are the new key's.
            why = accept_key_change(store, station, change, seq=seq, at=at)
            if why is not None:
                rejected += 1
                _keep_rejected(
                    store,
                    None,
                    raw,
                    Outcome(result="rejected", rejection=_malformed(en=why)),
                    origin,
                    seq,
                    index,
                    at,
                    set_hash=set_hash,
                )
            continue
        if change is not None and problem is None and not applied_already:
            try:
                if careful:
                    with store.savepoint():
                        outcome = _apply_one(store, identity, change, station, now, scope)
                else:
                    try:  # _replay_on_failure inline: a context manager a change was ~3 % of a backlog's ingest
                        applied_ahead.update(_together(store, identity, change, changes, index, station, now, scope))
                        taken = applied_ahead.pop(index, None)
                        if taken is None:  # applied the usual way, reading what it needs: the set's new rows first
                            write_held_back(store, scope)
                        outcome = (
                            taken if taken is not None else _apply_one(store, identity, change, station, now, scope)
                        )
                    except Exception as exc:
                        if _half_written(store, exc):
                            raise _Replay from exc
                        raise
            except RowError as exc:
                outcome = Outcome(result="rejected", rejection=_malformed(en=exc.en))
            except (TypeError, ValueError, KeyError) as exc:
                # A value of a shape no rule expected (a list where a code belongs): the change is
                # kept as rejected rather than failing the set, which would block the queue (invariant 4).
                outcome = Outcome(
                    result="rejected",
                    rejection=_malformed(
                        zh="变更记录中有取值类型错误", en=f"a value has the wrong type ({type(exc).__name__})"
                    ),
                )
        if outcome.result == "rejected":
            rejected += 1
            _keep_rejected(store, change, raw, outcome, origin, seq, index, at, set_hash=set_hash)
            if isinstance(change, StatusChange):
                refused_cases.add(change.case_no)
            elif isinstance(change, RowChange) and change.table == "cases":
                refused_cases.add(change.pk)
            if (
                isinstance(change, RowChange)
                and change.table in ("cases", "intakes")
                and outcome.rejection is not None
                and outcome.rejection.code in ("duplicate_row", "parent_refused")
            ):
                scope.mark_numbered_twice(change.table, change.pk)
        elif outcome.result == "applied" and change is not None:
            # A row of a table that needs a feature goes only to the village's stations that said it (sync.tables).
            need = BY_NAME[change.table].feature if isinstance(change, RowChange) and change.table in BY_NAME else 0
            to = [s for s in others if said[s] & need] if need else others
            if to:
                queue(store, to, msgspec.structs.replace(change, origin=origin), at=at)
            if outcome.case is not None:
                # The station already shows the state its own move led to when the hub moved the
                # case from the same state: the CaseState would only repeat it.
                as_made = (
                    lean
                    and isinstance(change, StatusChange)
                    and outcome.before == change.from_status
                    and change.case_no not in refused_cases
                )
                here = outcome.case["village_code"] == station.village_code
                if not (as_made and here and not others):  # else none of the village is sent it
                    # Without case_rows_wanted a new case's outcome holds the row as written, not read.
                    if not scope.case_rows_wanted:
                        with _replay_on_failure(store):
                            write_held_back(store, scope)
                    case = outcome.case if scope.case_rows_wanted else store.row("cases", outcome.case["case_no"])
                    if case is not None:
                        queue_case_state(
                            store,
                            case,
                            at=at,
                            origin=origin,
                            origin_seq=seq,
                            skip_origin=as_made,
                            stations=village if here else None,
                        )
    with _replay_on_failure(store):
        write_held_back(store, scope)
    scope.settle_due(now)
    return rejected


@contextlib.contextmanager
def _replay_on_failure(store: HubStoreProtocol) -> Iterator[None]:
    """Unless careful, a change that fails half-written (the database refuses a value, a value of a shape no
    rule expected, a row held after all) fails the set's run: _Replay, and the set runs again, careful."""
    try:
        yield
    except Exception as exc:
        if _half_written(store, exc):
            raise _Replay from exc
        raise


def _half_written(store: HubStoreProtocol, exc: Exception) -> bool:
    """Whether ``exc`` is a change failing half-written (a value the database or a rule refuses, a row held
    after all), which a careful run keeps as that change's rejection; anything else is a fault."""
    return isinstance(exc, (RowError, TypeError, ValueError, KeyError)) or store.is_row_error(exc)


_RUN = 64
"""The most rows of a run judged in one go (an intake has a few materials, never near this)."""


def _together(
    store: HubStoreProtocol,
    identity: HubIdentity,
    change: RowChange | StatusChange,
    changes: list[Decoded],
    index: int,
    station: StationRow,
    now: dt.datetime,
    scope: SetScope,
) -> dict[int, Outcome]:
    """The outcomes, by index, of the change at ``index`` and the next ones when they can go in together:
    a new case and its first move (as a station records an intake: hub.apply_together.apply_new_case_and_move), or
    a new intake, or a run of its new materials or commitments (hub.apply_together.hold_back_new_rows), written
    with the set's other new rows (write_held_back). Empty: apply one by one."""
    if not (scope.trusted and isinstance(change, RowChange)):
        return {}
    if change.table == "cases" and index + 1 < len(changes):
        _, move, problem = changes[index + 1]
        if not isinstance(move, StatusChange) or problem is not None:
            return {}
        both = apply_new_case_and_move(
            store,
            change,
            move,
            origin=station.station_id,
            village_code=station.village_code,
            lookup_key=identity.lookup_key,
            actors=STATION_ACTORS,
            now=now,
            scope=scope,
        )
        return {} if both is None else {index: both[0], index + 1: both[1]}
    if change.table in HELD_BACK_TABLES:
        run: list[RowChange] = []
        for _, next_change, problem in changes[index : index + _RUN]:
            if not isinstance(next_change, RowChange) or next_change.table != change.table or problem is not None:
                break
            run.append(next_change)
        outcomes = hold_back_new_rows(
            store,
            run,
            origin=station.station_id,
            village_code=station.village_code,
            lookup_key=identity.lookup_key,
            now=now,
            scope=scope,
        )
        return {index + k: outcome for k, outcome in enumerate(outcomes)}
    return {}


def _apply_one(
    store: HubStoreProtocol,
    identity: HubIdentity,
    change: RowChange | StatusChange,
    station: StationRow,
    now: dt.datetime,
    scope: SetScope,
) -> Outcome:
    # The set's station row, read once per set: its village and device letter judge every new row's number.
    minter = scope.minter
    if isinstance(change, RowChange):
        return apply_row(
            store,
            change,
            origin=station.station_id,
            village_code=station.village_code,
            lookup_key=identity.lookup_key,
            now=now,
            station_minter=minter,
            scope=scope,
        )
    return apply_status(
        store,
        change,
        origin=station.station_id,
        actors=STATION_ACTORS,
        village_code=station.village_code,
        now=now,
        station_minter=minter,
        scope=scope,
    )


def _text_rejection(field: str, value: str) -> Rejection:
    """Why a text a station sent is refused (never quoting it: it may be a name)."""
    if text_problem(field, value, multiline=True) == "too_long":
        return Rejection(
            "too_long",
            f"{field} holds {len(value)} characters, over the limit of {text_limit(field)}",
            f"{field} 超过 {text_limit(field)} 个字（现有 {len(value)} 个）",
        )
    return Rejection(
        "control_character",
        f"{field} holds a control or direction-override character",
        f"{field} 含有控制字符或文字方向控制符",
    )


def _malformed(*, zh: str | None = None, en: str) -> Rejection:
    return Rejection("malformed", en, zh or f"变更记录格式错误（{en}）")


def _keep_rejected(
    store: HubStoreProtocol,
    change: RowChange | StatusChange | None,
    raw: bytes,
    outcome: Outcome,
    origin: str,
    seq: int,
    index: int,
    at: str,
    *,
    set_hash: bytes = b"",
) -> None:
    """Store the rejected change with its reason, and send the reason down to its station, naming the set it
    was in by its hash as well as its seq."""
    assert outcome.rejection is not None
    if isinstance(change, RowChange):
        entity, entity_id = change.table, change.pk
    elif isinstance(change, StatusChange):
        entity, entity_id = "cases", change.case_no
    else:
        entity, entity_id = "", ""
    reason = outcome.rejection
    store.add_rejected(
        origin=origin,
        seq=seq,
        index=index,
        entity=entity,
        entity_id=entity_id,
        code=reason.code,
        reason_en=reason.en,
        reason_zh=reason.zh,
        change=raw,
        at=at,
    )
    item = RejectedItem(
        seq=seq,
        index=index,
        entity=entity,
        entity_id=entity_id,
        code=reason.code,
        reason_en=reason.en,
        reason_zh=reason.zh,
        current=outcome.current,
        set_hash=set_hash,
    )
    queue(store, [origin], item, at=at)
