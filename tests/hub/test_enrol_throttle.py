"""Enrolment codes under attack: a per-address limit (429), the same work for every refusal, and a code that
wrong macs from elsewhere cannot void; only its issuer, expiry or use end it."""

from __future__ import annotations

import hmac
import json
import socket
from collections.abc import Iterator

import httpx
import msgspec
import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.enroll import enroll, issue_code, response_mac, void_code
from hub.settings import Settings
from hub.testing import live_server
from hub.throttle import Rule
from hub.web.app import create_app
from sync.crypto import KeyPair
from sync.errors import InputError
from sync.protocol import MEDIA_TYPE, EnrollResponse, ProtocolError
from tests.hub.builders import VILLAGE, enroll_request


def _can_bind(address: str) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


needs_loopback_net = pytest.mark.skipif(not _can_bind("127.0.0.2"), reason="127.0.0.0/8 is not all loopback here")

_OPEN: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def client_at(base_url: str, address: str) -> httpx.Client:
    http = httpx.Client(base_url=base_url, transport=httpx.HTTPTransport(local_address=address), timeout=30)
    _OPEN.append(http)
    return http


def send(http: httpx.Client, request) -> httpx.Response:
    return http.post("/api/v1/enroll", content=msgspec.msgpack.encode(request), headers={"content-type": MEDIA_TYPE})


def mistyped(code: str) -> str:
    """The code with its secret's first group changed: the right id, a wrong mac."""
    return code[:5] + ("2222" if code[5:9] != "2222" else "3333") + code[9:]


def codes_listing(hub_dir, *args: str) -> dict:
    result = CliRunner().invoke(main, ["--data-dir", str(hub_dir), "--lang", "en", "station", "codes", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.timeout(60)
@needs_loopback_net
def test_enrolment_is_limited_per_address_with_retry_after(hub_dir, store, clock):
    settings = Settings(data_dir=hub_dir, enrol_per_address=Rule(burst=10, per_minute=6))
    probe, _ = enroll_request("ZZZZ-ZZZZ-ZZZZ-ZZZZ", KeyPair.generate())
    with live_server(create_app(settings, now=clock)) as base_url:
        prober = client_at(base_url, "127.0.0.2")
        assert [send(prober, probe).status_code for _ in range(10)] == [403] * 10
        refused = send(prober, probe)
        # 0.4.0: ~390 tries a second from one address, each answered.
        assert refused.status_code == 429 and refused.headers["retry-after"] == "10"
        body = refused.json()
        assert body["error"] == "rate_limited" and body["retry_after"] == 10
        assert "10 s" in body["detail"] and "10 秒后再试" in body["detail_zh"]
        # Another address is not held back: the real station enrols while the prober waits.
        issued = issue_code(store, VILLAGE, now=clock)
        request, secret = enroll_request(issued.code, KeyPair.generate())
        answer = send(client_at(base_url, "127.0.0.3"), request)
        assert answer.status_code == 200
        clock.advance(seconds=10)
        assert send(prober, probe).status_code == 403  # one token back after 10 s
        assert send(prober, probe).status_code == 429


@pytest.mark.timeout(60)
@needs_loopback_net
def test_wrong_macs_from_elsewhere_do_not_void_a_code(hub_dir, store, clock):
    issued = issue_code(store, VILLAGE, expires_hours=720, now=clock)  # still open by the CLI's own clock
    with live_server(create_app(Settings(data_dir=hub_dir), now=clock)) as base_url:
        for address in range(2, 5):  # three addresses, each under its limit: 24 wrong macs in all
            http = client_at(base_url, f"127.0.5.{address}")
            for _ in range(8):
                assert send(http, enroll_request(mistyped(issued.code), KeyPair.generate())[0]).status_code == 403
        listed = codes_listing(hub_dir)
        # Shown to administrators, held against nobody (0.4.0 voided the code after 10).
        assert [(c["code_id"], c["state"], c["failures"]) for c in listed["codes"]] == [(issued.code_id, "open", 24)]
        keys = KeyPair.generate()
        request, secret = enroll_request(issued.code, keys)
        answer = send(client_at(base_url, "127.0.5.9"), request)
    assert answer.status_code == 200, answer.text
    response = msgspec.msgpack.decode(answer.content, type=EnrollResponse)
    assert response.station_id == f"{VILLAGE}-A-1" and response.mac == response_mac(secret, response)
    assert store.station(response.station_id).key_id == keys.key_id
    used = codes_listing(hub_dir, "--all")["codes"]
    assert [(c["state"], c["station_id"], c["failures"]) for c in used] == [("used", response.station_id, 24)]


def _refusal_work(store, identity, request, clock, monkeypatch) -> tuple[list[tuple[int, int]], int]:
    """(lengths of what compare_digest compared, rows written) for one enrolment that is refused."""
    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    before = store.db.conn.total_changes
    with pytest.raises(ProtocolError) as caught:
        enroll(store, identity, request, now=clock)
    monkeypatch.setattr(hmac, "compare_digest", real)
    assert caught.value.code == "enroll_code"
    return compared, store.db.conn.total_changes - before


def test_every_refusal_does_the_same_work_in_constant_time(store, identity, clock, monkeypatch):
    keys = KeyPair.generate()
    open_code = issue_code(store, VILLAGE, now=clock)
    used = issue_code(store, VILLAGE, now=clock)
    enroll(store, identity, enroll_request(used.code, KeyPair.generate())[0], now=clock)
    expiring = issue_code(store, VILLAGE, expires_hours=1, now=clock)
    voided = issue_code(store, VILLAGE, now=clock)
    void_code(store, voided.code_id, now=clock)
    clock.advance(hours=2)
    cases = {
        "unknown id": enroll_request("ZZZZ-ZZZZ-ZZZZ-ZZZZ", keys)[0],
        "wrong mac": enroll_request(mistyped(open_code.code), keys)[0],
        "used": enroll_request(used.code, keys)[0],
        "expired": enroll_request(expiring.code, keys)[0],
        "voided": enroll_request(voided.code, keys)[0],
    }
    work = {name: _refusal_work(store, identity, request, clock, monkeypatch) for name, request in cases.items()}
    # 0.4.0: an unknown id was refused before any mac was computed or anything written (measurably faster).
    assert all(done == ([(32, 32)], 1) for done in work.values()), work
    assert store.enrolment(open_code.code_id).failures == 1
    assert store.enrolment_unknown_failures() == 1


def test_only_the_issuer_voids_a_code(store, identity, clock, hub_dir):
    issued = issue_code(store, VILLAGE, now=clock)
    assert void_code(store, issued.code_id.lower(), now=clock).code_id == issued.code_id
    with pytest.raises(InputError):
        void_code(store, issued.code_id, now=clock)  # already void
    with pytest.raises(ProtocolError):
        enroll(store, identity, enroll_request(issued.code, KeyPair.generate())[0], now=clock)
    assert issue_code(store, VILLAGE, device="A", now=clock).device == "A"  # its letter is free again
    result = CliRunner().invoke(main, ["--data-dir", str(hub_dir), "--lang", "en", "station", "void", "QQQQ"])
    assert result.exit_code == 2 and "no open enrolment code" in result.output
