"""Profile the county's exchanges one at a time, in one thread: the hub's handling and the station client's round, apart.

A tool, not a benchmark: ``python -m bench.profile_exchange --stations 40 --prepared DIR`` prepares (once,
in ``DIR``) a county as bench.bench_county does (a hub, N enrolled stations each with a day's work sealed),
copies it (``--postgres`` or ``--database URL``: prepares it anew in a new PostgreSQL database, and also
counts the hub's statements, and the throwaway cluster's CPU, per exchange), and runs each station's real
sync round (``station.link.sync_once``) against the hub's ASGI app called in the same thread: no sockets,
and the handler that ``hub serve`` runs in a worker thread runs inline (an executor that calls at once),
so one cProfile sees all of it. The hub's share (from the request
reaching the app to its answer) and the client's (the rest of the round) are timed in CPU seconds and
profiled apart; prints CPU per exchange on each side and the functions costing the most.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import cProfile
import logging
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from litestar.concurrency import get_asyncio_executor, set_asyncio_executor

from bench.bench_county import _reuse, _settings, prepare
from bench.common import PgServer, postgres_server
from hub.web.app import create_app
from station.link import sync_once


class _Inline(concurrent.futures.ThreadPoolExecutor):
    """An executor that runs what it is given at once, in the caller's thread (so cProfile sees it)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the awaiting handler as the thread pool would
            future.set_exception(exc)
        return future


@contextlib.contextmanager
def _handlers_inline() -> Iterator[None]:
    """Litestar runs sync handlers inline while this is open; its executor is process-wide, so it is put back.

    Left set, every hub later served in the same process (a test run's) would run its handlers on the event
    loop itself: one handler waiting for a pooled connection would stop the loop that gives them back.
    """
    before = get_asyncio_executor()
    set_asyncio_executor(_Inline())
    try:
        yield
    finally:
        set_asyncio_executor(before)


class _Off(cProfile.Profile):
    """A profiler never switched on (--no-profile)."""

    def enable(self, *args: Any, **kwargs: Any) -> None:
        pass

    def disable(self) -> None:
        pass


class InThreadApp(httpx.BaseTransport):
    """An httpx transport calling an ASGI app on an event loop in this thread; hub CPU and profile apart."""

    def __init__(self, app: Any, client: cProfile.Profile, hub: cProfile.Profile) -> None:
        self.app, self.client, self.hub = app, client, hub
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(_Inline())
        self.hub_cpu = 0.0
        self.exchanges = 0
        self._lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task = self.loop.create_task(
            self.app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, self._lifespan.get, self._sent.put)
        )
        self._step("lifespan.startup")

    def _step(self, kind: str) -> None:
        async def go() -> None:
            await self._lifespan.put({"type": kind})
            answer = await self._sent.get()
            if not answer["type"].endswith(".complete"):
                raise RuntimeError(f"the app's lifespan answered {answer}")

        self.loop.run_until_complete(go())

    def close_app(self) -> None:
        self._step("lifespan.shutdown")
        self.loop.run_until_complete(self._task)
        self.loop.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": "http",
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        status, headers, chunks = 500, [], []
        sent = [False]

        async def receive() -> dict[str, Any]:
            if sent[0]:
                await asyncio.sleep(3600)  # a disconnect never comes: the answer is complete first
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], message.get("headers", [])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        self.client.disable()
        self.hub.enable()
        cpu = time.process_time()
        self.loop.run_until_complete(self.app(scope, receive, send))
        self.hub_cpu += time.process_time() - cpu
        self.hub.disable()
        self.client.enable()
        self.exchanges += 1
        return httpx.Response(status, headers=headers, content=b"".join(chunks), request=request)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_exchange", description=__doc__)
    parser.add_argument("--stations", type=int, default=40, help="stations in the county (default 40)")
    parser.add_argument("--per-station", type=int, default=5, help="intakes each pushes (default 5)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--prepared", type=Path, help="folder the county is prepared in once (SQLite)")
    where.add_argument("--postgres", action="store_true", help="prepare the county on a throwaway PostgreSQL cluster")
    where.add_argument("--database", metavar="URL", help="prepare the county in a new database of this server")
    parser.add_argument("--top", type=int, default=30, help="functions listed per side (default 30)")
    parser.add_argument("--no-profile", action="store_true", help="CPU figures only, without cProfile's overhead")
    parser.add_argument("--dump", type=Path, help="also write the profiles here (hub.prof, client.prof) for pstats")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (default tottime)")
    args = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(postgres_server(postgres=args.postgres, database=args.database))
        return _profile(args, server, stack.enter_context(server.database("profile")) if server else None)


