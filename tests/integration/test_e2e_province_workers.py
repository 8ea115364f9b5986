"""A province on PostgreSQL under ``hub serve --workers 2``: the same county set sent to both workers at once is
taken once (one row, its counters once) and both answers carry the same signed receipt.

As in test_e2e_workers: the test holds the county's advisory lock (the one each county set's transaction takes,
hub.province) while it sends the same request twice, waits until PostgreSQL shows both requests waiting for that
lock, then lets go. Rounds repeat with the county's next set until the two waiting requests were in two
different worker processes.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import msgspec
import psycopg
import pytest

from hub.bootstrap import init_hub
from hub.keys import load_identity
from hub.province import issue_county_code
from hub.store import HubStore
from hub.store.pg import LOCK_SPACE
from hub.upstream import seal_pending, upstream_request
from hub.upstream_link import SYNC_PATH, enroll_upstream
from sync.protocol import MEDIA_TYPE, PushResponse, verify_receipt
from sync.protocol.upstream import (
    HEADER_COUNTY,
    HEADER_COUNTY_SIGNATURE,
    CaseFigure,
    county_origin,
    county_request_signature,
)
from sync.timeutil import iso_utc, utc_now
from tests.integration.test_e2e_workers import ROUNDS_MAX, WorkersHub, _until, _waiting, _worker_processes

pytestmark = pytest.mark.timeout(600)

COUNTY = "349921"


def _figure(n: int) -> bytes:
    return msgspec.msgpack.encode(
        CaseFigure(
            case_no=f"349921001001-A-20260105-{n:03d}",
            village_code="349921001001",
            item_code="RS-001",
            status="RECEIVED",
            received_date="2026-01-05",
            updated_at=iso_utc(utc_now()),
        )
    )


def test_two_province_workers_take_the_same_county_set_once(tmp_path: Path, postgres_url: str) -> None:
    province = tmp_path / "province"
    init_hub(province, database=postgres_url)  # the province on PostgreSQL (the URL recorded in its folder)
    with HubStore.open_existing(province) as store, store.transaction():
        store.set_meta("hub_role", "province")
        code, _ = issue_county_code(store, COUNTY, expires_hours=1, now=utc_now())
    county = tmp_path / "county"
    init_hub(county)  # the county on its own SQLite file
    server = WorkersHub(province, workers=2).start()
    admin = psycopg.connect(postgres_url, autocommit=True)
    province_key = load_identity(province).keys.sign_public
    try:
        _until(lambda: len(_worker_processes(admin)) == 2, "two worker processes")
        with HubStore.open_existing(county) as store:
            identity = load_identity(county)
            enroll_upstream(store, identity, url=server.url, code=code, now=utc_now())
        in_two_processes, rounds = False, 0
        key = f"county:{COUNTY}"
        while not in_two_processes and rounds < ROUNDS_MAX:
            rounds += 1
            with HubStore.open_existing(county) as store:
                with store.transaction():
                    store.queue_upstream("figure", _figure(rounds), iso_utc(utc_now()))
                assert seal_pending(store, identity, now=utc_now()) == 1
                body, count = upstream_request(store, after=rounds - 1, limit=1)
                set_hash = store.upstream_set_hash(rounds)
            assert count == 1
            answers: list[httpx.Response | None] = [None, None]

            # Signed whole, as this release's county sends it (the province takes nothing unsigned from it).
            headers = {
                "content-type": MEDIA_TYPE,
                HEADER_COUNTY: COUNTY,
                HEADER_COUNTY_SIGNATURE: county_request_signature([identity.keys.sign_private], SYNC_PATH, body),
            }

            def send(
                i: int,
                body: bytes = body,
                answers: list[httpx.Response | None] = answers,
                headers: dict[str, str] = headers,
            ) -> None:
                answers[i] = httpx.post(server.url + SYNC_PATH, content=body, headers=headers, timeout=60)

            admin.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", [LOCK_SPACE, key])
            threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
            threads[0].start()
            _until(lambda: len(_waiting(admin)) == 1, "the first send inside the ingest")
            threads[1].start()
            waiting = _until(lambda: _waiting(admin) if len(_waiting(admin)) == 2 else None, "both sends inside")
            in_two_processes = len(set(waiting)) == 2
            admin.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [LOCK_SPACE, key])
            for thread in threads:
                thread.join(60)
            results = []
            for answer in answers:
                assert answer is not None and answer.status_code == 200, answer and answer.text
                decoded = msgspec.msgpack.decode(answer.content, type=PushResponse)
                assert decoded.next_seq == rounds + 1
                (result,) = decoded.results
                results.append(result)
            assert sorted(r.status for r in results) == ["accepted", "duplicate"]
            assert results[0].receipt == results[1].receipt and results[0].receipt  # the same receipt
            body_of = verify_receipt(results[0].receipt, province_key)
            assert (body_of.origin, body_of.seq, body_of.hash) == (county_origin(COUNTY), rounds, set_hash)
        assert in_two_processes, f"in {rounds} rounds the two sends never met in two different workers"
    finally:
        admin.close()
        server.stop()
    with HubStore.open_existing(province) as store:
        assert store.db.execute("SELECT COUNT(*) FROM county_sets").fetchone()[0] == rounds  # one row a set
        assert (store.county(COUNTY) or {})["head_seq"] == rounds
        assert store.db.execute("SELECT COUNT(*) FROM province_cases").fetchone()[0] == rounds
        assert store.province_case_counts() == [(COUNTY, "RECEIVED", rounds)]  # counted once each
        assert store.county_forks(COUNTY) == []
