"""Logins against a live hub: counted before any hash (no race), unknown names throttled like known ones,
per-address and per-name limits, a bounded gate for password checks."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager

import httpx
import pytest
from argon2 import PasswordHasher

from hub.accounts import add_user, hasher_for
from hub.settings import Settings
from hub.store import HubStore
from hub.testing import live_server
from hub.throttle import Rule
from hub.web.app import create_app
from tests.hub.builders import csrf_of

PASSWORD = "right-password-1"
ROOMY = Rule(burst=1000, per_minute=1000)
"""Per-address and per-name limits out of the way, where a test is about something else."""


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
def _close_browsers() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


class Browser:
    """A browser at one address with the login form open; each answer's form gives the next token."""

    def __init__(self, base_url: str, address: str = "127.0.0.1") -> None:
        self.http = httpx.Client(base_url=base_url, transport=httpx.HTTPTransport(local_address=address), timeout=60)
        _OPEN.append(self.http)
        self.token = csrf_of(self.http.get("/login").text)

    def log_in(self, name: str, password: str) -> httpx.Response:
        response = self.http.post(
            "/login", data={"username": name, "password": password, "csrf": self.token}, follow_redirects=False
        )
        if 'name="csrf"' in response.text:
            self.token = csrf_of(response.text)
        elif response.status_code == 303:
            self.token = csrf_of(self.http.get("/login").text)
        return response


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per Argon2 password check the hub runs (the real check, counted on its way)."""
    seen: list[int] = []
    real = PasswordHasher.verify

    def counted(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        seen.append(1)
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counted)
    return seen


def hub(hub_dir, clock, **changes) -> tuple[Settings, AbstractContextManager[str]]:
    # A check of ~20 ms: long enough for 30 parallel requests to overlap, short enough for a test.
    settings = Settings(data_dir=hub_dir, argon2_time_cost=1, argon2_memory_kib=8 * 1024)
    settings = dataclasses.replace(settings, **changes)
    with HubStore.open_existing(hub_dir) as store:
        add_user(store, "admin", "admin", PASSWORD, hasher=hasher_for(settings), now=clock())
    return settings, live_server(create_app(settings, now=clock))


def in_parallel(count: int, attempt) -> list[httpx.Response]:
    """``attempt(i)`` in ``count`` threads released at once; the responses in order of i."""
    results: list[httpx.Response | None] = [None] * count
    start = threading.Barrier(count)

    def run(i: int) -> None:
        prepared = attempt(i)
        start.wait()
        results[i] = prepared()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", ["admin", "no-such-user"])
def test_thirty_parallel_guesses_are_all_counted_and_only_the_free_ones_hashed(hub_dir, clock, hashes, name):
    settings, server = hub(hub_dir, clock, login_per_address=ROOMY, login_per_name=ROOMY, login_queue=64)
    with server as base_url:

        def attempt(i: int):
            browser = Browser(base_url)
            return lambda: browser.log_in(name, f"wrong-guess-{i}")

        hashes.clear()
        responses = in_parallel(30, attempt)
    statuses = sorted(r.status_code for r in responses)
    # 0.4.0: all 30 were checked while the count rose by 4 (read before the hash, written after it).
    assert len(hashes) == statuses.count(401) == settings.login_free_attempts
    assert statuses.count(429) == 30 - settings.login_free_attempts
    with HubStore.open_existing(hub_dir) as store:
        assert store.login_failures(name, "127.0.0.1")[0] == 30
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["retry-after"] == "1" and "密码错误次数过多，请 1 秒后再试" in refused.text


@pytest.mark.timeout(60)
def test_made_up_names_from_one_address_are_throttled_like_one_name(hub_dir, clock, hashes):
    settings, server = hub(hub_dir, clock, login_per_address=Rule(burst=10, per_minute=10))
    with server as base_url:
        browser = Browser(base_url)
        statuses = [browser.log_in(f"sprayed-{i}", "some-guess-1").status_code for i in range(10)]
        assert statuses == [401] * 10  # each a new name: no back-off of its own (0.4.0: free tries forever)
        refused = browser.log_in("sprayed-10", "some-guess-1")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "6"
        assert "来自此地址的登录尝试过多，请 6 秒后再试" in refused.text
        assert browser.log_in("admin", PASSWORD).status_code == 429  # refused before any check
    assert len(hashes) == 10


@pytest.mark.timeout(60)
@needs_loopback_net
def test_one_name_from_many_addresses_is_throttled_whether_it_exists_or_not(hub_dir, clock, hashes):
    settings, server = hub(hub_dir, clock, login_per_name=Rule(burst=10, per_minute=5))
    outcomes = {}
    with server as base_url:
        for name in ("admin", "ghost"):
            statuses = []
            for i in range(12):
                response = Browser(base_url, f"127.0.{1 if name == 'admin' else 2}.{i + 2}").log_in(
                    name, "some-guess-1"
                )
                statuses.append((response.status_code, response.headers.get("retry-after")))
            outcomes[name] = statuses
            if name == "admin":
                assert "该用户名的登录尝试过多，请 12 秒后再试" in response.text
    assert outcomes["admin"] == outcomes["ghost"] == [(401, None)] * 10 + [(429, "12")] * 2
    assert len(hashes) == 20


@pytest.mark.timeout(60)
def test_right_passwords_give_the_address_its_token_back(hub_dir, clock):
    # A county office behind one address: its staff log in all morning without tripping the limit.
    settings, server = hub(hub_dir, clock, login_per_address=Rule(burst=3, per_minute=1), login_per_name=ROOMY)
    with server as base_url:
        browser = Browser(base_url)
        assert [browser.log_in("admin", PASSWORD).status_code for _ in range(8)] == [303] * 8


@pytest.mark.timeout(60)
@needs_loopback_net
def test_logins_past_the_gate_are_answered_at_once(hub_dir, clock, hashes):
    # One check at a time, one waiting: of 20 logins at once, most are told to come back, unchecked.
    settings, server = hub(
        hub_dir, clock, argon2_memory_kib=32 * 1024, argon2_time_cost=2, login_hashes_at_once=1, login_queue=1
    )
    with server as base_url:

        def attempt(i: int):
            browser = Browser(base_url, f"127.0.3.{i + 2}")
            return lambda: browser.log_in(f"user-{i}", "some-guess-1")

        hashes.clear()
        responses = in_parallel(20, attempt)
    busy = [r for r in responses if r.status_code == 429]
    assert len(busy) >= 10 and len(hashes) == 20 - len(busy)
    assert all("同时登录的人太多" in r.text and int(r.headers["retry-after"]) >= 1 for r in busy)
