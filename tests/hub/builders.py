"""Station-side test helpers: enrol a key pair at the hub, seal change sets and sign exchanges as a station does.

Sets are sealed by the writer of 0.5 (tests/support/old_forms.py): format 1 with a ``zstd-d1`` body,
what stations of 0.3 wrote and what the hub reads for ever (docs/protocol.md, "Support window").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import msgspec

from hub.enroll import enroll as hub_enroll
from hub.enroll import issue_code, request_mac, response_mac, split_code
from hub.keys import HubIdentity
from hub.store import HubStore
from sync.changes import Change, RowChange, StatusChange, encode_change
from sync.crypto import KeyPair, open_box
from sync.hlc import HybridClock
from sync.protocol import (
    CTX_DOWN,
    CTX_UP,
    GENESIS,
    PROTOCOL_VERSION,
    STATION_FEATURES,
    DownItem,
    EnrollRequest,
    EnrollResponse,
    SignedSet,
    SyncRequest,
    open_set,
    sign_request,
)
from sync.timeutil import business_date, iso_utc
from tests.support.old_forms import seal_set

__all__ = (
    "ID_NUMBER",
    "OTHER_VILLAGE",
    "PASSWORDS",
    "PHONE",
    "SYNC",
    "VILLAGE",
    "Clock",
    "TestStation",
    "bearer",
    "csrf_of",
    "enrol",
    "enroll_request",
    "log_in",
    "open_feed_set",
)

VILLAGE = "349921001001"
OTHER_VILLAGE = "349921001002"
ID_NUMBER = "349921195803120234"
PHONE = "13800138000"
SYNC = "/api/v1/sync"

PASSWORDS = {"admin": "admin-password-1", "rs": "pension-desk-pw", "yb": "medical-desk-pw"}
"""Passwords of the test accounts (tests/hub/conftest.py ``users``)."""

_DOWN = msgspec.msgpack.Decoder(list[DownItem])
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of an API token."""
    return {"authorization": f"Bearer {token}"}


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = _CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def log_in(client: Any, name: str, password: str | None = None, *, next_: str = "") -> Any:
    """Log in through the form as a browser does (the login page first, for its form token); the response."""
    form = client.get("/login")
    return client.post(
        "/login",
        data={
            "username": name,
            "password": PASSWORDS[name] if password is None else password,
            "csrf": csrf_of(form.text),
            "next": next_,
        },
        follow_redirects=False,
    )


