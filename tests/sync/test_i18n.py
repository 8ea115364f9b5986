"""Tests for language choice (sync.i18n): explicit choice, LANG/LC_ALL, Chinese by default."""

from __future__ import annotations

import pytest

from sync.i18n import LANGS, pick, resolve_lang


def test_langs() -> None:
    assert LANGS == ("zh", "en")


@pytest.mark.parametrize(
    ("explicit", "expected"),
    [("en", "en"), ("EN", "en"), ("en_US", "en"), ("zh", "zh"), ("zh_CN", "zh"), ("fr", "zh")],
)
def test_explicit_wins_over_environment(explicit: str, expected: str) -> None:
    opposite = {"LC_ALL": "zh_CN.UTF-8"} if expected == "en" else {"LC_ALL": "en_US.UTF-8", "LANG": "en_US.UTF-8"}
    assert resolve_lang(explicit, opposite) == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "en_GB"}, "en"),
        ({"LANG": "EN_us.utf8"}, "en"),
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "C"}, "zh"),
        ({"LANG": "POSIX"}, "zh"),
        ({"LANG": "C.UTF-8"}, "zh"),
        ({}, "zh"),
        ({"LANG": ""}, "zh"),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
        ({"LC_ALL": "C", "LANG": "en_US.UTF-8"}, "zh"),
        # An empty LC_ALL does not count; LANG decides.
        ({"LC_ALL": "", "LANG": "en_US.UTF-8"}, "en"),
    ],
)
def test_from_environment(environ: dict[str, str], expected: str) -> None:
    assert resolve_lang(None, environ) == expected


def test_empty_explicit_falls_back_to_environment() -> None:
    assert resolve_lang("", {"LANG": "en_US.UTF-8"}) == "en"


def test_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert resolve_lang() == "en"
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert resolve_lang() == "zh"
    monkeypatch.setenv("LC_ALL", "en_US.UTF-8")
    assert resolve_lang() == "en"
    monkeypatch.delenv("LC_ALL")
    monkeypatch.delenv("LANG")
    assert resolve_lang() == "zh"


def test_pick() -> None:
    assert pick("en", "中文", "English") == "English"
    assert pick("zh", "中文", "English") == "中文"
    assert pick("fr", "中文", "English") == "中文"
