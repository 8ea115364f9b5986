"""County → province over HTTP, signed both ways: the county signs its whole request and the province reads none
that does not verify; the province signs its answer, bound to the request, and the county takes none altered,
replayed, unsigned after signed ones, or too long."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec
import pytest

from hub.keys import load_identity
from hub.settings import Settings
from hub.store import HubStore
from hub.testing import live_server
from hub.upstream import UpstreamError
from hub.upstream_link import MAX_ANSWER_BYTES, SIGNED_ANSWERS_KEY, SYNC_PATH, sync_upstream
from hub.web.app import create_app
from sync.protocol import MEDIA_TYPE, PushResponse, decode_envelope
from sync.protocol.upstream import (
    HEADER_COUNTY,
    HEADER_COUNTY_SIGNATURE,
    UpstreamRequest,
    county_request_signature,
)
from sync.timeutil import utc_now
from tests.integration import county as county_module
from tests.integration.county import V1, County

pytestmark = pytest.mark.timeout(300)

COUNTY = "349921"
_REQUEST = msgspec.msgpack.Decoder(UpstreamRequest)


class Between(httpx.BaseTransport):
    """What sits on the wire between the county and the province: passes the request (maybe rewritten) to the
    real province and hands the county its answer, maybe rewritten."""

    def __init__(
        self,
        answer: Callable[[bytes], bytes] | None = None,
        request: Callable[[bytes], bytes] | None = None,
        *,
        unsigned: bool = False,
    ) -> None:
        self.inner = httpx.HTTPTransport()
        self.rewrite_answer, self.rewrite_request = answer, request
        self.unsigned = unsigned
        self.answers: list[bytes] = []

    def close(self) -> None:
        self.inner.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        if self.rewrite_request is not None:
            body = self.rewrite_request(body)
        headers = {"content-type": MEDIA_TYPE}
        if not self.unsigned:  # the county's signature headers pass as they are
            headers.update({k: v for k, v in request.headers.items() if k.lower().startswith("x-county")})
        sent = httpx.Request(request.method, request.url, headers=headers, content=body)
        response = self.inner.handle_request(sent)
        data = response.read()
        response.close()
        self.answers.append(data)
        if self.rewrite_answer is not None and response.status_code == 200:
            data = self.rewrite_answer(data)
        return httpx.Response(response.status_code, headers={"content-type": MEDIA_TYPE}, content=data)


def _forward(county: County, transport: httpx.BaseTransport | None = None) -> int:
    with county.store() as store:
        return sync_upstream(store, load_identity(county.hub_dir), now=utc_now(), transport=transport).acked_seq


def _link(county: County) -> tuple[int, str | None, str | None]:
    """What the county holds of its province: the acked seq, its last error, whether its answers come signed."""
    with county.store() as store:
        link = store.upstream_link() or {}
        return int(link["acked_seq"]), link["last_error"], store.get_meta(SIGNED_ANSWERS_KEY)


def _refused(county: County, transport: httpx.BaseTransport) -> UpstreamError:
    with pytest.raises(UpstreamError) as refused:
        _forward(county, transport)
    return refused.value


def _as_plain(signed: bytes, **changes: object) -> bytes:
    """A signed answer's body re-encoded as the plain answer of an older province (what a forger can write)."""
    from hub.upstream_link import AnswerBody

    body = msgspec.msgpack.decode(bytes(decode_envelope(signed).payload), type=AnswerBody)
    plain = PushResponse(results=list(body.results), next_seq=body.next_seq, hub_ms=body.hub_ms)
    return msgspec.msgpack.encode(msgspec.structs.replace(plain, **changes))


def _station_with_a_case(county: County) -> county_module.TestStationHandle:
    """A station of the county with one case the hub holds (something for the county to forward)."""
    station = county.enrol(V1)
    station.new_case("张三", 1)
    station.sync()
    return station


