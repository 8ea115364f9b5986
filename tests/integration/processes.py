"""Real processes for end-to-end tests: the `hub` and `station` commands, a `hub serve` server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(command: str, *args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `hub ...` or `station ...` from this virtual environment; English output for asserts."""
    environment = {**os.environ, "LANG": "en_US.UTF-8", **(env or {})}
    result = subprocess.run(
        [str(BIN / command), *args], capture_output=True, text=True, env=environment, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{command} {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


class HubProcess:
    """`hub serve` in a child process, which a test may kill -9 and start again."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> HubProcess:
        self.process = subprocess.Popen(
            [str(BIN / "hub"), "--data-dir", str(self.data_dir), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub serve exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("hub serve did not answer /healthz")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what a power cut does to the hub."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
