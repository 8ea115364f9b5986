"""Normalised pages are small and stay legible: the generated scans of bench/scanpages.py against the aims of issue 15."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from bench.bench_scans import ID_CARD_BYTES, OCR_POINTS, TEXT_PAGE_BYTES, ocr_recall
from bench.scanpages import FONT_PACKAGE, FontMissing, font_path, form_page, household_page, id_card
from station.scans.normalise import normalise_bytes, wants_colour
from tests.conftest import require_tool

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(autouse=True)
def cjk_font() -> None:
    """The generator draws Chinese: skip without a CJK font, fail under CI (which installs it)."""
    try:
        font_path()
    except FontMissing:
        if os.getenv("CI", "").strip().lower() in {"true", "1", "yes"}:
            pytest.fail(f"CI=true and no CJK font is installed (apt-get install {FONT_PACKAGE})", pytrace=False)
        pytest.skip(f"no CJK font (apt-get install {FONT_PACKAGE})")


def test_the_generator_is_deterministic():
    assert form_page(3).file_bytes() == form_page(3).file_bytes()
    assert id_card(3).text != id_card(4).text


@pytest.mark.parametrize(
    ("make", "limit"), [(form_page, TEXT_PAGE_BYTES), (household_page, TEXT_PAGE_BYTES), (id_card, ID_CARD_BYTES)]
)
def test_a_generated_scan_normalises_within_the_size_aim(make, limit):
    scan = make(1)
    original = scan.file_bytes()
    [page] = normalise_bytes(original, name=f"{scan.kind}.jpg", colour=wants_colour(scan.material))
    assert len(page.data) <= limit, f"{scan.kind}: {len(page.data)} bytes, aim {limit}"
    assert len(page.data) * 20 < len(original)  # the camera's file is 1-3 MB
    assert page.colour is (scan.kind == "id_card")  # the card keeps its portrait's colour


def test_ocr_reads_the_normalised_form_as_well_as_the_300_dpi_original():
    require_tool("tesseract", install="apt-get install tesseract-ocr tesseract-ocr-chi-sim")
    scan = form_page(1)
    original = scan.file_bytes()
    [page] = normalise_bytes(original, colour=False)
    before = ocr_recall(scan.text, Image.open(io.BytesIO(original)))
    after = ocr_recall(scan.text, Image.open(io.BytesIO(page.data)))
    assert before > 70, f"OCR reads only {before:.1f} % of the original: the measure itself is broken"
    assert after >= before - OCR_POINTS, f"normalised {after:.1f} % against {before:.1f} % at 300 dpi"
