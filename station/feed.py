"""Applying the hub's signed feed: one set at a time, verified against the pinned key, all or nothing."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from station.errors import FeedError, SyncError
from station.forks import apply_resolution
from station.identity import HubPins, StationKeys, hub_pins, require_pins
from station.replica import apply_row_change, refresh_local, write_hub_values
from station.restore import adopt_receipt
from station.sealing import record_receipt
from station.store import Station
from station.store.db import write_txn
from station.store.outbox import created_row
from sync.catalog import load_catalog
from sync.catalog_patch import apply_edits, body_digest, canonical_body
from sync.changes import RowChange, StatusChange, decode_change
from sync.crypto import KeyPair, key_id_of
from sync.divisions import load_divisions
from sync.errors import IllegalTransition, ProxyAppError
from sync.hlc import HybridClock
from sync.lifecycle import Status, check_transition
from sync.protocol import (
    CTX_DOWN,
    GENESIS,
    CalendarItem,
    CaseState,
    CatalogItem,
    CatalogPatch,
    DivisionsItem,
    DownItem,
    ForkResolved,
    HubKeyItem,
    KeyRevokedItem,
    ProtocolError,
    ReceiptItem,
    RejectedItem,
    SignedSet,
    open_set,
    verify_hub_key,
)
from sync.protocol.catalog_report import MAX_REASON
from sync.ratings import FIRST_STANDS
from sync.timeutil import iso_utc

__all__ = (
    "FeedOutcome",
    "apply_feed_set",
    "feed_origin",
    "feed_position",
    "forget_reference_caches",
    "record_fork",
    "record_revoked",
)

_ITEMS = msgspec.msgpack.Decoder(list[DownItem])


class FeedOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What applying one feed set did."""

    seq: int
    applied: bool
    """False when the set had been applied before (same seq, same hash): skipped."""
    items: int = 0
    notes: list[str] = []
    """Items kept aside, in English, without personal data (they are also in sync_log)."""
    revoked: bool = False
    """The set revoked this station's own key: syncing must stop."""
    hub_rekeyed: bool = False
    """The set handed the hub over to a new key generation (HubKeyItem): the pins changed."""


def feed_origin(station: Station) -> str:
    """The origin of this station's feed: ``hub>STATION_ID``."""
    return f"hub>{station.station_id}"


def feed_position(station: Station) -> int:
    """The seq of the last feed set applied (0 before the first)."""
    return station.meta.feed_seq


def forget_reference_caches(station: Station) -> None:
    """Drop the Station's cached catalogue, calendar and division tree (reloaded on next use).

    Called after every feed set, applied or rolled back, so a cache never outlives the
    transaction whose data it holds.
    """
    for name in ("catalog", "calendar", "divisions"):
        station.__dict__.pop(name, None)


def apply_feed_set(station: Station, data: bytes, keys: KeyPair, *, pins: HubPins | None = None) -> FeedOutcome:
    """Verify one feed set (exact bytes, pinned hub key) and apply all its items in one transaction.

    The seq must be the next one and ``prev`` the hash of the set applied before it; a set
    applied before with the same hash is skipped. Inside a caller's transaction (a file import)
    it joins that transaction, so the caller's rollback undoes it too.

    Raises:
        FeedError: naming the feed seq: tampered or wrongly signed (``bad_signature``), unreadable
            (``malformed``, ``bad_box``), for another station, out of order (``gap``), or not
            following the chain (``fork``). Nothing of the set is applied.
    """
    # The keys as pinned now (a HubKeyItem of the set before may have changed them), at the address given.
    current = hub_pins(station.db)
    if pins is None:
        pins = require_pins(station.db)
    elif current is not None:
        pins = msgspec.structs.replace(current, url=pins.url)
    # Nothing inside the set can be trusted before the signature is checked, so a refusal at
    # that stage names the seq this station expects next.
    expected = feed_position(station) + 1
    try:
        signed, set_hash, body = open_set(
            data,
            public_key_for=pins.public_key_for,
            context=CTX_DOWN,
            box_private=keys.box_private,
            sender_box_public=pins.box_public,
            # Sets sealed to this station's box key before a key change reached the hub may still come.
            older_box_privates=keys.box_privates[1:] if isinstance(keys, StationKeys) else (),
        )
    except ProtocolError as exc:
        raise FeedError(
            zh=f"县平台数据集 {expected} 被拒绝，未应用任何内容：{exc.zh}",
            en=f"feed set {expected} refused, nothing applied: {exc.en}",
            seq=expected,
            code=exc.code,
        ) from None
    except ValueError as exc:
        # msgspec raises UnicodeDecodeError, not DecodeError, for a string that is not UTF-8.
        raise FeedError(
            zh=f"县平台数据集 {expected} 被拒绝，未应用任何内容：不是有效的签名消息",
            en=f"feed set {expected} refused, nothing applied: not a signed message ({exc})",
            seq=expected,
            code="malformed",
        ) from None
    if signed.origin != feed_origin(station):
        raise FeedError(
            zh=f"县平台数据集 {signed.seq} 属于 {signed.origin}，不是本站（{station.station_id}）的",
            en=f"feed set {signed.seq} is for {signed.origin}, not for this station ({station.station_id})",
            seq=signed.seq,
            code="wrong_origin",
        )
    try:
        with write_txn(station.db):
            outcome = _apply_verified(station, keys, pins, signed, set_hash, body)
    finally:
        forget_reference_caches(station)
    return outcome


