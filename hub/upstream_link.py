"""The county's link to its province: enrolment, one forwarding round over HTTP, and upstream files for USB."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import httpx
import msgspec

from hub.keys import HubIdentity
from hub.store import HubStore
from hub.upstream import (
    UpstreamError,
    collect,
    require_county,
    require_link,
    seal_pending,
    take_answer,
    upstream_request,
)
from sync.crypto import sign, verify
from sync.enrolment import split_code
from sync.errors import InputError, ProxyAppError
from sync.protocol import (
    MEDIA_TYPE,
    PROTOCOL_VERSION,
    Envelope,
    ProtocolError,
    PushResponse,
    SetResult,
    StationForkNotice,
    decode_envelope,
)
from sync.protocol.messages import MAX_FORK_NOTICES
from sync.protocol.upstream import (
    HEADER_COUNTY,
    HEADER_COUNTY_SIGNATURE,
    MAX_COUNTY_SETS,
    CountyEnrollRequest,
    CountyEnrollResponse,
    UpstreamRequest,
    county_request_mac,
    county_request_signature,
    county_response_mac,
)
from sync.timeutil import iso_utc

__all__ = (
    "ANSWER_MAGIC",
    "ENROLL_PATH",
    "FILE_MAGIC",
    "FILE_SIGNED_PATH",
    "MAX_ANSWER_BYTES",
    "MAX_FILE_BYTES",
    "SIGNED_ANSWERS_KEY",
    "SIGNED_FILE_MAGIC",
    "SYNC_PATH",
    "AnswerBody",
    "Export",
    "Round",
    "UpstreamFile",
    "decode_upstream_request",
    "enroll_upstream",
    "export_upstream",
    "read_answer_file",
    "read_upstream_file",
    "sign_answer",
    "signed_upstream_file",
    "sync_upstream",
    "write_answer_file",
)

ENROLL_PATH = "/api/v1/upstream/enroll"
SYNC_PATH = "/api/v1/upstream/sync"
FILE_MAGIC = b"PROXYAPP-UPSTREAM-1\n"
"""An unsigned upstream file (a county of an earlier release): taken only from a county that never signed."""
SIGNED_FILE_MAGIC = b"PROXYAPP-UPSTREAM-2\n"
"""A signed upstream file: this line, the county's code, its ``X-County-Signature`` value, each on a line, then
the body (an :class:`UpstreamRequest`)."""
FILE_SIGNED_PATH = "upstream-file"
"""What an upstream file's signatures name in place of a request's path."""
ANSWER_MAGIC = b"PROXYAPP-UPSTREAM-ANSWER-1\n"
CTX_ANSWER = b"proxyapp/county-answer/v1\x00"
MAX_FILE_BYTES = 256 * 1024 * 1024
"""An upstream file is read up to this many bytes (a county's fortnight offline is a few megabytes)."""
MAX_REQUEST_BYTES = 6 * 1024 * 1024
"""Sets are sent in requests of at most about this many bytes (the province takes 8 MiB bodies)."""
MAX_ANSWER_BYTES = 4 * 1024 * 1024
"""The province's answer is read up to this many bytes (an answer to 50 sets is a few kilobytes)."""
SIGNED_ANSWERS_KEY = "upstream_answers_signed"
"""The ``meta`` key set to ``1`` once the province's HTTP answers came signed: an unsigned one is refused from then
on (``0`` again after ``hub upstream enroll``, which may lead to another province)."""


class AnswerBody(msgspec.Struct, frozen=True, array_like=True):
    """What the province signs in an answer file: what it holds of the county's chain and, set by set, what it
    did with the file's sets, each taken one with its receipt (the same results, receipts included, as the
    HTTP answer's)."""

    county: str
    next_seq: int
    hub_ms: int
    results: list[SetResult] = msgspec.field(default_factory=list)
    station_forks: Annotated[list[StationForkNotice], msgspec.Meta(max_length=MAX_FORK_NOTICES)] = msgspec.field(
        default_factory=list
    )
    """The county's stations whose sets the province holds aside (absent from an older province's file)."""
    request_hash: bytes = b""
    """SHA-256 of the request answered, over HTTP (empty in a file's answer, and from an older province):
    an answer taken from another exchange does not pass for this one's."""


_ANSWER = msgspec.msgpack.Decoder(AnswerBody)
_REQUEST = msgspec.msgpack.Decoder(UpstreamRequest)
_RESPONSE = msgspec.msgpack.Decoder(PushResponse)
_ENROLLED = msgspec.msgpack.Decoder(CountyEnrollResponse)
_ENCODER = msgspec.msgpack.Encoder()


class Round(msgspec.Struct, frozen=True, kw_only=True):
    """What one forwarding round did."""

    queued: int
    sealed: int
    sent: int
    acked_seq: int
    head_seq: int


def _post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    try:
        with client.stream(
            "POST", url, content=body, headers={"content-type": MEDIA_TYPE, **(headers or {})}
        ) as response:
            content = bytearray()
            for chunk in response.iter_bytes():
                content += chunk
                if len(content) > MAX_ANSWER_BYTES:
                    raise UpstreamError(
                        zh=f"省级平台的答复超过 {MAX_ANSWER_BYTES} 字节，未采用；数据留在本县，请联系省级平台",
                        en=f"the province's answer is over {MAX_ANSWER_BYTES} bytes and was not taken; "
                        "the data stays here: call the province",
                        code="too_large",
                    )
    except httpx.HTTPError as exc:
        raise UpstreamError(
            zh=f"无法连接省级平台 {url}（{type(exc).__name__}）；数据留在本县，下次继续转发",
            en=f"cannot reach the province at {url} ({type(exc).__name__}); the data stays here and goes next time",
            code="unreachable",
        ) from None
    if response.status_code != 200:
        try:
            data = json.loads(bytes(content))
            code, en, zh = str(data["error"]), str(data.get("detail", "")), str(data.get("detail_zh", ""))
        except (ValueError, KeyError, TypeError):
            code, en, zh = f"http_{response.status_code}", "no explanation", "没有说明原因"
        raise UpstreamError(
            zh=f"省级平台答复 {response.status_code} {code}：{zh}",
            en=f"the province answered {response.status_code} {code}: {en}",
            code=code,
        )
    return bytes(content)


def _signing_keys(identity: HubIdentity) -> list[bytes]:
    """The hub's signing keys, newest first: a province that has not yet learnt a rotation checks an older one."""
    return [identity.keys.sign_private, *(old.keys.sign_private for old in reversed(identity.previous))]


def _signed_headers(identity: HubIdentity, county: str, body: bytes) -> dict[str, str]:
    """The county's signatures of an upstream request, so the province checks every byte before it reads one
    (an older province ignores the headers, as before)."""
    signatures = county_request_signature(_signing_keys(identity), SYNC_PATH, body)
    return {HEADER_COUNTY: county, HEADER_COUNTY_SIGNATURE: signatures}


def _http_answer(store: HubStore, link: dict[str, Any], data: bytes, request: bytes) -> PushResponse:
    """The province's answer to ``request``: a signed one verified with the pinned province key (and bound to
    the request's hash) before its body is decoded; a plain one (an older province) only while none of its
    answers came signed. UpstreamError ``bad_signature`` when it is neither."""
    signing = store.get_meta(SIGNED_ANSWERS_KEY) == "1"
    if data[:1] and 0x90 <= data[0] <= 0x9F:  # an array: the signed envelope (a plain answer is a map)
        try:
            body = _verified_answer(link, data, "the province's answer", "省级平台的答复")
        except ProxyAppError as exc:  # recorded as the link's last error, as every failed round is
            raise UpstreamError(zh=exc.zh, en=exc.en, code=exc.code) from None
        if body.request_hash != hashlib.sha256(request).digest():
            raise UpstreamError(
                zh="省级平台的答复不是对本次请求的答复，未采用；数据留在本县，下次继续转发",
                en="the province's answer is not the answer to this request and was not taken; the data stays here",
                code="bad_signature",
            )
        if not signing:
            with store.transaction():
                store.set_meta(SIGNED_ANSWERS_KEY, "1")
        return PushResponse(
            results=body.results, next_seq=body.next_seq, hub_ms=body.hub_ms, station_forks=body.station_forks
        )
    if signing:
        raise UpstreamError(
            zh="省级平台的答复没有签名，而它此前的答复都有：可能被途中篡改，未采用；数据留在本县。"
            "请检查与省级平台之间的网络，若省级平台降级过软件，请重新登记（hub upstream enroll）",
            en="the province's answer is not signed though its answers were: it may have been altered on the way "
            "and was not taken; the data stays here. Check the link to the province; if the province went back to "
            "an older release, enrol again (hub upstream enroll)",
            code="bad_signature",
        )
    try:
        return _RESPONSE.decode(data)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise UpstreamError(
            zh="省级平台的答复无法读取，未采用；数据留在本县，下次继续转发",
            en=f"the province's answer is unreadable ({exc}) and was not taken; the data stays here",
            code="malformed",
        ) from None


def _verified_answer(link: dict[str, Any], data: bytes, what_en: str, what_zh: str) -> AnswerBody:
    """An answer envelope checked with the pinned province key, then its body decoded and checked to be this
    county's (ProtocolError ``bad_signature`` or ``malformed``, InputError for another county's)."""
    envelope = decode_envelope(data)
    payload = bytes(envelope.payload)
    if not verify(bytes(link["sign_public"]), CTX_ANSWER, payload, envelope.signature):
        raise ProtocolError(
            zh=f"{what_zh}签名无效：不是本省平台签发的",
            en=f"{what_en} is not signed by this county's province",
            code="bad_signature",
        )
    try:
        body = _ANSWER.decode(payload)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise ProtocolError(zh=f"{what_zh}已损坏", en=f"{what_en} is damaged ({exc})", code="malformed") from None
    if body.county != link["county"]:
        raise InputError(zh=f"{what_zh}属于县 {body.county}", en=f"{what_en} is county {body.county}'s", field="file")
    return body


def enroll_upstream(
    store: HubStore,
    identity: HubIdentity,
    *,
    url: str,
    code: str,
    now: dt.datetime,
    transport: httpx.BaseTransport | None = None,
) -> CountyEnrollResponse:
    """Enrol this county at its province with a one-time code; pin the province's keys.

    At a re-enrolment (a new key after a revocation) the county's sets the province does not hold are
    put back in the queue and sealed again under the current key: nothing lost, nothing sent twice.
    """
    require_county(store)
    code_id, secret = split_code(code)
    keys = identity.keys
    request = CountyEnrollRequest(
        protocol=PROTOCOL_VERSION,
        code_id=code_id,
        sign_public=keys.sign_public,
        box_public=keys.box_public,
        gen=identity.gen,
        mac=county_request_mac(secret, keys.sign_public, keys.box_public, identity.gen),
        signs_requests=True,
    )
    with httpx.Client(transport=transport, timeout=30.0) as client:
        answer = _post(client, url.rstrip("/") + ENROLL_PATH, _ENCODER.encode(request))
    try:
        response = _ENROLLED.decode(answer)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise UpstreamError(zh="省级平台的答复无法读取", en=f"the province's answer is unreadable ({exc})") from None
    if county_response_mac(secret, response) != response.mac:
        raise UpstreamError(
            zh="省级平台答复的校验码不符：可能有人冒充省级平台",
            en="the province's answer fails its mac: not the province",
            code="enroll_code",
        )
    with store.transaction():
        head = store.upstream_head()
        if response.head_seq > (head[0] if head else 0):
            raise UpstreamError(
                zh="省级平台持有的本县批次比本县还多：请核对是否登记到了正确的省级平台",
                en="the province holds more of this county's sets than the county sealed: is this the right province?",
            )
        if response.head_seq and store.upstream_set_hash(response.head_seq) != response.head_hash:
            raise UpstreamError(
                zh="省级平台持有的本县批次与本县不符：请联系省级平台",
                en="the province's copy of this county's chain differs",
                code="fork",
            )
        store.upstream_unseal_after(response.head_seq)
        store.set_meta(SIGNED_ANSWERS_KEY, "0")  # learnt again from this province's first answer
        store.set_upstream_link(
            url=url.rstrip("/"),
            county=response.county,
            province_id=response.province_id,
            sign_public=response.sign_public,
            box_public=response.box_public,
            gen=identity.gen,
            at=iso_utc(now),
        )
        store.note_upstream(acked_seq=response.head_seq)
    return response


def sync_upstream(
    store: HubStore, identity: HubIdentity, *, now: dt.datetime, transport: httpx.BaseTransport | None = None
) -> Round:
    """One round: queue what is new, seal it, send every set the province does not hold, in batches."""
    link = require_link(store)
    queued = collect(store, identity, now=now)
    sealed = seal_pending(store, identity, now=now)
    sent = 0
    acked = int(link["acked_seq"])
    with store.transaction():
        store.note_upstream(last_push=iso_utc(now))
    try:
        with httpx.Client(transport=transport, timeout=60.0) as client:
            for _ in range(100_000):
                body, count = upstream_request(store, after=acked, limit=MAX_COUNTY_SETS, signed_answer=True)
                while count > 1 and len(body) > MAX_REQUEST_BYTES:
                    body, count = upstream_request(store, after=acked, limit=count // 2, signed_answer=True)
                signed = _signed_headers(identity, str(link["county"]), body)
                answer = _http_answer(store, link, _post(client, link["url"] + SYNC_PATH, body, signed), body)
                before, acked = acked, take_answer(store, answer, now=now)
                sent += count
                head = store.upstream_head()
                if head is None or acked >= head[0] or acked == before:
                    # All sent, or the province took none of them: the next round tries again (never a spin).
                    # A province holding less than it did (restored from a backup) is sent the rest now.
                    break
    except UpstreamError as exc:
        with store.transaction():
            store.note_upstream(last_error=f"{exc.code}: {exc.en}")
        raise
    head = store.upstream_head()
    return Round(queued=queued, sealed=sealed, sent=sent, acked_seq=acked, head_seq=head[0] if head else 0)


class Export(NamedTuple):
    """What ``hub upstream export`` wrote: its sets, the first one's seq, and the sets left for the next file."""

    sets: int
    first_seq: int
    left: int


def export_upstream(
    store: HubStore, identity: HubIdentity, path: Path, *, now: dt.datetime, max_bytes: int = MAX_FILE_BYTES
) -> Export:
    """Write the sets the province has not acknowledged to a signed upstream file, as many as fit in
    ``max_bytes``; the rest wait for the next file, once the province's answer is imported."""
    link = require_link(store)
    collect(store, identity, now=now)
    seal_pending(store, identity, now=now)
    after = int(link["acked_seq"])
    sets: list[bytes] = []
    size, room = 0, max_bytes - 64 * 1024  # the header and the request's own fields
    full, last = False, after
    while not full and (page := store.upstream_sets_after(last, MAX_COUNTY_SETS)):
        for seq, envelope in page:
            if sets and size + len(envelope) > room:
                full = True
                break
            sets.append(envelope)
            size += len(envelope)
            last = seq
    head = store.upstream_head()
    pending, oldest = store.upstream_pending(after)
    request = UpstreamRequest(PROTOCOL_VERSION, link["county"], [msgspec.Raw(e) for e in sets], pending, oldest)
    _write(path, signed_upstream_file(identity, str(link["county"]), _ENCODER.encode(request)))
    return Export(len(sets), after + 1, (head[0] if head else 0) - last)


def signed_upstream_file(identity: HubIdentity, county: str, body: bytes) -> bytes:
    """An upstream file: its magic line, the county, its signatures of ``body`` (as the HTTP request's headers,
    bound to FILE_SIGNED_PATH so a file is never taken for a request), then the body."""
    signatures = county_request_signature(_signing_keys(identity), FILE_SIGNED_PATH, body)
    return SIGNED_FILE_MAGIC + county.encode() + b"\n" + signatures.encode() + b"\n" + body


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _read(path: Path, magic: bytes, what_zh: str, what_en: str) -> bytes:
    data = _read_whole(path)
    if not data.startswith(magic):
        raise InputError(zh=f"{path} 不是{what_zh}", en=f"{path} is not {what_en}", field="file")
    return data[len(magic) :]


def _read_whole(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(
            zh=f"无法读取 {path}（{exc.strerror}）", en=f"cannot read {path} ({exc.strerror})", field="file"
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(zh=f"{path} 过大", en=f"{path} is larger than {MAX_FILE_BYTES} bytes", field="file")
    return data


class UpstreamFile(NamedTuple):
    """An upstream file as read, not yet decoded: who says they signed it, and the request's bytes."""

    county: str | None
    """The county its header names; None for an unsigned file (a county of an earlier release)."""
    signatures: str | None
    body: bytes


def read_upstream_file(path: Path) -> UpstreamFile:
    """A county's upstream file, split into its header and its body; nothing of the body is decoded (the
    province checks its signature first, then :func:`decode_upstream_request`)."""
    data = _read_whole(path)
    if data.startswith(FILE_MAGIC):
        return UpstreamFile(None, None, data[len(FILE_MAGIC) :])
    if not data.startswith(SIGNED_FILE_MAGIC):
        raise InputError(
            zh=f"{path} 不是县级上报文件（hub upstream export 所写）",
            en=f"{path} is not an upstream file (written by hub upstream export)",
            field="file",
        )
    # The two header lines are found within their bounds; the body is copied once (a file may be 256 MiB).
    start = len(SIGNED_FILE_MAGIC)
    county_end = data.find(b"\n", start, start + 17)
    signatures_end = data.find(b"\n", county_end + 1, county_end + 1026) if county_end >= 0 else -1
    if signatures_end < 0 or not data[start:signatures_end].isascii():
        raise ProtocolError(zh="上报文件已损坏", en="the upstream file's header is damaged", code="malformed")
    county, signatures = data[start:county_end].decode(), data[county_end + 1 : signatures_end].decode()
    return UpstreamFile(county, signatures, data[signatures_end + 1 :])


def decode_upstream_request(body: bytes) -> UpstreamRequest:
    """An upstream file's request, decoded once its signature is checked (its sets are checked one by one when
    taken). ProtocolError ``malformed`` or ``too_large``."""
    try:
        request = _REQUEST.decode(body)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise ProtocolError(zh="上报文件已损坏", en=f"the upstream file is damaged ({exc})", code="malformed") from None
    if len(request.sets) > 1_000_000:
        raise ProtocolError(zh="上报文件批次过多", en="the upstream file holds too many sets", code="too_large")
    return request


def sign_answer(identity: HubIdentity, county: str, answer: PushResponse, *, request: bytes | None = None) -> bytes:
    """The province's signed answer to an upstream file, or to the HTTP ``request`` it is bound to by hash:
    what it now holds of the county's chain, and each set's result with its receipt."""
    payload = _ENCODER.encode(
        AnswerBody(
            county,
            answer.next_seq,
            answer.hub_ms,
            list(answer.results),
            list(answer.station_forks),
            request_hash=hashlib.sha256(request).digest() if request is not None else b"",
        )
    )
    keys = identity.keys
    return _ENCODER.encode(
        Envelope(PROTOCOL_VERSION, identity.hub_id, msgspec.Raw(payload), sign(keys.sign_private, CTX_ANSWER, payload))
    )


def write_answer_file(path: Path, answer: bytes) -> None:
    """Write the province's signed answer for the county to take back."""
    _write(path, ANSWER_MAGIC + answer)


def read_answer_file(store: HubStore, path: Path, *, now: dt.datetime) -> int:
    """Take the province's answer file at the county: verified with the pinned province key. Returns the acked seq."""
    link = require_link(store)
    data = _read(path, ANSWER_MAGIC, "省级平台的回执文件", "the province's answer file")
    body = _verified_answer(link, data, "the answer file", "回执文件")
    answer = PushResponse(
        results=body.results, next_seq=body.next_seq, hub_ms=body.hub_ms, station_forks=body.station_forks
    )
    return take_answer(store, answer, now=now)
