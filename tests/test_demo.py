"""The README's first command works: a hub, an enrolled station, cases synced and decided."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)
def test_run_demo_without_a_terminal(tmp_path):
    env = {**os.environ, "DEMO_DIR": str(tmp_path / "demo"), "LANG": "C.UTF-8"}
    result = subprocess.run(
        ["bash", str(ROOT / "run"), "demo"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "本站与县平台已完全同步" in result.stdout
    assert "已办结" in result.stdout  # the county's decision came back down
    assert "Not a terminal" in result.stdout
