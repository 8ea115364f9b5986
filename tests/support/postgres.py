"""A throwaway PostgreSQL cluster on loopback for the tests: Debian's initdb and pg_ctl in a temporary folder.

The fixtures in tests/conftest.py use it: ``postgres_cluster`` (one cluster for the whole run) and
``postgres_url`` (a fresh database per test, ``postgresql://…``). The cluster listens on 127.0.0.1 only,
on a free port, with its unix socket in its own folder, and asks for a password (a random one per run),
so nothing on the machine's own PostgreSQL, if any, is touched. PostgreSQL refuses to run as root: as
root (CI) every server command runs as the Debian package's ``postgres`` user through ``runuser``, and
the folder is made in /dev/shm (a memory file system: databases are made in a tenth of the time) or
/tmp (the pytest folders under /tmp/pytest-of-root are closed to other users) and handed to that user.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = (
    "BACKENDS",
    "BOTH_BACKENDS",
    "INSTALL",
    "Cluster",
    "HubBackend",
    "find_bindir",
    "hub_template",
    "running_cluster",
    "store_bytes",
    "tools_needed",
)

INSTALL = "apt-get install postgresql"
"""How to get the server binaries (Debian; .ci/run does it)."""

SUPERUSER = "postgres"
"""The cluster's superuser role (whatever the operating-system user running it)."""

RUN_AS = "postgres"
"""The unprivileged user the server runs as when the tests run as root (the Debian package makes it)."""