def _apply_verified(
    station: Station, keys: KeyPair, pins: HubPins, signed: SignedSet, set_hash: bytes, body: bytes
) -> FeedOutcome:
    position = feed_position(station)
    seq = signed.seq
    if seq <= position:
        held = station.db.execute("SELECT hash FROM feed_in WHERE seq = ?", [seq]).fetchone()
        if held is not None and bytes(held[0]) == set_hash:
            return FeedOutcome(seq=seq, applied=False)
        raise FeedError(
            zh=f"县平台数据集 {seq} 与此前已应用的同号数据集不同；请联系县管理员",
            en=f"feed set {seq} differs from the set {seq} applied before; call the county administrator",
            seq=seq,
            code="fork",
        )
    if seq != position + 1:
        raise FeedError(
            zh=f"收到县平台数据集 {seq}，但下一个应为 {position + 1}；须按顺序应用（文件方式：请先导入较早的文件）",
            en=f"feed set {seq} arrived but set {position + 1} is next; apply the sets in order "
            "(for files: import the earlier file first)",
            seq=seq,
            code="gap",
        )
    row = station.db.execute("SELECT hash FROM feed_in WHERE seq = ?", [position]).fetchone()
    prev = GENESIS if position == 0 else (bytes(row[0]) if row else None)
    # A restart (prev of zeros past the first set): the hub, restored from a backup, lost the sets up
    # to this station's position and goes on after it (docs/protocol.md, "A hub restored from a backup").
    # Signed by the pinned key like any feed set, and taken only right after this station's position.
    restart = seq > 1 and signed.prev == GENESIS
    if signed.prev != prev and not restart:
        raise FeedError(
            zh=f"县平台数据集 {seq} 与数据集 {position} 不衔接（前序哈希不符）；请联系县管理员",
            en=f"feed set {seq} does not follow set {position} (previous hash differs); call the county administrator",
            seq=seq,
            code="fork",
        )
    try:
        items = _ITEMS.decode(body)
    except (msgspec.DecodeError, ValueError) as exc:
        raise FeedError(
            zh=f"县平台数据集 {seq} 格式错误（{exc}）",
            en=f"feed set {seq} is malformed ({exc})",
            seq=seq,
            code="malformed",
        ) from None
    if len(items) != signed.count:
        raise FeedError(
            zh=f"县平台数据集 {seq} 声明 {signed.count} 项，实际 {len(items)} 项",
            en=f"feed set {seq} says {signed.count} items but holds {len(items)}",
            seq=seq,
            code="malformed",
        )
    applier = _Applier(station, keys, pins, signed)
    for index, item in enumerate(items):
        try:
            applier.apply(item)
        except FeedError:
            raise
        except Exception as exc:
            raise FeedError(
                zh=f"县平台数据集 {seq} 第 {index} 项（{type(item).__name__}）无法应用，未应用任何内容：{exc}",
                en=f"feed set {seq} item {index} ({type(item).__name__}) could not be applied, nothing applied: {exc}",
                seq=seq,
                code="apply",
            ) from exc
    applier.finish()
    if restart and signed.prev != prev:
        applier.notes.append(f"the hub lost its feed sets up to {position} (restored from a backup) and goes on here")
    moment = iso_utc(station.now())
    station.db.execute(
        "INSERT INTO feed_in (seq, hash, items, applied_at) VALUES (?, ?, ?, ?)", [seq, set_hash, len(items), moment]
    )
    station.meta.update({"feed_seq": seq})
    for note in applier.notes:
        station.db.execute(
            "INSERT INTO sync_log (at, kind, ok, pulled, detail) VALUES (?, 'feed', 0, 0, ?)",
            [moment, f"feed set {seq}: {note}"],
        )
    return FeedOutcome(
        seq=seq,
        applied=True,
        items=len(items),
        notes=applier.notes,
        revoked=applier.revoked,
        hub_rekeyed=applier.hub_rekeyed,
    )