class Clock:
    """A settable clock for hub and station alike (aware UTC)."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.moment = start or dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += dt.timedelta(**delta)

    @property
    def ms(self) -> int:
        return int(self.moment.timestamp() * 1000)


def enroll_request(code: str, keys: KeyPair) -> tuple[EnrollRequest, bytes]:
    """The EnrollRequest a station sends for ``code``, and the secret it keeps to check the answer."""
    code_id, secret = split_code(code)
    request = EnrollRequest(
        protocol=PROTOCOL_VERSION,
        code_id=code_id,
        sign_public=keys.sign_public,
        box_public=keys.box_public,
        software="test/1",
        mac=request_mac(secret, keys.sign_public, keys.box_public),
    )
    return request, secret


@dataclasses.dataclass
class TestStation:
    """A station as the hub sees it: key pair, chain position, request counter, clock."""

    __test__ = False  # not a pytest class

    keys: KeyPair
    response: EnrollResponse
    clock: Clock
    seq: int = 0
    prev: bytes = GENESIS
    counter: int = 0
    cases: int = 0
    hlc: HybridClock = dataclasses.field(default_factory=HybridClock)

    @property
    def station_id(self) -> str:
        return self.response.station_id

    @property
    def village_code(self) -> str:
        return self.response.village_code

    def stamp(self) -> int:
        return self.hlc.tick(self.clock.ms)

    # -- changes, as station/outbox.py records them --------------------------------------------

    def new_case(self, item: str = "RS-001", *, village: str | None = None) -> tuple[str, list[Change]]:
        """Intake insert, one material, case insert (DRAFT), then DRAFT -> RECEIVED by the station."""
        self.cases += 1
        now = self.clock()
        day = business_date(now)
        village = village or self.village_code
        case_no = f"{village}-{day:%Y%m%d}-{self.response.device}{self.cases:03d}"
        at = iso_utc(now)
        changes: list[Change] = [
            self.insert(
                "intakes",
                case_no,
                {
                    "intake_id": case_no,
                    "bundle_code": None,
                    "village_code": village,
                    "received_at": at,
                    "received_date": day.isoformat(),
                    "agent": "李代办",
                    "catalog_version": 1,
                },
            ),
            self.insert(
                "intake_materials",
                f"{case_no}/居民身份证",
                {
                    "material_id": f"{case_no}/居民身份证",
                    "intake_id": case_no,
                    "name_zh": "居民身份证",
                    "state": "presented",
                    "updated_at": at,
                },
            ),
            self.insert(
                "cases",
                case_no,
                {
                    "case_no": case_no,
                    "intake_id": case_no,
                    "item_code": item,
                    "bundle_code": None,
                    "stage": 0,
                    "status": "DRAFT",
                    "outcome": None,
                    "applicant_name": "王小明",
                    "id_number": ID_NUMBER,
                    "phone": PHONE,
                    "sex": "M",
                    "birth_date": "1958-03-12",
                    "village_code": village,
                    "received_at": at,
                    "received_date": day.isoformat(),
                    "accepted_date": None,
                    "catalog_version": 1,
                },
            ),
            self.move(case_no, "DRAFT", "RECEIVED"),
        ]
        return case_no, changes

    def insert(self, table: str, pk: str, fields: dict[str, Any]) -> RowChange:
        return RowChange(table=table, pk=pk, hlc=self.stamp(), fields=fields, insert=True)

    def update(self, table: str, pk: str, fields: dict[str, Any]) -> RowChange:
        return RowChange(table=table, pk=pk, hlc=self.stamp(), fields=fields)

    def move(
        self, case_no: str, from_status: str, to_status: str, *, actor: str = "station", reason: str | None = None
    ) -> StatusChange:
        stamp = self.stamp()
        return StatusChange(
            event_id=f"{self.station_id}:{stamp}",
            case_no=case_no,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            hlc=stamp,
            at=iso_utc(self.clock()),
            reason=reason,
            by="李代办",
        )

    # -- sets and requests -----------------------------------------------------------------------

    def seal(
        self,
        changes: list[Change],
        *,
        seq: int | None = None,
        prev: bytes | None = None,
        keys: KeyPair | None = None,
        origin: str | None = None,
    ) -> bytes:
        """Seal changes into the next set of the chain (or at an explicit seq/prev, for forks)."""
        explicit = seq is not None
        seq = self.seq + 1 if seq is None else seq
        prev = self.prev if prev is None else prev
        keys = keys or self.keys
        envelope, set_hash = seal_set(
            origin=origin or self.station_id,
            seq=seq,
            prev=prev,
            created_ms=self.clock.ms,
            hlc=self.stamp(),
            records=[encode_change(c) for c in changes],
            sign_private=keys.sign_private,
            sign_public=keys.sign_public,
            recipient_box_public=self.response.hub_box_public,
            context=CTX_UP,
        )
        if not explicit:
            self.seq, self.prev = seq, set_hash
        return envelope

    def sync_body(self, sets: list[bytes], *, feed_after: int = 0, features: int = STATION_FEATURES) -> bytes:
        """A ``POST /api/v1/sync`` body carrying ``sets`` (none: a pull)."""
        return msgspec.msgpack.encode(
            SyncRequest(PROTOCOL_VERSION, [msgspec.Raw(s) for s in sets], feed_after, 0, features)
        )

    def sync(self, client: Any, sets: list[bytes], *, feed_after: int = 0, **headers: str) -> Any:
        """The exchange, signed with the long headers (what the hub checks as it checks ``X-Sync``); the response."""
        body = self.sync_body(sets, feed_after=feed_after)
        return client.post(SYNC, content=body, headers={**self.headers("POST", SYNC, body), **headers})

    def headers(
        self, method: str, path_qs: str, body: bytes = b"", *, counter: int | None = None, **extra: Any
    ) -> dict[str, str]:
        """Signed request headers (a fresh counter unless one is given)."""
        if counter is None:
            self.counter += 1
            counter = self.counter
        return sign_request(
            sign_private=self.keys.sign_private,
            sign_public=self.keys.sign_public,
            method=method,
            path_qs=path_qs,
            station_id=self.station_id,
            counter=counter,
            station_ms=self.clock.ms,
            body=body,
            head_seq=self.seq,
            outbox_length=extra.get("outbox_length", 0),
            software=extra.get("software", "test/1"),
        )

    def read_feed_set(self, envelope: bytes) -> tuple[SignedSet, list[Any]]:
        """Verify a feed set with the pinned hub key and decode its items."""
        return open_feed_set(envelope, self.response, self.keys)


def open_feed_set(envelope: bytes, response: EnrollResponse, keys: KeyPair) -> tuple[SignedSet, list[Any]]:
    """What a station does with a feed set: check it against the pinned hub key, open, decode."""

    def hub_key(key_id: str) -> bytes:
        assert key_id in (response.hub_id, "")  # "": a set of format 2, always the hub's
        return response.hub_sign_public

    signed, _, body = open_set(
        envelope,
        public_key_for=hub_key,
        context=CTX_DOWN,
        box_private=keys.box_private,
        sender_box_public=response.hub_box_public,
    )
    return signed, _DOWN.decode(body)


def enrol(
    store: HubStore, identity: HubIdentity, clock: Clock, *, village: str = VILLAGE, device: str | None = None
) -> TestStation:
    """Make a station key pair and enrol it through the hub's enrol function, checking the answer's mac."""
    issued = issue_code(store, village, device=device, now=clock)
    keys = KeyPair.generate()
    request, secret = enroll_request(issued.code, keys)
    response = hub_enroll(store, identity, request, now=clock)
    assert response.mac == response_mac(secret, response)
    lookup = open_box(keys.box_private, response.lookup_key_box, b"lookup-key/" + response.station_id.encode())
    assert lookup == identity.lookup_key
    return TestStation(keys=keys, response=response, clock=clock)
