"""The station's HTTP client reads no answer past MAX_ANSWER_BYTES: the network path cannot fill a village PC's memory."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import httpx
import pytest

from station import hubhttp
from station.hubhttp import make_client


class _Endless(httpx.SyncByteStream):
    """An answer that never ends, a megabyte at a time (nothing held but the chunk in hand)."""

    def __iter__(self) -> Iterator[bytes]:
        chunk = bytes(1024 * 1024)
        while True:
            yield chunk


def test_an_endless_answer_is_cut_off_at_the_cap(monkeypatch):
    monkeypatch.setattr(hubhttp, "MAX_ANSWER_BYTES", 8 * 1024 * 1024)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=_Endless()))
    tracemalloc.start()
    try:
        with make_client(transport, 5.0) as client, pytest.raises(httpx.ReadError, match="longer than"):
            client.post("http://hub.invalid/api/v1/sync", content=b"")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 * 1024 * 1024


def test_an_answer_that_says_it_is_too_long_is_not_read():
    transport = httpx.MockTransport(
        lambda request: httpx.Response(
            200, headers={"content-length": str(hubhttp.MAX_ANSWER_BYTES + 1)}, stream=_Endless()
        )
    )
    with make_client(transport, 5.0) as client, pytest.raises(httpx.ReadError, match="says"):
        client.get("http://hub.invalid/healthz")


def test_an_ordinary_answer_reads_as_before():
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"\x93\x90\x01\x02"))
    with make_client(transport, 5.0) as client:
        assert client.get("http://hub.invalid/healthz").content == b"\x93\x90\x01\x02"
