"""bench_scans runs end to end (OCR stubbed: the real OCR is tests/station/scans/test_legibility.py) and reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_scans
from bench.scanpages import FontMissing, font_path


def test_the_bench_measures_every_encoding_and_reports_the_product_against_the_aims(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    try:
        font_path()
    except FontMissing as exc:
        pytest.skip(str(exc))
    monkeypatch.setattr(bench_scans, "ocr_recall", lambda truth, image: 90.0)
    out = tmp_path / "scans.json"
    bench_scans.main(
        [
            "--seeds",
            "1",
            "--sides",
            "1600",
            "--photo-sides",
            "1100",
            "--encodings",
            "avif q20;webp q30",
            "--out",
            str(out),
        ]
    )
    report = capsys.readouterr().out
    assert "| form | 1600 | avif q20 |" in report and "| id_card | 1100 | webp q30 |" in report
    figures = json.loads(out.read_text())
    assert {p["kind"] for p in figures["product"]} == {"form", "household", "id_card"}
    assert all(p["format"] == "avif" for p in figures["product"])
    assert "MISSED" not in report  # every generated page within its size aim (OCR stubbed equal)
