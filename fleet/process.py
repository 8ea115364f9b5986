"""A hub server in a child process that a test or simulation can kill -9 and start again."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx

__all__ = ("ServerProcess",)


class ServerProcess:
    """A child process serving a hub on 127.0.0.1:``port``; subclasses say which command runs it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> tuple[list[str], Path | None, dict[str, str] | None]:
        """(argv, working folder, environment) of the server; None keeps the parent's."""
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start the server and wait until it answers /healthz."""
        argv, cwd, env = self.command()
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the hub process exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the hub process did not answer /healthz")

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
