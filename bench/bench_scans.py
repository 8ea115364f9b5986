"""Scanned pages: bytes per page after normalisation in JPEG, WebP and AVIF, and legibility by OCR.

For each generated page (bench/scanpages.py: an A4 form, an ID card, a household-register page; 300 dpi,
as the document camera saves them) and each resolution and encoding, the page is prepared as
station.scans.normalise does (orientation, grayscale and cleaned for documents, colour for the ID card,
downscaled), encoded, decoded again and read by tesseract (Debian's ``tesseract-ocr`` with ``chi_sim``,
through pytesseract). Legibility is the share of the page's printed characters that OCR recognises
(:func:`ocr_recall`), set against the same figure for the 300 dpi original. The last table is what
:func:`station.scans.normalise.normalise_bytes` itself makes of each page, against the aims of issue 15
(a text page at most 40 KB within 2 OCR points of the original; an ID card at most 25 KB).

Progress goes to stderr; the figures (Markdown) to stdout; ``--out FILE`` also writes them as JSON.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from PIL import Image

from bench.scanpages import ScanPage, form_page, household_page, id_card
from station.scans import normalise

__all__ = ("ENCODINGS", "main", "ocr_recall")

TEXT_PAGE_BYTES = 40 * 1024
ID_CARD_BYTES = 25 * 1024
OCR_POINTS = 2.0


def ocr_recall(truth: str, image: Image.Image) -> float:
    """Per cent of the printed characters of ``truth`` that tesseract (chi_sim) finds on ``image``.

    Counted as a multiset, whitespace ignored: a table's cells may come out of OCR in another order than
    the ground truth lists them, and that is no loss of legibility. Page segmentation mode 11 (sparse
    text: every piece of text wherever it is) because the default's layout analysis of a ruled table
    (the household register) fails or succeeds by chance, swinging the figure by 40 points between two
    encodings of one page; mode 11 reads each piece of text on its own and moves with legibility.
    """
    import pytesseract

    found = pytesseract.image_to_string(image.convert("L"), lang="chi_sim", config="--psm 11")
    want = collections.Counter(c for c in truth if not c.isspace())
    got = collections.Counter(c for c in found if not c.isspace())
    return 100 * sum((want & got).values()) / max(sum(want.values()), 1)


def _posterised_webp(image: Image.Image) -> bytes:
    """Lossless WebP of the page reduced to 4 grey levels (a cleaned document is nearly two-tone)."""
    levels = image.point(lambda v: round(v / 85) * 85)
    out = io.BytesIO()
    levels.save(out, "WEBP", lossless=True, quality=100, method=6)
    return out.getvalue()


ENCODINGS: dict[str, Callable[[Image.Image], bytes]] = {
    "jpeg q40": lambda im: normalise.encode_image(im, "jpeg", 40),
    "webp q30": lambda im: normalise.encode_image(im, "webp", 30),
    "webp q50": lambda im: normalise.encode_image(im, "webp", 50),
    "webp lossless, 4 greys": _posterised_webp,
    "avif q12": lambda im: normalise.encode_image(im, "avif", 12),
    "avif q16": lambda im: normalise.encode_image(im, "avif", 16),
    "avif q20": lambda im: normalise.encode_image(im, "avif", 20),
    "avif q30": lambda im: normalise.encode_image(im, "avif", 30),
}
"""Encodings tried: those Chromium displays (JPEG, WebP, AVIF), at the qualities around the aims."""


@dataclass
class Row:
    kind: str
    seed: int
    long_side: int
    encoding: str
    bytes: int
    ocr: float
    original_ocr: float
    encode_ms: float


def _pages(seeds: int) -> list[tuple[int, ScanPage]]:
    return [(seed, make(seed)) for seed in range(1, seeds + 1) for make in (form_page, household_page, id_card)]


def _measure(args: argparse.Namespace) -> tuple[list[Row], list[dict[str, object]]]:
    rows, product = [], []
    for seed, page in _pages(args.seeds):
        original_file = page.file_bytes()
        original = Image.open(io.BytesIO(original_file))
        base = ocr_recall(page.text, original)
        print(f"{page.kind} seed {seed}: original {len(original_file) // 1024} KB, OCR {base:.1f} %", file=sys.stderr)
        colour = normalise.wants_colour(page.material)
        sides = args.photo_sides if colour else args.sides
        for side in sides:
            prepared = normalise.prepare_image(original, colour=colour, long_side=side)
            for name in args.encodings:
                started = time.perf_counter()
                data = ENCODINGS[name](prepared)
                elapsed = (time.perf_counter() - started) * 1000
                if colour and name.startswith("webp lossless"):
                    continue
                score = ocr_recall(page.text, Image.open(io.BytesIO(data)))
                rows.append(Row(page.kind, seed, side, name, len(data), score, base, elapsed))
                print(f"  {side} {name}: {len(data) / 1024:.1f} KB, OCR {score:.1f} %", file=sys.stderr, flush=True)
        started = time.perf_counter()
        pages = normalise.normalise_bytes(original_file, colour=colour)
        elapsed = (time.perf_counter() - started) * 1000
        made = pages[0]
        score = ocr_recall(page.text, Image.open(io.BytesIO(made.data)))
        product.append(
            {
                "kind": page.kind,
                "seed": seed,
                "format": made.format,
                "size": f"{made.width}x{made.height}",
                "colour": made.colour,
                "bytes": len(made.data),
                "ocr": score,
                "original_ocr": base,
                "original_bytes": len(original_file),
                "normalise_ms": elapsed,
            }
        )
    return rows, product


def _report(rows: list[Row], product: list[dict[str, object]]) -> str:
    lines = [
        "| page | long side | encoding | KB/page | OCR % | original OCR % | Δ points | encode ms |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    groups: dict[tuple[str, int, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.kind, row.long_side, row.encoding), []).append(row)
    for (kind, side, name), group in groups.items():
        kb = statistics.mean(r.bytes for r in group) / 1024
        ocr = statistics.mean(r.ocr for r in group)
        base = statistics.mean(r.original_ocr for r in group)
        ms = statistics.mean(r.encode_ms for r in group)
        lines.append(f"| {kind} | {side} | {name} | {kb:.1f} | {ocr:.1f} | {base:.1f} | {ocr - base:+.1f} | {ms:.0f} |")
    lines += [
        "",
        "What normalise_bytes makes of each page (the product's setting), against the aims:",
        "",
        "| page | seed | format | pixels | colour | KB/page | OCR % | original OCR % | Δ points | "
        "original KB | normalise ms | aim |",
        "|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for item in product:
        kb = int(item["bytes"]) / 1024  # type: ignore[call-overload]
        delta = float(item["ocr"]) - float(item["original_ocr"])  # type: ignore[arg-type]
        limit = ID_CARD_BYTES if item["kind"] == "id_card" else TEXT_PAGE_BYTES
        met = kb * 1024 <= limit and delta >= -OCR_POINTS
        lines.append(
            f"| {item['kind']} | {item['seed']} | {item['format']} | {item['size']} | {item['colour']} | {kb:.1f} | "
            f"{item['ocr']:.1f} | {item['original_ocr']:.1f} | {delta:+.1f} | "
            f"{int(item['original_bytes']) / 1024:.0f} | {item['normalise_ms']:.0f} | "  # type: ignore[call-overload]
            f"{'met' if met else 'MISSED'} (≤ {limit // 1024} KB, ≥ −{OCR_POINTS:.0f} points) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_scans", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="pages of each kind (default 2)")
    parser.add_argument(
        "--sides", type=lambda s: [int(x) for x in s.split(",")], default=[1200, 1400, 1600],
        help="longest sides tried for documents (default 1200,1400,1600)",
    )  # fmt: skip
    parser.add_argument(
        "--photo-sides", type=lambda s: [int(x) for x in s.split(",")], default=[800, 1100],
        help="longest sides tried for colour pages such as the ID card (default 800,1100)",
    )  # fmt: skip
    parser.add_argument(
        "--encodings", type=lambda s: s.split(";"), default=list(ENCODINGS),
        help="';'-separated names of ENCODINGS (default all)",
    )  # fmt: skip
    parser.add_argument("--out", help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    if missing := [e for e in args.encodings if e not in ENCODINGS]:
        parser.error(f"unknown encodings {missing}; known: {list(ENCODINGS)}")
    rows, product = _measure(args)
    print(_report(rows, product))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            json.dump({"rows": [asdict(r) for r in rows], "product": product}, out, indent=1)


if __name__ == "__main__":
    main()
