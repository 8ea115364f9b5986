"""A stand-in for the county hub, built from sync.protocol functions only, for station tests.

It speaks enough of docs/protocol.md (enrolment, the exchange) to exercise the station's side:
it checks request signatures and counters, verifies and chains the station's sets, answers
with signed receipts, and seals queued items into a signed feed. It applies nothing: tests
decide what goes down the feed. Faults are injected with :attr:`HubDouble.faults`.

It answers as a hub that has not said what it reads (no features: signatures, not MACs), and
seals its feed as hubs up to 0.5 did for such a station (format 1, ``zstd-d1``, by the frozen
writer of tests/support/old_forms.py): what a station reads for ever, whatever it writes.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import httpx
import msgspec

from sync.changes import RowChange, StatusChange
from sync.crypto import KeyPair, key_id_of, mac, seal_box, sha256, verify
from sync.protocol import (
    CTX_DOWN,
    CTX_REQUEST,
    CTX_UP,
    GENESIS,
    EnrollRequest,
    EnrollResponse,
    ProtocolError,
    PushResponse,
    ReceiptItem,
    SetResult,
    SyncRequest,
    SyncResponse,
    SyncResult,
    TransferFile,
    canonical_request,
    expand_auth,
    make_receipt,
    open_set,
)
from tests.support.old_forms import seal_set

__all__ = ("HubDouble", "at_ms", "pushed_counts")

Fault = Exception | httpx.Response | Callable[[httpx.Request], "httpx.Response | None"]

_UP = msgspec.msgpack.Decoder(list[RowChange | StatusChange])


def _json(status: int, error: str, detail: str, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "detail": detail, "detail_zh": detail, **extra})


class HubDouble:
    """One hub with one station (the one that enrols, or :meth:`adopt` names)."""

    def __init__(self, hub_ms: int = 1_790_000_000_000) -> None:
        self.keys = KeyPair.generate()
        self.lookup_key = secrets.token_bytes(32)
        self.hub_ms = hub_ms
        self.codes: dict[str, tuple[bytes, str, str, str]] = {}
        self.station_id: str | None = None
        self.station_keys: tuple[bytes, bytes] | None = None  # (sign_public, box_public)
        self.last_counter = 0
        self.applied_seq = 0
        self.applied_hash = GENESIS
        self.held: dict[int, tuple[bytes, bytes]] = {}  # seq -> (hash, receipt)
        self.received: list[RowChange | StatusChange] = []
        self.feed: list[tuple[bytes, bytes]] = []  # (envelope, hash)
        self.queued: list[Any] = []
        self.faults: list[Fault] = []
        self.requests: list[httpx.Request] = []
        self.forks: set[int] = set()
        """Seqs answered ``fork`` (a different set held there)."""
        self.tamper_enroll_mac = False
        self.no_exchange = False
        """Play a hub of 0.3, older than ``POST /api/v1/sync`` (it answers 404 there)."""
        self.feed_bytes: list[int] = []
        """The ``feed_bytes`` each exchange asked for."""

    # -- set-up ------------------------------------------------------------------------------

    def issue_code(self, *, village: str = "349921001001", device: str = "A", station_id: str | None = None) -> str:
        code_id, secret = "K7PX", "9QRS2TVW3XYZ"
        self.codes[code_id] = (secret.encode(), village, device, station_id or f"{village}-{device}-1")
        return f"{code_id}-{secret[:4]}-{secret[4:8]}-{secret[8:]}"

    def adopt(self, station_id: str, keys: KeyPair) -> None:
        """Know a station without enrolment (feed and sealing tests pin the hub directly)."""
        self.station_id = station_id
        self.station_keys = (keys.sign_public, keys.box_public)

    @property
    def feed_origin(self) -> str:
        return f"hub>{self.station_id}"

    # -- building signed things --------------------------------------------------------------

    def feed_set(
        self,
        *items: Any,
        seq: int | None = None,
        prev: bytes | None = None,
        origin: str | None = None,
        signer: KeyPair | None = None,
    ) -> bytes:
        """Seal items into the next feed set (or one with the given seq/prev, for faults)."""
        assert self.station_keys is not None
        next_seq = len(self.feed) + 1
        envelope, set_hash = seal_set(
            origin=origin or self.feed_origin,
            seq=seq or next_seq,
            prev=prev if prev is not None else (self.feed[-1][1] if self.feed else GENESIS),
            created_ms=self.hub_ms,
            hlc=self.hub_ms << 16,
            records=[msgspec.msgpack.encode(i) for i in items],
            sign_private=(signer or self.keys).sign_private,
            sign_public=(signer or self.keys).sign_public,
            recipient_box_public=self.station_keys[1],
            context=CTX_DOWN,
        )
        if seq is None and prev is None and origin is None and signer is None:
            self.feed.append((envelope, set_hash))
        return envelope

    def receipt(self, seq: int, set_hash: bytes, *, signer: KeyPair | None = None) -> bytes:
        signer = signer or self.keys
        return make_receipt(
            origin=self.station_id or "",
            seq=seq,
            set_hash=set_hash,
            hub_ms=self.hub_ms,
            sign_private=signer.sign_private,
            sign_public=signer.sign_public,
        )

    def queue(self, *items: Any) -> None:
        self.queued.extend(items)

    def seal_queue(self) -> None:
        if self.queued:
            self.feed_set(*self.queued)
            self.queued = []

    # -- ingest (the same for the exchange and files) --------------------------------------------

    def ingest(self, sets: list[bytes], *, lean: bool = False) -> PushResponse:
        results: list[SetResult] = []
        assert self.station_keys is not None
        station_sign = self.station_keys[0]

        def key_for(key_id: str) -> bytes:
            if key_id not in ("", key_id_of(station_sign)):  # "": a set of format 2, always the station's
                raise ProtocolError(zh="未知密钥", en="unknown key", code="unknown_key")
            return station_sign

        for data in sets:
            try:
                signed, set_hash, body = open_set(
                    data,
                    public_key_for=key_for,
                    context=CTX_UP,
                    box_private=self.keys.box_private,
                    sender_box_public=self.station_keys[1],
                )
            except ProtocolError as exc:
                results.append(SetResult(seq=0, status="refused", code=exc.code, detail=exc.en))
                break
            seq = signed.seq
            if seq in self.forks:
                results.append(SetResult(seq=seq, status="fork", code="fork", detail="a different set is held"))
                break
            if seq in self.held:
                held_hash, receipt = self.held[seq]
                status = "duplicate" if held_hash == set_hash else "fork"
                results.append(SetResult(seq=seq, status=status, receipt=receipt if status == "duplicate" else None))
                if status == "fork":
                    break
                continue
            if seq > self.applied_seq + 1:
                results.append(SetResult(seq=seq, status="gap", code="gap"))
                break
            if signed.prev != self.applied_hash:
                results.append(SetResult(seq=seq, status="fork", code="fork"))
                break
            self.received.extend(_UP.decode(body))
            receipt = self.receipt(seq, set_hash)
            self.held[seq] = (set_hash, receipt)
            self.applied_seq, self.applied_hash = seq, set_hash
            if not lean:  # a file: the exchange answers with the receipt, the feed does not repeat it
                self.queue(ReceiptItem(receipt))
            results.append(SetResult(seq=seq, status="accepted", receipt=receipt))
        return PushResponse(results=results, next_seq=self.applied_seq + 1, hub_ms=self.hub_ms)

    def forget_after(self, seq: int) -> None:
        """The hub restored from a backup holding sets up to ``seq`` only."""
        self.held = {s: v for s, v in self.held.items() if s <= seq}
        self.applied_seq = seq
        self.applied_hash = self.held[seq][0] if seq else GENESIS

    def down_file(self, after: int = 0) -> bytes:
        self.seal_queue()
        return msgspec.msgpack.encode(
            TransferFile(
                direction="down",
                station_id=self.station_id or "",
                created_ms=self.hub_ms,
                sets=[msgspec.Raw(envelope) for envelope, _ in self.feed[after:]],
            )
        )

    # -- HTTP --------------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            fault = self.faults.pop(0)
            if isinstance(fault, Exception):
                raise fault
            if isinstance(fault, httpx.Response):
                return fault
            answer = fault(request)
            if answer is not None:
                return answer
        path = request.url.path
        if path == "/api/v1/enroll":
            return self._enroll(request)
        if path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        if path != "/api/v1/sync" or self.no_exchange:
            return _json(404, "not_found", path)
        problem = self._authenticate(request)
        if problem is not None:
            return problem
        return self._exchange(request)

    def _exchange(self, request: httpx.Request) -> httpx.Response:
        sync = msgspec.msgpack.decode(request.content, type=SyncRequest)
        self.feed_bytes.append(sync.feed_bytes)
        pushed = (
            self.ingest([bytes(s) for s in sync.sets], lean=True)
            if sync.sets
            else PushResponse(results=[], next_seq=self.applied_seq + 1, hub_ms=self.hub_ms)
        )
        self.seal_queue()
        feed: list[msgspec.Raw] = []
        size = 0
        for envelope, _ in self.feed[sync.feed_after :]:
            if feed and size >= (sync.feed_bytes or 64 * 1024):
                break
            feed.append(msgspec.Raw(envelope))
            size += len(envelope)
        answer = SyncResponse(
            results=[SyncResult.of(r) for r in pushed.results],
            next_seq=pushed.next_seq,
            hub_ms=self.hub_ms,
            feed=feed,
            feed_last_seq=len(self.feed),
        )
        return httpx.Response(200, content=msgspec.msgpack.encode(answer))

    def _authenticate(self, request: httpx.Request) -> httpx.Response | None:
        if self.station_keys is None:
            return _json(401, "unknown_key", "no station")
        headers: Any = request.headers
        if "X-Sync" in headers:
            if headers["X-Sync"].split(" ")[0] != key_id_of(self.station_keys[0]):
                return _json(401, "unknown_key", "key not known")
            headers = expand_auth(headers["X-Sync"], self.station_id or "")
        counter = int(headers["X-Counter"])
        canonical = canonical_request(
            method=request.method,
            path_qs=request.url.raw_path.decode(),
            station_id=headers["X-Station"],
            key_id=headers["X-Key-Id"],
            counter=counter,
            station_ms=int(headers["X-Station-Time"]),
            body=request.content,
        )
        if headers["X-Station"] != self.station_id or headers["X-Key-Id"] != key_id_of(self.station_keys[0]):
            return _json(401, "unknown_key", "key not known")
        if not verify(self.station_keys[0], CTX_REQUEST, canonical, base64.b64decode(headers["X-Signature"])):
            return _json(401, "unauthenticated", "bad request signature")
        if counter <= self.last_counter:
            return _json(409, "replay", "counter not above the last one seen", last_counter=self.last_counter)
        self.last_counter = counter
        return None

    def _enroll(self, request: httpx.Request) -> httpx.Response:
        enrol = msgspec.msgpack.decode(request.content, type=EnrollRequest)
        if enrol.code_id not in self.codes:
            return _json(403, "enroll_code", "unknown code")
        secret, village, device, station_id = self.codes.pop(enrol.code_id)
        if mac(secret, b"enroll-request", enrol.sign_public, enrol.box_public) != enrol.mac:
            return _json(403, "enroll_code", "mac wrong")
        self.station_id = station_id
        self.station_keys = (enrol.sign_public, enrol.box_public)
        box = seal_box(enrol.box_public, self.lookup_key, b"lookup-key/" + station_id.encode())
        fields = dict(
            station_id=station_id,
            village_code=village,
            device=device,
            hub_id=key_id_of(self.keys.sign_public),
            hub_sign_public=self.keys.sign_public,
            hub_box_public=self.keys.box_public,
            lookup_key_box=box,
        )
        answer_mac = mac(
            secret,
            b"enroll-response",
            station_id.encode(),
            village.encode(),
            device.encode(),
            self.keys.sign_public,
            self.keys.box_public,
            box,
        )
        if self.tamper_enroll_mac:
            answer_mac = sha256(answer_mac)
        answer = EnrollResponse(**fields, mac=answer_mac)
        return httpx.Response(200, content=msgspec.msgpack.encode(answer))


def pushed_counts(hub: HubDouble) -> list[int]:
    """How many sets each exchange that carried sets carried (for batch-size tests)."""
    counts = []
    for r in hub.requests:
        if r.url.path == "/api/v1/sync" and not hub.no_exchange:
            sets = msgspec.msgpack.decode(r.content, type=SyncRequest).sets
            if sets:
                counts.append(len(sets))
    return counts


def at_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)