class _Applier:
    """Applies the items of one verified feed set, inside its transaction."""

    def __init__(self, station: Station, keys: KeyPair, pins: HubPins, signed: SignedSet) -> None:
        self.station = station
        self.db = station.db
        self.keys = keys
        self.pins = pins
        self.signed = signed
        self.notes: list[str] = []
        self.revoked = False
        self.hub_rekeyed = False
        self.touched: set[str] = set()
        self.max_hlc = signed.hlc

    def apply(self, item: DownItem) -> None:
        match item:
            case RowChange():
                self._row_change(item)
            case StatusChange():
                self._status_change(item)
            case CaseState():
                self._case_state(item)
            case RejectedItem():
                self._rejected(item)
            case ReceiptItem():
                self._receipt(item)
            case CatalogItem():
                self._catalog(item)
            case CatalogPatch():
                self._catalog_patch(item)
            case CalendarItem():
                self._calendar(item)
            case DivisionsItem():
                self._divisions(item)
            case KeyRevokedItem():
                self._key_revoked(item)
            case HubKeyItem():
                self._hub_key(item)
            case ForkResolved():
                self.notes.append(apply_resolution(self.station, item))
            case _:
                # DownItem gained a member without a case here: refuse the set, naming the type.
                seq = self.signed.seq
                kind = type(item).__name__
                raise FeedError(
                    zh=f"县平台数据集 {seq} 含有本站无法应用的 {kind} 类型数据；请升级软件",
                    en=f"feed set {seq} holds an item of type {kind} this station cannot apply; update the software",
                    seq=seq,
                    code="apply",
                )

    def finish(self) -> None:
        for case_no in sorted(self.touched):
            if self._case(case_no) is not None:
                refresh_local(self.station, "cases", case_no)
        # Local edits made after this set must be stamped after everything it carried, or they
        # would lose last-writer-wins merges against changes they were made on top of.
        clock = HybridClock(self.station.meta.hlc_last or 0)
        clock.observe(self.max_hlc, int(self.station.now().timestamp() * 1000))
        self.station.meta.update({"hlc_last": clock.last})

    def _case(self, case_no: str) -> dict[str, Any] | None:
        cursor = self.db.execute("SELECT * FROM cases WHERE case_no = ?", [case_no])
        row = cursor.fetchone()
        return None if row is None else dict(zip([d[0] for d in cursor.description], row))

    # -- changes of other origins ----------------------------------------------------------------

    def _row_change(self, item: RowChange) -> None:
        self.max_hlc = max(self.max_hlc, item.hlc)
        rejection = apply_row_change(self.station, item, item.origin or self.signed.origin)
        if rejection is not None:
            self.notes.append(f"row change to {item.table} {item.pk} not applied here: {rejection.code}")
        elif item.table == "cases":
            self.touched.add(item.pk)

    def _status_change(self, item: StatusChange) -> None:
        # History only: the case's status comes from the CaseState that follows a move, which
        # orders moves as the hub applied them.
        self.max_hlc = max(self.max_hlc, item.hlc)
        if self.db.execute("SELECT 1 FROM case_events WHERE event_id = ?", [item.event_id]).fetchone():
            return
        if self._case(item.case_no) is None:
            self.notes.append(f"status move {item.event_id} for case {item.case_no}, which is not at this station")
            return
        self.db.execute(
            "INSERT INTO case_events (event_id, case_no, from_status, to_status, actor, by, at, hlc, reason, outcome,"
            " origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                item.event_id,
                item.case_no,
                item.from_status,
                item.to_status,
                item.actor,
                item.by,
                item.at,
                item.hlc,
                item.reason,
                item.outcome,
                item.origin or self.signed.origin,
            ],
        )
        self.touched.add(item.case_no)

    def _case_state(self, item: CaseState) -> None:
        if self._case(item.case_no) is None:
            self.notes.append(f"case state for case {item.case_no}, which is not at this station")
            return
        if item.status not in Status.__members__:
            self.notes.append(f"case state for case {item.case_no} names an unknown status {item.status!r}")
            return
        # Re-apply this station's own moves the hub had not seen when it wrote this state.
        own = self.db.execute(
            "SELECT body FROM outbox WHERE kind = 'status' AND entity_id = ? AND (set_seq IS NULL OR set_seq > ?)"
            " ORDER BY id",
            [item.case_no, item.through_seq],
        ).fetchall()
        status, outcome = _own_moves_on_top(item.status, item.outcome, own)
        self.db.execute(
            "UPDATE cases SET status = ?, outcome = ?, accepted_date = ? WHERE case_no = ?",
            [status, outcome, item.accepted_date, item.case_no],
        )
        if item.opinions is not None:  # parallel review: the hub's whole list, as it stands now
            self.db.execute("DELETE FROM joint_opinions WHERE case_no = ?", [item.case_no])
            for opinion in item.opinions:
                self.db.execute(
                    "INSERT INTO joint_opinions (case_no, department, name_zh, name_en, opinion, requested_at, "
                    "due_date, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (case_no, department) DO NOTHING",
                    [
                        item.case_no,
                        opinion.department,
                        opinion.name_zh,
                        opinion.name_en,
                        opinion.opinion,
                        opinion.requested_at,
                        opinion.due_date,
                        opinion.answered_at,
                    ],
                )
        self.touched.add(item.case_no)

    # -- answers about this station's own changes -------------------------------------------------

    def _rejected(self, item: RejectedItem) -> None:
        if item.set_hash and self._another_branch(item.seq, item.set_hash):
            # A notice about the hub's set at this seq, which is not this station's (a fork: the hub's
            # branch was sealed by another copy of this PC). Matched by seq it would strike a change of this
            # branch; the county's resolution brings the hub's rows, and this branch's own notices follow.
            self.notes.append(f"a rejection for the hub's set {item.seq}, not this station's: left aside")
            return
        self.db.execute(
            "INSERT INTO rejections (seq, idx, entity, entity_id, code, reason_en, reason_zh, received_at, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (seq, idx) DO NOTHING",
            [
                item.seq,
                item.index,
                item.entity,
                item.entity_id,
                item.code,
                item.reason_en,
                item.reason_zh,
                iso_utc(self.station.now()),
                # The county does not hold a row whose creation it refused: its scanned pages never go.
                int(created_row(self.db, item.seq, item.index, item.entity, item.entity_id)),
            ],
        )
        refused = self.db.execute(
            "SELECT id, body FROM outbox WHERE set_seq = ? ORDER BY id LIMIT 1 OFFSET ?", [item.seq, item.index]
        ).fetchone()
        if refused is not None:
            try:
                change = decode_change(bytes(refused[1]))
            except msgspec.DecodeError:
                change = None  # another kind of record (a key change: station.rekey)
            if isinstance(change, StatusChange):
                # A move the county refused never happened there: it leaves this case's history
                # too (the rejection, with the county's reason, stays on the case).
                self.db.execute("DELETE FROM case_events WHERE event_id = ?", [change.event_id])
        if item.current and (item.code != "duplicate_row" or item.entity in FIRST_STANDS):
            # The hub's values win, so this replica converges on what the county holds; not for a number
            # used twice (a fork's two branches): the hub's row is another applicant's, and this one stays.
            # A rating or query code two PCs of the village made offline is one row: the first stands.
            if not write_hub_values(self.station, item.entity, item.entity_id, dict(item.current)):
                self.notes.append(f"hub values for {item.entity} {item.entity_id}, which is not at this station")
            elif item.entity == "cases" and "status" in item.current and refused is not None:
                self._moves_after_refusal(item.entity_id, refused[0])
        if item.entity == "cases":
            self.touched.add(item.entity_id)

    def _another_branch(self, seq: int, set_hash: bytes) -> bool:
        """Whether this station sealed (or set aside, in a fork resolved for the hub) a set ``seq`` other than
        the one of ``set_hash``. A seq it holds no set at is a set it lost (a restore): the notice is its own."""
        own = self.db.execute("SELECT hash FROM sets_out WHERE seq = ?", [seq]).fetchone()
        return own is not None and bytes(own[0]) != set_hash

    def _moves_after_refusal(self, case_no: str, refused_id: int) -> None:
        """The hub's status at the refusal, then this station's later moves of the case on top: a later
        move the hub applied stands here too (one it refused comes down with its own RejectedItem)."""
        case = self._case(case_no)
        if case is None:
            return
        later = self.db.execute(
            "SELECT body FROM outbox WHERE kind = 'status' AND entity_id = ? AND id > ? ORDER BY id",
            [case_no, refused_id],
        ).fetchall()
        status, outcome = _own_moves_on_top(case["status"], case["outcome"], later)
        if (status, outcome) != (case["status"], case["outcome"]):
            self.db.execute("UPDATE cases SET status = ?, outcome = ? WHERE case_no = ?", [status, outcome, case_no])

    def _receipt(self, item: ReceiptItem) -> None:
        adopted = adopt_receipt(self.station, self.pins, item.receipt)
        if adopted is not None:
            # A set this PC filed after the backup it was restored from (station.restore).
            self.notes.append(f"set {adopted}, filed at the hub before this folder was restored, heads the chain here")
            return
        try:
            record_receipt(self.station, self.pins, item.receipt)
        except SyncError as exc:
            if exc.code == "fork":
                record_fork(self.station, exc)
            self.notes.append(f"receipt not stored: {exc.en}")

    # -- reference data and keys -----------------------------------------------------------------

    def _catalog(self, item: CatalogItem) -> None:
        self._install_catalog(item.version, item.body)

    def _catalog_patch(self, item: CatalogPatch) -> None:
        """A version as edits to one sent before (sync.catalog_patch): installed only when the base is
        the hub's (``base_digest``) and the result is, byte for byte (``digest``)."""
        row = self.db.execute("SELECT body FROM catalogs WHERE version = ?", [item.base_version]).fetchone()
        if row is None or body_digest(row[0]) != item.base_digest:
            why = "is missing" if row is None else "differs from the hub's"
            code = "base_missing" if row is None else "base_differs"
            self._catalog_failed(item.version, f"its base version {item.base_version} {why}", code)
            return
        try:
            body = apply_edits(row[0].encode(), item.edits, item.version)
        except ProxyAppError as exc:
            self._catalog_failed(item.version, exc.en, "patch_failed")
            return
        if body_digest(body) != item.digest:
            self._catalog_failed(
                item.version, "the edits do not give the hub's catalogue (digest differs)", "digest_differs"
            )
            return
        self._install_catalog(item.version, body)

    def _install_catalog(self, version: int, body: bytes) -> None:
        try:
            catalog = load_catalog(json.loads(body), version=version)
        except (ProxyAppError, ValueError) as exc:
            self._catalog_failed(version, str(exc))
            return
        if catalog.version != version:
            self._catalog_failed(version, f"the catalogue labelled version {version} holds version {catalog.version}")
            return
        # Kept as the hub sent it (canonical JSON, fields this release does not know included), so a
        # later patch finds the same bytes as the hub. The hub is authoritative for its versions: a
        # re-published version replaces ours. Older versions stay: cases keep the one they were received under.
        self.db.execute(
            "INSERT OR REPLACE INTO catalogs (version, body, received_at) VALUES (?, ?, ?)",
            [version, canonical_body(body).decode(), iso_utc(self.station.now())],
        )
        if (self.station.meta.catalog_failed or 0) <= version:
            self.station.meta.update({"catalog_failed": None, "catalog_failure": None})
        self.station.__dict__.pop("catalog", None)

    def _catalog_failed(self, version: int, why: str, code: str = "invalid") -> None:
        self.notes.append(f"catalogue version {version} not installed: {why}")
        # Told to the hub (sync.protocol.catalog_report), which sends the version whole.
        failure = json.dumps({"code": code, "reason": why[:MAX_REASON]}, ensure_ascii=False)
        self.station.meta.update({"catalog_failed": version, "catalog_failure": failure})

    def _calendar(self, item: CalendarItem) -> None:
        try:
            self.station.install_calendar_year(item.table)
        except ProxyAppError as exc:
            self.notes.append(f"calendar year {item.table.year} not installed: {exc}")

    def _divisions(self, item: DivisionsItem) -> None:
        try:
            data = json.loads(item.body)
            load_divisions(data).village(self.station.village_code)
        except (ProxyAppError, ValueError) as exc:
            self.notes.append(f"division tree version {item.version} not installed: {exc}")
            return
        self.db.execute(
            "INSERT INTO documents (kind, version, body, received_at) VALUES ('divisions', ?, ?, ?) "
            "ON CONFLICT(kind) DO UPDATE SET version = excluded.version, body = excluded.body, "
            "received_at = excluded.received_at",
            [item.version, json.dumps(data, ensure_ascii=False), iso_utc(self.station.now())],
        )
        self.station.__dict__.pop("divisions", None)

    def _hub_key(self, item: HubKeyItem) -> None:
        """The hub's next key generation, signed by the key pinned now: pinned in its place, so every later
        set of this feed is checked against it (docs/protocol.md, "Key rotation"). One not signed by the
        pinned key refuses the whole set: the feed cannot go on under a key this station cannot trust."""
        seq = self.signed.seq
        held = self.station.meta.hub_key_gen or 1
        if item.gen <= held:
            self.notes.append(f"hub key generation {item.gen} already held (generation {held})")
            return
        if not verify_hub_key(item, pinned_sign_public=self.pins.sign_public):
            raise _refused_hub_key(
                seq, item, "并非由本站固定的县平台密钥签署", "is not signed by the hub key pinned here"
            )
        before = self.station.meta.hub_keys_before or []
        before.append(
            {
                "gen": held,
                "key_id": self.pins.hub_id,
                "sign_public": self.pins.sign_public.hex(),
                "box_public": self.pins.box_public.hex(),
                "until_feed_seq": seq,
            }
        )
        key_id = key_id_of(item.sign_public)
        self.station.meta.update(
            {
                "hub_id": key_id,
                "hub_sign_public": item.sign_public.hex(),
                "hub_box_public": item.box_public.hex(),
                "hub_key_gen": item.gen,
                "hub_keys_before": json.dumps(before),
            }
        )
        self.pins = msgspec.structs.replace(
            self.pins, hub_id=key_id, sign_public=item.sign_public, box_public=item.box_public
        )
        self.hub_rekeyed = True
        self.notes.append(f"the hub changed its key: generation {item.gen}, key {key_id}")

    def _key_revoked(self, item: KeyRevokedItem) -> None:
        if item.station_id == self.station.station_id and item.key_id == self.keys.key_id:
            record_revoked(self.station, item.key_id, after_seq=item.after_seq)
            self.revoked = True
        self.notes.append(f"key {item.key_id} of {item.station_id} revoked after set {item.after_seq}")