@contextlib.contextmanager
def _counting_statements() -> Iterator[list[int]]:
    """Count the statements the hub sends PostgreSQL while open (a list of one number, kept up to date);
    put back after (the tests run this tool in their own process)."""
    from hub.store.pg import PgDatabase

    count, execute = [0], PgDatabase.execute

    def counted(self: PgDatabase, sql: str, params: Any = None) -> Any:
        count[0] += 1
        return execute(self, sql, params)

    PgDatabase.execute = counted  # type: ignore[method-assign]
    try:
        yield count
    finally:
        PgDatabase.execute = execute  # type: ignore[method-assign]


def _profile(args: argparse.Namespace, server: PgServer | None, database: str | None) -> int:
    counting: contextlib.AbstractContextManager[list[int]] = (
        _counting_statements() if database else contextlib.nullcontext([0])
    )
    with counting as statements:
        return _rounds(args, server, database, statements)


def _rounds(args: argparse.Namespace, server: PgServer | None, database: str | None, statements: list[int]) -> int:
    server_cpu = server.server_cpu_s if server else (lambda: None)
    with _handlers_inline(), tempfile.TemporaryDirectory(prefix="profile-exchange-") as tmp:
        root = Path(tmp)

        def say(message: str) -> None:
            print(message, file=sys.stderr)

        if database:
            hub_dir, ready = prepare(
                root, stations=args.stations, per_station=args.per_station, database=database, progress=say
            )
        else:
            hub_dir, ready = _reuse(args.prepared, root, None, args.stations, args.per_station, 2026, say)
        # Timed by CPU, not wall (other processes share the machine); --no-profile: profilers that never run.
        client, hub = (
            (_Off(), _Off())
            if args.no_profile
            else (
                cProfile.Profile(time.process_time),
                cProfile.Profile(time.process_time),
            )
        )
        transport = InThreadApp(create_app(_settings(hub_dir)), client, hub)
        total, hub_cpu, exchanges, not_in_step = 0.0, 0.0, 0, 0
        sent, server_spent = 0, 0.0
        for n, prepared in enumerate(ready):
            # The first round is not counted: it pays once for what a running hub holds already (imports,
            # the calendar's holidays computed, the store opened).
            hub_before, exchanges_before, cpu = transport.hub_cpu, transport.exchanges, time.process_time()
            sent_before, server_before = statements[0], server_cpu()
            client.enable()
            report = sync_once(prepared.data_dir, hub_url="http://hub.test", keys=prepared.keys, transport=transport)
            client.disable()
            not_in_step += not (report.in_step and report.pushed)
            if n:
                total += time.process_time() - cpu
                hub_cpu += transport.hub_cpu - hub_before
                exchanges += transport.exchanges - exchanges_before
                sent += statements[0] - sent_before
                server_after = server_cpu()
                if server_before is not None and server_after is not None:
                    server_spent += server_after - server_before
        transport.close_app()
    rounds = len(ready) - 1
    print(
        f"{rounds} rounds, {exchanges} exchanges ({not_in_step} rounds not in step): "
        f"hub {hub_cpu / exchanges * 1000:.2f} ms CPU per exchange, "
        f"client {(total - hub_cpu) / rounds * 1000:.2f} ms CPU per round"
        + ("" if args.no_profile else " (profiled: cProfile inflates both)")
    )
    if database:
        print(
            f"PostgreSQL: {sent / exchanges:.1f} statements per exchange, "
            f"the server {server_spent / exchanges * 1000:.2f} ms CPU per exchange"
        )
    if args.no_profile:
        return 0
    for name, profile in (("hub", hub), ("client", client)):
        print(f"\n== {name} ==")
        if args.dump:
            args.dump.mkdir(parents=True, exist_ok=True)
            profile.dump_stats(args.dump / f"{name}.prof")
        stats = pstats.Stats(profile).strip_dirs()
        stats.sort_stats(args.sort).print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