def test_the_provinces_answer_is_signed_bound_to_its_request_and_nothing_else_is_taken(
    live_county: County, province_dir: Path
) -> None:
    station = _station_with_a_case(live_county)
    with live_server(create_app(Settings(data_dir=province_dir))) as url:
        live_county.enrol_upstream(province_dir, url, COUNTY, as_older=True)
        assert _link(live_county)[2] == "0"
        # An older province (it does not read signed_answer, so answers plain): taken, as before.
        older = Between(
            request=lambda b: msgspec.msgpack.encode(msgspec.structs.replace(_REQUEST.decode(b), signed_answer=False)),
            unsigned=True,
        )
        first = _forward(live_county, older)
        assert first > 0 and _link(live_county) == (first, None, "0")
        assert older.answers[0][:1] != b"\x94"  # a map: the plain PushResponse

        station.new_case("李四", 2)
        station.sync()
        seen = Between()
        acked = _forward(live_county, seen)
        assert acked > first and _link(live_county) == (acked, None, "1")
        assert all(answer[:1] == b"\x94" for answer in seen.answers)  # an envelope: signed
        signed = seen.answers[-1]

        station.new_case("王五", 3)
        station.sync()
        # Unsigned now that the province signs: a forger claims it holds everything (the county would stop sending).
        refused = _refused(live_county, Between(answer=lambda _: _as_plain(signed, next_seq=10**6)))
        assert refused.code == "bad_signature" and "not signed" in refused.en
        assert _link(live_county)[:2] == (acked, f"bad_signature: {refused.en}")

        # Signed, with one byte of its body changed.
        def altered(data: bytes) -> bytes:
            envelope = decode_envelope(data)
            payload = bytearray(bytes(envelope.payload))
            payload[-40] ^= 1
            return msgspec.msgpack.encode(msgspec.structs.replace(envelope, payload=msgspec.Raw(bytes(payload))))

        assert _refused(live_county, Between(answer=altered)).code == "bad_signature"
        # The province's true answer to an earlier exchange, replayed: signed, but not this request's.
        replayed = _refused(live_county, Between(answer=lambda _: signed))
        assert replayed.code == "bad_signature" and "not the answer to this request" in replayed.en
        # Far longer than any answer: read no further.
        assert _refused(live_county, Between(answer=lambda d: d + bytes(MAX_ANSWER_BYTES))).code == "too_large"
        with live_county.store() as store:
            waiting = (store.upstream_head() or (0, b""))[0]
        assert waiting > acked and _link(live_county)[0] == acked  # nothing of any of them was taken

        # The true answer again: the county catches up, and its province holds every set.
        assert _forward(live_county) == waiting
        assert _link(live_county) == (waiting, None, "1")
        with HubStore.open_existing(province_dir) as store:
            held = store.db.execute("SELECT MAX(seq) FROM county_sets WHERE county = ?", [COUNTY]).fetchone()[0]
        assert held == waiting


def _province_head(province: Path) -> int:
    with HubStore.open_existing(province) as store:
        return int((store.county(COUNTY) or {}).get("head_seq") or 0)


def test_the_countys_request_is_signed_whole_and_the_province_reads_none_that_is_not(
    live_county: County, province_dir: Path
) -> None:
    station = _station_with_a_case(live_county)
    with live_server(create_app(Settings(data_dir=province_dir))) as url:
        live_county.enrol_upstream(province_dir, url, COUNTY, as_older=True)
        # A county of an earlier release signs nothing: its requests are taken as before.
        first = _forward(live_county, Between(unsigned=True))
        assert first > 0 and _province_head(province_dir) == first
        station.new_case("李四", 2)
        station.sync()
        acked = _forward(live_county)  # this release's county: signed, and from now on required
        assert acked > first and _province_head(province_dir) == acked
        with HubStore.open_existing(province_dir) as store:
            assert store.get_meta(f"upstream_request_signed:{COUNTY}") == "1"

        station.new_case("王五", 3)
        station.sync()

        def lag_altered(body: bytes) -> bytes:  # the backlog the province shows, rewritten on the way
            return msgspec.msgpack.encode(msgspec.structs.replace(_REQUEST.decode(body), pending=0))

        altered = _refused(live_county, Between(request=lag_altered))
        assert altered.code == "unauthenticated" and "nothing of it was read" in altered.en
        stripped = _refused(live_county, Between(unsigned=True))
        assert stripped.code == "unauthenticated" and "it is not signed" in stripped.en

        # Signed by the county, but naming another county in the body: refused before anything is taken.
        identity = load_identity(live_county.hub_dir)

        def other_county(body: bytes) -> bytes:
            return msgspec.msgpack.encode(msgspec.structs.replace(_REQUEST.decode(body), county="349922"))

        class Resigned(Between):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                body = other_county(request.read())
                signature = county_request_signature([identity.keys.sign_private], SYNC_PATH, body)
                headers = {"content-type": MEDIA_TYPE, HEADER_COUNTY: COUNTY, HEADER_COUNTY_SIGNATURE: signature}
                return self.inner.handle_request(httpx.Request("POST", request.url, headers=headers, content=body))

        assert _refused(live_county, Resigned()).code == "wrong_origin"
        assert _province_head(province_dir) == acked  # none of them moved the province

        waiting = _forward(live_county)
        assert waiting > acked and _province_head(province_dir) == waiting
