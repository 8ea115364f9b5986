"""`hub serve` raises its own open-files limit (a socket and a database connection per station syncing) and warns when it cannot."""

from __future__ import annotations

import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hub.cli import OPEN_FILES_WANTED
from tests.integration.processes import free_port


def _limit_after(soft: int, hard: int, wanted: int = OPEN_FILES_WANTED) -> tuple[str, str]:
    """raise_open_files_limit's answer and the soft limit after it, in a process of its own (limits set there)."""
    code = (
        "import resource; from hub.cli import raise_open_files_limit; "
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard})); "
        f"print(raise_open_files_limit({wanted}), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    answer, now = out.split()
    return answer, now


def test_the_soft_limit_is_raised_to_what_a_county_needs_within_the_hard_limit():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = OPEN_FILES_WANTED if hard == resource.RLIM_INFINITY else min(OPEN_FILES_WANTED, hard)
    assert _limit_after(256, hard) == (str(target), str(target))
    # Never past the hard limit, and never lowered.
    assert _limit_after(256, 700) == ("700", "700")
    assert _limit_after(900, 900, wanted=500) == ("900", "900")


def test_hub_serve_warns_of_a_low_hard_limit_in_both_languages_and_still_serves(hub_dir: Path):
    port = free_port()
    # The shell's `ulimit -n` sets the hard limit too: hub serve cannot raise its soft one past 512.
    serve = shlex.join([sys.executable, "-m", "hub.cli", "--data-dir", str(hub_dir), "serve", "--port", str(port)])
    process = subprocess.Popen(
        ["/bin/sh", "-c", f"ulimit -n 512 && exec {serve}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LANG": "C.UTF-8"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "hub serve did not answer"
                time.sleep(0.1)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=15)
    assert "警告：本进程最多只能打开 512 个文件" in err and "LimitNOFILE=65536" in err
    assert "Warning: this process may open at most 512 files" in err
