"""Real processes for end-to-end tests: the `hub` and `station` commands, a `hub serve` server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from fleet.process import ServerProcess

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(
    command: str, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `hub ...` or `station ...` from this virtual environment; English output for asserts."""
    environment = {**os.environ, "LANG": "en_US.UTF-8", **(env or {})}
    result = subprocess.run(
        [str(BIN / command), *args], capture_output=True, text=True, env=environment, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{command} {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


class HubProcess(ServerProcess):
    """`hub serve` in a child process, which a test may kill -9 and start again."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(free_port())
        self.data_dir = data_dir

    def command(self) -> tuple[list[str], Path | None, dict[str, str] | None]:
        argv = [
            str(BIN / "hub"),
            "--data-dir",
            str(self.data_dir),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        return argv, None, None

    def start(self, timeout: float = 20.0) -> HubProcess:
        super().start(timeout)
        return self