_START_ATTEMPTS = 3


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin with initdb and pg_ctl (Debian, Ubuntu), else the folder of an
    ``initdb`` on PATH (other systems), else None."""
    versions = []
    for bindir in Path("/usr/lib/postgresql").glob("*/bin"):
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file() and bindir.parent.name.isdigit():
            versions.append((int(bindir.parent.name), bindir))
    if versions:
        return max(versions)[1]
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    return None


def _as_root() -> bool:
    return os.geteuid() == 0


def tools_needed() -> tuple[str, ...]:
    """What :func:`tests.conftest.require_tool` must find: initdb and pg_ctl (absolute paths when found, else
    their names, which then count as missing), and ``runuser`` as root."""
    bindir = find_bindir()
    tools = (str(bindir / "initdb"), str(bindir / "pg_ctl")) if bindir else ("initdb", "pg_ctl")
    return (*tools, "runuser") if _as_root() else tools


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class Cluster:
    """A running throwaway cluster; :meth:`url` and :meth:`database` give the tests their connection strings."""

    root: Path
    bindir: Path
    port: int
    password: str

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        """The URL of one database of the cluster, over TCP on loopback, with the superuser's password."""
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A new, empty database (from template0) for the block, dropped afterwards (connections closed)."""
        import psycopg

        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        try:
            yield self.url(name)
        finally:
            with psycopg.connect(self.url(), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run(self.root, str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), *args)

    def running(self) -> bool:
        """Whether the server of this cluster is up (``pg_ctl status``)."""
        return self.pg_ctl("status").returncode == 0

    def stop(self) -> None:
        self.pg_ctl("stop", "-m", "fast", "-w")


def _run(cwd: Path, *command: str) -> subprocess.CompletedProcess[str]:
    # As root, through runuser: the server (and initdb) refuse root. cwd is the cluster's own folder, which
    # that user can enter (the caller's folder may be closed to it).
    argv = ["runuser", "-u", RUN_AS, "--", *command] if _as_root() else list(command)
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, timeout=120)


def _check(result: subprocess.CompletedProcess[str], what: str, log: Path | None = None) -> None:
    if result.returncode == 0:
        return
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}{tail}")


def _init(root: Path, bindir: Path, password: str) -> None:
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    (root / "socket").mkdir()
    if _as_root():
        user = pwd.getpwnam(RUN_AS)  # KeyError: a broken install (Debian's package makes the user)
        for path in (root, root / "socket", pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
    result = _run(
        root,
        str(bindir / "initdb"),
        "-D",
        str(root / "data"),
        "-U",
        SUPERUSER,
        f"--pwfile={pwfile}",
        "--auth=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C",  # code-point order, as SQLite's BINARY collation compares
        "--no-sync",
    )
    pwfile.unlink()
    _check(result, "initdb")
    # Throwaway data: no durability work. Loopback only; the socket in the cluster's own folder.
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{root / 'socket'}'",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "100",
    }
    with (root / "data" / "postgresql.conf").open("a") as conf:
        conf.write("\n# tests/support/postgres.py\n")
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())


def _memory_folder() -> str | None:
    """/dev/shm when it is there and roomy: on a memory file system ``CREATE DATABASE`` takes a tenth of the
    time it takes on disk (each test makes one); None (the system's temporary folder) otherwise."""
    shm = Path("/dev/shm")
    try:
        usage = shutil.disk_usage(shm)
    except OSError:
        return None
    return str(shm) if os.access(shm, os.W_OK) and usage.free > 2 * 1024**3 else None


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """Start a cluster in a new folder under the system's temporary folder; stop it and delete the folder after.

    Raises RuntimeError (with the server's log) when it cannot start; check :func:`tools_needed` first.
    """
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(f"no PostgreSQL server binaries (initdb, pg_ctl): {INSTALL}")
    root = Path(tempfile.mkdtemp(prefix="proxyapp-pg-", dir=_memory_folder()))
    cluster = Cluster(root=root, bindir=bindir, port=0, password=secrets.token_hex(16))
    try:
        _init(root, bindir, cluster.password)
        for attempt in range(_START_ATTEMPTS):
            # Another process may take the free port before the server binds it: then try another one.
            cluster.port = _free_port()
            result = cluster.pg_ctl("start", "-w", "-t", "60", "-l", str(cluster.log_file), "-o", f"-p {cluster.port}")
            if result.returncode == 0:
                break
            if attempt == _START_ATTEMPTS - 1:
                _check(result, "pg_ctl start", cluster.log_file)
        yield cluster
    finally:
        if (cluster.data_dir / "postmaster.pid").exists():  # also after a start that timed out
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


# -- the hub's store on both engines ---------------------------------------------------------------

BACKENDS = ("sqlite", "postgresql")


@dataclasses.dataclass
class HubBackend:
    """The engine a test's hub store runs on (fixture ``hub_backend``). On PostgreSQL, ``HUB_DATABASE_URL``
    names this test's own database of the session's cluster, so every ``HubStore.open`` in the test (and in
    the commands it runs) uses it."""

    name: str
    cluster: Cluster | None = None
    dbname: str = ""

    @property
    def postgres(self) -> bool:
        return self.name == "postgresql"

    @property
    def url(self) -> str | None:
        """The test's database, or None on SQLite."""
        return self.cluster.url(self.dbname) if self.cluster else None

    def copy_hub(self, folder: Path, template_db: str, target: Path) -> None:
        """A copy of an initialised PostgreSQL hub: its data folder (keys, settings) to ``target`` and its
        database into this test's (``CREATE DATABASE … TEMPLATE``: a file copy, no ``hub init`` per test)."""
        import psycopg

        from hub.store.location import record_database_url

        assert self.cluster is not None and self.url is not None
        shutil.copytree(folder, target)
        with psycopg.connect(self.cluster.url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{self.dbname}" TEMPLATE "{template_db}"')
        record_database_url(target, self.url)


@contextlib.contextmanager
def hub_template(cluster: Cluster, folder: Path) -> Iterator[str]:
    """``hub init`` once on PostgreSQL: the data folder ``folder`` and a database the tests copy; its name."""
    import psycopg

    from hub.bootstrap import init_hub

    name = f"hub_template_{secrets.token_hex(4)}"
    with psycopg.connect(cluster.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        init_hub(folder, database=cluster.url(name))
        yield name
    finally:
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _both() -> list[pytest.MarkDecorator]:
    return [
        pytest.mark.usefixtures("hub_backend"),
        pytest.mark.parametrize("hub_backend", BACKENDS, indirect=True),
    ]


BOTH_BACKENDS = _both()
"""``pytestmark = BOTH_BACKENDS``: every test of the module runs on SQLite and on PostgreSQL (``[sqlite]``,
``[postgresql]``); docs/postgresql.md lists the modules that do."""


def store_bytes(store: Any) -> bytes:
    """Everything a hub store holds, as bytes to search for what must never be stored (a password, a token):
    the SQLite file, or every row of every table of the PostgreSQL database as text."""
    if store.dialect != "postgresql":
        return bytes(store.path.read_bytes())
    conn = store.db.conn
    tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
    return "\n".join(
        str(row[0]) for table in tables for row in conn.execute(f'SELECT t::text FROM "{table}" t').fetchall()
    ).encode()
