"""What the issue-14 benchmarks share: progress, the machine's line, the figures, a PostgreSQL server, /proc."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import secrets
import sqlite3
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = (
    "PgServer",
    "add_postgres_options",
    "cpu_s",
    "leave_database_env",
    "log",
    "machine",
    "postgres_server",
    "print_figures",
    "process_tree",
    "tree_cpu_s",
    "tree_memory_mb",
)


def log(message: str) -> None:
    """A progress line."""
    print(message, file=sys.stderr, flush=True)  # progress to stderr, figures to stdout


def machine(*, sqlite: bool = True) -> dict[str, Any]:
    """The machine the figures were taken on (with SQLite's version where the run is on SQLite only)."""
    figures: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    if sqlite:
        figures["sqlite"] = sqlite3.sqlite_version
    figures["platform"] = platform.platform()
    return figures


def print_figures(figures: dict[str, Any], table: str, *, started: float, out: Path | None, note: str = "") -> None:
    """The machine's line, how long the run took (and ``note``), the table; the figures as JSON to ``out``."""
    m = figures["machine"]
    sqlite = f"  SQLite {m['sqlite']}" if "sqlite" in m else ""
    postgresql = f"  PostgreSQL {m['postgresql']}" if "postgresql" in m else ""
    print(f"{m['date']}  {m['cpus']} CPUs  Python {m['python']}{sqlite}{postgresql}  {m['platform']}")
    print(f"run took {time.perf_counter() - started:.0f} s{note}\n")
    print(table)
    if out:
        out.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# -- a PostgreSQL server the benchmarks make their databases on --------------------------------------


@dataclasses.dataclass
class PgServer:
    """A PostgreSQL server where a benchmark makes (and drops) databases of its own: a throwaway cluster
    (``--postgres``) or the server of ``--database URL``, whose role must be allowed to create databases."""

    admin_url: str
    """A URL of the server (its database is only where the ``CREATE DATABASE`` statements are sent)."""
    label: str
    """What the figures call it: "throwaway cluster (fsync off)" or the URL without its password."""
    data_dir: Path | None = None
    """The throwaway cluster's data folder (None for ``--database URL``): its server's CPU can be read."""

    def server_pid(self) -> int | None:
        """The postmaster's process id (the throwaway cluster's; None for another server or when gone)."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0]) if self.data_dir else None
        except (OSError, ValueError, IndexError):
            return None

    def server_cpu_s(self) -> float | None:
        """CPU seconds the throwaway cluster's processes have used (its postmaster and every backend still
        running); None for a server elsewhere."""
        pid = self.server_pid()
        return tree_cpu_s(pid) if pid else None

    def url(self, dbname: str) -> str:
        """The admin URL with another database name."""
        parts = urllib.parse.urlsplit(self.admin_url)
        return parts._replace(path="/" + urllib.parse.quote(dbname)).geturl()

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10)

    def create(self, prefix: str = "bench", *, template: str | None = None) -> str:
        """A new database (empty, or a copy of ``template``: a file copy, no connection to it may be open);
        its name."""
        name = f"{prefix}_{secrets.token_hex(5)}"
        with self._admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template or "template0"}"'.encode())
        return name

    def drop(self, name: str) -> None:
        with self._admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())

    @contextlib.contextmanager
    def database(self, prefix: str = "bench", *, template: str | None = None) -> Iterator[str]:
        """A new database for the block (see :meth:`create`), dropped afterwards; its URL."""
        name = self.create(prefix, template=template)
        try:
            yield self.url(name)
        finally:
            self.drop(name)

    def version(self) -> str:
        with self._admin() as admin:
            return str(admin.execute("SHOW server_version").fetchone()[0]).split()[0]


@contextlib.contextmanager
def postgres_server(*, postgres: bool, database: str | None) -> Iterator[PgServer | None]:
    """The server ``--postgres`` (a throwaway cluster: tests/support/postgres.py, Debian's initdb and pg_ctl,
    loopback, fsync off) or ``--database URL`` names; None for SQLite."""
    if database:
        yield PgServer(database, urllib.parse.urlsplit(database)._replace(netloc=_no_password(database)).geturl())
        return
    if not postgres:
        yield None
        return
    from tests.support.postgres import running_cluster  # the tests' throwaway cluster, loopback only

    log("starting a throwaway PostgreSQL cluster (initdb, pg_ctl; loopback, fsync off) ...")
    with running_cluster() as cluster:
        yield PgServer(cluster.url(), "throwaway cluster on loopback (fsync off)", cluster.data_dir)


def _no_password(url: str) -> str:
    netloc = urllib.parse.urlsplit(url).netloc
    user, at, host = netloc.rpartition("@")
    return f"{user.split(':', 1)[0]}:***@{host}" if at and ":" in user else netloc


def add_postgres_options(parser: argparse.ArgumentParser, database_help: str) -> None:
    """``--postgres`` (a throwaway cluster) and ``--database URL``, one or the other."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--postgres",
        action="store_true",
        help="run on PostgreSQL: a throwaway cluster on loopback (Debian's initdb and pg_ctl; fsync off)",
    )
    group.add_argument("--database", metavar="URL", help=database_help)


def leave_database_env() -> None:
    """Forget ``HUB_DATABASE_URL`` in this process: each hub of a benchmark opens the store its folder names
    (the SQLite file, or the database the benchmark recorded there), never one the environment points at."""
    from hub.store.location import DATABASE_URL_ENV

    if os.environ.pop(DATABASE_URL_ENV, None):
        log(f"{DATABASE_URL_ENV} is ignored here: the benchmark chooses each hub's store itself")


# -- processes: CPU and memory from /proc (Linux; zeros elsewhere) -----------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process under it (children of any of its threads, their children, …)."""
    found, todo = [], [pid]
    while todo:
        one = todo.pop()
        found.append(one)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{one}/task").iterdir():
                with contextlib.suppress(OSError, ValueError):
                    todo += [int(p) for p in (task / "children").read_text().split()]
    return found


def cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used; None where /proc cannot tell (gone, not Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and everything under it (``hub serve`` and its workers)."""
    return sum(c for c in map(cpu_s, process_tree(pid)) if c is not None)


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB summed over a process and everything under it; zeros where /proc is not."""
    rss = hwm = 0.0
    for one in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    hwm += int(line.split()[1]) / 1024
    return rss, hwm
