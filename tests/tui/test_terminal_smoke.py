"""The TUI in a real terminal (tmux, 80x24): it starts, draws the home screen, answers keys, quits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("requires_tmux")  # skips without tmux, fails under CI=true


def _tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    # A private server (-L): the test never touches a tmux session of the person running it.
    return subprocess.run(["tmux", "-u", "-L", socket, *args], capture_output=True, text=True, timeout=10, check=False)


def _wait_for(socket: str, *needles: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux(socket, "capture-pane", "-p", "-t", "tui").stdout
        if all(needle in screen for needle in needles):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needles} not on screen after {timeout} s:\n{screen}")


def test_home_screen_renders_in_a_real_terminal(station_dir, station_passphrase):
    socket = f"tui-test-{uuid.uuid4().hex[:8]}"
    command = f"{sys.executable} -m tui --data-dir {station_dir} --lang zh"
    env = {**os.environ, "LANG": "C.UTF-8", "STATION_PASSPHRASE": ""}
    started = subprocess.run(
        [
            "tmux",
            "-u",
            "-L",
            socket,
            "-f",
            os.devnull,
            "new-session",
            "-d",
            "-s",
            "tui",
            "-x",
            "80",
            "-y",
            "24",
            "-c",
            str(ROOT),
            command,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    try:
        # No $STATION_PASSPHRASE: the encrypted data opens once the passphrase is typed.
        _wait_for(socket, "本站数据已加密", "输入本站密钥口令")
        _tmux(socket, "send-keys", "-t", "tui", "-l", station_passphrase)
        _tmux(socket, "send-keys", "-t", "tui", "Enter")
        screen = _wait_for(socket, "今日待办", "[离线]", "F1 帮助")
        lines = screen.splitlines()
        assert len(lines) <= 24 and max(len(line) for line in lines) <= 80
        _tmux(socket, "send-keys", "-t", "tui", "F1")
        _wait_for(socket, "帮助：全部按键")
        _tmux(socket, "send-keys", "-t", "tui", "Escape")
        _tmux(socket, "send-keys", "-t", "tui", "C-q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _tmux(socket, "has-session", "-t", "tui").returncode == 0:
            time.sleep(0.2)
        assert _tmux(socket, "has-session", "-t", "tui").returncode != 0, "Ctrl+Q did not quit"
    finally:
        _tmux(socket, "kill-server")
