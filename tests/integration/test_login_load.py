"""A real station syncs while 80 logins at full Argon2 cost hammer the live hub: its syncs do not queue behind them."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from hub.accounts import add_user, hasher_for
from hub.settings import Settings
from sync.timeutil import utc_now
from tests.hub.builders import csrf_of
from tests.integration.county import County


def _can_bind(address: str) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


@pytest.mark.timeout(120)
@pytest.mark.skipif(not _can_bind("127.0.4.2"), reason="127.0.0.0/8 is not all loopback here")
def test_station_sync_does_not_wait_behind_eighty_logins_hammering_the_hub(live_county: County):
    # The hub as deployed: default settings, a 64 MiB Argon2id check per login (the cost is the point).
    with live_county.store() as store:
        add_user(
            store,
            "admin",
            "admin",
            "right-password-1",
            hasher=hasher_for(Settings(data_dir=live_county.hub_dir)),
            now=utc_now(),
        )
    station = live_county.enrol()
    station.new_case("张三", 1)
    station.sync()  # the first sync brings the catalogue down; the timed ones are a day's ordinary syncs

    clients = [
        httpx.Client(
            base_url=live_county.url, timeout=60, transport=httpx.HTTPTransport(local_address=f"127.0.4.{i + 2}")
        )
        for i in range(80)
    ]
    tokens = [csrf_of(c.get("/login").text) for c in clients]
    statuses: list[int] = []
    checked_at: list[float] = []  # when each login whose password was checked (401) was answered
    start = threading.Barrier(81)

    def guess(i: int) -> None:
        start.wait()
        name = "admin" if i % 4 == 0 else f"made-up-{i}"  # known and unknown names alike
        response = clients[i].post(
            "/login", data={"username": name, "password": f"guess-{i}", "csrf": tokens[i]}, follow_redirects=False
        )
        statuses.append(response.status_code)
        if response.status_code == 401:
            checked_at.append(time.perf_counter())

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(80)]
    try:
        for thread in threads:
            thread.start()
        start.wait()
        for serial in range(2, 5):
            station.new_case(f"李四{serial}", serial)
            report = station.sync()
            assert report is not None and report.in_step, report
        synced_at = time.perf_counter()
        for thread in threads:
            thread.join()
    finally:
        for client in clients:
            client.close()
    # 0.4.0: 80 logins took the worker threads station sync runs on, so a sync waited for the password
    # checks ahead of it (19 s). Now the three syncs are through while checks are still being answered: an
    # order, not a time (the speed is the benchmarks'), which holds however loaded the machine is.
    assert checked_at and synced_at < max(checked_at), (synced_at, sorted(checked_at)[-3:])
    assert len(statuses) == 80 and set(statuses) <= {401, 429}
    assert statuses.count(429) >= 40  # told at once to come back later, unchecked
    with live_county.store() as store:
        assert len(store.list_cases(limit=100)) == 4
