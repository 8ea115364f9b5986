"""A real hub server on a free loopback port, in a thread: for live and end-to-end tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from litestar import Litestar

from hub.web.server import SERVER_OPTIONS

__all__ = ("live_server",)


@contextlib.contextmanager
def live_server(app: Litestar, *, timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 and a port the kernel picks; yields the base URL.

    The socket is bound before the server starts and handed to it, so there is no window in
    which another process could take the port (the race of "find a free port, then start").

    Raises:
        RuntimeError: the server did not start within ``timeout`` seconds.
    """
    # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets whose protocol says TCP, and
    # without it every answer waited ~40 ms for the peer's delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # As ``hub serve`` runs it: no Date or Server header (what the byte budgets are measured on), no forwarded
    # headers believed by uvicorn itself (the hub trusts only its configured proxies), the same parser and loop.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", **SERVER_OPTIONS))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
