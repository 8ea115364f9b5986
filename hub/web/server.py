"""How uvicorn serves the hub: the options ``hub serve``, the tests' live server and the fleet's hub share."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ("SERVER_OPTIONS",)

SERVER_OPTIONS: dict[str, Any] = {
    # No Date or Server header: village links pay for every byte (docs/protocol.md, "Exchange").
    "server_header": False,
    "date_header": False,
    # uvicorn would believe X-Forwarded-* from 127.0.0.1 by default; the hub believes them only from
    # --trusted-proxy (hub.web.security_headers).
    "proxy_headers": False,
    # httptools' C parser of HTTP/1.1 and uvloop's event loop, named rather than left to uvicorn's "auto",
    # which falls back to the pure-Python h11 and asyncio's own loop without a word when a package is missing:
    # with them the county's day on PostgreSQL with four workers took 0.2-0.5 s less of the hub's CPU in each
    # of three pairs of runs, alternated (docs/benchmarks.md, "httptools and uvloop"). No uvloop on Windows.
    "http": "httptools",
    "loop": "asyncio" if sys.platform == "win32" else "uvloop",
}
"""Keyword arguments of ``uvicorn.Config`` (and ``uvicorn.run``) every hub server here is given."""
