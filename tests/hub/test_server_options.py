"""hub.web.server: every hub server runs uvicorn with httptools and uvloop, without Date or Server headers."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hub.bootstrap import init_hub
from hub.settings import Settings
from hub.testing import live_server
from hub.web.app import create_app
from hub.web.server import SERVER_OPTIONS


def _raw(url: str, request: bytes) -> bytes:
    """Send ``request`` as it is and read the whole answer (the server closes after it)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("hub")
    init_hub(data_dir)
    with live_server(create_app(Settings(data_dir=data_dir))) as url:
        yield url


def test_the_options_load_httptools_and_uvloop_not_the_pure_python_fallbacks(tmp_path: Path) -> None:
    init_hub(tmp_path)
    config = uvicorn.Config(create_app(Settings(data_dir=tmp_path)), **SERVER_OPTIONS)
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    factory = config.get_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        if sys.platform != "win32":
            import uvloop

            assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_an_answer_carries_no_date_or_server_header(hub_url: str) -> None:
    answer = _raw(hub_url, b"GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
    head, _, _ = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    names = {line.split(b":", 1)[0].strip().lower() for line in lines[1:]}
    assert b"date" not in names and b"server" not in names  # bytes a village link would pay for every answer


def test_a_malformed_request_is_refused_with_400_and_the_server_goes_on(hub_url: str) -> None:
    answer = _raw(hub_url, b"NOT A REQUEST\x00\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    again = _raw(hub_url, b"GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
    assert again.startswith(b"HTTP/1.1 200 OK")
