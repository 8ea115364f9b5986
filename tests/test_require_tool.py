"""Tests that drive tmux or Chromium skip without them on a laptop, and fail under CI=true."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import require_tool

MISSING = "proxyapp-no-such-tool"


def test_a_missing_tool_skips_the_test_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"{MISSING} not installed \\(apt-get install it\\)"):
        require_tool(MISSING, install="apt-get install it")


def test_a_missing_tool_fails_the_test_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"CI=true and a test needs {MISSING} not installed"):
        require_tool(sys.executable, MISSING, install="apt-get install it")


def test_present_tools_let_the_test_run_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    require_tool(sys.executable, install="unused")


def test_the_tool_tests_use_the_helper() -> None:
    """The two tests that need system tools go through require_tool, not a skip of their own."""
    from pathlib import Path

    root = Path(__file__).parent
    for path in (root / "tui" / "test_terminal_smoke.py", root / "hub" / "test_browser.py"):
        text = path.read_text(encoding="utf-8")
        assert "pytest.skip" not in text and "skipif" not in text, path
        assert "require_tool" in text or "requires_tmux" in text, path