def _refused_hub_key(seq: int, item: HubKeyItem, why_zh: str, why_en: str) -> FeedError:
    return FeedError(
        zh=f"县平台数据集 {seq} 中的新密钥（第 {item.gen} 代）{why_zh}，未应用任何内容；请联系县管理员",
        en=f"feed set {seq} hands the hub over to key generation {item.gen}, which {why_en}; nothing applied: "
        "call the county administrator",
        seq=seq,
        code="bad_signature",
    )


def _own_moves_on_top(status: str, outcome: str | None, bodies: list[tuple[bytes]]) -> tuple[str, str | None]:
    """(status, outcome) after this station's own moves (outbox bodies, in the order made) on top of
    the hub's; one the lifecycle no longer allows is left for the hub to reject (it will, with a
    reason that comes back down as a RejectedItem)."""
    for (body,) in bodies:
        change = decode_change(bytes(body))
        if not isinstance(change, StatusChange):
            continue
        try:
            check_transition(status, change.to_status, change.actor)
        except (IllegalTransition, ValueError):
            continue
        status = change.to_status
        if change.outcome is not None:
            outcome = change.outcome
    return status, outcome


def record_fork(station: Station, exc: SyncError) -> None:
    """Remember that the hub holds another chain for this station: pushing stops until the county resolves it."""
    with write_txn(station.db):
        station.meta.update(
            {
                "fork": json.dumps(
                    {"code": exc.code, "detail": exc.en, "detail_zh": exc.zh, "at": iso_utc(station.now())},
                    ensure_ascii=False,
                )
            },
        )


def record_revoked(station: Station, key_id: str, *, after_seq: int | None = None) -> None:
    """Remember that this station's key was revoked: syncing stops until it enrols again."""
    with write_txn(station.db):
        station.meta.update(
            {"revoked": json.dumps({"key_id": key_id, "after_seq": after_seq, "at": iso_utc(station.now())})},
        )
